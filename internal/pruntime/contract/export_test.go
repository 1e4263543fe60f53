package contract

import "context"

// CompileUnmetered compiles wasm without the instrumentation, for the
// benchmarks' baseline: the same engine and host functions, no metering.
func (e *Engine) CompileUnmetered(ctx context.Context, wasm []byte) (*Code, error) {
	return e.compile(ctx, wasm, false)
}
