package contract

import (
	"context"
	"fmt"

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

// GrowthMoves makes an instance of code, grows its memory one page at a
// time, pages times, and reports whether the memory ever moved (was
// copied to a new place).
func (e *Engine) GrowthMoves(ctx context.Context, code *Code, pages int) (bool, error) {
	in, err := e.instantiate(ctx, code)
	if err != nil {
		return false, err
	}
	defer in.close(ctx)
	mem := in.mod.Memory()
	first := func() *byte { b, _ := mem.Read(0, 1); return &b[0] }
	at := first()
	for range pages {
		if _, ok := mem.Grow(1); !ok {
			return false, fmt.Errorf("grow failed at %d pages", mem.Size()>>16)
		}
		if first() != at {
			return true, nil
		}
	}
	return false, nil
}
