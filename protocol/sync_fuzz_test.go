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
		{"height has no next header", syncRequest(t, heights(math.MaxInt64)...), protocol.ErrSyncHeight},
		{"height negative", syncRequest(t, heights(-1)...), protocol.ErrSyncHeight},
		{"height most negative", syncRequest(t, heights(math.MinInt64)...), protocol.ErrSyncHeight},
		{"height negative after a valid one", syncRequest(t, heights(0, -1)...), protocol.ErrSyncHeight},
		{"empty body", nil, protocol.ErrSyncMalformed},
		{"garbage", []byte("not cbor at all"), protocol.ErrSyncMalformed},
		{"a single byte", []byte{0xff}, protocol.ErrSyncMalformed},
		{"truncated", valid[:len(valid)-1], protocol.ErrSyncMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), protocol.ErrSyncMalformed},
		{"blocks is not a list", protocol.MustMarshal(map[string]any{"blocks": 1}), protocol.ErrSyncMalformed},
		{"unknown field", protocol.MustMarshal(map[string]any{"blocks": []any{}, "extra": 1}), protocol.ErrSyncMalformed},
		{"list instead of map", protocol.MustMarshal([]any{}), protocol.ErrSyncMalformed},
		{"non-minimal map head", append([]byte{0xb8, 0x01}, valid[1:]...), protocol.ErrSyncNonCanonical},
		{"non-minimal height", nonMinimalHeight(t), protocol.ErrSyncNonCanonical},
		{"block without next_validators", protocol.MustMarshal(map[string]any{"blocks": []any{map[string]any{
			"height": 0, "messages": protocol.BlockMessages{}, "signed_header": []byte{},
		}}}), protocol.ErrSyncMalformed},
		{"messages as text", protocol.MustMarshal(map[string]any{"blocks": []any{map[string]any{
			"height": 0, "messages": map[string]any{"messages": []any{"text"}, "state_root": []byte{}}, "signed_header": []byte{}, "next_validators": []byte{},
		}}}), protocol.ErrSyncMalformed},
		{"too many messages in a block", manyMessages(1, protocol.MaxBlockMessages+1), protocol.ErrSyncBlockMessages},
		{"too many messages in the request", manyMessages(protocol.MaxSyncMessages/protocol.MaxBlockMessages+1, protocol.MaxBlockMessages), protocol.ErrSyncRequestMessages},
		{"message count beyond the body", manyMessages(1, 100)[:40], protocol.ErrSyncMalformed},
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

// nonMinimalHeight is a one-block request whose height 5 is encoded in two
// bytes.
func nonMinimalHeight(t testing.TB) []byte {
	raw := syncRequest(t, heights(5)...)
	i := bytes.Index(raw, []byte("\x66height\x05")) + 7
	return append(append(append([]byte{}, raw[:i]...), 0x18, 0x05), raw[i+1:]...)
}

// manyMessages is a request of consecutive blocks with n one-byte (empty)
// messages each, built with the generic encoder.
func manyMessages(blocks, n int) []byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = []byte{}
	}
	bs := make([]protocol.SyncBlock, blocks)
	for i := range bs {
		bs[i] = protocol.SyncBlock{Height: int64(i), Messages: protocol.BlockMessages{Messages: msgs}}
	}
	return protocol.MustMarshal(&protocol.SyncRequest{Blocks: bs})
}

// TestDecodeSyncRequestDoesNotCopy: the decoded byte strings are slices of
// the body, capped so that appending to one cannot overwrite the body.
func TestDecodeSyncRequestDoesNotCopy(t *testing.T) {
	raw := syncRequest(t, syncBlocks(2)...)
	r, err := protocol.DecodeSyncRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	within := func(b []byte) bool {
		return len(b) > 0 && &b[0] == &raw[bytes.Index(raw, b)] && cap(b) == len(b)
	}
	if m := r.Blocks[0].Messages.Messages[0]; !within(m) || !within(r.Blocks[0].SignedHeader) {
		t.Fatal("decoded byte strings are copies, or their capacity reaches past them")
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

	f.Add(nonMinimalHeight(f))
	f.Add(manyMessages(2, 3))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := protocol.DecodeSyncRequest(raw)
		// The generic canonical decoder, within the same limits, accepts
		// exactly the same bodies.
		var slow protocol.SyncRequest
		serr := protocol.Unmarshal(raw, &slow)
		if serr == nil && withinLimits(&slow) != (err == nil) {
			t.Fatalf("generic decoder accepts %x within the limits; DecodeSyncRequest: %v", raw, err)
		}
		if err != nil {
			if e, ok := protocol.CodeOf(err); !ok || e.Space != protocol.SpaceRuntime {
				t.Fatalf("refusal outside the runtime space: %v", err)
			}
			if r != nil {
				t.Fatal("DecodeSyncRequest returned a request with an error")
			}
			return
		}
		if serr != nil {
			t.Fatalf("DecodeSyncRequest accepts %x, the generic decoder refuses it: %v", raw, serr)
		}
		if got := protocol.MustMarshal(r); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		if n := len(r.Blocks); n < 1 || n > protocol.MaxSyncBlocks {
			t.Fatalf("accepted %d blocks", n)
		}
		if !withinLimits(r) {
			t.Fatalf("accepted a request beyond the limits")
		}
	})
}

// withinLimits states DecodeSyncRequest's limits independently of it.
func withinLimits(r *protocol.SyncRequest) bool {
	if n := len(r.Blocks); n < 1 || n > protocol.MaxSyncBlocks {
		return false
	}
	total := 0
	for i, b := range r.Blocks {
		if b.Height < 0 || b.Height == math.MaxInt64 || i > 0 && b.Height != r.Blocks[i-1].Height+1 {
			return false
		}
		if len(b.Messages.Messages) > protocol.MaxBlockMessages {
			return false
		}
		total += len(b.Messages.Messages)
	}
	return total <= protocol.MaxSyncMessages
}
