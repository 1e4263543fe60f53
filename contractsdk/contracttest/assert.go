//go:build !wasip1

package contracttest

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"math"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Account returns a fixed address for a name, for readable tests
// (Account("alice") is the same in every run).
func Account(name string) protocol.Address {
	return protocol.AddressOf([]byte("contracttest/account/" + name))
}

// Output fails the test unless res succeeded with some gas used, and
// returns its output.
func Output(tb testing.TB, res *Result) []byte {
	tb.Helper()
	if res.Outcome != protocol.OutcomeOK {
		tb.Fatalf("outcome %s (%s), output %q; want ok", res.Outcome, res.Reason, res.Output)
	}
	if res.GasUsed == 0 {
		tb.Fatalf("call succeeded with no gas used")
	}
	return res.Output
}

// ErrorText fails the test unless the handler returned an error (outcome
// error, some gas used, nothing emitted) whose text contains want, and
// returns the text.
func ErrorText(tb testing.TB, res *Result, want string) string {
	tb.Helper()
	if res.Outcome != protocol.OutcomeError {
		tb.Fatalf("outcome %s (%s), output %q; want error %q", res.Outcome, res.Reason, res.Output, want)
	}
	if !strings.Contains(string(res.Output), want) {
		tb.Fatalf("error %q does not contain %q", res.Output, want)
	}
	if res.GasUsed == 0 {
		tb.Fatalf("call failed with no gas used")
	}
	if len(res.Emitted) != 0 {
		tb.Fatalf("failed call emitted %d messages", len(res.Emitted))
	}
	return string(res.Output)
}

// Answer returns a copy of a query's result without its gas, for comparing
// answers: a query's gas depends on whether it ran in a fresh or a warm
// instance (the Go runtime's heap differs), while its answer does not.
// Init and command results are deterministic in full, gas included.
func Answer(res *Result) *Result {
	c := *res
	c.GasUsed = 0
	return &c
}

// CheckUploadSize fails the test unless m's module can be uploaded to a
// chain with the default parameters (protocol.DefaultParams), with room
// to spare: the module is at most max_code_bytes, and the whole signed
// transaction sdk.UploadCode would send (the module gzipped at best
// compression; a 50-byte chain id, CometBFT's longest; nonce and fee at
// their largest) at most half of max_tx_bytes. A module over that half
// can still be uploaded, but is half-way to the limit, and would not fit
// a chain that kept max_tx_bytes at its old 1 MiB.
func (m *Module) CheckUploadSize(tb testing.TB) {
	tb.Helper()
	p := protocol.DefaultParams()
	if uint64(len(m.Wasm)) > p.MaxCodeBytes {
		tb.Fatalf("module is %d bytes, more than max_code_bytes (%d)", len(m.Wasm), p.MaxCodeBytes)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(m.Wasm); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	call, err := protocol.NewCall(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: buf.Bytes(), Compression: protocol.CompressionGzip})
	if err != nil {
		tb.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	tx := protocol.SignTx(key, protocol.Tx{ChainID: strings.Repeat("c", 50), Nonce: math.MaxUint64, Fee: math.MaxUint64, Call: call})
	tb.Logf("module: %d bytes, %d gzipped, upload transaction %d", len(m.Wasm), buf.Len(), len(tx))
	if budget := p.MaxTxBytes / 2; uint64(len(tx)) > budget {
		tb.Fatalf("upload transaction of %d bytes, over the budget of %d (half of max_tx_bytes)", len(tx), budget)
	}
}
