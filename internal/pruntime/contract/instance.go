package contract

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
)

// instance is one instantiation of a Code, with the exports Run uses
// looked up once. wazero instances take one call at a time.
type instance struct {
	mod              api.Module
	start            api.Function
	entries          map[Entry]api.Function
	gas, depth, flag api.MutableGlobal // nil in the uninstrumented baseline
}

// instantiate makes a fresh, anonymous instance (so that any number can
// live at once) without running _initialize.
func (e *Engine) instantiate(ctx context.Context, code *Code) (*instance, error) {
	mod, err := e.rt.InstantiateModule(ctx, code.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("contract: instantiate code %x: %w", code.hash[:8], err)
	}
	in := &instance{
		mod:   mod,
		start: mod.ExportedFunction(abi.ExportStart),
		entries: map[Entry]api.Function{
			EntryInit:    mod.ExportedFunction(abi.ExportInit),
			EntryCommand: mod.ExportedFunction(abi.ExportCommand),
			EntryQuery:   mod.ExportedFunction(abi.ExportQuery),
		},
	}
	if code.metered {
		var ok [3]bool
		in.gas, ok[0] = mod.ExportedGlobal(meter.GasGlobal).(api.MutableGlobal)
		in.depth, ok[1] = mod.ExportedGlobal(meter.DepthGlobal).(api.MutableGlobal)
		in.flag, ok[2] = mod.ExportedGlobal(meter.MemFailedGlobal).(api.MutableGlobal)
		if ok != [3]bool{true, true, true} {
			mod.Close(ctx)
			return nil, fmt.Errorf("contract: code %x lacks the instrumentation globals", code.hash[:8])
		}
	}
	return in, nil
}

// reset prepares the counters for a call with the given gas limit.
func (in *instance) reset(limit uint64) {
	if in.gas == nil {
		return
	}
	in.gas.Set(api.EncodeI64(int64(min(limit, math.MaxInt64))))
	in.depth.Set(0)
	in.flag.Set(0)
}

// used is the gas used out of limit, and whether it ran out.
func (in *instance) used(limit uint64) (uint64, bool) {
	if in.gas == nil {
		return 0, false
	}
	left := int64(in.gas.Get())
	if left < 0 {
		return limit, true
	}
	return min(limit, math.MaxInt64) - uint64(left), false
}

func (in *instance) memFailed() bool { return in.flag != nil && in.flag.Get() != 0 }

func (in *instance) depthExceeded() bool {
	return in.depth != nil && int32(in.depth.Get()) > abi.MaxCallDepth
}

func (in *instance) close(ctx context.Context) { in.mod.Close(ctx) }

// pool keeps up to max initialised instances of one code for queries.
// Instances are taken out for a call and put back after a clean one, so
// one instance never runs two calls at once.
type pool struct {
	max  int
	mu   sync.Mutex
	idle []*instance
}

func (p *pool) get() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return in
	}
	return nil
}

// put returns a clean instance to the pool, or closes it when the pool is
// full.
func (p *pool) put(ctx context.Context, in *instance) {
	p.mu.Lock()
	if len(p.idle) < p.max {
		p.idle = append(p.idle, in)
		in = nil
	}
	p.mu.Unlock()
	if in != nil {
		in.close(ctx)
	}
}
