package dispatch_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

var (
	alice    = protocol.AccountOrigin(protocol.Address{0xa1})
	bob      = protocol.AccountOrigin(protocol.Address{0xb0})
	registry = protocol.ModuleOrigin(protocol.ModuleRegistry)
)

const (
	topicA = "app/a"
	topicB = "app/b"
)

// recorder is a subscriber that logs every Deliver call outside the
// transaction (to see what was attempted) and stores what it received in its
// own table on the block's transaction (to see what was committed).
type recorder struct {
	name   string
	wants  func(*protocol.Message) bool
	fail   func(*protocol.Message) error // nil: accept everything
	calls  *[]string                     // shared by every recorder of an engine, in call order
	blocks []dispatch.Block
	stored *state.Map[string, string] // "origin#seq" -> payload
}

func key(o protocol.Origin, seq uint64) string { return fmt.Sprintf("%s#%d", o, seq) }

func (r *recorder) Wants(m *protocol.Message) bool { return r.wants(m) }

func (r *recorder) Deliver(b dispatch.Block, m *protocol.Message) error {
	*r.calls = append(*r.calls, r.name+":"+key(m.Origin, m.Seq))
	r.blocks = append(r.blocks, b)
	r.stored.Set(key(m.Origin, m.Seq), string(m.Payload))
	if r.fail != nil {
		return r.fail(m)
	}
	return nil
}

// hook is an end-of-block hook that counts blocks in a cell on the
// transaction.
type hook struct {
	calls  *[]string
	blocks *state.Cell[int]
	fail   error
}

func (h *hook) EndBlock(b dispatch.Block) error {
	*h.calls = append(*h.calls, fmt.Sprintf("end:%d", b.Height))
	h.blocks.Set(h.blocks.Get() + 1)
	return h.fail
}

type fixture struct {
	tx    *state.Tx
	e     *dispatch.Engine
	c     *testchain.Chain
	calls []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{tx: &state.Tx{}, c: testchain.New("dispatch-test", 1)}
	f.e = dispatch.New(f.tx)
	return f
}

func (f *fixture) subscribe(name string, wants func(*protocol.Message) bool) *recorder {
	r := &recorder{name: name, wants: wants, calls: &f.calls, stored: state.NewMap[string, string](f.tx)}
	f.e.Subscribe(r)
	return r
}

func (f *fixture) onEndBlock() *hook {
	h := &hook{calls: &f.calls, blocks: state.NewCell(f.tx, 0)}
	f.e.OnEndBlock(h)
	return h
}

func block(p *testchain.Parts) dispatch.Block {
	return dispatch.Block{Height: p.Height, Time: p.Header.Time}
}

// apply applies p as a relayer would hand it over: its message list checked
// against the app hash of the verified header.
func (f *fixture) apply(p *testchain.Parts) error {
	return f.e.Apply(block(p), dispatch.Prepare(&p.Messages), p.Header.AppHash)
}

func (f *fixture) mustApply(t *testing.T, msgs ...protocol.Message) *testchain.Parts {
	t.Helper()
	p := f.c.NextParts(msgs)
	if err := f.apply(p); err != nil {
		t.Fatalf("block %d: %v", p.Height, err)
	}
	return p
}

func all(*protocol.Message) bool { return true }

func onTopic(topic string) func(*protocol.Message) bool {
	return func(m *protocol.Message) bool { return m.Topic == topic }
}

func TestApplyDeliversInOrderToSubscribersThatWantTheMessage(t *testing.T) {
	f := newFixture(t)
	ra := f.subscribe("a", onTopic(topicA))
	rb := f.subscribe("b", onTopic(topicB))
	rall := f.subscribe("all", all)
	f.onEndBlock()

	p := f.mustApply(t,
		f.c.Msg(alice, topicA, []byte("1")),
		f.c.Msg(bob, topicB, []byte("2")),
		f.c.Msg(alice, topicB, []byte("3")),
		f.c.Msg(registry, topicA, []byte("4")),
	)

	want := []string{
		"a:" + key(alice, 0), "all:" + key(alice, 0),
		"b:" + key(bob, 0), "all:" + key(bob, 0),
		"b:" + key(alice, 1), "all:" + key(alice, 1),
		"a:" + key(registry, 0), "all:" + key(registry, 0),
		fmt.Sprintf("end:%d", p.Height),
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", f.calls, want)
	}
	if got, want := ra.stored.Snapshot(), map[string]string{key(alice, 0): "1", key(registry, 0): "4"}; !maps.Equal(got, want) {
		t.Errorf("subscriber a committed %v, want %v", got, want)
	}
	if got, want := rb.stored.Snapshot(), map[string]string{key(bob, 0): "2", key(alice, 1): "3"}; !maps.Equal(got, want) {
		t.Errorf("subscriber b committed %v, want %v", got, want)
	}
	for _, b := range rall.blocks {
		if b != block(p) {
			t.Errorf("delivered with block %+v, want %+v", b, block(p))
		}
	}
	for _, want := range []struct {
		o    protocol.Origin
		next uint64
	}{{alice, 2}, {bob, 1}, {registry, 1}} {
		if got := f.e.NextSeq(want.o); got != want.next {
			t.Errorf("NextSeq(%s) = %d, want %d", want.o, got, want.next)
		}
	}
}

