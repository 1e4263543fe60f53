package protocol

import (
	"fmt"
	"math"
)

// DecodeSyncRequest reads a sync request. It is the only decoder of sync
// bodies; the header and validator-set bytes inside are decoded by the light
// client, the messages by DecodeMessage.
//
// It reads the canonical encoding directly and accepts exactly what
// Unmarshal would accept for a SyncRequest (FuzzDecodeSyncRequest holds it
// to that), within the limits below. It does not copy: every byte string of
// the result (headers, validator sets, state roots, messages) is a slice of
// raw, so decoding adds only the slice headers to the body's size. The
// caller must keep raw unchanged while it uses the request.
//
// The limits are checked while decoding, before anything is allocated for
// what they bound: 1..MaxSyncBlocks blocks (ErrBadRequest), at most
// MaxBlockMessages messages in a block (ErrSyncBlockMessages) and
// MaxSyncMessages in the request (ErrSyncRequestMessages). Heights must be
// consecutive (ErrBadRequest) and within 0..MaxInt64-1, since block H comes
// with header H+1 (ErrSyncHeight). Anything else that is not the canonical
// encoding is ErrSyncMalformed or ErrSyncNonCanonical.
func DecodeSyncRequest(raw []byte) (*SyncRequest, error) {
	d := syncDecoder{r: cborReader{b: raw}}
	req, err := d.request()
	if err != nil {
		return nil, err
	}
	if len(d.r.b) != 0 {
		return nil, Errorf(ErrSyncMalformed, "sync request: %d trailing bytes", len(d.r.b))
	}
	return req, nil
}

// Canonical keys, as core deterministic encoding orders them: shorter
// first, then bytewise.
var (
	keyBlocks         = []byte("\x66blocks")
	keyHeight         = []byte("\x66height")
	keyMessages       = []byte("\x68messages")
	keyStateRoot      = []byte("\x6astate_root")
	keySignedHeader   = []byte("\x6dsigned_header")
	keyNextValidators = []byte("\x6fnext_validators")
)

const (
	majorNegInt = 1
	majorArray  = 4
	majorMap    = 5
)

type syncDecoder struct {
	r        cborReader
	messages int // in the blocks decoded so far
}

func (d *syncDecoder) fail(format string, args ...any) error {
	base := ErrSyncMalformed
	if d.r.nonCanonical {
		base = ErrSyncNonCanonical
	}
	return Errorf(base, "sync request: %s at byte %d", fmt.Sprintf(format, args...), d.r.off)
}

// head reads the head of an array or map of the given major type.
func (d *syncDecoder) head(major byte, what string) (uint64, error) {
	n, ok := d.r.uint(major)
	if !ok {
		return 0, d.fail("%s", what)
	}
	return n, nil
}

// mapOf reads the head of a map that must have n entries.
func (d *syncDecoder) mapOf(n uint64, what string) error {
	got, err := d.head(majorMap, what+": want a map")
	if err != nil {
		return err
	}
	if got != n {
		return d.fail("%s: map of %d entries, want %d", what, got, n)
	}
	return nil
}

func (d *syncDecoder) key(k []byte) error {
	if !d.r.expect(k...) {
		return d.fail("want key %q", k[1:])
	}
	return nil
}

// bytes reads a byte string as a slice of the body whose capacity ends
// with it, so that appending to it never writes into the body.
func (d *syncDecoder) bytes(what string) ([]byte, error) {
	b, ok := d.r.bytes(majorBytes)
	if !ok {
		return nil, d.fail("%s: want a byte string", what)
	}
	return b[:len(b):len(b)], nil
}

