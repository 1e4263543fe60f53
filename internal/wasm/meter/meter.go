// Package meter validates contract modules against the host ABI and
// instruments them for gas metering.
//
// PLACEHOLDER: only the signature of Validate is final; the package is being
// written (see docs/contracts.md, "Host ABI" and "Gas").
package meter

import (
	"bytes"

	"github.com/phala-go/phala/protocol"
)

// Validate checks a module against ABI version 1: what upload_code refuses
// and pRuntime's compiler refuses are the same modules.
func Validate(wasm []byte, maxCodeBytes int) error {
	if len(wasm) > maxCodeBytes {
		return protocol.Errorf(protocol.ErrCodeTooLarge, "%d bytes, limit %d", len(wasm), maxCodeBytes)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		return protocol.Errorf(protocol.ErrInvalidModule, "not a WebAssembly 1.0 binary")
	}
	return nil
}
