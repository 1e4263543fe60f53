package pruntime

import (
	"crypto/ed25519"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/protocol"
)

// IdentityForTest exposes the worker identity's public key.
func (r *Runtime) IdentityForTest() ed25519.PublicKey { return r.identity.Public().(ed25519.PublicKey) }

// PanicOnTopicForTest plants a subscriber that panics, once, on a message
// of topic: tests use it to check what a panic that escapes while a block
// is applied does.
func (r *Runtime) PanicOnTopicForTest(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.engine.Subscribe(&panicker{topic: topic})
}

type panicker struct {
	topic string
	fired bool
}

func (p *panicker) Wants(m *protocol.Message) bool { return m.Topic == p.topic }

func (p *panicker) Deliver(dispatch.Block, *protocol.Message) error {
	if !p.fired {
		p.fired = true
		panic("planted by PanicOnTopicForTest")
	}
	return nil
}

// SnapshotForTest returns the runtime's checkpoint plaintext, for
// RestoreForTest.
func (r *Runtime) SnapshotForTest() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.snapshotLocked()
	if err != nil {
		panic(err)
	}
	return b
}

// RestoreForTest puts the runtime back in the state of a snapshot (fuzz
// targets reset it after an input that advanced it).
func (r *Runtime) RestoreForTest(data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s snapshot
	if err := protocol.Unmarshal(data, &s); err != nil {
		return err
	}
	return r.restore(s.Light.Height, data)
}
