package meter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// engineCompile compiles wasm as pRuntime's engine does (WebAssembly 2.0,
// the ABI's memory limit) and returns the engine's refusal, if any. It does
// not instantiate, so imports need not resolve.
func engineCompile(wasm []byte) error {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2).WithMemoryLimitPages(abi.MaxMemoryPages)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err == nil {
		cm.Close(ctx)
	}
	return err
}

// Constant instructions the wasmtest builders do not name.
var (
	refNullExtern = []byte{0xd0, byte(abi.ExternRef)}
	refFunc       = func(f uint32) []byte { return Op(0xd2, f) }
)

// constExprModules are modules whose constant expressions (global
// initialisers, segment offsets and element expressions) take every form
// WebAssembly 2.0 allows a module without imported globals.
func constExprModules() map[string][]byte {
	globals := NewContract(1)
	f := globals.Func(Sig(nil), nil, nil)
	globals.Global(abi.I32, false, I32Const(-1))
	globals.Global(abi.I64, true, I64Const(1<<40))
	globals.Global(abi.F32, false, F32Const(1.5))
	globals.Global(abi.F64, false, F64Const(-2.5))
	globals.Global(abi.FuncRef, false, refFunc(f))
	globals.Global(abi.FuncRef, true, RefNull())
	globals.Global(abi.ExternRef, false, refNullExtern)

	elems := NewContract(1)
	g := elems.Func(Sig(nil), nil, nil)
	elems.Raw(SecFunction, SecTable, Code(Vec(2), byte(abi.FuncRef), byte(0), ULEB(8), byte(abi.ExternRef), byte(0), ULEB(8)))
	elemkind, funcs := byte(0x00), Code(Vec(1), ULEB(uint64(g)))
	exprs := Code(Vec(2), refFunc(g), End, RefNull(), End)
	elems.Raw(SecExport, SecElement, Code(Vec(8),
		ULEB(0), I32Const(0), End, funcs, // active in table 0, function indices
		ULEB(1), elemkind, funcs, // passive
		ULEB(2), ULEB(0), I32Const(1), End, elemkind, funcs, // active in an explicit table
		ULEB(3), elemkind, funcs, // declarative
		ULEB(4), I32Const(2), End, exprs, // active in table 0, expressions
		ULEB(5), byte(abi.FuncRef), exprs, // passive, expressions
		ULEB(6), ULEB(1), I32Const(0), End, byte(abi.ExternRef), Vec(1), refNullExtern, End, // active in the externref table
		ULEB(7), byte(abi.FuncRef), exprs, // declarative, expressions
	))
	return map[string][]byte{
		"globals of every type":          globals.Encode(),
		"element segments of every form": elems.Encode(),
	}
}

// constExprRefusals are constant expressions Validate refuses because the
// engine refuses them: TestEngineRefusesWhatValidateRefusesInConstants
// checks that it does, so that upload_code never charges for code no
// member can compile.
func constExprRefusals() []refusal {
	global := func(t abi.ValType, init []byte) []byte {
		c := NewContract(1)
		c.Global(abi.I32, false, I32Const(0))
		c.Global(t, false, init)
		return c.Encode()
	}
	data := func(offset []byte) []byte {
		c := NewContract(1)
		c.Global(abi.I32, false, I32Const(0))
		c.Raw(SecCode, SecData, Code(Vec(1), byte(0x00), offset, End, Vec(1), byte('x')))
		return c.Encode()
	}
	elem := func(table abi.ValType, segment []byte) []byte {
		c := NewContract(1)
		c.Func(Sig(nil), nil, nil)
		c.Raw(SecFunction, SecTable, Code(Vec(1), byte(table), byte(0), ULEB(4)))
		c.Raw(SecExport, SecElement, Code(Vec(1), segment))
		return c.Encode()
	}
	return []refusal{
		{"global initialised from an earlier global", global(abi.I32, GlobalGet(0)), protocol.ErrInvalidModule, `global\.get in a constant expression .* at byte \d+`},
		{"i64.const initialising an i32 global", global(abi.I32, I64Const(0)), protocol.ErrInvalidModule, `constant expression of type i64, want i32 at byte \d+`},
		{"f64.const initialising an f32 global", global(abi.F32, F64Const(0)), protocol.ErrInvalidModule, `constant expression of type f64, want f32`},
		{"null funcref initialising an externref global", global(abi.ExternRef, RefNull()), protocol.ErrInvalidModule, `constant expression of type funcref, want externref`},
		{"data offset read from a global", data(GlobalGet(0)), protocol.ErrInvalidModule, `global\.get in a constant expression`},
		{"data offset of type i64", data(I64Const(0)), protocol.ErrInvalidModule, `constant expression of type i64, want i32`},
		{"element offset read from a global", func() []byte {
			c := NewContract(1)
			c.Table(4, 0)
			c.Global(abi.I32, false, I32Const(0))
			c.Raw(SecExport, SecElement, Code(Vec(1), byte(0x00), GlobalGet(0), End, Vec(0)))
			return c.Encode()
		}(), protocol.ErrInvalidModule, `global\.get in a constant expression`},
		{"element offset of type i64", elem(abi.FuncRef, Code(ULEB(0), I64Const(0), End, Vec(0))), protocol.ErrInvalidModule, `constant expression of type i64, want i32`},
		{"externref segment into a funcref table", elem(abi.FuncRef, Code(ULEB(6), ULEB(0), I32Const(0), End, byte(abi.ExternRef), Vec(1), refNullExtern, End)),
			protocol.ErrInvalidModule, `element segment 0 of externref targets table 0 of funcref at byte \d+`},
		{"funcref segment into an externref table", elem(abi.ExternRef, Code(ULEB(0), I32Const(0), End, Vec(1), ULEB(0))),
			protocol.ErrInvalidModule, `element segment 0 of funcref targets table 0 of externref`},
		{"function reference in an externref segment", elem(abi.FuncRef, Code(ULEB(5), byte(abi.ExternRef), Vec(1), refFunc(0), End)),
			protocol.ErrInvalidModule, `constant expression of type funcref, want externref`},
	}
}

// TestEngineRefusesWhatValidateRefusesInConstants checks that every
// constant expression Validate refuses is one the engine's compiler refuses
// too, so the refusal costs no module pRuntime would run.
func TestEngineRefusesWhatValidateRefusesInConstants(t *testing.T) {
	t.Parallel()
	for _, tc := range constExprRefusals() {
		if err := engineCompile(tc.wasm); err == nil {
			t.Errorf("%s: the engine compiles it", tc.name)
		}
		if err := meter.Validate(tc.wasm, abi.MaxCodeBytes); !errors.Is(err, tc.err) {
			t.Errorf("%s: Validate: %v, want %v", tc.name, err, tc.err)
		}
	}
}
