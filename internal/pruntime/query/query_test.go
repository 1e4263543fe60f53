package query

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

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
	s.Publish(&Snapshot{View: &runner.View{}})
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
	s := server(t, 1)
	s.cfg.Nonces = 2
	h := func(nonce string) *protocol.QueryHeader {
		return &protocol.QueryHeader{Nonce: []byte(nonce), Expiry: 10}
	}
	for _, n := range []string{"a", "b"} {
		if err := s.fresh([]byte("signer"), h(n), 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.fresh([]byte("signer"), h("a"), 5); !errors.Is(err, protocol.ErrQueryReplay) {
		t.Fatalf("a nonce again: %v", err)
	}
	if err := s.fresh([]byte("signer"), h("c"), 5); !errors.Is(err, protocol.ErrQueryBusy) {
		t.Fatalf("a third nonce in a cache of two: %v", err)
	}
	if err := s.fresh([]byte("signer"), h("c"), 11); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}
