package meter_test

import (
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
)

var i32Result = Sig(nil, abi.I32)

// TestGasCountsAreExact checks the price of hand-built functions, path by
// path: every instruction of the input costs 1 and each declared local 1.
func TestGasCountsAreExact(t *testing.T) {
	t.Parallel()
	loop := Code(Loop(BlockEmpty), LocalGet(0), I32Const(1), I32Sub, LocalTee(0), BrIf(0), End, LocalGet(0))
	ifElse := Code(LocalGet(0), If(0x7f), I32Const(1), I32Const(2), I32Add, Else, I32Const(5), End)
	brIf := Code(Block(0x7f), I32Const(3), LocalGet(0), BrIf(0), Drop, I32Const(4), End)
	fill := Code(I32Const(0), I32Const(0), LocalGet(0), MemoryFill())
	cases := []struct {
		name   string
		wasm   []byte
		arg    uint64
		result uint64
		gas    int64
	}{
		{"straight line", fn1(i32Result, nil, Code(I32Const(1), I32Const(2), I32Add)), 0, 3, 4},
		{"declared locals", fn1(i32Result, []abi.ValType{abi.I64, abi.I64, abi.F32}, Code(I32Const(1), I32Const(2), I32Add)), 0, 3, 7},
		{"loop once", fn1(Sig(i32, abi.I32), nil, loop), 1, 0, 4 + 5},
		{"loop ten times", fn1(Sig(i32, abi.I32), nil, loop), 10, 0, 4 + 5*10},
		{"if taken", fn1(Sig(i32, abi.I32), nil, ifElse), 1, 3, 2 + 4 + 1},
		{"else taken", fn1(Sig(i32, abi.I32), nil, ifElse), 0, 5, 2 + 2 + 1},
		{"br_if taken", fn1(Sig(i32, abi.I32), nil, brIf), 1, 3, 4 + 1},
		{"br_if not taken", fn1(Sig(i32, abi.I32), nil, brIf), 0, 4, 4 + 3 + 1},
		{"memory.fill of 7 bytes", fn1(Sig(i32), nil, fill), 7, 0, 5},
		{"memory.fill of 800 bytes", fn1(Sig(i32), nil, fill), 800, 0, 5 + 800>>abi.BulkByteShift},
		{"calls", twoCalls(), 0, 14, 4 + 2*2},
	}
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		for _, tc := range cases {
			m := instrumented(t, r, tc.wasm, looseConfig())
			res, gas := m.gasUsed(t, "f", tc.arg)
			if res != tc.result || gas != tc.gas {
				t.Errorf("%s/%s: result %d gas %d, want result %d gas %d", mode.name, tc.name, res, gas, tc.result, tc.gas)
			}
		}
	}
}

// twoCalls exports f = g() + g() with g = 7.
func twoCalls() []byte {
	m := New()
	g := m.Func(i32Result, nil, I32Const(7))
	m.ExportFunc("f", m.Func(i32Result, nil, Code(Call(g), Call(g), I32Add)))
	return m.Encode()
}

// TestImportedCallsCostTheirInstruction checks that a host call is priced as
// one instruction (the host charges its own price) and skips the depth
// accounting.
func TestImportedCallsCostTheirInstruction(t *testing.T) {
	t.Parallel()
	m := New()
	out := m.ImportABI("output_write")[0]
	m.Export("memory", KindMemory, m.Memory(1, 0))
	m.ExportFunc("f", m.Func(i32Result, nil, Code(I32Const(0), I32Const(0), Call(out), I32Const(1))))
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		_, gas := instrumented(t, r, m.Encode(), looseConfig()).gasUsed(t, "f")
		if gas != 5 {
			t.Errorf("%s: gas %d, want 5", mode.name, gas)
		}
	}
}

// TestRunningOutOfGasTrapsAtTheLoopHeader checks that an infinite loop stops
// as soon as the counter goes negative: the overrun is one segment.
func TestRunningOutOfGasTrapsAtTheLoopHeader(t *testing.T) {
	t.Parallel()
	wasm := fn1(Sig(nil), nil, Code(Loop(BlockEmpty), Br(0), End))
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		_, err, left := instrumented(t, r, wasm, looseConfig()).call(t, "f", 1000)
		if !isTrap(err, meterTrap) || left != -1 {
			t.Errorf("%s: err %v, gas left %d; want the meter's trap at -1", mode.name, err, left)
		}
	}
}

// recursive exports f(n) = n == 0 ? 0 : f(n-1) + 1, with extra locals.
func recursive(locals int) []byte {
	m := New()
	extra := make([]abi.ValType, locals)
	for i := range extra {
		extra[i] = abi.I64
	}
	body := Code(LocalGet(0), I32Eqz, If(0x7f), I32Const(0), Else,
		LocalGet(0), I32Const(1), I32Sub, Call(0), I32Const(1), I32Add, End)
	m.ExportFunc("f", m.Func(Sig(i32, abi.I32), extra, body))
	return m.Encode()
}

