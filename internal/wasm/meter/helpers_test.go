package meter_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	"github.com/phala-go/phala/internal/wasm/wasmtest"
)

// modes are wazero's two engines; metering must behave identically in both.
var modes = []struct {
	name   string
	interp bool
}{{"compiler", false}, {"interpreter", true}}

// looseConfig is ABI version 1 without the required exports, so that tests
// can instrument small hand-built modules.
func looseConfig() meter.Config {
	c := meter.ABIConfig(abi.MaxCodeBytes)
	c.Exports = nil
	c.Memory = ""
	return c
}

// hostIO is the minimal phala_v1 host of these tests: the input a module
// reads and the output it writes.
type hostIO struct {
	input  []byte
	output []byte
}

// newRuntime returns a wazero runtime with the ABI's memory limit, wazero's
// own WASI (deterministic by default) and input_read/output_write.
func newRuntime(t testing.TB, interp bool, io *hostIO) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler()
	if interp {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithMemoryLimitPages(abi.MaxMemoryPages))
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	_, err := r.NewHostModuleBuilder(abi.Module).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p uint32) {
		m.Memory().Write(p, io.input)
	}).Export("input_read").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, n uint32) {
		b, _ := m.Memory().Read(p, n)
		io.output = append([]byte(nil), b...)
	}).Export("output_write").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// instance compiles and instantiates wasm, without running any start
// function.
func instance(t testing.TB, r wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

// metered is an instance of an instrumented module and its globals.
type metered struct {
	mod               api.Module
	gas, depth, flags api.MutableGlobal
}

func instrumented(t testing.TB, r wazero.Runtime, wasm []byte, c meter.Config) *metered {
	t.Helper()
	out, err := meter.Instrument(wasm, c)
	if err != nil {
		t.Fatalf("instrument: %v", err)
	}
	return instrumentedBytes(t, r, out)
}

// instrumentedBytes instantiates an already instrumented module.
func instrumentedBytes(t testing.TB, r wazero.Runtime, out []byte) *metered {
	t.Helper()
	mod := instance(t, r, out)
	return &metered{
		mod:   mod,
		gas:   mod.ExportedGlobal(meter.GasGlobal).(api.MutableGlobal),
		depth: mod.ExportedGlobal(meter.DepthGlobal).(api.MutableGlobal),
		flags: mod.ExportedGlobal(meter.MemFailedGlobal).(api.MutableGlobal),
	}
}

// call runs fn with gas and returns its results, its error and the gas
// left (negative when it ran out).
func (m *metered) call(t testing.TB, fn string, gas int64, args ...uint64) ([]uint64, error, int64) {
	t.Helper()
	m.gas.Set(uint64(gas))
	m.depth.Set(0)
	m.flags.Set(0)
	f := m.mod.ExportedFunction(fn)
	if f == nil {
		t.Fatalf("no export %q", fn)
	}
	args = args[:min(len(args), len(f.Definition().ParamTypes()))]
	res, err := f.Call(context.Background(), args...)
	return res, err, int64(m.gas.Get())
}

// gasUsed runs fn with plenty of gas, requires it to succeed, and returns
// its first result and the gas it used.
func (m *metered) gasUsed(t testing.TB, fn string, args ...uint64) (uint64, int64) {
	t.Helper()
	const plenty = math.MaxInt64 / 2
	res, err, left := m.call(t, fn, plenty, args...)
	if err != nil {
		t.Fatalf("%s%v: %v", fn, args, err)
	}
	var r0 uint64
	if len(res) > 0 {
		r0 = res[0]
	}
	return r0, plenty - left
}

// meterTrap is the engines' message for the instrumentation's own traps
// (a division by the failed check): the globals tell which check it was.
const meterTrap = "integer divide by zero"

// isTrap reports whether err is a wazero trap whose innermost message is
// msg (e.g. meterTrap).
func isTrap(err error, msg string) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == msg {
			return true
		}
	}
	return false
}

// fn1 builds a module exporting one function "f" of type t with the given
// extra locals and code, and an exported memory of one page (at most
// maxPages when non-zero).
func fn1(t abi.FuncType, locals []abi.ValType, code []byte) []byte {
	m := wasmtest.New()
	m.Export("memory", wasmtest.KindMemory, m.Memory(1, 2))
	m.ExportFunc("f", m.Func(t, locals, code))
	return m.Encode()
}

var (
	i32  = []abi.ValType{abi.I32}
	none []abi.ValType
)
