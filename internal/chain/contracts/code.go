package contracts

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/wasm/meter"
	"github.com/phala-go/phala/protocol"
)

// uploadCode validates a module against the host ABI and stores it, so
// that the same modules are refused here as by pRuntime's compiler. The
// uploader pays for every uncompressed byte: code lives in state for good
// and every worker compiles it.
func uploadCode(ctx *module.Context, a *protocol.UploadCodeArgs) error {
	limit := ctx.Params.MaxCodeBytes
	wasm, err := decompress(a.Compression, a.Code, limit)
	if err != nil {
		return err
	}
	if err := meter.Validate(wasm, int(limit)); err != nil {
		return err
	}
	hash := protocol.CodeHash(wasm)
	if _, ok := Code(ctx.State, hash[:]); ok {
		return protocol.Errorf(protocol.ErrCodeExists, "code %x", hash)
	}
	fee := ctx.Params.CodeFee(uint64(len(wasm)))
	if err := canPay(ctx, fee, "uploading the code"); err != nil {
		return err
	}
	if ctx.Check {
		return nil
	}
	if err := charge(ctx, fee); err != nil {
		return err
	}
	info := protocol.CodeInfo{Hash: hash[:], Size: uint64(len(wasm)), Uploader: ctx.Tx.Signer, Height: ctx.Block.Height}
	write(ctx.State, join(prefixCode, hash[:]), &info)
	msg := protocol.MustMarshal(&protocol.CodeUploaded{Hash: hash[:], Size: info.Size, Compression: a.Compression, Code: a.Code})
	kv(ctx.State).Set(join(prefixBinary, hash[:]), msg)
	return emit(ctx, protocol.TopicCode, msg)
}

// decompress returns the module an upload carries. A gzip stream inflates
// into one buffer of at most limit+1 bytes, sized by the stream's own
// length field (untrusted, so capped): an honest upload costs one
// allocation of its size, and a gzip bomb is refused after inflating just
// past the limit, whatever it claims.
func decompress(compression string, code []byte, limit uint64) ([]byte, error) {
	switch compression {
	case protocol.CompressionNone:
		if uint64(len(code)) > limit {
			return nil, protocol.Errorf(protocol.ErrCodeTooLarge, "%d bytes, limit %d", len(code), limit)
		}
		return code, nil
	case protocol.CompressionGzip:
		return gunzip(code, limit)
	}
	return nil, protocol.Errorf(protocol.ErrBadCompression, "compression %q; want %q or %q", compression, protocol.CompressionNone, protocol.CompressionGzip)
}

func gunzip(code []byte, limit uint64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(code))
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrBadCompression, "gzip header: %v", err)
	}
	size := limit + 1
	if claimed := uint64(binary.LittleEndian.Uint32(code[len(code)-4:])); claimed < limit { // ISIZE; NewReader read more than 4 bytes
		size = claimed + 1 // +1: reading one byte past it finds the end
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if uint64(len(buf)) > limit {
				return nil, protocol.Errorf(protocol.ErrCodeTooLarge, "gzip stream of %d bytes inflates beyond the %d-byte limit", len(code), limit)
			}
			// The length field lied low: grow, never past limit+1.
			grown := make([]byte, len(buf), min(2*uint64(cap(buf)), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := zr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, protocol.Errorf(protocol.ErrBadCompression, "gzip stream: %v", err)
		}
	}
	if uint64(len(buf)) > limit {
		return nil, protocol.Errorf(protocol.ErrCodeTooLarge, "gzip stream of %d bytes inflates beyond the %d-byte limit", len(code), limit)
	}
	return buf, nil
}
