package contract

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"log/slog"
	"math"

	"github.com/tetratelabs/wazero/api"
)

// Trap reasons (docs/contracts.md, "Determinism"). They are part of the
// ABI: results carry them on chain, so they never include engine text.
const (
	ReasonOutOfGas        = "out of gas"
	ReasonUnreachable     = "unreachable"
	ReasonOutOfBounds     = "out of bounds memory access"
	ReasonDivideByZero    = "integer divide by zero"
	ReasonIntegerOverflow = "integer overflow"
	ReasonBadConversion   = "invalid conversion to integer"
	ReasonIndirectType    = "indirect call type mismatch"
	ReasonUndefinedTable  = "undefined table element"
	ReasonMemoryLimit     = "memory limit exceeded"
	ReasonCallDepth       = "call depth exceeded"
	ReasonOutputTooLarge  = "output too large"
	ReasonReadOnly        = "read-only"
)

// trap is a fault a host function raises: it panics with one, wazero
// unwinds the guest and returns it wrapped, and Run reports its reason.
type trap struct{ reason string }

// Error makes a trap an error, so wazero can carry it out of the guest.
func (t *trap) Error() string { return "contract trap: " + t.reason }

func raise(format string, args ...any) {
	panic(&trap{reason: fmt.Sprintf(format, args...)})
}

// callState is everything one call's host functions see. It reaches them
// through the context, so the host modules are registered once per engine.
type callState struct {
	call     *Call
	readOnly bool
	inst     *instance
	log      *slog.Logger // nil unless the call has Debug set

	output  []byte
	ret     []byte // the return buffer
	emitted []Emitted
	random  cipher.Stream
}

type stateKey struct{}

func withState(ctx context.Context, s *callState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

// stateOf returns the call state of a host call. A host function called
// without one is an engine bug, which wazero reports as an error from Run.
func stateOf(ctx context.Context) *callState {
	s, ok := ctx.Value(stateKey{}).(*callState)
	if !ok {
		panic(fmt.Errorf("contract: host function called outside a Run"))
	}
	return s
}

// charge takes cost gas before a host function acts, trapping out of gas
// when the counter cannot cover it. Costs are computed in uint64 from
// 32-bit lengths, so they cannot overflow.
func (s *callState) charge(cost uint64) {
	g := s.inst.gas
	if g == nil {
		return // uninstrumented baseline (benchmarks)
	}
	left := int64(g.Get())
	if left < 0 || cost > uint64(left) {
		if left >= 0 {
			g.Set(api.EncodeI64(-1))
		}
		panic(&trap{reason: ReasonOutOfGas})
	}
	g.Set(api.EncodeI64(left - int64(cost)))
}

// gasLeft is the counter's value (for gas_left).
func (s *callState) gasLeft() int64 {
	if s.inst.gas == nil {
		return math.MaxInt64
	}
	return int64(s.inst.gas.Get())
}

// read returns a view of n bytes of guest memory at ptr; copy it to keep it.
func read(mod api.Module, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(&trap{reason: ReasonOutOfBounds})
	}
	return b
}

func write(mod api.Module, ptr uint32, b []byte) {
	if !mod.Memory().Write(ptr, b) {
		panic(&trap{reason: ReasonOutOfBounds})
	}
}

func writeU32(mod api.Module, ptr, v uint32) {
	if !mod.Memory().WriteUint32Le(ptr, v) {
		panic(&trap{reason: ReasonOutOfBounds})
	}
}

func writeU64(mod api.Module, ptr uint32, v uint64) {
	if !mod.Memory().WriteUint64Le(ptr, v) {
		panic(&trap{reason: ReasonOutOfBounds})
	}
}

// randomBytes fills b from the call's deterministic stream: the AES-256-CTR
// keystream under the call's seed (zero IV), shared by random and WASI
// random_get. Seeds are unique per call, so a key never repeats.
func (s *callState) randomBytes(b []byte) {
	if s.random == nil {
		block, err := aes.NewCipher(s.call.Seed[:])
		if err != nil {
			panic(err) // a 32-byte key is always valid
		}
		s.random = cipher.NewCTR(block, make([]byte, aes.BlockSize))
	}
	clear(b)
	s.random.XORKeyStream(b, b)
}

// debug writes contract text to the log when the call has Debug set. The
// text is bounded so a contract cannot flood the log in one line.
func (s *callState) debug(source string, text []byte) {
	if s.log == nil {
		return
	}
	const maxLine = 4 << 10
	truncated := len(text) > maxLine
	if truncated {
		text = text[:maxLine]
	}
	s.log.Info("contract output", "contract", fmt.Sprintf("%x", s.call.Contract[:8]), "source", source,
		"text", string(text), "truncated", truncated)
}
