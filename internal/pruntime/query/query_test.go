package query

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/pruntime/runner"
	"github.com/phala-go/phala/protocol"
)

func server(t *testing.T, concurrency int) *Server {
	t.Helper()
	_, id, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{ChainID: "c", Identity: id, Concurrency: concurrency, MaxGas: 1000})
}

func TestAnswerRefusesBeforeAnythingIsPublished(t *testing.T) {
	if _, err := server(t, 1).Answer(context.Background(), nil); !errors.Is(err, protocol.ErrNotInitialized) {
		t.Fatalf("got %v, want ErrNotInitialized", err)
	}
}

// TestAnswerIsBusyWhenEverySlotIsTaken: a query beyond the concurrency
// bound is refused at once with ErrQueryBusy, never queued.
func TestAnswerIsBusyWhenEverySlotIsTaken(t *testing.T) {
	s := server(t, 2)
	key, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	s.Publish(&Snapshot{View: &runner.View{}, Key: key})
	s.slots <- struct{}{}
	s.slots <- struct{}{}
	if _, err := s.Answer(context.Background(), []byte("anything")); !errors.Is(err, protocol.ErrQueryBusy) {
		t.Fatalf("got %v, want ErrQueryBusy", err)
	}
	<-s.slots
	if _, err := s.Answer(context.Background(), []byte("anything")); !errors.Is(err, protocol.ErrQueryMalformed) {
		t.Fatalf("with a slot free the request is read: got %v, want ErrQueryMalformed", err)
	}
}

// TestNonceCacheIsBounded: when the replay cache is full of unexpired
// nonces a new query is refused as busy rather than let the cache grow;
// once their expiry passes the cache makes room.
func TestNonceCacheIsBounded(t *testing.T) {
	c := newNonces(2)
	for _, n := range []string{"a", "b"} {
		if err := c.claim([]byte(n), 10, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.claim([]byte("a"), 10, 5); !errors.Is(err, protocol.ErrQueryReplay) {
		t.Fatalf("a nonce again: %v", err)
	}
	if err := c.claim([]byte("c"), 10, 5); !errors.Is(err, protocol.ErrQueryBusy) {
		t.Fatalf("a third nonce in a cache of two: %v", err)
	}
	if err := c.claim([]byte("c"), 20, 11); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
	if c.len() != 1 {
		t.Fatalf("%d nonces held after the others expired, want 1", c.len())
	}
}

// TestQueryReadingAnOlderSnapshotCannotReplayAForgottenNonce: a request
// expiring at 10 is answered at height 5. The host lets sync move to 11,
// where the cache forgets it, and then replays the same request to a
// query that read the snapshot of height 5 (it schedules the worker's
// threads): by that snapshot the request has not expired, and its nonce
// is gone. The cache's floor refuses it all the same, so the same request
// is never answered twice.
func TestQueryReadingAnOlderSnapshotCannotReplayAForgottenNonce(t *testing.T) {
	c := newNonces(100)
	if err := c.claim([]byte("victim"), 10, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.claim([]byte("another"), 40, 11); err != nil {
		t.Fatal(err)
	}
	if c.seen([]byte("victim")) {
		t.Fatal("the expired nonce is still held")
	}
	if err := c.claim([]byte("victim"), 10, 5); !errors.Is(err, protocol.ErrQueryExpired) {
		t.Fatalf("the replay read at height 5: got %v, want %v", err, protocol.ErrQueryExpired)
	}
	if err := c.claim([]byte("late"), 11, 5); err != nil {
		t.Fatalf("a request expiring at the floor, read at 5: %v", err)
	}
}