func TestApplyAcceptsAnEmptyBlockAndRunsHooks(t *testing.T) {
	f := newFixture(t)
	h := f.onEndBlock()
	f.mustApply(t)
	f.mustApply(t)
	if h.blocks.Committed() != 2 {
		t.Errorf("hook committed %d blocks, want 2", h.blocks.Committed())
	}
}

// snapshot is everything the engine and its subscribers committed.
type snapshot struct {
	seqs   map[string]uint64
	stored map[string]string
	blocks int
}

func (f *fixture) snapshot(r *recorder, h *hook) snapshot {
	return snapshot{seqs: f.e.Seqs(), stored: r.stored.Snapshot(), blocks: h.blocks.Committed()}
}

func (s snapshot) equal(o snapshot) bool {
	return maps.Equal(s.seqs, o.seqs) && maps.Equal(s.stored, o.stored) && s.blocks == o.blocks
}

// requireUnchanged checks that a refused block left the committed state as
// it was, and nothing pending either: the next (empty) block commits only
// itself.
func (f *fixture) requireUnchanged(t *testing.T, before snapshot, r *recorder, h *hook) {
	t.Helper()
	if after := f.snapshot(r, h); !after.equal(before) {
		t.Fatalf("state changed: %+v, was %+v", after, before)
	}
	h.fail = nil
	f.mustApply(t)
	before.blocks++
	if after := f.snapshot(r, h); !after.equal(before) {
		t.Fatalf("the refused block's changes were still pending: after the next block %+v, want %+v", after, before)
	}
}

func TestApplyRefusesMessageListsTheHeaderDoesNotCommitTo(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(c *testchain.Chain, bm *protocol.BlockMessages)
	}{
		{"message payload altered", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			m, _ := protocol.DecodeMessage(bm.Messages[1])
			m.Payload = []byte("forged")
			bm.Messages[1] = m.Encode()
		}},
		{"message dropped", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			bm.Messages = bm.Messages[:2]
		}},
		{"message added", func(c *testchain.Chain, bm *protocol.BlockMessages) {
			m := c.Msg(bob, topicA, []byte("extra"))
			bm.Messages = append(bm.Messages, m.Encode())
		}},
		{"messages swapped", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			bm.Messages[0], bm.Messages[2] = bm.Messages[2], bm.Messages[0]
		}},
		{"every message dropped", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			bm.Messages = nil
		}},
		{"state root substituted", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			bm.StateRoot = testchain.StateRoot(99)
		}},
		{"message replaced by garbage", func(_ *testchain.Chain, bm *protocol.BlockMessages) {
			bm.Messages[1] = []byte{0xff, 0x00}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.subscribe("all", all)
			h := f.onEndBlock()
			f.mustApply(t, f.c.Msg(alice, topicA, []byte("0")))
			before := f.snapshot(r, h)
			f.calls = nil

			p := f.c.NextParts([]protocol.Message{
				f.c.Msg(alice, topicA, []byte("1")),
				f.c.Msg(bob, topicA, []byte("2")),
				f.c.Msg(alice, topicB, []byte("3")),
			})
			tt.tamper(f.c, &p.Messages)

			err := f.apply(p)
			if !errors.Is(err, protocol.ErrAppHashMismatch) {
				t.Fatalf("Apply = %v, want ErrAppHashMismatch", err)
			}
			if len(f.calls) != 0 {
				t.Errorf("delivered %q from a block that does not match its header", f.calls)
			}
			f.requireUnchanged(t, before, r, h)
		})
	}
}

func TestApplyRefusesAnAppHashOfAnotherBlock(t *testing.T) {
	f := newFixture(t)
	f.subscribe("all", all)
	p1 := f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, nil)})
	p2 := f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, nil)})
	err := f.e.Apply(block(p1), dispatch.Prepare(&p1.Messages), p2.Header.AppHash)
	if !errors.Is(err, protocol.ErrAppHashMismatch) {
		t.Fatalf("Apply = %v, want ErrAppHashMismatch", err)
	}
	if len(f.calls) != 0 || f.e.NextSeq(alice) != 0 {
		t.Errorf("delivered %q, NextSeq(alice) = %d; want nothing", f.calls, f.e.NextSeq(alice))
	}
}

