// Package contract runs confidential contracts: WebAssembly modules
// instrumented by internal/wasm/meter, executed by wazero with the host ABI
// of docs/contracts.md.
//
// pRuntime uses it for commands, in chain order, where every member of a
// cluster must compute byte-identical results, and for queries, which run
// concurrently while pRuntime syncs. The engine owns the wazero runtime,
// the compile cache (in memory only, keyed by code hash) and the warm
// query instances. It never reads a clock or a random source of its
// own, never lets a contract fault escape as anything but a Result, and
// never writes a contract's storage itself: the caller's Store is the only
// state, and the caller discards it on a non-ok outcome.
package contract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	"github.com/phala-go/phala/protocol"
)

// Config configures an Engine.
type Config struct {
	Interpreter    bool         // wazero's interpreter instead of the compiler (tests run both)
	Log            *slog.Logger // destination of debug_log / stdout / stderr when a Call has Debug set; nil discards
	QueryInstances int          // warm instances kept per contract for queries (default 4)

	// QueryIdleMemory bounds the memory, in bytes, that warm query
	// instances hold in all (default DefaultQueryIdleMemory), each counted
	// as its linear memory, what its tables can hold (8 bytes an element)
	// and InstanceOverhead; the least recently used are closed first.
	QueryIdleMemory uint64

	// QueryInitGas is the budget of _initialize when a query needs a new
	// instance (default DefaultQueryInitGas). It is not charged to the
	// query: a warm instance would not have run it.
	QueryInitGas uint64
}

// Defaults of Config.
const (
	DefaultQueryInstances  = 4
	DefaultQueryInitGas    = 1 << 28
	DefaultQueryIdleMemory = 256 << 20
	// InstanceOverhead is what an idle instance is counted for beyond its
	// memory and tables: the engine's own state (module context, call
	// stacks), which the engine does not report. It also caps the number
	// of idle instances (at most QueryIdleMemory / InstanceOverhead).
	InstanceOverhead = 1 << 20
)

// ErrClosed is returned by an Engine used after Close.
var ErrClosed = errors.New("contract: engine closed")

// Engine compiles and runs contracts. It is safe for concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger
	rt  wazero.Runtime

	idle *idleSet // warm query instances

	instances atomic.Int64 // instantiations so far, for the tests

	mu     sync.Mutex
	closed bool
	codes  map[[32]byte]*compiling
}

// compiling is a compile cache entry; done is closed once code or err is
// set.
type compiling struct {
	done chan struct{}
	code *Code
	err  error
}

// Code is a compiled contract module.
type Code struct {
	hash        [32]byte
	compiled    wazero.CompiledModule
	metered     bool   // false only for the benchmarks' uninstrumented baseline
	instanceGas uint64 // charged before instantiating (meter.Metered.InstanceGas)
	tableBytes  uint64 // what the instance's tables can hold, at 8 bytes per element
}

// Hash is the code hash: the SHA-256 of the module as uploaded.
func (c *Code) Hash() [32]byte { return c.hash }

// New starts an engine and registers the host modules.
func New(ctx context.Context, c Config) (*Engine, error) {
	if c.QueryInstances <= 0 {
		c.QueryInstances = DefaultQueryInstances
	}
	if c.QueryInitGas == 0 {
		c.QueryInitGas = DefaultQueryInitGas
	}
	if c.QueryIdleMemory == 0 {
		c.QueryIdleMemory = DefaultQueryIdleMemory
	}
	rc := wazero.NewRuntimeConfigCompiler()
	if c.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	// No compilation cache on disk: the host controls the disk, and
	// compiled native code read back from it would be code injected into
	// the enclave.
	rc = rc.WithCoreFeatures(api.CoreFeaturesV2).
		WithMemoryLimitPages(abi.MaxMemoryPages).
		WithCloseOnContextDone(true).
		WithDebugInfoEnabled(false).
		WithCustomSections(false)
	e := &Engine{
		cfg: c, log: c.Log, rt: wazero.NewRuntimeWithConfig(ctx, rc), codes: map[[32]byte]*compiling{},
		idle: &idleSet{perContract: c.QueryInstances, maxBytes: c.QueryIdleMemory},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if err := registerHost(ctx, e.rt); err != nil {
		e.rt.Close(ctx)
		return nil, fmt.Errorf("contract: register host modules: %w", err)
	}
	return e, nil
}

// Close releases the runtime, its compiled code and every instance; calls
// in progress end with an error.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.codes = nil
	e.mu.Unlock()
	e.idle.clear(ctx)
	return e.rt.Close(ctx)
}

// Compile validates (meter, ABI v1), instruments and compiles wasm once per
// code hash; safe for concurrent use. Concurrent calls for the same code
// share one compilation. A module the ABI refuses fails with the meter's
// protocol error; one wazero refuses with ErrInvalidModule.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Code, error) {
	key := protocol.CodeHash(wasm)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if c, ok := e.codes[key]; ok {
		e.mu.Unlock()
		select {
		case <-c.done:
			return c.code, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &compiling{done: make(chan struct{})}
	e.codes[key] = c
	e.mu.Unlock()

	c.code, c.err = e.build(ctx, wasm, key, true)
	if c.err != nil {
		e.mu.Lock()
		if e.codes != nil {
			delete(e.codes, key) // let a later call try again (e.g. after a cancellation)
		}
		e.mu.Unlock()
	}
	close(c.done)
	return c.code, c.err
}

func (e *Engine) build(ctx context.Context, wasm []byte, hash [32]byte, metered bool) (*Code, error) {
	bin, instanceGas, tableBytes := wasm, uint64(0), uint64(0)
	if metered {
		m, err := meter.Meter(wasm, meter.ABIConfig(abi.MaxCodeBytes))
		if err != nil {
			return nil, err
		}
		bin, instanceGas, tableBytes = m.Code, m.InstanceGas, 8*m.TableElements
	}
	compiled, err := e.rt.CompileModule(ctx, bin)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if e.isClosed() {
			return nil, ErrClosed
		}
		return nil, protocol.Errorf(protocol.ErrInvalidModule, "code %x: %v", hash[:8], err)
	}
	return &Code{hash: hash, compiled: compiled, metered: metered, instanceGas: instanceGas, tableBytes: tableBytes}, nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}
