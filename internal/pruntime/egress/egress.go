// Package egress is pRuntime's outbound queue: messages signed with the
// worker identity key under the worker's own origin and sequence, waiting
// for a relayer to put them on chain. A message leaves the queue when the
// verified chain shows it landed, never before.
//
// Egress is produced only while applying verified blocks, from their
// content, so a pRuntime that re-applies the same blocks (after a restart
// from an older checkpoint) produces byte-identical messages: ed25519
// signatures are deterministic.
package egress

import (
	"crypto/ed25519"
	"fmt"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// MaxPending bounds the queue; a worker whose relayer is gone stops
// producing rather than growing without bound.
const MaxPending = 100_000

// Queue is the egress queue.
type Queue struct {
	key     ed25519.PrivateKey
	chainID string
	origin  protocol.Origin

	next    *state.Cell[uint64]        // sequence of the next message
	pending *state.Map[uint64, []byte] // seq -> canonical SignedMessage
}

// New returns an empty queue whose changes belong to tx.
func New(tx *state.Tx, key ed25519.PrivateKey, chainID string) *Queue {
	return &Queue{
		key:     key,
		chainID: chainID,
		origin:  protocol.WorkerOrigin(key.Public().(ed25519.PublicKey)),
		next:    state.NewCell(tx, uint64(0)),
		pending: state.NewMap[uint64, []byte](tx),
	}
}

// Origin is the worker origin the queue signs for.
func (q *Queue) Origin() protocol.Origin { return q.origin }

// Emit signs a message on topic with the next sequence number. Call it only
// while a block is being applied.
func (q *Queue) Emit(topic string, payload []byte) error {
	if q.pending.Len() >= MaxPending {
		return fmt.Errorf("egress: %d messages pending, relayer is not keeping up", q.pending.Len())
	}
	seq := q.next.Get()
	sm := protocol.SignMessage(q.key, q.chainID, protocol.Message{Origin: q.origin, Topic: topic, Seq: seq, Payload: payload})
	q.pending.Set(seq, protocol.MustMarshal(&sm))
	q.next.Set(seq + 1)
	return nil
}

// Wants implements dispatch.Subscriber: the queue watches its own messages
// land.
func (q *Queue) Wants(m *protocol.Message) bool {
	return m.Origin.Kind == q.origin.Kind && string(m.Origin.ID) == string(q.origin.ID)
}

// Deliver implements dispatch.Subscriber: a landed message leaves the queue.
func (q *Queue) Deliver(_ dispatch.Block, m *protocol.Message) error {
	q.pending.Delete(m.Seq)
	if m.Seq >= q.next.Get() {
		// The chain holds a message of ours we have not produced (e.g. we
		// restarted from genesis with a restored identity). Never reuse its
		// sequence number.
		q.next.Set(m.Seq + 1)
	}
	return nil
}

// After returns up to limit committed messages with sequence > after (all
// when after is negative), in order.
func (q *Queue) After(after int64, limit int) [][]byte {
	var out [][]byte
	for _, seq := range q.pending.CommittedKeys() {
		if int64(seq) <= after {
			continue
		}
		v, _ := q.pending.CommittedGet(seq)
		out = append(out, v)
		if len(out) == limit {
			break
		}
	}
	return out
}

// Len is the number of committed pending messages.
func (q *Queue) Len() int { return q.pending.Len() }

// NextSeq is the committed sequence of the next message.
func (q *Queue) NextSeq() uint64 { return q.next.Committed() }

// Snapshot is the queue's checkpoint form.
type Snapshot struct {
	Next    uint64            `cbor:"next"`
	Pending map[uint64][]byte `cbor:"pending"`
}

// Snapshot returns the committed queue.
func (q *Queue) Snapshot() Snapshot {
	return Snapshot{Next: q.next.Committed(), Pending: q.pending.Snapshot()}
}

// Load restores the queue from a checkpoint.
func (q *Queue) Load(s Snapshot) {
	q.next.Load(s.Next)
	q.pending.Load(s.Pending)
}
