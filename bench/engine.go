package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
)

// engine measures what crafted worst-case modules cost the contract engine
// (compiler mode, as pRuntime runs it) against an ordinary contract in the
// same run (docs/perf.md, "Contracts: worst cases"):
//   - execution: CPU time per gas unit of loops over uncharged or
//     underpriced paths and host functions at their worst arguments,
//     against the Go test contract's CPU-bound command;
//   - compilation: CPU time and peak heap per byte of modules at the
//     meter's compile limits, against the Go test contract.
func engine() {
	ctx := context.Background()
	fmt.Printf("machine: %s/%s, %d CPUs, GOMAXPROCS=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	kitchen, err := contractbuild.Build(ctx, "internal/pruntime/contract/testdata/kitchen")
	check(err)
	e, err := contract.New(ctx, contract.Config{})
	check(err)
	defer e.Close(ctx)

	// The ordinary rate: a command of the Go contract in a fresh instance
	// (the Go runtime's start-up, then 20 rounds of sha256 and a sort),
	// best of five. Its CPU-bound loop alone, in a warm instance, runs far
	// below that rate (the compiler folds most instructions); it is shown
	// for comparison.
	code, err := e.Compile(ctx, kitchen)
	check(err)
	burn := func(rounds byte) []byte {
		return append([]byte{'B'}, 0, 0, 0, 5, 'b', 'e', 'n', 'c', 'h', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, rounds)
	}
	base := bestRate(func() (*contract.Result, time.Duration) {
		return runTimed(ctx, e, code, contract.EntryCommand, burn(20), 1<<40)
	})
	warm := bestRate(func() (*contract.Result, time.Duration) {
		return runTimed(ctx, e, code, contract.EntryQuery, burn(200), 1<<40)
	})
	fmt.Printf("%-52s %12s %10s %8s\n", "execution (CPU per gas)", "gas used", "ns/gas", "x base")
	fmt.Printf("%-52s %12s %10.2f %8.2f\n", "Go contract, a command in a fresh instance (base)", "", base, 1.0)
	fmt.Printf("%-52s %12s %10.2f %8.2f\n", "Go contract, sha256+sort loop in a warm instance", "", warm, warm/base)
	worst := 0.0
	for _, w := range workloads() {
		wc, err := e.Compile(ctx, w.wasm)
		check(err)
		var used uint64
		r := bestRate(func() (*contract.Result, time.Duration) {
			res, d := runTimed(ctx, e, wc, contract.EntryCommand, nil, w.gas)
			used = res.GasUsed
			return res, d
		})
		worst = max(worst, r/base)
		fmt.Printf("%-52s %12d %10.2f %8.2f\n", w.name, used, r, r/base)
	}
	fmt.Printf("\ntarget: no workload above 10x the base rate: %s (worst %.1fx)\n\n", verdict(worst <= 10), worst)

	fmt.Printf("%-44s %9s %10s %7s %9s %7s %7s\n", "compilation (one fresh engine each)", "bytes", "CPU ms", "x Go", "heap MB", "B/B", "x Go")
	goCPU, goHeap := compileCost(ctx, kitchen)
	goRate, goMem := perByte(goCPU, goHeap, len(kitchen))
	fmt.Printf("%-44s %9d %10.0f %7.2f %9.1f %7.0f %7.2f\n", "Go test contract (base)", len(kitchen), ms(goCPU), 1.0, mb(goHeap), goMem, 1.0)
	for _, b := range limitBombs() {
		wasm := b.wasm
		cpu, heap := compileCost(ctx, wasm)
		r, m := perByte(cpu, heap, len(wasm))
		fmt.Printf("%-44s %9d %10.1f %7.2f %9.1f %7.0f %7.2f\n", b.name, len(wasm), ms(cpu), r/goRate, mb(heap), m, m/goMem)
	}
}

type workload struct {
	name string
	wasm []byte
	gas  uint64
}

// loopCommand is a contract whose command repeats op until it runs out of
// gas.
func loopCommand(c *Contract, op []byte) []byte {
	c.Entry(abi.ExportCommand, nil, Code(Loop(BlockEmpty), op, Br(0), End, I32Const(0)))
	return c.Encode()
}

// workloads are the execution worst cases: each loops one operation at its
// worst arguments until the gas runs out.
func workloads() []workload {
	const gas = 20_000_000
	var out []workload
	add := func(name string, gas uint64, wasm []byte) { out = append(out, workload{name, wasm, gas}) }

	c := NewContract(1)
	add("plain loop (i32 arithmetic)", gas, loopCommand(c, Code(LocalGet(0), I32Const(1), I32Add, LocalSet(0))))
	c = NewContract(1, "fd_write")
	add("fd_write of 1,024 empty iovecs", gas, loopCommand(c, Code(I32Const(1), I32Const(0), I32Const(abi.MaxIovecs), I32Const(0), Call(c.Host("fd_write")), Drop)))
	c = NewContract(abi.MaxMemoryPages, "poll_oneoff")
	add("poll_oneoff of 100,000 subscriptions", gas, loopCommand(c, Code(I32Const(0), I32Const(5_000_000), I32Const(100_000), I32Const(8_400_000), Call(c.Host("poll_oneoff")), Drop)))
	c = NewContract(abi.MaxMemoryPages)
	add("memory.fill of 32 MiB", gas, loopCommand(c, Code(I32Const(0), I32Const(7), I32Const(abi.MaxMemoryPages<<16), MemoryFill())))
	c = NewContract(abi.MaxMemoryPages)
	add("memory.copy of 16 MiB", gas, loopCommand(c, Code(I32Const(0), I32Const(abi.MaxMemoryPages<<15), I32Const(abi.MaxMemoryPages<<15), MemoryCopy())))
	c = NewContract(1)
	add("memory.grow one page at a time to 512 pages", gas, loopCommand(c, Code(I32Const(1), MemoryGrow, byte(0), Drop)))
	huge := NewContract(abi.MaxMemoryPages)
	for range abi.MaxTables {
		huge.Table(abi.MaxTableElements, 0)
	}
	add("instance of 512 pages and 8 full tables", abi.MaxMemoryPages*abi.GrowPageGas+abi.MaxTables*abi.MaxTableElements+10, huge.Encode())
	c = NewContract(1)
	c.Table(abi.MaxTableElements, 0)
	add("table.fill of 131,072 elements", gas, loopCommand(c, Code(I32Const(0), RefNull(), I32Const(abi.MaxTableElements), Misc(17, 0))))
	c = NewContract(1, "ed25519_verify")
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	c.Data(0, priv.Public().(ed25519.PublicKey))
	c.Data(64, ed25519.Sign(priv, nil))
	add("ed25519_verify of a valid signature", gas, loopCommand(c, Code(I32Const(0), I32Const(128), I32Const(0), I32Const(64), Call(c.Host("ed25519_verify")), Drop)))
	c = NewContract(2, "sha256")
	add("sha256 of 64 KiB", gas, loopCommand(c, Code(I32Const(0), I32Const(1<<16), I32Const(1<<16), Call(c.Host("sha256")))))
	c = NewContract(2, "storage_set")
	add("storage_set of a 64 KiB value", gas, loopCommand(c, Code(I32Const(0), I32Const(abi.MaxKeyBytes), I32Const(0), I32Const(abi.MaxValueBytes), Call(c.Host("storage_set")))))
	c = NewContract(2, "storage_get")
	add("storage_get of a missing 256-byte key", gas, loopCommand(c, Code(I32Const(0), I32Const(abi.MaxKeyBytes), Call(c.Host("storage_get")), Drop)))
	c = NewContract(2, "random_get")
	add("random_get of 64 KiB", gas, loopCommand(c, Code(I32Const(0), I32Const(1<<16), Call(c.Host("random_get")), Drop)))
	c = NewContract(1, "gas_left")
	add("gas_left (base price only)", gas, loopCommand(c, Code(Call(c.Host("gas_left")), Drop)))
	c = NewContract(1)
	empty := c.Func(Sig(nil), nil, nil)
	add("calls of an empty function", gas, loopCommand(c, Call(empty)))
	c = NewContract(1)
	self := c.Func(Sig(nil), nil, Call(c.NextFunc()))
	add("one recursion to the call-depth limit (a trap)", gas, loopCommand(c, Call(self)))
	return out
}

// limitBomb is a module at the meter's limits.
type limitBomb struct {
	name string
	wasm []byte
}

// limitBombs are wasmtest.Bombs at the largest size the limits accept.
func limitBombs() []limitBomb {
	at := map[string]int{
		"calls": 60_000, "nested blocks": abi.MaxNesting, "block chain then reads": abi.MaxControls,
		"br_if chain then reads": abi.MaxControls - 1, "nested loops x locals": 180, "if merges x locals": 180,
		"live locals across calls": 8_000, "loads": 20_000, "divisions": 20_000, "many functions": abi.MaxFunctions - 10,
		"br_table": abi.MaxBrTableLabels - 1,
	}
	var out []limitBomb
	for _, b := range Bombs() {
		n, ok := at[b.Name]
		if !ok {
			continue
		}
		wasm := b.Build(n)
		if err := meter.Validate(wasm, abi.MaxCodeBytes); err != nil {
			check(fmt.Errorf("bomb %s at %d: %w", b.Name, n, err))
		}
		out = append(out, limitBomb{fmt.Sprintf("%s (n=%d)", b.Name, n), wasm})
	}
	return out
}

// runTimed runs one call in a fresh store and returns its result and the
// process CPU time it took.
func runTimed(ctx context.Context, e *contract.Engine, code *contract.Code, entry contract.Entry, input []byte, gas uint64) (*contract.Result, time.Duration) {
	store := kvtree.NewOverlay(kvtree.Keyed([32]byte{1}))
	c := &contract.Call{Entry: entry, Input: input, Contract: [32]byte{7}, Time: time.Unix(1, 0), GasLimit: gas, Store: store}
	start := cpuTime()
	res, err := e.Run(ctx, code, c)
	d := cpuTime() - start
	check(err)
	return res, d
}

// bestRate runs f five times and returns the lowest CPU ns per gas.
func bestRate(f func() (*contract.Result, time.Duration)) float64 {
	best := 0.0
	for i := range 5 {
		res, d := f()
		if res.GasUsed == 0 {
			check(fmt.Errorf("no gas used: %+v", res))
		}
		if r := float64(d.Nanoseconds()) / float64(res.GasUsed); i == 0 || r < best {
			best = r
		}
	}
	return best
}

// compileCost compiles wasm in a fresh engine, three times, and returns
// the least CPU time and the largest heap growth seen while compiling.
func compileCost(ctx context.Context, wasm []byte) (time.Duration, uint64) {
	var cpu time.Duration
	var peak uint64
	for i := range 3 {
		e, err := contract.New(ctx, contract.Config{})
		check(err)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop, top := sampleHeap()
		start := cpuTime()
		_, err = e.Compile(ctx, wasm)
		d := cpuTime() - start
		close(stop)
		h := <-top
		check(err)
		check(e.Close(ctx))
		if i == 0 || d < cpu {
			cpu = d
		}
		peak = max(peak, h-min(h, before.HeapAlloc))
	}
	return cpu, peak
}

// sampleHeap samples the heap every 2 ms until stop is closed, then sends
// the largest value seen.
func sampleHeap() (stop chan struct{}, top chan uint64) {
	stop, top = make(chan struct{}), make(chan uint64, 1)
	go func() {
		var most uint64
		var m runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			most = max(most, m.HeapAlloc)
			select {
			case <-stop:
				top <- most
				return
			case <-tick.C:
			}
		}
	}()
	return stop, top
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perByte(cpu time.Duration, heap uint64, n int) (nsPerByte, heapPerByte float64) {
	return float64(cpu.Nanoseconds()) / float64(n), float64(heap) / float64(n)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mb(b uint64) float64        { return float64(b) / (1 << 20) }
