// Package workers is pRuntime's verified view of the worker registry, built
// only from the registry module's messages on verified blocks. pRuntime
// uses it to know whether it is itself registered with its current keys,
// and (later) which keys other workers hold.
package workers

import (
	"bytes"
	"fmt"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// View is the registry view.
type View struct {
	workers *state.Map[string, protocol.WorkerSummary] // active workers, by identity key
}

// New returns an empty view whose changes belong to tx.
func New(tx *state.Tx) *View {
	return &View{workers: state.NewMap[string, protocol.WorkerSummary](tx)}
}

// Wants implements dispatch.Subscriber.
func (v *View) Wants(m *protocol.Message) bool {
	return m.Topic == protocol.TopicWorker
}

// Deliver implements dispatch.Subscriber. Only the registry module may
// speak on its topic; the chain enforces it, and the view checks it again.
func (v *View) Deliver(_ dispatch.Block, m *protocol.Message) error {
	if m.Origin.Kind != protocol.OriginModule || string(m.Origin.ID) != protocol.ModuleRegistry {
		return fmt.Errorf("workers: registry event from %s", m.Origin)
	}
	var ev protocol.WorkerEvent
	if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("workers: event: %w", err)
	}
	key := string(ev.Worker.Pubkey)
	switch ev.Kind {
	case protocol.WorkerRegistered, protocol.WorkerEndpoint:
		v.workers.Set(key, ev.Worker)
	case protocol.WorkerExpired, protocol.WorkerRevoked:
		v.workers.Delete(key)
	default:
		return fmt.Errorf("workers: unknown event %q", ev.Kind)
	}
	return nil
}

// Get returns a worker's committed record.
func (v *View) Get(pubkey []byte) (protocol.WorkerSummary, bool) {
	return v.workers.CommittedGet(string(pubkey))
}

// Registered reports whether the worker is registered with exactly this
// encryption key (a new boot's key must be registered anew).
func (v *View) Registered(pubkey, encKey []byte) bool {
	r, ok := v.Get(pubkey)
	return ok && bytes.Equal(r.EncryptionKey, encKey)
}

// Snapshot returns the committed view (for checkpoints).
func (v *View) Snapshot() map[string]protocol.WorkerSummary { return v.workers.Snapshot() }

// Load restores the view from a checkpoint.
func (v *View) Load(m map[string]protocol.WorkerSummary) { v.workers.Load(m) }
