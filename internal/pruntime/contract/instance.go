package contract

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
)

// instance is one instantiation of a Code. Each export is looked up once,
// when first needed (in compiler mode every lookup allocates a call
// engine), so a command instance looks up only _initialize and its entry.
// wazero instances take one call at a time.
type instance struct {
	mod              api.Module
	mem              *reservation                 // the linear memory's reservation, released by close
	entries          [EntryQuery + 1]api.Function // by Entry, looked up on first use
	gas, depth, flag api.MutableGlobal            // nil in the uninstrumented baseline
}

// instantiate makes a fresh, anonymous instance (so that any number can
// live at once) without running _initialize.
func (e *Engine) instantiate(ctx context.Context, code *Code) (*instance, error) {
	e.instances.Add(1)
	alloc := &reserver{}
	mod, err := e.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), code.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		alloc.r.release()
		return nil, fmt.Errorf("contract: instantiate code %x: %w", code.hash[:8], err)
	}
	in := &instance{mod: mod, mem: alloc.r}
	if code.metered {
		var ok [3]bool
		in.gas, ok[0] = mod.ExportedGlobal(meter.GasGlobal).(api.MutableGlobal)
		in.depth, ok[1] = mod.ExportedGlobal(meter.DepthGlobal).(api.MutableGlobal)
		in.flag, ok[2] = mod.ExportedGlobal(meter.MemFailedGlobal).(api.MutableGlobal)
		if ok != [3]bool{true, true, true} {
			in.close(ctx)
			return nil, fmt.Errorf("contract: code %x lacks the instrumentation globals", code.hash[:8])
		}
	}
	return in, nil
}

// entryExports are the export names of the entry points, by Entry.
var entryExports = [...]string{EntryInit: abi.ExportInit, EntryCommand: abi.ExportCommand, EntryQuery: abi.ExportQuery}

// entry is the function of entry point e (the meter requires all three).
func (in *instance) entry(e Entry) api.Function {
	if in.entries[e] == nil {
		in.entries[e] = in.mod.ExportedFunction(entryExports[e])
	}
	return in.entries[e]
}

// start runs _initialize (the meter requires it) within the gas reset
// left.
func (in *instance) start(ctx context.Context) error {
	_, err := in.mod.ExportedFunction(abi.ExportStart).Call(ctx)
	return err
}

// reset prepares the counters for a call with the given gas limit, of
// which charged (at most the limit) is already spent.
func (in *instance) reset(limit, charged uint64) {
	if in.gas == nil {
		return
	}
	in.gas.Set(api.EncodeI64(int64(min(limit, math.MaxInt64) - min(charged, limit, math.MaxInt64))))
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

// close closes the module and releases its memory; no call may run in it.
func (in *instance) close(ctx context.Context) {
	in.mod.Close(ctx)
	in.mem.release()
}

// idleSet holds the warm query instances of every contract, oldest
// first. An instance is kept for the contract that last ran it, never
// handed to another contract built from the same code (its globals and
// heap may hold what it read from that contract's state). It keeps at most
// perContract instances of one contract, so one instance never runs two
// calls at once, and at most maxBytes in all (linear memory, tables and
// InstanceOverhead each), closing the least recently used first: queries
// are free to send, so without a bound a querier could make the enclave
// keep 32 MiB for every contract it touched (and counting memory alone
// let a 1-page module with eight full tables hold ~5.5 MiB as 64 KiB).
type idleSet struct {
	perContract int
	maxBytes    uint64

	mu    sync.Mutex
	list  []idleInstance
	bytes uint64
}

type idleInstance struct {
	contract [32]byte
	code     *Code
	in       *instance
	size     uint64
}

// get takes out the contract's most recently used instance of code, or
// returns nil.
func (s *idleSet) get(contract [32]byte, code *Code) *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.list) - 1; i >= 0; i-- {
		if it := s.list[i]; it.contract == contract && it.code == code {
			s.list = slices.Delete(s.list, i, i+1)
			s.bytes -= it.size
			return it.in
		}
	}
	return nil
}

// put keeps a clean instance as the contract's most recently used one,
// closing it instead when the contract already has its share, and closing
// the least recently used instances while the set holds more memory than
// allowed.
func (s *idleSet) put(ctx context.Context, contract [32]byte, code *Code, in *instance) {
	it := idleInstance{contract: contract, code: code, in: in, size: memorySize(in.mod) + code.tableBytes + InstanceOverhead}
	var evicted []*instance
	s.mu.Lock()
	n := 0
	for _, o := range s.list {
		if o.contract == contract && o.code == code {
			n++
		}
	}
	if n >= s.perContract {
		evicted = append(evicted, in)
	} else {
		s.list = append(s.list, it)
		s.bytes += it.size
		for s.bytes > s.maxBytes {
			s.bytes -= s.list[0].size
			evicted = append(evicted, s.list[0].in)
			s.list = slices.Delete(s.list, 0, 1)
		}
	}
	s.mu.Unlock()
	for _, in := range evicted {
		in.close(ctx)
	}
}

// clear closes every instance.
func (s *idleSet) clear(ctx context.Context) {
	s.mu.Lock()
	list := s.list
	s.list, s.bytes = nil, 0
	s.mu.Unlock()
	for _, it := range list {
		it.in.close(ctx)
	}
}

func memorySize(mod api.Module) uint64 {
	if m := mod.Memory(); m != nil {
		return uint64(m.Size())
	}
	return 0
}
