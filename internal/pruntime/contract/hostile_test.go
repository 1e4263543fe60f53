package contract_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// TestHostileModulesEndWithAResult runs modules written to hang, exhaust
// memory or the stack, or read NaN bits: each ends with its outcome and
// reason, identical in both engine modes.
func TestHostileModulesEndWithAResult(t *testing.T) {
	t.Parallel()
	const trapped, oog = protocol.OutcomeTrap, protocol.OutcomeOutOfGas
	cases := []struct {
		name    string
		build   func(c *Contract) []byte // the command's code
		outcome string
		reason  string
		output  []byte
	}{
		{"infinite loop", func(c *Contract) []byte { return Code(Loop(BlockEmpty), Br(0), End, I32Const(0)) }, oog, contract.ReasonOutOfGas, nil},
		{"memory bomb", func(c *Contract) []byte {
			return Code(Loop(BlockEmpty), I32Const(16), MemoryGrow, byte(0), Drop, Br(0), End, I32Const(0))
		}, trapped, contract.ReasonMemoryLimit, nil},
		{"deep recursion", func(c *Contract) []byte {
			self := c.Func(Sig(nil), nil, Call(c.NextFunc()))
			return Code(Call(self), I32Const(0))
		}, trapped, contract.ReasonCallDepth, nil},
		{"recursion through frames of compiler-made values", func(c *Contract) []byte {
			return Code(I32Const(995), Call(phiFrames(c)), Drop, I32Const(0))
		}, trapped, contract.ReasonCallDepth, nil},
		{"unreachable", func(c *Contract) []byte { return Code(Unreachable) }, trapped, contract.ReasonUnreachable, nil},
		{"integer divide by zero", func(c *Contract) []byte { return Code(I32Const(1), I32Const(0), I32DivS) }, trapped, contract.ReasonDivideByZero, nil},
		{"integer overflow", func(c *Contract) []byte { return Code(I32Const(-1<<31), I32Const(-1), I32DivS) }, trapped, contract.ReasonIntegerOverflow, nil},
		{"invalid conversion", func(c *Contract) []byte { return Code(F64Const(0), F64Const(0), F64Div, I32TruncF64) }, trapped, contract.ReasonBadConversion, nil},
		{"out of bounds load", func(c *Contract) []byte { return Code(I32Const(65535), Mem(I32Load, 2, 0)) }, trapped, contract.ReasonOutOfBounds, nil},
		{"out of bounds load whose value is dropped", func(c *Contract) []byte {
			return Code(I32Const(65535), Mem(I32Load, 2, 0), Drop, I32Const(0))
		}, trapped, contract.ReasonOutOfBounds, nil},
		{"division by zero whose value is dropped", func(c *Contract) []byte {
			return Code(I32Const(1), I32Const(0), I32DivU, Drop, I32Const(0))
		}, trapped, contract.ReasonDivideByZero, nil},
		{"out of bounds store", func(c *Contract) []byte { return Code(I32Const(65534), I32Const(1), Mem(I32Store, 2, 0), I32Const(0)) }, trapped, contract.ReasonOutOfBounds, nil},
		{"undefined table element", func(c *Contract) []byte {
			c.Table(2, 0)
			return Code(I32Const(0), I32Const(1), CallIndirect(c.Type(EntrySig), 0))
		}, trapped, contract.ReasonUndefinedTable, nil},
		{"table index out of range", func(c *Contract) []byte {
			c.Table(2, 0)
			return Code(I32Const(0), I32Const(5), CallIndirect(c.Type(EntrySig), 0))
		}, trapped, contract.ReasonUndefinedTable, nil},
		{"indirect call type mismatch", func(c *Contract) []byte {
			c.Table(1, 0)
			f := c.Func(Sig(nil), nil, nil)
			c.Elem(0, f)
			return Code(I32Const(0), I32Const(0), CallIndirect(c.Type(EntrySig), 0))
		}, trapped, contract.ReasonIndirectType, nil},
		{"huge output", func(c *Contract) []byte {
			return Code(I32Const(0), I32Const(1<<20), Call(c.Host("output_write")), I32Const(0))
		}, trapped, contract.ReasonOutputTooLarge, nil},
		{"NaN bits through a store are canonical", func(c *Contract) []byte {
			return Code(I32Const(0), F64Const(0), F64Const(0), F64Div, Mem(F64Store, 3, 0),
				I32Const(0), I32Const(8), Call(c.Host("output_write")), I32Const(0))
		}, protocol.OutcomeOK, "", le64(0x7ff8000000000000)},
		{"NaN bits through reinterpret are canonical", func(c *Contract) []byte {
			return Code(I32Const(0), F32Const(0), F32Const(0), F32Div, I32ReinterF, Mem(I32Store, 2, 0),
				I32Const(0), I32Const(4), Call(c.Host("output_write")), I32Const(0))
		}, protocol.OutcomeOK, "", le32(0x7fc00000)},
	}
	for _, tc := range cases {
		c := NewContract(1, "output_write")
		c.Entry(abi.ExportCommand, nil, tc.build(c))
		wasm := c.Encode()
		gas := map[string]uint64{}
		for _, m := range modes(t) {
			code, err := m.e.Compile(context.Background(), wasm)
			if err != nil {
				t.Errorf("%s/%s: compile: %v", m.name, tc.name, err)
				continue
			}
			res := run(t, m.e, code, call(contract.EntryCommand, nil, newStore()))
			expect(t, m.name+"/"+tc.name, res, tc.outcome, tc.reason, tc.output)
			gas[m.name] = res.GasUsed
		}
		if gas["compiler"] != gas["interpreter"] {
			t.Errorf("%s: gas by mode %v, want equal", tc.name, gas)
		}
	}
}

