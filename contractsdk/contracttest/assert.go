//go:build !wasip1

package contracttest

import (
	"bytes"
	"compress/gzip"
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

// GzipSize returns the size of wasm compressed as sdk.UploadCode sends it
// (gzip, best compression), which is what must fit in an upload
// transaction.
func GzipSize(tb testing.TB, wasm []byte) int {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(wasm); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("module: %d bytes, %d gzipped", len(wasm), buf.Len())
	return buf.Len()
}