// TestCallDepthLimit checks that MaxCallDepth frames are allowed and one
// more traps with the depth global over the limit, and that functions with
// huge frames count for more than one.
func TestCallDepthLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		locals int
		ok     uint64 // deepest recursion that succeeds
	}{
		// f(n) runs in n+1 frames, the entry's included.
		{"ordinary frames", 0, abi.MaxCallDepth - 1},
		// 1 + (1 + 1,699 locals + 13 instructions + 2 controls × 1,700 locals) / 2,500
		{"frames of 1,700 locals and two controls weigh 3", 1_699, abi.MaxCallDepth/3 - 1},
	}
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		for _, tc := range cases {
			m := instrumented(t, r, recursive(tc.locals), looseConfig())
			if res, _ := m.gasUsed(t, "f", tc.ok); res != tc.ok {
				t.Errorf("%s/%s: f(%d) = %d", mode.name, tc.name, tc.ok, res)
			}
			_, err, _ := m.call(t, "f", 1<<40, tc.ok+1)
			if depth := int32(m.depth.Get()); !isTrap(err, meterTrap) || depth <= abi.MaxCallDepth {
				t.Errorf("%s/%s: f(%d): err %v, depth %d; want a trap beyond depth %d", mode.name, tc.name, tc.ok+1, err, depth, abi.MaxCallDepth)
			}
		}
	}
}

// liveFrames exports f(n), a recursion whose frames keep distinct i64
// locals live across the call, so the compiler must spill every one: each
// level sets its locals from n, recurses, then sums them.
func liveFrames(locals int) []byte {
	m := New()
	extra := make([]abi.ValType, locals)
	var set, sum []byte
	for i := range extra {
		extra[i] = abi.I64
		set = Code(set, LocalGet(0), I64ExtendU, I64Const(int64(i)), I64Add, LocalSet(uint32(i+1)))
		sum = Code(sum, LocalGet(uint32(i+1)), I64Add)
	}
	body := Code(LocalGet(0), I32Eqz, If(0x7e), I64Const(0), Else, set,
		LocalGet(0), I32Const(1), I32Sub, Call(0), sum, End)
	m.ExportFunc("f", m.Func(Sig(i32, abi.I64), extra, body))
	return m.Encode()
}

// TestCallDepthLimitFiresBeforeTheEngines recurses through frames of
// 8,000 live i64 locals (64 KB each; counted one per frame, wazero's
// compiler would run out of its stack before 1,000 of them, the
// interpreter would not): frame weights make the instrumentation's limit
// fire first, in both modes, so both report the same trap.
func TestCallDepthLimitFiresBeforeTheEngines(t *testing.T) {
	t.Parallel()
	wasm := liveFrames(8_000)
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		m := instrumented(t, r, wasm, looseConfig())
		if _, err, _ := m.call(t, "f", 1<<40, 10); err != nil {
			t.Errorf("%s: f(10): %v", mode.name, err)
		}
		_, err, _ := m.call(t, "f", 1<<40, 100_000)
		if depth := int32(m.depth.Get()); !isTrap(err, meterTrap) || depth <= abi.MaxCallDepth {
			t.Errorf("%s: f(100000): err %v, depth %d; want the instrumentation's trap", mode.name, err, depth)
		}
	}
}

// TestMemoryGrowIsPricedAndTrapsWhenItFails checks the per-page charge, the
// failed grow's trap with the flag global set, and that a grow the gas does
// not cover never happens.
func TestMemoryGrowIsPricedAndTrapsWhenItFails(t *testing.T) {
	t.Parallel()
	wasm := fn1(Sig(i32, abi.I32), nil, Code(LocalGet(0), MemoryGrow, byte(0))) // memory of 1 page, at most 2
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		m := instrumented(t, r, wasm, looseConfig())

		_, err, left := m.call(t, "f", 500, 1)
		if !isTrap(err, meterTrap) || left >= 0 || m.mod.Memory().Size() != 1<<16 {
			t.Errorf("%s: grow without the gas: err %v, gas left %d, memory %d bytes", mode.name, err, left, m.mod.Memory().Size())
		}
		if m.flags.Get() != 0 {
			t.Errorf("%s: out of gas set the memory flag", mode.name)
		}
		if old, gas := m.gasUsed(t, "f", 1); old != 1 || gas != 3+abi.GrowPageGas {
			t.Errorf("%s: grow(1) = %d using %d gas, want 1 using %d", mode.name, old, gas, 3+abi.GrowPageGas)
		}
		_, err, left = m.call(t, "f", 1<<20, 1)
		if !isTrap(err, meterTrap) || m.flags.Get() != 1 || left < 0 {
			t.Errorf("%s: grow past the maximum: err %v, flag %d, gas left %d; want a trap with the flag set", mode.name, err, m.flags.Get(), left)
		}
	}
}

