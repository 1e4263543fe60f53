package contracts

import (
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/wasm/meter"
	"github.com/phala-go/phala/protocol"
)

// uploadCode validates a module against the host ABI, so that the same
// modules are refused here as by pRuntime's compiler, records it and
// announces it; pRuntimes take the code from the announcement, and state
// keeps only the CodeInfo. The uploader pays for every uncompressed byte:
// the message log keeps the code for good and every worker compiles it.
func uploadCode(ctx *module.Context, a *protocol.UploadCodeArgs) error {
	limit := ctx.Params.MaxCodeBytes
	wasm, err := protocol.DecompressCode(a.Compression, a.Code, int(limit))
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
	if err := charge(ctx, fee, "uploading the code"); err != nil {
		return err
	}
	if ctx.Check {
		return nil
	}
	info := protocol.CodeInfo{Hash: hash[:], Size: uint64(len(wasm)), Uploader: ctx.Tx.Signer, Height: ctx.Block.Height}
	write(ctx.State, join(prefixCode, hash[:]), &info)
	return emit(ctx, protocol.TopicCode, protocol.MustMarshal(&protocol.CodeUploaded{Hash: hash[:], Size: info.Size, Compression: a.Compression, Code: a.Code}))
}
