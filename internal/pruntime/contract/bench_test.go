package contract_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/protocol"
)

// The metering benchmarks run the Go contract's CPU-heavy command (sha256
// rounds and a sort, no host calls in the loop) as a warm query, so that
// what is measured is execution, in the original module and in its
// instrumented version, on the same engine and host:
//
//	go test ./internal/pruntime/contract -run '^$' -bench 'Metering|Instance|Query' -benchtime 20x

const burnRounds = 200

func burnCall() *contract.Call {
	c := call(contract.EntryQuery, cmd('B', "bench", burnRounds), newStore())
	c.GasLimit = 1 << 40
	return c
}

// benchCodes returns the engine of the given mode and the metered and
// unmetered compilations of the Go contract.
func benchCodes(b *testing.B, m mode) (e *contract.Engine, plain, metered *contract.Code) {
	e = m.e
	wasm := kitchen(b)
	plain, err := e.CompileUnmetered(context.Background(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	metered = compile(b, e, wasm)
	for _, code := range []*contract.Code{plain, metered} {
		if res := run(b, e, code, burnCall()); res.Outcome != protocol.OutcomeOK {
			b.Fatalf("burn: %+v", res)
		}
	}
	return e, plain, metered
}

// BenchmarkMetering times the command in each module, on the compiler.
func BenchmarkMetering(b *testing.B) {
	e, plain, metered := benchCodes(b, modes(b)[0])
	for _, bc := range []struct {
		name string
		code *contract.Code
	}{{"unmetered", plain}, {"metered", metered}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				run(b, e, bc.code, burnCall())
			}
		})
	}
}

// BenchmarkMeteringOverhead alternates the two modules call by call and
// reports the ratio of their median times, which the machine's background
// load affects far less than two separate runs.
func BenchmarkMeteringOverhead(b *testing.B) {
	for _, m := range modes(b) {
		b.Run(m.name, func(b *testing.B) {
			e, plain, metered := benchCodes(b, m)
			var tp, tm []time.Duration
			for b.Loop() {
				start := time.Now()
				run(b, e, plain, burnCall())
				mid := time.Now()
				run(b, e, metered, burnCall())
				tp, tm = append(tp, mid.Sub(start)), append(tm, time.Since(mid))
			}
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return float64(d[len(d)/2])
			}
			b.ReportMetric(median(tm)/median(tp), "metered/unmetered")
			b.ReportMetric(median(tp)/1e6, "unmetered-ms")
			b.ReportMetric(median(tm)/1e6, "metered-ms")
		})
	}
}

// BenchmarkFreshInstance is the fixed cost of every init and command:
// instantiating the Go contract, its runtime's start-up (metered) and a
// one-key read.
func BenchmarkFreshInstance(b *testing.B) {
	for _, m := range modes(b) {
		b.Run(m.name, func(b *testing.B) {
			code := compile(b, m.e, kitchen(b))
			var gas uint64
			for b.Loop() {
				gas = run(b, m.e, code, call(contract.EntryCommand, cmd('G', "k"), newStore())).GasUsed
			}
			b.ReportMetric(float64(gas), "gas/op")
		})
	}
}

// BenchmarkWarmQuery is a one-key read in a pooled instance.
func BenchmarkWarmQuery(b *testing.B) {
	for _, m := range modes(b) {
		b.Run(m.name, func(b *testing.B) {
			code := compile(b, m.e, kitchen(b))
			store := newStore()
			store.put("k", "v")
			var gas uint64
			for b.Loop() {
				gas = run(b, m.e, code, call(contract.EntryQuery, cmd('G', "k"), store)).GasUsed
			}
			b.ReportMetric(float64(gas), "gas/op")
		})
	}
}
