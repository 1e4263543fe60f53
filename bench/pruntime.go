package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/syncbench"
	"github.com/phala-go/phala/protocol"
)

// syncRate reports pRuntime's in-process sync rate per workload next to the
// single-core signature bound: 1 / (one ed25519 verification x signatures
// needed for +2/3).
func syncRate() {
	fmt.Printf("machine: %s/%s, %d CPUs, GOMAXPROCS=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	verify := testing.Benchmark(syncbench.BenchVerify)
	perVerify := 1 / verify.Extra["verify/s"]
	fmt.Printf("ed25519 verification (CometBFT key type): %.1f µs\n\n", perVerify*1e6)
	fmt.Printf("%-16s %12s %14s %10s %8s\n", "workload", "sync", "bound", "ratio", "target")
	for _, w := range syncbench.Workloads {
		r := testing.Benchmark(func(b *testing.B) {
			if b.N < 200 {
				b.N = 200
			}
			syncbench.BenchSync(b, w)
		})
		rate := r.Extra["blocks/s"]
		bound := 1 / (perVerify * float64(w.Needed()))
		fmt.Printf("%-16s %8.0f b/s %10.0f b/s %10.2f %8s\n", w.Name(), rate, bound, rate/bound, verdict(rate >= 0.6*bound))
	}
	fmt.Println("\nbound = 1 / (t_verify x signatures for +2/3); target: >= 0.60 of the bound")
}

// memory syncs 100,000 blocks (4 validators, 10 messages each) into one
// pRuntime and reports its live heap and resident memory at 10,000 and
// 100,000 blocks.
func memory() {
	const total = 100_000
	g := syncbench.NewGenerator(syncbench.Workload{Validators: 4, Messages: 10})
	dir, err := os.MkdirTemp("", "pruntime-memory")
	check(err)
	defer os.RemoveAll(dir)
	rt, err := syncbench.NewRuntime(dir, g.Genesis())
	check(err)
	fmt.Printf("%-10s %14s %14s\n", "blocks", "live heap", "RSS")
	batch := make([]protocol.SyncBlock, 0, 100)
	for h := 1; h <= total; h++ {
		batch = append(batch, g.Next())
		if len(batch) == cap(batch) {
			_, err := rt.Sync(&protocol.SyncRequest{Blocks: batch})
			check(err)
			batch = batch[:0]
		}
		if h%10_000 == 0 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("%-10d %11.1f MiB %11.1f MiB\n", h, float64(ms.HeapAlloc)/(1<<20), rssMiB())
		}
	}
	fmt.Println("\n(the harness generates the chain in the same process; its generator keeps only the chain tip)")
}

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