// phiFrames adds f(n), which recurses n deep through frames whose values
// the meter's count of locals and instructions does not see (contracts
// review 2026-12, finding 3): 120 i64 locals, 265 nested loops with a
// br_table back edge to every header, the locals changed in the
// innermost. An SSA compiler makes a block parameter per (header, local),
// and wazero's compiler gives each a stack slot: with frames weighed by
// locals and instructions alone its native stack overflowed after ~63
// calls while the interpreter completed. The frame weight counts
// controls × locals, which bounds those parameters, so both engines stop
// at the same call.
func phiFrames(c *Contract) uint32 {
	const locals, loops = 120, 265
	var change []byte
	for i := uint32(1); i <= locals; i++ {
		change = Code(change, LocalGet(i), I64Const(1), I64Add, LocalSet(i))
	}
	labels := make([]uint32, loops)
	for i := range labels {
		labels[i] = uint32(i)
	}
	self := c.NextFunc()
	body := Code(Block(BlockEmpty), bytes.Repeat(Loop(BlockEmpty), loops), change,
		LocalGet(0), I32Const(1000), I32Add, BrTable(loops, labels...), // never taken: the index is past the labels
		bytes.Repeat([]byte{End}, loops), End,
		LocalGet(0), If(0x7f), LocalGet(0), I32Const(1), I32Sub, Call(self), Else, I32Const(0), End)
	return c.RawFunc(c.Type(Sig([]abi.ValType{abi.I32}, abi.I32)), Code(Vec(1), ULEB(locals), byte(abi.I64), body, End))
}

// TestCompileRefusesModulesOutsideTheABI checks that the engine refuses,
// with the meter's errors, what the chain's validation refuses.
func TestCompileRefusesModulesOutsideTheABI(t *testing.T) {
	t.Parallel()
	missing := New()
	missing.Export("memory", KindMemory, missing.Memory(1, 0))
	foreign := &Contract{Module: New()}
	foreign.Import("env", "now", Sig(nil, abi.I64))
	foreign.Export("memory", KindMemory, foreign.Memory(1, 0))
	simd := NewContract(1)
	simd.Entry(abi.ExportCommand, nil, Code(PrefixSIMD, ULEB(12), make([]byte, 16), Drop, I32Const(0)))
	mistyped := NewContract(1)
	mistyped.Entry(abi.ExportCommand, nil, Code(I64Const(0))) // valid to the meter, not to a type checker
	cases := []struct {
		name string
		wasm []byte
		err  error
	}{
		{"not WebAssembly", []byte("#!/bin/sh\n"), protocol.ErrInvalidModule},
		{"ill-typed body", mistyped.Encode(), protocol.ErrInvalidModule},
		{"missing exports", missing.Encode(), protocol.ErrModuleExports},
		{"import outside the ABI", foreign.Encode(), protocol.ErrModuleImports},
		{"SIMD", simd.Encode(), protocol.ErrNonDeterministic},
	}
	for _, m := range modes(t) {
		for _, tc := range cases {
			if _, err := m.e.Compile(context.Background(), tc.wasm); !errors.Is(err, tc.err) {
				t.Errorf("%s/%s: %v, want %v", m.name, tc.name, err, tc.err)
			}
		}
	}
}
