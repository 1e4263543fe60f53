package pruntime_test

import (
	"testing"

	"github.com/phala-go/phala/internal/pruntime/syncbench"
)

func BenchmarkEd25519Verify(b *testing.B) { syncbench.BenchVerify(b) }

func BenchmarkSync(b *testing.B) {
	for _, w := range syncbench.Workloads {
		b.Run(w.Name(), func(b *testing.B) { syncbench.BenchSync(b, w) })
	}
}
