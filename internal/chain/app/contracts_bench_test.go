package app

import (
	"testing"

	"github.com/phala-go/phala/protocol"
)

// benchCheckTx measures CheckTx of one contracts call, run in a dropped
// branch of the mempool state (as FuzzContractCalls does) on a chain with
// an active contract.
func benchCheckTx(b *testing.B, method string, args func(s *contractsSetup) any) {
	s := newContractsSetup(b)
	raw := protocol.SignTx(alice, protocol.Tx{ChainID: testChain, Nonce: s.a.nonce, Fee: protocol.DefaultParams().MinFee,
		Call: protocol.Call{Module: protocol.ModuleContracts, Method: method, Args: protocol.MustMarshal(args(s))}})
	b.ResetTimer()
	for range b.N {
		s.ta.app.mu.Lock()
		_, err := s.ta.app.execTx(s.ta.app.check, raw)
		s.ta.app.mu.Unlock()
		if err != nil && method != protocol.MethodUploadCode {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckUploadGzipBomb: refusing 64 MiB of zeros gzipped to 64 KiB
// costs inflating max_code_bytes+1 bytes, no more.
func BenchmarkCheckUploadGzipBomb(b *testing.B) {
	benchCheckTx(b, protocol.MethodUploadCode, func(*contractsSetup) any {
		return protocol.UploadCodeArgs{Code: gzipped(b, make([]byte, 64<<20)), Compression: protocol.CompressionGzip}
	})
}

// BenchmarkCheckUploadModule: admitting a 1 MiB module (gzipped) to the
// mempool: inflate, validate, hash.
func BenchmarkCheckUploadModule(b *testing.B) {
	benchCheckTx(b, protocol.MethodUploadCode, func(*contractsSetup) any {
		return protocol.UploadCodeArgs{Code: gzipped(b, testModule(7, 1<<20)), Compression: protocol.CompressionGzip}
	})
}

// BenchmarkCheckCommand: admitting one 2 KiB command to the mempool.
func BenchmarkCheckCommand(b *testing.B) {
	benchCheckTx(b, protocol.MethodCommand, func(s *contractsSetup) any {
		return protocol.CommandArgs{Contract: s.id, Epoch: 1, GasLimit: 1_000_000, Ciphertext: make([]byte, 2048)}
	})
}
