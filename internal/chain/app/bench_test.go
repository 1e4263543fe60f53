package app_test

import (
	"testing"

	"github.com/phala-go/phala/internal/chain/chainbench"
)

func BenchmarkEd25519Verify(b *testing.B)  { chainbench.BenchEd25519Verify(b) }
func BenchmarkDecodeVerifyTx(b *testing.B) { chainbench.BenchDecodeVerifyTx(b) }
func BenchmarkFinalizeBlock1000Transfers(b *testing.B) {
	chainbench.BenchFinalizeTransfers(b, 1000)
}