// An undecodable message that the validators did commit to is refused
// with its decoding error, before anything is delivered.
func TestApplyRefusesAnUndecodableCommittedMessage(t *testing.T) {
	f := newFixture(t)
	f.subscribe("all", all)
	good := protocol.Message{Origin: alice, Topic: topicA}
	bm := protocol.BlockMessages{StateRoot: testchain.StateRoot(0), Messages: [][]byte{good.Encode(), {0xff}}}
	err := f.e.Apply(dispatch.Block{Height: 0}, dispatch.Prepare(&bm), bm.AppHash())
	if !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("Apply = %v, want ErrMalformed", err)
	}
	if len(f.calls) != 0 || f.e.NextSeq(alice) != 0 {
		t.Errorf("delivered %q, NextSeq(alice) = %d; want nothing", f.calls, f.e.NextSeq(alice))
	}
}

func TestApplyEnforcesContiguousSequencesPerOrigin(t *testing.T) {
	at := func(o protocol.Origin, seq uint64) protocol.Message {
		return protocol.Message{Origin: o, Topic: topicA, Seq: seq, Payload: []byte(key(o, seq))}
	}
	tests := []struct {
		name string
		msgs []protocol.Message // block 2; block 1 held alice 0, 1 and bob 0
		want error
	}{
		{"gap after valid messages", []protocol.Message{at(alice, 2), at(bob, 1), at(alice, 4)}, protocol.ErrSeqGap},
		{"gap on an origin never seen", []protocol.Message{at(alice, 2), at(registry, 1)}, protocol.ErrSeqGap},
		{"repeat of the previous block", []protocol.Message{at(bob, 1), at(alice, 1)}, protocol.ErrSeqRepeat},
		{"repeat within the block", []protocol.Message{at(alice, 2), at(bob, 1), at(alice, 2)}, protocol.ErrSeqRepeat},
		{"reordered within the block", []protocol.Message{at(alice, 3), at(alice, 2)}, protocol.ErrSeqGap},
		{"replay of the first message", []protocol.Message{at(alice, 0)}, protocol.ErrSeqRepeat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.subscribe("all", all)
			h := f.onEndBlock()
			f.mustApply(t, at(alice, 0), at(alice, 1), at(bob, 0))
			before := f.snapshot(r, h)

			p := f.c.NextParts(tt.msgs)
			err := f.apply(p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			f.requireUnchanged(t, before, r, h)
			if slices.Contains(f.calls, fmt.Sprintf("end:%d", p.Height)) {
				t.Error("end-of-block hook ran for a refused block")
			}

			// The refused block left nothing pending: the next valid
			// messages are exactly those that followed block 1.
			f.mustApply(t, at(alice, 2), at(bob, 1))
			if f.e.NextSeq(alice) != 3 || f.e.NextSeq(bob) != 2 {
				t.Errorf("NextSeq = alice %d, bob %d; want 3, 2", f.e.NextSeq(alice), f.e.NextSeq(bob))
			}
		})
	}
}

var errRefused = errors.New("subscriber refuses")

func TestApplyWrapsASubscriberErrorWithoutCodeAsErrApply(t *testing.T) {
	f := newFixture(t)
	r := f.subscribe("all", all)
	f.e.Subscribe(&recorder{name: "failing", wants: onTopic(topicB), calls: &f.calls, stored: state.NewMap[string, string](f.tx),
		fail: func(*protocol.Message) error { return errRefused }})
	h := f.onEndBlock()
	f.mustApply(t, f.c.Msg(alice, topicA, nil))
	before := f.snapshot(r, h)

	p := f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, []byte("ok")), f.c.Msg(bob, topicB, []byte("x"))})
	err := f.apply(p)
	if !errors.Is(err, protocol.ErrApply) {
		t.Fatalf("Apply = %v, want ErrApply", err)
	}
	f.requireUnchanged(t, before, r, h)
}

