package meter_test

import (
	"bytes"
	"context"
	"math"
	"sync"
	"testing"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
)

var goModule = sync.OnceValues(func() ([]byte, error) {
	return contractbuild.Build(context.Background(), "testdata/gocontract")
})

// buildGoModule returns testdata/gocontract built once per test binary.
func buildGoModule(t testing.TB) []byte {
	t.Helper()
	wasm, err := goModule()
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestGoModulePassesValidation checks that a module of the standard Go
// toolchain meets the ABI.
func TestGoModulePassesValidation(t *testing.T) {
	t.Parallel()
	if err := meter.Validate(buildGoModule(t), abi.MaxCodeBytes); err != nil {
		t.Fatal(err)
	}
}

// TestInstrumentedGoModuleBehavesLikeTheOriginal runs the Go runtime's
// start-up and a command exercising allocation, goroutines, maps,
// interfaces, panics and floating point, in the original and the
// instrumented module, in both engine modes: the outputs must be equal, and
// the gas identical across modes. A budget too small for the start-up must
// stop it at the same point in both modes.
func TestInstrumentedGoModuleBehavesLikeTheOriginal(t *testing.T) {
	t.Parallel()
	wasm := buildGoModule(t)
	metered, err := meter.Instrument(wasm, meter.ABIConfig(abi.MaxCodeBytes))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	outputs := map[string][]byte{}
	gasUsed := map[string]int64{}
	gasAtTrap := map[string]int64{}
	for _, mode := range modes {
		io := &hostIO{}
		r := newRuntime(t, mode.interp, io)
		for _, seed := range []byte{3, 200} {
			io.input = []byte{seed}
			plain := instance(t, r, wasm)
			if _, err := plain.ExportedFunction(abi.ExportStart).Call(ctx); err != nil {
				t.Fatalf("%s: original _initialize: %v", mode.name, err)
			}
			if res, err := plain.ExportedFunction(abi.ExportCommand).Call(ctx, 1); err != nil || res[0] != 0 {
				t.Fatalf("%s: original command: %v %v", mode.name, res, err)
			}
			want := io.output
			plain.Close(ctx)

			m := instrumentedBytes(t, r, metered)
			const limit = math.MaxInt64 / 2
			m.gas.Set(limit)
			if _, err := m.mod.ExportedFunction(abi.ExportStart).Call(ctx); err != nil {
				t.Fatalf("%s: instrumented _initialize: %v", mode.name, err)
			}
			io.output = nil
			if res, err := m.mod.ExportedFunction(abi.ExportCommand).Call(ctx, 1); err != nil || res[0] != 0 {
				t.Fatalf("%s: instrumented command: %v %v", mode.name, res, err)
			}
			if !bytes.Equal(io.output, want) {
				t.Errorf("%s seed %d: instrumented output\n%s\noriginal\n%s", mode.name, seed, io.output, want)
			}
			if d := int32(m.depth.Get()); d != 0 {
				t.Errorf("%s: depth %d after returning, want 0", mode.name, d)
			}
			if seed == 3 {
				outputs[mode.name] = want
				gasUsed[mode.name] = limit - int64(m.gas.Get())
			}
			m.mod.Close(ctx)
		}

		m := instrumentedBytes(t, r, metered)
		m.gas.Set(100_000)
		_, err := m.mod.ExportedFunction(abi.ExportStart).Call(ctx)
		if !isTrap(err, meterTrap) || int64(m.gas.Get()) >= 0 {
			t.Errorf("%s: start-up with 100,000 gas: err %v gas %d; want an out-of-gas trap", mode.name, err, int64(m.gas.Get()))
		}
		gasAtTrap[mode.name] = int64(m.gas.Get())
	}
	if !bytes.Equal(outputs["compiler"], outputs["interpreter"]) {
		t.Errorf("outputs differ between modes:\n%s\n%s", outputs["compiler"], outputs["interpreter"])
	}
	if gasUsed["compiler"] != gasUsed["interpreter"] || gasUsed["compiler"] <= 0 {
		t.Errorf("gas used by mode: %v, want equal and positive", gasUsed)
	}
	if gasAtTrap["compiler"] != gasAtTrap["interpreter"] {
		t.Errorf("gas left at the out-of-gas trap by mode: %v, want equal", gasAtTrap)
	}
	t.Logf("gas of _initialize + command: %d; output:\n%s", gasUsed["compiler"], outputs["compiler"])
}

// TestGoModulesMeetTheCompileLimits calibrates the compile limits on real
// modules of the Go toolchain: the test contract and the examples must
// stay under every limit with at least 1.5× headroom (AssemblyScript
// modules are to be calibrated the same way when that SDK lands; until
// then docs/contracts.md states the margin taken by hand).
func TestGoModulesMeetTheCompileLimits(t *testing.T) {
	t.Parallel()
	dirs := []string{"testdata/gocontract", "../../../examples/contracts/token", "../../../examples/contracts/auction", "../../../examples/contracts/kvstore"}
	for _, dir := range dirs {
		wasm := buildGoModule(t)
		if dir != dirs[0] {
			var err error
			if wasm, err = contractbuild.Build(context.Background(), dir); err != nil {
				t.Fatal(err)
			}
		}
		shapes, err := meter.Shapes(wasm, meter.ABIConfig(abi.MaxCodeBytes))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		var most, total meter.Shape
		for _, s := range shapes {
			most.Controls, most.Nesting, most.Labels = max(most.Controls, s.Controls), max(most.Nesting, s.Nesting), max(most.Labels, s.Labels)
			most.ControlLocals, most.Bytes = max(most.ControlLocals, s.ControlLocals), max(most.Bytes, s.Bytes)
			total.Controls, total.Labels, total.ControlLocals = total.Controls+s.Controls, total.Labels+s.Labels, total.ControlLocals+s.ControlLocals
		}
		t.Logf("%s (%d bytes): per function at most %d controls, nesting %d, %d labels, %d controls x locals, %d bytes; module %d controls, %d labels, %d controls x locals",
			dir, len(wasm), most.Controls, most.Nesting, most.Labels, most.ControlLocals, most.Bytes, total.Controls, total.Labels, total.ControlLocals)
		for _, c := range []struct {
			what       string
			have, most int64
		}{
			{"controls", int64(most.Controls), abi.MaxControls},
			{"nesting", int64(most.Nesting), abi.MaxNesting},
			{"br_table labels", int64(most.Labels), abi.MaxBrTableLabels},
			{"controls x locals", most.ControlLocals, abi.MaxControlLocals},
			{"body bytes", int64(most.Bytes), abi.MaxBodyBytes},
			{"module controls", int64(total.Controls), abi.MaxModuleControls},
			{"module br_table labels", int64(total.Labels), abi.MaxModuleBrTableLabels},
			{"module controls x locals", total.ControlLocals, abi.MaxModuleControlLocals},
		} {
			if c.have*3 > c.most*2 {
				t.Errorf("%s: %s %d, less than 1.5x under the limit %d", dir, c.what, c.have, c.most)
			}
		}
	}
}
