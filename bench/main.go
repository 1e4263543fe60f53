// Command bench runs the project's benchmark workloads in one process and
// prints each rate next to the bound it is compared with, measured in the
// same run, as DESIGN section 8 asks. Results are recorded in docs/perf.md.
//
//	go run ./bench chain     # transaction decode and FinalizeBlock vs ed25519 verification
//	go run ./bench sync      # pRuntime in-process sync vs the signature-verification bound
//	go run ./bench memory    # pRuntime memory after syncing 10,000 and 100,000 blocks
//	go run ./bench requests  # pRuntime memory per request, for the largest requests the limits allow
//	go run ./bench relay     # catch-up of 10,000 blocks through node RPC -> pherry -> pRuntime
//	go run ./bench ping      # devnet ping round trip, in block times
//	go run ./bench query     # contract queries per second vs the HPKE open rate
//	go run ./bench command   # devnet contract command latency, in block times
//	go run ./bench engine    # contract engine worst cases: CPU per gas and compile cost per byte vs an ordinary contract
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/phala-go/phala/internal/chain/chainbench"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench chain|sync|memory|requests|relay|ping|query|command|engine")
	}
	flag.Parse()
	switch flag.Arg(0) {
	case "chain":
		chain()
	case "sync":
		syncRate()
	case "memory":
		memory()
	case "requests":
		requestMemory()
	case "relay":
		relay()
	case "ping":
		ping()
	case "query":
		queries()
	case "command":
		commands()
	case "engine":
		engine()
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func rate(r testing.BenchmarkResult, unit string) float64 { return r.Extra[unit] }

func chain() {
	fmt.Printf("machine: %s/%s, %d CPUs, GOMAXPROCS=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	verify := testing.Benchmark(chainbench.BenchEd25519Verify)
	decode := testing.Benchmark(chainbench.BenchDecodeVerifyTx)
	block := testing.Benchmark(func(b *testing.B) { chainbench.BenchFinalizeTransfers(b, 1000) })
	bound := rate(verify, "verify/s")
	fmt.Printf("%-42s %12s %10s\n", "measure", "rate", "vs bound")
	fmt.Printf("%-42s %10.0f/s %10s\n", "ed25519 verification (bound)", bound, "1.00")
	fmt.Printf("%-42s %10.0f/s %10.2f\n", "tx decode + signature verification", rate(decode, "tx/s"), rate(decode, "tx/s")/bound)
	fmt.Printf("%-42s %10.0f/s %10.2f\n", "FinalizeBlock+Commit, 1,000 transfers", rate(block, "tx/s"), rate(block, "tx/s")/bound)
	fmt.Printf("\ntarget: FinalizeBlock >= 5,000 transfers/s on one core: %s\n", verdict(rate(block, "tx/s") >= 5000))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