func TestApplyKeepsTheCodeOfASubscriberProtocolError(t *testing.T) {
	f := newFixture(t)
	f.e.Subscribe(&recorder{name: "failing", wants: all, calls: &f.calls, stored: state.NewMap[string, string](f.tx),
		fail: func(m *protocol.Message) error { return protocol.Errorf(protocol.ErrBadOrigin, "%s", m.Origin) }})
	err := f.apply(f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, nil)}))
	if !errors.Is(err, protocol.ErrBadOrigin) {
		t.Fatalf("Apply = %v, want ErrBadOrigin", err)
	}
	if errors.Is(err, protocol.ErrApply) {
		t.Errorf("Apply = %v: a coded error was rewrapped as ErrApply", err)
	}
	if f.e.NextSeq(alice) != 0 {
		t.Errorf("NextSeq(alice) = %d after a refused block, want 0", f.e.NextSeq(alice))
	}
}

func TestApplyStopsAtTheFirstSubscriberError(t *testing.T) {
	f := newFixture(t)
	f.e.Subscribe(&recorder{name: "failing", wants: all, calls: &f.calls, stored: state.NewMap[string, string](f.tx),
		fail: func(*protocol.Message) error { return errRefused }})
	f.subscribe("later", all)
	_ = f.apply(f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, nil), f.c.Msg(alice, topicA, nil)}))
	if want := []string{"failing:" + key(alice, 0)}; !slices.Equal(f.calls, want) {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
}

func TestApplyRollsBackWhenTheEndBlockHookFails(t *testing.T) {
	tests := []struct {
		name string
		fail error
		want error
	}{
		{"plain error", errRefused, protocol.ErrApply},
		{"protocol error", protocol.Errorf(protocol.ErrSeqGap, "hook"), protocol.ErrSeqGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.subscribe("all", all)
			h := f.onEndBlock()
			f.mustApply(t, f.c.Msg(alice, topicA, nil))
			before := f.snapshot(r, h)

			h.fail = tt.fail
			err := f.apply(f.c.NextParts([]protocol.Message{f.c.Msg(alice, topicA, nil), f.c.Msg(bob, topicA, nil)}))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			f.requireUnchanged(t, before, r, h)
		})
	}
}

func TestSeqsRoundTripThroughLoadSeqs(t *testing.T) {
	f := newFixture(t)
	f.mustApply(t, f.c.Msg(alice, topicA, nil), f.c.Msg(alice, topicA, nil), f.c.Msg(bob, topicA, nil))

	seqs := f.e.Seqs()
	want := map[string]uint64{string(alice.Key()): 2, string(bob.Key()): 1}
	if !maps.Equal(seqs, want) {
		t.Fatalf("Seqs() = %v, want %v", seqs, want)
	}
	seqs[string(alice.Key())] = 100
	if f.e.NextSeq(alice) != 2 {
		t.Fatal("changing the result of Seqs changed the engine")
	}

	restored := dispatch.New(&state.Tx{})
	restored.LoadSeqs(want)
	if restored.NextSeq(alice) != 2 || restored.NextSeq(bob) != 1 || restored.NextSeq(registry) != 0 {
		t.Errorf("NextSeq after LoadSeqs = alice %d, bob %d, registry %d; want 2, 1, 0",
			restored.NextSeq(alice), restored.NextSeq(bob), restored.NextSeq(registry))
	}
	replay := protocol.BlockMessages{StateRoot: []byte{1}, Messages: [][]byte{(&protocol.Message{Origin: alice, Topic: topicA, Seq: 1}).Encode()}}
	if err := restored.Apply(dispatch.Block{Height: 5}, dispatch.Prepare(&replay), replay.AppHash()); !errors.Is(err, protocol.ErrSeqRepeat) {
		t.Errorf("replaying alice seq 1 after LoadSeqs: %v, want ErrSeqRepeat", err)
	}
	next := protocol.BlockMessages{StateRoot: []byte{1}, Messages: [][]byte{(&protocol.Message{Origin: alice, Topic: topicA, Seq: 2}).Encode()}}
	if err := restored.Apply(dispatch.Block{Height: 5}, dispatch.Prepare(&next), next.AppHash()); err != nil {
		t.Errorf("alice seq 2 after LoadSeqs: %v", err)
	}
}

func TestNextSeqIgnoresAPendingBlock(t *testing.T) {
	f := newFixture(t)
	var seen uint64
	f.e.Subscribe(&recorder{name: "probe", wants: all, calls: &f.calls, stored: state.NewMap[string, string](f.tx),
		fail: func(*protocol.Message) error { seen = f.e.NextSeq(alice); return nil }})
	f.mustApply(t, f.c.Msg(alice, topicA, nil), f.c.Msg(alice, topicA, nil))
	if seen != 0 {
		t.Errorf("NextSeq(alice) during the block = %d, want the committed 0", seen)
	}
	if f.e.NextSeq(alice) != 2 {
		t.Errorf("NextSeq(alice) after the block = %d, want 2", f.e.NextSeq(alice))
	}
}
