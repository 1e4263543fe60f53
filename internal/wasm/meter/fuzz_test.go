package meter_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
)

// FuzzInstrument feeds arbitrary bytes to the decoder: it must never panic,
// and whenever the input is a module wazero accepts and Instrument accepts
// it, the instrumented module must be one wazero accepts too.
//
//	go test ./internal/wasm/meter -run '^$' -fuzz FuzzInstrument -fuzztime 30s
func FuzzInstrument(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	if !testing.Short() {
		f.Add(buildGoModule(f))
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(abi.MaxMemoryPages))
	f.Cleanup(func() { r.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		_ = meter.Validate(wasm, abi.MaxCodeBytes)
		out, err := meter.Instrument(wasm, looseConfig())
		if err != nil {
			return
		}
		in, err := r.CompileModule(ctx, wasm)
		if err != nil {
			return // not valid WebAssembly: the engine refuses it either way
		}
		in.Close(ctx)
		cm, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("the input compiles, its instrumented version does not: %v", err)
		}
		cm.Close(ctx)
	})
}

// fuzzSeeds are small valid modules covering every instrumented
// instruction kind.
func fuzzSeeds() [][]byte {
	c := NewContract(2, "input_read", "output_write", "storage_get")
	d := c.PassiveData([]byte("seed"))
	c.Table(4, 0)
	g := c.Func(Sig(nil, abi.I32), nil, I32Const(7))
	c.Elem(0, g)
	c.Global(abi.F64, true, F64Const(1.5))
	c.Entry(abi.ExportCommand, []abi.ValType{abi.I32, abi.F32, abi.F64}, Code(
		I32Const(0), I32Const(0), I32Const(4), MemoryInit(d),
		I32Const(0), I32Const(1), I32Const(64), MemoryFill(),
		I32Const(8), I32Const(0), I32Const(16), MemoryCopy(),
		I32Const(1), MemoryGrow, byte(0), Drop,
		RefNull(), I32Const(1), TableGrow(0), Drop,
		I32Const(0), CallIndirect(c.Type(Sig(nil, abi.I32)), 0), Drop,
		Call(g), Drop,
		I32Const(16), F64Const(2), Mem(F64Store, 3, 0),
		I32Const(24), F32Const(2), Mem(F32Store, 2, 0),
		F32Const(1), F32Const(-1), F32Copysign, I32ReinterF, Drop,
		F64Const(1), F64Const(-1), F64Copysign, I64ReinterF, Drop,
		Block(BlockEmpty), Loop(BlockEmpty), LocalGet(1), I32Eqz, BrIf(1), I32Const(1), LocalSet(1), Br(0), End, End,
		Block(BlockEmpty), LocalGet(0), BrTable(0, 0, 0), End,
		LocalGet(0), If(0x7f), I32Const(1), Else, I32Const(0), End,
	))
	return [][]byte{
		c.Encode(),
		twoCalls(),
		recursive(3),
		fn1(Sig(i32, abi.I32), nil, Code(LocalGet(0), MemoryGrow, byte(0))),
		fn1(Sig(nil), nil, Code(Loop(BlockEmpty), Br(0), End)),
		contract(Code(Unreachable)),
	}
}
