package protocol_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// syncBlocks returns n consecutive blocks of a synthetic chain, the first
// carrying two messages.
func syncBlocks(n int) []protocol.SyncBlock {
	c := testchain.New(testChainID, 2)
	o := protocol.ModuleOrigin(protocol.ModuleRegistry)
	out := []protocol.SyncBlock{c.Next(c.Msg(o, protocol.TopicWorker, []byte("a")), c.Msg(o, protocol.TopicWorker, nil))}
	for len(out) < n {
		out = append(out, c.Next())
	}
	return out
}

func syncRequest(t testing.TB, blocks ...protocol.SyncBlock) []byte {
	t.Helper()
	raw, err := protocol.Marshal(&protocol.SyncRequest{Blocks: blocks})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// heights returns blocks with only their heights set.
func heights(hs ...int64) []protocol.SyncBlock {
	out := make([]protocol.SyncBlock, len(hs))
	for i, h := range hs {
		out[i].Height = h
	}
	return out
}

func TestDecodeSyncRequestAcceptsConsecutiveBlocks(t *testing.T) {
	blocks := syncBlocks(2)
	raw := syncRequest(t, blocks...)
	r, err := protocol.DecodeSyncRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Blocks) != 2 || r.Blocks[0].Height != 0 || r.Blocks[1].Height != 1 {
		t.Fatalf("decoded %d blocks", len(r.Blocks))
	}
	for i := range blocks {
		if !bytes.Equal(r.Blocks[i].SignedHeader, blocks[i].SignedHeader) ||
			!bytes.Equal(protocol.MustMarshal(&r.Blocks[i].Messages), protocol.MustMarshal(&blocks[i].Messages)) {
			t.Errorf("block %d does not decode to what was encoded", i)
		}
	}

	many := make([]int64, protocol.MaxSyncBlocks)
	for i := range many {
		many[i] = int64(i) + 7
	}
	if _, err := protocol.DecodeSyncRequest(syncRequest(t, heights(many...)...)); err != nil {
		t.Errorf("%d blocks: %v", protocol.MaxSyncBlocks, err)
	}
}

func TestDecodeSyncRequestRejections(t *testing.T) {
	tooMany := make([]int64, protocol.MaxSyncBlocks+1)
	for i := range tooMany {
		tooMany[i] = int64(i)
	}
	valid := syncRequest(t, syncBlocks(2)...)
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"no blocks", syncRequest(t), protocol.ErrBadRequest},
		{"more than MaxSyncBlocks", syncRequest(t, heights(tooMany...)...), protocol.ErrBadRequest},
		{"height gap", syncRequest(t, heights(4, 5, 7)...), protocol.ErrBadRequest},
		{"height repeated", syncRequest(t, heights(4, 4)...), protocol.ErrBadRequest},
		{"heights reversed", syncRequest(t, heights(5, 4)...), protocol.ErrBadRequest},
		{"height overflows", syncRequest(t, heights(math.MaxInt64, math.MinInt64)...), protocol.ErrBadRequest},
		{"empty body", nil, protocol.ErrMalformed},
		{"garbage", []byte("not cbor at all"), protocol.ErrMalformed},
		{"a single byte", []byte{0xff}, protocol.ErrMalformed},
		{"truncated", valid[:len(valid)-1], protocol.ErrMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), protocol.ErrMalformed},
		{"blocks is not a list", protocol.MustMarshal(map[string]any{"blocks": 1}), protocol.ErrMalformed},
		{"unknown field", protocol.MustMarshal(map[string]any{"blocks": []any{}, "extra": 1}), protocol.ErrMalformed},
		{"list instead of map", protocol.MustMarshal([]any{}), protocol.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := protocol.DecodeSyncRequest(tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeSyncRequest = %v, want %v", err, tt.want)
			}
			if r != nil {
				t.Error("returned a request with an error")
			}
		})
	}
}

func FuzzDecodeSyncRequest(f *testing.F) {
	blocks := syncBlocks(3)
	f.Add(syncRequest(f, blocks[:2]...))
	f.Add(syncRequest(f, blocks[1:]...))
	f.Add(syncRequest(f, heights(0)...))
	f.Add(syncRequest(f, heights(9, 10, 11)...))
	f.Add(syncRequest(f, heights(9, 11)...))
	f.Add(syncRequest(f, heights(math.MaxInt64, math.MinInt64)...))
	f.Add(syncRequest(f))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := protocol.DecodeSyncRequest(raw)
		if err != nil {
			mustCode(t, err)
			if r != nil {
				t.Fatal("DecodeSyncRequest returned a request with an error")
			}
			return
		}
		if got := protocol.MustMarshal(r); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		if n := len(r.Blocks); n < 1 || n > protocol.MaxSyncBlocks {
			t.Fatalf("accepted %d blocks", n)
		}
		for i := 1; i < len(r.Blocks); i++ {
			prev, h := r.Blocks[i-1].Height, r.Blocks[i].Height
			if h <= prev || h-prev != 1 {
				t.Fatalf("accepted height %d after %d", h, prev)
			}
		}
	})
}
