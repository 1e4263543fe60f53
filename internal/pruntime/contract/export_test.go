package contract

import (
	"context"

	"github.com/phala-go/phala/protocol"
)

// CompileUnmetered compiles wasm without the instrumentation, for the
// benchmarks' baseline: the same engine and host functions, no metering,
// and no compile cache (the cache holds metered code only).
func (e *Engine) CompileUnmetered(ctx context.Context, wasm []byte) (*Code, error) {
	return e.build(ctx, wasm, protocol.CodeHash(wasm), false)
}

// Instantiations is how many instances the engine has made.
func (e *Engine) Instantiations() int64 { return e.instances.Load() }

// InstanceGas is what the engine charges before instantiating code.
func (c *Code) InstanceGas() uint64 { return c.instanceGas }

// Idle is how many warm query instances the engine holds, and the bytes
// they are counted for.
func (e *Engine) Idle() (int, uint64) {
	e.idle.mu.Lock()
	defer e.idle.mu.Unlock()
	return len(e.idle.list), e.idle.bytes
}
