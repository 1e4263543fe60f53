package egress_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

const chainID = "egress-test"

func workerKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func newQueue(seed string) (*state.Tx, *egress.Queue) {
	tx := &state.Tx{}
	return tx, egress.New(tx, workerKey(seed), chainID)
}

// emit emits payloads on "out/topic" as one committed block.
func emit(t *testing.T, tx *state.Tx, q *egress.Queue, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := q.Emit("out/topic", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	tx.Commit()
}

func decode(t *testing.T, raw []byte) protocol.SignedMessage {
	t.Helper()
	var sm protocol.SignedMessage
	if err := protocol.Unmarshal(raw, &sm); err != nil {
		t.Fatalf("egress holds undecodable bytes: %v", err)
	}
	return sm
}

func seqs(t *testing.T, raws [][]byte) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range raws {
		out = append(out, decode(t, r).Message.Seq)
	}
	return out
}

func TestEmitSignsContiguousMessagesOfTheWorkerOrigin(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "a", "b")
	emit(t, tx, q, "c")

	pub := workerKey("w").Public().(ed25519.PublicKey)
	if want := protocol.WorkerOrigin(pub); !bytes.Equal(q.Origin().Key(), want.Key()) {
		t.Fatalf("Origin() = %s, want %s", q.Origin(), want)
	}
	msgs := q.After(-1, 10)
	if len(msgs) != 3 {
		t.Fatalf("%d messages pending, want 3", len(msgs))
	}
	for i, raw := range msgs {
		sm := decode(t, raw)
		m := sm.Message
		if m.Seq != uint64(i) || m.Topic != "out/topic" || string(m.Payload) != string(rune('a'+i)) {
			t.Errorf("message %d = seq %d topic %q payload %q", i, m.Seq, m.Topic, m.Payload)
		}
		if !bytes.Equal(m.Origin.Key(), q.Origin().Key()) || !bytes.Equal(sm.Signer, pub) {
			t.Errorf("message %d: origin %s signer %x, want the worker's", i, m.Origin, sm.Signer)
		}
		if err := sm.VerifySignature(chainID); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
		if err := sm.VerifySignature("another-chain"); !errors.Is(err, protocol.ErrBadMessageSig) {
			t.Errorf("message %d verifies for another chain: %v", i, err)
		}
	}
	if q.NextSeq() != 3 || q.Len() != 3 {
		t.Errorf("NextSeq() = %d, Len() = %d; want 3, 3", q.NextSeq(), q.Len())
	}
}

func TestEmitIsInvisibleUntilCommitted(t *testing.T) {
	tx, q := newQueue("w")
	if err := q.Emit("out/topic", nil); err != nil {
		t.Fatal(err)
	}
	if len(q.After(-1, 10)) != 0 || q.Len() != 0 || q.NextSeq() != 0 {
		t.Errorf("an uncommitted message is visible: After %d, Len %d, NextSeq %d", len(q.After(-1, 10)), q.Len(), q.NextSeq())
	}
	tx.Commit()
	if q.Len() != 1 || q.NextSeq() != 1 {
		t.Errorf("after Commit: Len %d, NextSeq %d; want 1, 1", q.Len(), q.NextSeq())
	}
}

func TestRollbackDropsAnEmitAndItsSequence(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "kept")
	if err := q.Emit("out/topic", []byte("dropped")); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if q.Len() != 1 || q.NextSeq() != 1 {
		t.Fatalf("after Rollback: Len %d, NextSeq %d; want 1, 1", q.Len(), q.NextSeq())
	}
	// The rolled-back sequence number is reused by the next emit.
	emit(t, tx, q, "next")
	msgs := q.After(-1, 10)
	if got := seqs(t, msgs); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("seqs %v, want [0 1]", got)
	}
	if p := decode(t, msgs[1]).Message.Payload; string(p) != "next" {
		t.Errorf("seq 1 carries %q, want next", p)
	}
}

func TestAfterPagesInSequenceOrder(t *testing.T) {
	tx, q := newQueue("w")
	var payloads []string
	for i := range 12 { // more than 10, so that byte order differs from numeric order
		payloads = append(payloads, fmt.Sprint(i))
	}
	emit(t, tx, q, payloads...)

	tests := []struct {
		after int64
		limit int
		want  []uint64
	}{
		{-1, 3, []uint64{0, 1, 2}},
		{2, 3, []uint64{3, 4, 5}},
		{8, 100, []uint64{9, 10, 11}},
		{-1, 100, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{11, 10, nil},
		{1000, 10, nil},
		{5, 1, []uint64{6}},
	}
	for _, tt := range tests {
		if got := seqs(t, q.After(tt.after, tt.limit)); !slices.Equal(got, tt.want) {
			t.Errorf("After(%d, %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
		}
	}
}

func TestDeliverOfALandedMessageRemovesIt(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "a", "b", "c")
	landed := decode(t, q.After(-1, 1)[0]).Message
	if err := q.Deliver(dispatch.Block{Height: 1}, &landed); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 3 {
		t.Error("an uncommitted delivery already removed the message")
	}
	tx.Commit()
	if got := seqs(t, q.After(-1, 10)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("pending after seq 0 landed: %v, want [1 2]", got)
	}
	if q.NextSeq() != 3 {
		t.Errorf("NextSeq() = %d, want 3", q.NextSeq())
	}

	// Delivering it again (it cannot land twice, but be safe) changes nothing.
	if err := q.Deliver(dispatch.Block{Height: 2}, &landed); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if q.Len() != 2 || q.NextSeq() != 3 {
		t.Errorf("after a repeated delivery: Len %d, NextSeq %d; want 2, 3", q.Len(), q.NextSeq())
	}
}

func TestDeliverOfAnUnknownHigherSeqIsNeverReused(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "a")
	unknown := protocol.Message{Origin: q.Origin(), Topic: "out/topic", Seq: 10}
	if err := q.Deliver(dispatch.Block{Height: 1}, &unknown); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if q.NextSeq() != 11 {
		t.Fatalf("NextSeq() = %d, want 11", q.NextSeq())
	}
	emit(t, tx, q, "b")
	if got := seqs(t, q.After(-1, 10)); !slices.Equal(got, []uint64{0, 11}) {
		t.Errorf("pending seqs %v, want [0 11]", got)
	}
}