// TestMemoryGrowBeyondTheEngineLimitTraps checks a module declaring no
// maximum: the engine's 512-page limit makes the grow fail, which traps.
func TestMemoryGrowBeyondTheEngineLimitTraps(t *testing.T) {
	t.Parallel()
	m := New()
	m.Export("memory", KindMemory, m.Memory(1, 0))
	m.ExportFunc("f", m.Func(Sig(i32, abi.I32), nil, Code(LocalGet(0), MemoryGrow, byte(0))))
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		in := instrumented(t, r, m.Encode(), looseConfig())
		if old, _ := in.gasUsed(t, "f", abi.MaxMemoryPages-1); old != 1 {
			t.Errorf("%s: grow to the limit returned %d", mode.name, old)
		}
		_, err, _ := in.call(t, "f", 1<<40, 1)
		if !isTrap(err, meterTrap) || in.flags.Get() != 1 {
			t.Errorf("%s: grow beyond %d pages: err %v flag %d", mode.name, abi.MaxMemoryPages, err, in.flags.Get())
		}
	}
}

// TestTableGrowBeyondTheLimitTraps checks that a table cannot be grown past
// MaxTableElements, whatever its declared maximum.
func TestTableGrowBeyondTheLimitTraps(t *testing.T) {
	t.Parallel()
	m := New()
	m.Table(1, 0)
	m.ExportFunc("f", m.Func(Sig(i32, abi.I32), nil, Code(RefNull(), LocalGet(0), TableGrow(0))))
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		in := instrumented(t, r, m.Encode(), looseConfig())
		if old, gas := in.gasUsed(t, "f", 9); old != 1 || gas != 4+9 {
			t.Errorf("%s: table.grow(9) = %d using %d gas, want 1 using 13", mode.name, old, gas)
		}
		_, err, _ := in.call(t, "f", 1<<40, abi.MaxTableElements)
		if !isTrap(err, meterTrap) || in.flags.Get() != 1 {
			t.Errorf("%s: table.grow past the limit: err %v flag %d", mode.name, err, in.flags.Get())
		}
	}
}

// TestNaNsAreCanonicalWhereTheirBitsShow computes 0/0 (whose sign and
// payload the hardware chooses) and observes its bits every way the
// instrumentation covers.
func TestNaNsAreCanonicalWhereTheirBitsShow(t *testing.T) {
	t.Parallel()
	nan32 := Code(F32Const(0), F32Const(0), F32Div)
	nan64 := Code(F64Const(0), F64Const(0), F64Div)
	neg := byte(0x9a) // f64.neg: flips the NaN's sign bit
	cases := []struct {
		name string
		typ  abi.ValType
		code []byte
		want uint64
	}{
		{"i32.reinterpret_f32", abi.I32, Code(nan32, I32ReinterF), uint64(meter.CanonicalNaN32)},
		{"i64.reinterpret_f64", abi.I64, Code(nan64, I64ReinterF), meter.CanonicalNaN64},
		{"negated NaN reinterpreted", abi.I64, Code(nan64, neg, I64ReinterF), meter.CanonicalNaN64},
		{"f32.store", abi.I32, Code(I32Const(8), nan32, Mem(F32Store, 2, 0), I32Const(8), Mem(I32Load, 2, 0)), uint64(meter.CanonicalNaN32)},
		{"f64.store", abi.I64, Code(I32Const(8), nan64, Mem(F64Store, 3, 0), I32Const(8), Mem(I64Load, 3, 0)), meter.CanonicalNaN64},
		{"f64.copysign of a NaN sign", abi.I64, Code(F64Const(1), nan64, neg, F64Copysign, I64ReinterF), 0x3ff0000000000000},
		{"f32.copysign of a NaN sign", abi.I32, Code(F32Const(1), nan32, byte(0x8c), F32Copysign, I32ReinterF), 0x3f800000},
		{"ordinary floats keep their bits", abi.I64, Code(F64Const(-1.5), I64ReinterF), 0xbff8000000000000},
		{"ordinary copysign", abi.I64, Code(F64Const(1), F64Const(-2), F64Copysign, I64ReinterF), 0xbff0000000000000},
	}
	for _, mode := range modes {
		r := newRuntime(t, mode.interp, &hostIO{})
		for _, tc := range cases {
			m := instrumented(t, r, fn1(Sig(nil, tc.typ), nil, tc.code), looseConfig())
			got, _ := m.gasUsed(t, "f")
			if tc.typ == abi.I32 {
				got = uint64(uint32(got))
			}
			if got != tc.want {
				t.Errorf("%s/%s: bits %#x, want %#x", mode.name, tc.name, got, tc.want)
			}
		}
	}
}

// TestInstrumentedModulesKeepTheirExportsAndAddTheGlobals checks that
// instrumenting leaves the module's own exports alone and exports the three
// globals with their types.
func TestInstrumentedModulesKeepTheirExportsAndAddTheGlobals(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, true, &hostIO{})
	m := instrumented(t, r, fn1(i32Result, nil, I32Const(42)), looseConfig())
	if res, err, _ := m.call(t, "f", 100); err != nil || res[0] != 42 {
		t.Fatalf("f() = %v, %v", res, err)
	}
	for name, typ := range map[string]api.ValueType{meter.GasGlobal: api.ValueTypeI64, meter.DepthGlobal: api.ValueTypeI32, meter.MemFailedGlobal: api.ValueTypeI32} {
		g, ok := m.mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok || g.Type() != typ {
			t.Errorf("global %q: %v, want a mutable %s", name, g, api.ValueTypeName(typ))
		}
	}
}
