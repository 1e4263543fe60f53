package workers_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/internal/pruntime/workers"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

var (
	pubA  = bytes.Repeat([]byte{0xaa}, 32)
	pubB  = bytes.Repeat([]byte{0xbb}, 32)
	encA1 = bytes.Repeat([]byte{0x01}, 1216)
	encA2 = bytes.Repeat([]byte{0x02}, 1216)

	registry = protocol.ModuleOrigin(protocol.ModuleRegistry)
)

func event(kind string, pub, enc []byte) []byte {
	return protocol.MustMarshal(&protocol.WorkerEvent{Kind: kind, Worker: protocol.WorkerSummary{
		Pubkey: pub, EncryptionKey: enc, AttestationKind: "sim", Status: protocol.StatusActive,
	}})
}

// fixture is a view fed through a dispatch engine by a synthetic chain.
type fixture struct {
	v *workers.View
	e *dispatch.Engine
	c *testchain.Chain
}

func newFixture() *fixture {
	tx := &state.Tx{}
	f := &fixture{v: workers.New(tx), e: dispatch.New(tx), c: testchain.New("workers-test", 1)}
	f.e.Subscribe(f.v)
	return f
}

func (f *fixture) apply(msgs ...protocol.Message) error {
	p := f.c.NextParts(msgs)
	return f.e.Apply(dispatch.Block{Height: p.Height, Time: p.Header.Time}, dispatch.Prepare(&p.Messages), p.Header.AppHash)
}

// registryEvent is a registry module message with the next sequence.
func (f *fixture) registryEvent(kind string, pub, enc []byte) protocol.Message {
	return f.c.Msg(registry, protocol.TopicWorker, event(kind, pub, enc))
}