func (d *syncDecoder) request() (*SyncRequest, error) {
	if err := d.mapOf(1, "request"); err != nil {
		return nil, err
	}
	if err := d.key(keyBlocks); err != nil {
		return nil, err
	}
	n, err := d.head(majorArray, "blocks: want an array")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxSyncBlocks {
		return nil, Errorf(ErrBadRequest, "sync request has %d blocks, want 1..%d", n, MaxSyncBlocks)
	}
	if n > uint64(len(d.r.b)) {
		return nil, d.fail("%d blocks in %d bytes", n, len(d.r.b))
	}
	req := &SyncRequest{Blocks: make([]SyncBlock, n)}
	for i := range req.Blocks {
		b := &req.Blocks[i]
		if err := d.block(i, b); err != nil {
			return nil, err
		}
		// prev+1 wraps at MaxInt64, which block() refuses.
		if i > 0 && b.Height != req.Blocks[i-1].Height+1 {
			return nil, Errorf(ErrBadRequest, "sync request: block %d has height %d after %d", i, b.Height, req.Blocks[i-1].Height)
		}
	}
	return req, nil
}

func (d *syncDecoder) block(i int, b *SyncBlock) error {
	if err := d.mapOf(4, fmt.Sprintf("block %d", i)); err != nil {
		return err
	}
	if err := d.key(keyHeight); err != nil {
		return err
	}
	h, err := d.height(i)
	if err != nil {
		return err
	}
	b.Height = h
	if err := d.key(keyMessages); err != nil {
		return err
	}
	if err := d.blockMessages(i, &b.Messages); err != nil {
		return err
	}
	if err := d.key(keySignedHeader); err != nil {
		return err
	}
	if b.SignedHeader, err = d.bytes("signed_header"); err != nil {
		return err
	}
	if err := d.key(keyNextValidators); err != nil {
		return err
	}
	b.NextValidators, err = d.bytes("next_validators")
	return err
}

// height reads a block height: an integer of either sign on the wire,
// refused unless header H+1 exists.
func (d *syncDecoder) height(i int) (int64, error) {
	if len(d.r.b) > 0 && d.r.b[0]>>5 == majorNegInt {
		n, ok := d.r.uint(majorNegInt)
		if !ok {
			return 0, d.fail("block %d: height", i)
		}
		if n > math.MaxInt64 {
			return 0, d.fail("block %d: height -1-%d overflows int64", i, n)
		}
		return 0, Errorf(ErrSyncHeight, "block %d: height %d is negative", i, -1-int64(n))
	}
	n, ok := d.r.uint(majorUint)
	if !ok {
		return 0, d.fail("block %d: height: want an integer", i)
	}
	if n > math.MaxInt64 {
		return 0, d.fail("block %d: height %d overflows int64", i, n)
	}
	if n == math.MaxInt64 {
		return 0, Errorf(ErrSyncHeight, "block %d: height %d has no next header", i, n)
	}
	return int64(n), nil
}

func (d *syncDecoder) blockMessages(i int, bm *BlockMessages) error {
	if err := d.mapOf(2, fmt.Sprintf("block %d messages", i)); err != nil {
		return err
	}
	if err := d.key(keyMessages); err != nil {
		return err
	}
	n, err := d.head(majorArray, "messages: want an array")
	if err != nil {
		return err
	}
	switch {
	case n > MaxBlockMessages:
		return Errorf(ErrSyncBlockMessages, "block %d has %d messages, at most %d", i, n, MaxBlockMessages)
	case uint64(d.messages)+n > MaxSyncMessages:
		return Errorf(ErrSyncRequestMessages, "block %d brings the request to %d messages, at most %d", i, uint64(d.messages)+n, MaxSyncMessages)
	case n > uint64(len(d.r.b)):
		return d.fail("block %d: %d messages in %d bytes", i, n, len(d.r.b))
	}
	d.messages += int(n)
	bm.Messages = make([][]byte, n)
	for j := range bm.Messages {
		m, ok := d.r.bytes(majorBytes)
		if !ok {
			return d.fail("block %d message %d: want a byte string", i, j)
		}
		bm.Messages[j] = m[:len(m):len(m)]
	}
	if err := d.key(keyStateRoot); err != nil {
		return err
	}
	bm.StateRoot, err = d.bytes("state_root")
	return err
}
