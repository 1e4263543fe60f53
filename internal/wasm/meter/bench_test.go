package meter_test

import (
	"testing"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
)

// BenchmarkInstrument validates and instruments the Go test module, as
// upload_code (Validate) and pRuntime's Compile do once per code:
//
//	go test ./internal/wasm/meter -run '^$' -bench Instrument
func BenchmarkInstrument(b *testing.B) {
	wasm := buildGoModule(b)
	c := meter.ABIConfig(abi.MaxCodeBytes)
	var out []byte
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		var err error
		if out, err = meter.Instrument(wasm, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out))/float64(len(wasm)), "size-ratio")
}