func (f *fixture) mustApply(t *testing.T, msgs ...protocol.Message) {
	t.Helper()
	if err := f.apply(msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryEventsDriveTheView(t *testing.T) {
	type ev struct {
		kind     string
		pub, enc []byte
	}
	tests := []struct {
		name       string
		events     []ev // each in its own block
		registered bool
	}{
		{"registered", []ev{{protocol.WorkerRegistered, pubA, encA1}}, true},
		{"expired", []ev{{protocol.WorkerRegistered, pubA, encA1}, {protocol.WorkerExpired, pubA, encA1}}, false},
		{"revoked", []ev{{protocol.WorkerRegistered, pubA, encA1}, {protocol.WorkerRevoked, pubA, nil}}, false},
		{"registered again after expiry", []ev{{protocol.WorkerRegistered, pubA, encA1}, {protocol.WorkerExpired, pubA, nil}, {protocol.WorkerRegistered, pubA, encA1}}, true},
		{"another worker expired", []ev{{protocol.WorkerRegistered, pubA, encA1}, {protocol.WorkerExpired, pubB, nil}}, true},
		{"never registered", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			for _, ev := range tt.events {
				f.mustApply(t, f.registryEvent(ev.kind, ev.pub, ev.enc))
			}
			if got := f.v.Registered(pubA, encA1); got != tt.registered {
				t.Errorf("Registered(A, key 1) = %v, want %v", got, tt.registered)
			}
			if _, ok := f.v.Get(pubA); ok != tt.registered {
				t.Errorf("Get(A) found = %v, want %v", ok, tt.registered)
			}
		})
	}
}

func TestRegisteredOnlyWithTheCurrentEncryptionKey(t *testing.T) {
	f := newFixture()
	f.mustApply(t, f.registryEvent(protocol.WorkerRegistered, pubA, encA1))
	if !f.v.Registered(pubA, encA1) {
		t.Fatal("not registered with the registered key")
	}
	for name, enc := range map[string][]byte{"another key": encA2, "no key": nil, "a prefix": encA1[:32]} {
		if f.v.Registered(pubA, enc) {
			t.Errorf("Registered with %s", name)
		}
	}
	if f.v.Registered(pubB, encA1) {
		t.Error("another worker is registered with A's key")
	}

	// A new boot registers anew: only the new key counts.
	f.mustApply(t, f.registryEvent(protocol.WorkerRegistered, pubA, encA2))
	if f.v.Registered(pubA, encA1) || !f.v.Registered(pubA, encA2) {
		t.Errorf("after re-registration: key 1 %v, key 2 %v; want false, true", f.v.Registered(pubA, encA1), f.v.Registered(pubA, encA2))
	}
	r, ok := f.v.Get(pubA)
	if !ok || r.AttestationKind != "sim" || r.Status != protocol.StatusActive {
		t.Errorf("Get(A) = %+v, %v", r, ok)
	}
}

func TestDeliverRefusesEventsItCannotTrust(t *testing.T) {
	worker := protocol.WorkerOrigin(pubB)
	tests := []struct {
		name    string
		origin  protocol.Origin
		payload []byte
	}{
		{"another module", protocol.ModuleOrigin(protocol.ModuleGovernance), event(protocol.WorkerRegistered, pubA, encA1)},
		{"an account", protocol.AccountOrigin(protocol.Address{1}), event(protocol.WorkerRegistered, pubA, encA1)},
		{"a worker", worker, event(protocol.WorkerRegistered, pubA, encA1)},
		{"a worker whose id spells registry", protocol.Origin{Kind: protocol.OriginWorker, ID: []byte(protocol.ModuleRegistry)}, event(protocol.WorkerRegistered, pubA, encA1)},
		{"unknown kind", registry, event("promoted", pubA, encA1)},
		{"empty kind", registry, event("", pubA, encA1)},
		{"undecodable payload", registry, []byte{0xff}},
		{"payload with an unknown field", registry, protocol.MustMarshal(map[string]any{"kind": protocol.WorkerRegistered, "worker": map[string]any{}, "extra": 1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &state.Tx{}
			v := workers.New(tx)
			m := &protocol.Message{Origin: tt.origin, Topic: protocol.TopicWorker, Payload: tt.payload}
			if !v.Wants(m) {
				t.Fatal("the view does not want a message on its topic: it would miss the check")
			}
			if err := v.Deliver(dispatch.Block{}, m); err == nil {
				t.Fatal("Deliver accepted it")
			}
			tx.Commit()
			if len(v.Snapshot()) != 0 {
				t.Errorf("the refused event changed the view: %v", v.Snapshot())
			}
		})
	}
}

// Through dispatch, a refused event fails its block, and the block's earlier
// registrations are rolled back with it.
func TestARefusedEventFailsItsWholeBlock(t *testing.T) {
	f := newFixture()
	err := f.apply(
		f.registryEvent(protocol.WorkerRegistered, pubA, encA1),
		f.c.Msg(protocol.ModuleOrigin(protocol.ModuleGovernance), protocol.TopicWorker, event(protocol.WorkerRegistered, pubB, encA2)),
	)
	if !errors.Is(err, protocol.ErrApply) {
		t.Fatalf("Apply = %v, want ErrApply", err)
	}
	if f.v.Registered(pubA, encA1) || f.v.Registered(pubB, encA2) {
		t.Error("a registration of the refused block was kept")
	}
}

func TestWantsOnlyTheWorkerTopic(t *testing.T) {
	v := workers.New(&state.Tx{})
	for topic, want := range map[string]bool{
		protocol.TopicWorker: true,
		protocol.ModuleTopic(protocol.ModuleRegistry, "other"): false,
		"app/worker": false,
	} {
		if got := v.Wants(&protocol.Message{Origin: registry, Topic: topic}); got != want {
			t.Errorf("Wants(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestGetSeesOnlyCommittedEvents(t *testing.T) {
	tx := &state.Tx{}
	v := workers.New(tx)
	m := &protocol.Message{Origin: registry, Topic: protocol.TopicWorker, Payload: event(protocol.WorkerRegistered, pubA, encA1)}
	if err := v.Deliver(dispatch.Block{}, m); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Get(pubA); ok {
		t.Error("Get sees an uncommitted registration")
	}
	tx.Rollback()
	if _, ok := v.Get(pubA); ok {
		t.Error("Get sees a rolled-back registration")
	}
}

func TestSnapshotLoadRoundTrip(t *testing.T) {
	f := newFixture()
	f.mustApply(t, f.registryEvent(protocol.WorkerRegistered, pubA, encA1), f.registryEvent(protocol.WorkerRegistered, pubB, encA2))
	snap := f.v.Snapshot()

	restored := workers.New(&state.Tx{})
	restored.Load(snap)
	if !restored.Registered(pubA, encA1) || !restored.Registered(pubB, encA2) || len(restored.Snapshot()) != 2 {
		t.Errorf("restored view %v", restored.Snapshot())
	}
}