func TestWantsOnlyTheQueuesOwnOrigin(t *testing.T) {
	_, q := newQueue("w")
	other := protocol.WorkerOrigin(workerKey("other").Public().(ed25519.PublicKey))
	tests := []struct {
		origin protocol.Origin
		want   bool
	}{
		{q.Origin(), true},
		{other, false},
		{protocol.Origin{Kind: protocol.OriginContract, ID: q.Origin().ID}, false},
		{protocol.ModuleOrigin(protocol.ModuleRegistry), false},
	}
	for _, tt := range tests {
		if got := q.Wants(&protocol.Message{Origin: tt.origin, Topic: "out/topic"}); got != tt.want {
			t.Errorf("Wants(%s) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}

// The queue as a dispatch subscriber: its messages leave it when a verified
// block shows them landed.
func TestLandedMessagesLeaveTheQueueThroughDispatch(t *testing.T) {
	tx, q := newQueue("w")
	e := dispatch.New(tx)
	e.Subscribe(q)
	emit(t, tx, q, "a", "b")

	c := testchain.New(chainID, 1)
	first := decode(t, q.After(-1, 1)[0]).Message
	p := c.NextParts([]protocol.Message{first})
	if err := e.Apply(dispatch.Block{Height: p.Height, Time: p.Header.Time}, dispatch.Prepare(&p.Messages), p.Header.AppHash); err != nil {
		t.Fatal(err)
	}
	if got := seqs(t, q.After(-1, 10)); !slices.Equal(got, []uint64{1}) {
		t.Errorf("pending %v, want [1]", got)
	}
}

func TestSnapshotLoadRoundTrip(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "a", "b", "c")
	landed := decode(t, q.After(-1, 1)[0]).Message
	if err := q.Deliver(dispatch.Block{}, &landed); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if err := q.Emit("out/topic", []byte("uncommitted")); err != nil {
		t.Fatal(err)
	}
	snap := q.Snapshot()

	tx2, restored := newQueue("w")
	if err := restored.Emit("out/topic", []byte("pending before load")); err != nil {
		t.Fatal(err)
	}
	restored.Load(snap)
	tx2.Commit() // nothing pending before Load survives it
	if restored.NextSeq() != 3 || !slices.EqualFunc(restored.After(-1, 10), q.After(-1, 10), bytes.Equal) {
		t.Fatalf("restored queue: next %d, %d pending; want 3 and the original's", restored.NextSeq(), restored.Len())
	}
	emit(t, tx2, restored, "d")
	if got := seqs(t, restored.After(-1, 10)); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("after restore and emit: %v, want [1 2 3]", got)
	}
	if _, ok := snap.Pending[3]; ok {
		t.Error("the snapshot shares state with the restored queue")
	}
}

func TestSnapshotEncodesCanonically(t *testing.T) {
	tx, q := newQueue("w")
	emit(t, tx, q, "a", "b")
	raw := protocol.MustMarshal(q.Snapshot())
	var back egress.Snapshot
	if err := protocol.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Next != 2 || len(back.Pending) != 2 {
		t.Errorf("decoded snapshot %+v", back)
	}
}

func TestEmitIsDeterministic(t *testing.T) {
	tx1, q1 := newQueue("w")
	tx2, q2 := newQueue("w")
	for _, p := range []string{"a", "b", "c"} {
		emit(t, tx1, q1, p)
		emit(t, tx2, q2, p)
	}
	a, b := q1.After(-1, 10), q2.After(-1, 10)
	if len(a) != 3 || !slices.EqualFunc(a, b, bytes.Equal) {
		t.Error("the same emits with the same key gave different messages")
	}

	tx3, q3 := newQueue("another worker")
	emit(t, tx3, q3, "a")
	if bytes.Equal(q3.After(-1, 1)[0], a[0]) {
		t.Error("another key gave the same message")
	}
}

func TestEmitRefusesBeyondMaxPending(t *testing.T) {
	tx, q := newQueue("w")
	full := egress.Snapshot{Next: egress.MaxPending, Pending: map[uint64][]byte{}}
	for i := range uint64(egress.MaxPending) {
		full.Pending[i] = []byte{1}
	}
	q.Load(full)
	if err := q.Emit("out/topic", nil); err == nil {
		t.Fatal("Emit with MaxPending messages pending succeeded")
	}
	tx.Commit()
	if q.NextSeq() != egress.MaxPending || q.Len() != egress.MaxPending {
		t.Errorf("a refused Emit changed the queue: next %d, len %d", q.NextSeq(), q.Len())
	}

	// A landed message makes room again.
	m := protocol.Message{Origin: q.Origin(), Topic: "out/topic", Seq: 0}
	if err := q.Deliver(dispatch.Block{}, &m); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if err := q.Emit("out/topic", nil); err != nil {
		t.Errorf("Emit after a message landed: %v", err)
	}
}
