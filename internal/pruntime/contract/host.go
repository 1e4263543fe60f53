package contract

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// hostFunc is a host function with its signature in the ABI table.
type hostFunc struct {
	name string
	fn   api.GoModuleFunc
}

// registerHost instantiates the phala_v1 and WASI host modules. Every
// signature comes from package abi, so the host provides exactly what the
// meter lets modules import.
func registerHost(ctx context.Context, rt wazero.Runtime) error {
	imports := abi.Imports()
	for _, m := range []struct {
		name  string
		funcs []hostFunc
	}{{abi.Module, phalaFuncs()}, {abi.WASI, wasiFuncs()}} {
		b := rt.NewHostModuleBuilder(m.name)
		if len(m.funcs) != len(imports[m.name]) {
			return fmt.Errorf("module %s: %d host functions for %d ABI imports", m.name, len(m.funcs), len(imports[m.name]))
		}
		for _, f := range m.funcs {
			sig, ok := imports[m.name][f.name]
			if !ok {
				return fmt.Errorf("host function %s.%s is not in the ABI", m.name, f.name)
			}
			b.NewFunctionBuilder().WithGoModuleFunction(f.fn, apiTypes(sig.Params), apiTypes(sig.Results)).Export(f.name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return err
		}
	}
	return nil
}

func apiTypes(v []abi.ValType) []api.ValueType {
	out := make([]api.ValueType, len(v))
	for i, t := range v {
		out[i] = api.ValueType(t)
	}
	return out
}

const base = abi.HostCallBaseGas

// ed25519VerifyGas is ed25519_verify's base price: a verification takes
// ~45 µs, 8,000 gas at an ordinary contract's ~5.5 ns per gas (it was
// 2,000, a quarter of its cost; contracts review 2026-12, finding 7).
const ed25519VerifyGas = 8000

// phalaFuncs are the functions of module phala_v1 (docs/contracts.md, "Host
// functions"). Each checks its limits, charges, then touches memory and
// acts, in that order.
func phalaFuncs() []hostFunc {
	return []hostFunc{
		{"input_read", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base + uint64(len(s.call.Input)))
			write(mod, api.DecodeU32(stack[0]), s.call.Input)
		}},
		{"output_write", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
			if n > abi.MaxOutputBytes {
				raise(ReasonOutputTooLarge)
			}
			s.charge(base + uint64(n))
			s.output = append(s.output[:0], read(mod, ptr, n)...)
		}},
		{"return_read", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base + uint64(len(s.ret)))
			write(mod, api.DecodeU32(stack[0]), s.ret)
		}},
		{"storage_get", storageGet},
		{"storage_set", storageSet},
		{"storage_delete", storageDelete},
		{"storage_next", storageNext},
		{"caller", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			write(mod, api.DecodeU32(stack[0]), s.call.Caller[:])
		}},
		{"contract_id", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			write(mod, api.DecodeU32(stack[0]), s.call.Contract[:])
		}},
		{"block_height", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			stack[0] = api.EncodeI64(s.call.Height)
		}},
		{"block_time", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			stack[0] = api.EncodeI64(s.call.Time.UnixNano())
		}},
		{"random", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
			if n > abi.MaxRandomBytes {
				raise("random: %d bytes requested, at most %d", n, abi.MaxRandomBytes)
			}
			s.charge(base + 2*uint64(n))
			dst := read(mod, ptr, n)
			s.randomBytes(dst)
		}},
		{"emit", emit},
		{"sha256", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			ptr, n, out := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
			s.charge(base + uint64(n))
			sum := sha256.Sum256(read(mod, ptr, n))
			write(mod, out, sum[:])
		}},
		{"ed25519_verify", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			pk, msg, n, sig := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
			s.charge(ed25519VerifyGas + uint64(n))
			ok := ed25519.Verify(ed25519.PublicKey(read(mod, pk, ed25519.PublicKeySize)), read(mod, msg, n), read(mod, sig, ed25519.SignatureSize))
			stack[0] = 0
			if ok {
				stack[0] = 1
			}
		}},
		{"debug_log", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
			s.charge(base + uint64(n))
			s.debug("debug_log", read(mod, ptr, n)) // read even when not logging: the bounds trap must not depend on Debug
		}},
		{"gas_left", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			stack[0] = api.EncodeI64(s.gasLeft())
		}},
	}
}

// checkKey traps on a key no entry can have: an empty one (the store
// refuses it, as iteration could never reach it) or one over the limit.
func checkKey(n uint32) {
	if n == 0 {
		raise("storage: empty key")
	}
	checkBound(n)
}

// checkBound traps on a storage_next bound over the key limit; an empty
// bound is allowed (no prefix, or from the first key).
func checkBound(n uint32) {
	if n > abi.MaxKeyBytes {
		raise("storage: key of %d bytes, at most %d", n, abi.MaxKeyBytes)
	}
}

func storageGet(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	kp, kn := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	checkKey(kn)
	s.charge(1000 + 10*uint64(kn))
	v, ok := s.call.Store.Get(read(mod, kp, kn))
	if !ok {
		s.ret = s.ret[:0]
		stack[0] = api.EncodeI64(-1)
		return
	}
	s.charge(10 * uint64(len(v)))
	s.ret = append(s.ret[:0], v...)
	stack[0] = api.EncodeI64(int64(len(v)))
}

func storageSet(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	kp, kn, vp, vn := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if s.readOnly {
		raise(ReasonReadOnly)
	}
	checkKey(kn)
	if vn > abi.MaxValueBytes {
		raise("storage: value of %d bytes, at most %d", vn, abi.MaxValueBytes)
	}
	s.charge(2000 + 20*(uint64(kn)+uint64(vn)))
	s.call.Store.Set(read(mod, kp, kn), read(mod, vp, vn))
}

func storageDelete(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	kp, kn := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if s.readOnly {
		raise(ReasonReadOnly)
	}
	checkKey(kn)
	s.charge(2000 + 20*uint64(kn))
	s.call.Store.Delete(read(mod, kp, kn))
}

func storageNext(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	ap, an, pp, pn := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	checkBound(an)
	checkBound(pn)
	s.charge(1000 + 10*(uint64(an)+uint64(pn)))
	k, ok := s.call.Store.Next(read(mod, ap, an), read(mod, pp, pn))
	if !ok {
		s.ret = s.ret[:0]
		stack[0] = api.EncodeI64(-1)
		return
	}
	s.charge(10 * uint64(len(k)))
	s.ret = append(s.ret[:0], k...)
	stack[0] = api.EncodeI64(int64(len(k)))
}

func emit(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	tp, tn, pp, pn := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if s.readOnly {
		raise(ReasonReadOnly)
	}
	if len(s.emitted) >= abi.MaxEmits {
		raise("emit: more than %d messages", abi.MaxEmits)
	}
	if tn == 0 || tn > uint32(protocol.MaxOutputSuffix) {
		raise("emit: topic suffix of %d bytes, want 1..%d", tn, protocol.MaxOutputSuffix)
	}
	if pn > abi.MaxEmitPayload {
		raise("emit: payload of %d bytes, at most %d", pn, abi.MaxEmitPayload)
	}
	s.charge(1000 + 20*(uint64(tn)+uint64(pn)))
	suffix := string(read(mod, tp, tn))
	if protocol.ValidateTopic(suffix) != nil {
		raise("emit: invalid topic suffix")
	}
	s.emitted = append(s.emitted, Emitted{Suffix: suffix, Payload: clone(read(mod, pp, pn))})
}

func clone(b []byte) []byte { return append([]byte{}, b...) }
