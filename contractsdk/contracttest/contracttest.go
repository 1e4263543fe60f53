//go:build !wasip1

// Package contracttest runs contracts written with contractsdk in
// pRuntime's real engine (internal/pruntime/contract: the same validation,
// gas instrumentation and wazero runtime that workers use), with an
// in-memory store and a simulated chain of blocks, so that a contract's
// tests exercise exactly what production runs. There is no fake host.
//
// A test package builds its contract once, in TestMain, and shares it:
//
//	var module *contracttest.Module
//
//	func TestMain(m *testing.M) { contracttest.Main(m, &module, ".", contracttest.Options{}) }
//
//	func TestTransfer(t *testing.T) {
//		c, res := module.Instantiate(t, alice, []byte(`{"supply": 100}`))
//		...
//		res = c.Command(t, alice, []byte(`{"transfer": {...}}`))
//	}
//
// Each command runs in a block of its own: the instance's height grows by
// one per command and its time by BlockInterval. As on a worker, a call
// that does not succeed leaves the state as it was.
package contracttest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/protocol"
)

// Result is the engine's result of one call: outcome, reason, output,
// gas used and emitted messages.
type Result = contract.Result

// Emitted is a message a call emitted.
type Emitted = contract.Emitted

// Defaults of Options: the chain's default gas bounds
// (protocol.DefaultParams' max_command_gas and max_query_gas).
const (
	DefaultCommandGas = 1_000_000_000
	DefaultQueryGas   = 100_000_000
)

// BlockInterval is the time between the simulated chain's blocks.
const BlockInterval = 5 * time.Second

// genesisUnix is the time of the simulated chain's height 0, 2026-01-01
// UTC.
const genesisUnix = 1767225600

// Options configure a Module.
type Options struct {
	// Interpreter runs the engine's interpreter instead of its compiler
	// (both must give identical results).
	Interpreter bool
	// CommandGas is the gas limit of inits and commands
	// (DefaultCommandGas if 0); QueryGas that of queries
	// (DefaultQueryGas if 0).
	CommandGas, QueryGas uint64
	// Debug passes the contract's debug log to Log, as on a development
	// chain.
	Debug bool
	// Log receives the engine's log (discarded if nil).
	Log *slog.Logger
}

// Module is a contract module compiled in a running engine, shared by the
// instances made from it. Its methods may be called from parallel tests.
type Module struct {
	// Wasm is the module's bytes.
	Wasm   []byte
	opts   Options
	engine *contract.Engine
	code   *contract.Code

	sources    []string // Go files the module was built from (Build only)
	recordOnce sync.Once
}

// Build compiles the contract package in dir with the standard toolchain
// (internal/contractbuild, the reproducible build) and loads the module.
// go test's result cache then depends on the contract's sources and the
// SDK's, so editing either reruns the tests that instantiate it.
func Build(ctx context.Context, dir string, o Options) (*Module, error) {
	sources, err := contractbuild.Sources(ctx, dir)
	if err != nil {
		return nil, err
	}
	wasm, err := contractbuild.Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	m, err := Load(ctx, wasm, o)
	if err != nil {
		return nil, err
	}
	m.sources = sources
	return m, nil
}

// Main is a contract test package's TestMain: it builds the contract in
// dir (Build), sets *dst to the module for the package's tests, runs
// them, closes the module and exits with their status. A failed build is
// reported on stderr and exits with status 1 before any test runs.
func Main(m *testing.M, dst **Module, dir string, o Options) {
	os.Exit(runMain(m, dst, dir, o))
}

func runMain(m *testing.M, dst **Module, dir string, o Options) int {
	ctx := context.Background()
	mod, err := Build(ctx, dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dst = mod
	code := m.Run()
	if err := mod.Close(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "contracttest: close: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// recordSources opens the module's source files once, while a test runs,
// so that go test's cache keys on them (contractbuild.RecordForTest).
func (m *Module) recordSources() {
	m.recordOnce.Do(func() { contractbuild.RecordForTest(m.sources) })
}

// Load starts an engine and compiles wasm in it.
func Load(ctx context.Context, wasm []byte, o Options) (*Module, error) {
	if o.CommandGas == 0 {
		o.CommandGas = DefaultCommandGas
	}
	if o.QueryGas == 0 {
		o.QueryGas = DefaultQueryGas
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e, err := contract.New(ctx, contract.Config{Interpreter: o.Interpreter, Log: log})
	if err != nil {
		return nil, fmt.Errorf("contracttest: engine: %w", err)
	}
	code, err := e.Compile(ctx, wasm)
	if err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("contracttest: compile: %w", err)
	}
	return &Module{Wasm: wasm, opts: o, engine: e, code: code}, nil
}

// Reload loads m's module again, in a new engine configured by o (to run
// it with the interpreter, for instance), and closes that engine when the
// test ends. The new engine has no warm query instances yet.
func (m *Module) Reload(tb testing.TB, o Options) *Module {
	tb.Helper()
	r, err := Load(tb.Context(), m.Wasm, o)
	if err != nil {
		tb.Fatalf("contracttest: reload: %v", err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			tb.Errorf("contracttest: close: %v", err)
		}
	})
	r.sources = m.sources
	return r
}

// Close stops the module's engine.
func (m *Module) Close(ctx context.Context) error { return m.engine.Close(ctx) }

// Instance is one instance of a module with its own state and chain
// position. It is not safe for concurrent use; Clone it to run the same
// history twice.
type Instance struct {
	// ID is the contract id (protocol.ContractID of the deployer and the
	// code hash, with cluster "contracttest" and no salt).
	ID [32]byte
	// Deployer is the account that instantiated the contract.
	Deployer protocol.Address
	// Height is the height of the block the last init or command ran in;
	// queries are answered at it.
	Height int64
	// State is the contract's committed storage.
	State *Store
	// Failed is set when init did not succeed: the instance then takes no
	// commands or queries, as on chain.
	Failed bool

	m *Module
}

// Instantiate deploys a new instance of m: init runs with deployer as the
// caller in block 1. The instance is returned whatever the outcome (see
// Failed). An engine error (not a contract failure) fails the test.
func (m *Module) Instantiate(tb testing.TB, deployer protocol.Address, init []byte) (*Instance, *Result) {
	tb.Helper()
	m.recordSources()
	hash := protocol.CodeHash(m.Wasm)
	in := &Instance{
		ID:       protocol.ContractID(deployer, hash[:], []byte("contracttest"), nil),
		Deployer: deployer,
		State:    NewStore(),
		m:        m,
	}
	res := in.call(tb, contract.EntryInit, deployer, init)
	in.Failed = res.Outcome != protocol.OutcomeOK
	return in, res
}

// Command runs a command from sender in the next block, and keeps its
// state changes if it succeeds.
func (in *Instance) Command(tb testing.TB, sender protocol.Address, input []byte) *Result {
	tb.Helper()
	if in.Failed {
		tb.Fatalf("contracttest: command to an instance whose init failed")
	}
	return in.call(tb, contract.EntryCommand, sender, input)
}

// Query asks a query signed by signer, at the current height. Queries
// never change state.
func (in *Instance) Query(tb testing.TB, signer protocol.Address, input []byte) *Result {
	tb.Helper()
	if in.Failed {
		tb.Fatalf("contracttest: query to an instance whose init failed")
	}
	return in.call(tb, contract.EntryQuery, signer, input)
}

// Time returns the time of the simulated chain's block h (block 0 is at
// 2026-01-01 UTC).
func Time(h int64) time.Time {
	return time.Unix(genesisUnix, 0).UTC().Add(time.Duration(h) * BlockInterval)
}

// Clone returns an independent copy of the instance: the same id, height
// and state.
func (in *Instance) Clone() *Instance {
	c := *in
	c.State = in.State.Clone()
	return &c
}

func (in *Instance) call(tb testing.TB, entry contract.Entry, caller protocol.Address, input []byte) *Result {
	tb.Helper()
	// As on a worker, a query reads the committed version and any other
	// call writes to an overlay of it, kept only if the call succeeds
	// (both O(1): no copy of the state).
	height, gas := in.Height, in.m.opts.QueryGas
	var store contract.Store = kvtree.NewReadOnly(in.State.t)
	var overlay *kvtree.Overlay
	if entry != contract.EntryQuery {
		height, gas = in.Height+1, in.m.opts.CommandGas
		overlay = kvtree.NewOverlay(in.State.t)
		store = overlay
	}
	res, err := in.m.engine.Run(tb.Context(), in.m.code, &contract.Call{
		Entry:    entry,
		Input:    input,
		Contract: in.ID,
		Caller:   caller,
		Height:   height,
		Time:     Time(height),
		Seed:     seed(in.ID, entry, height),
		GasLimit: gas,
		Store:    store,
		Debug:    in.m.opts.Debug,
	})
	if err != nil {
		tb.Fatalf("contracttest: engine: %v", err)
	}
	if entry != contract.EntryQuery {
		in.Height = height
		if res.Outcome == protocol.OutcomeOK {
			in.State = &Store{t: overlay.Tree()}
		}
	}
	return res
}

// seed is the call's randomness seed: distinct for every contract, block
// and entry point, as a worker's would be.
func seed(id [32]byte, entry contract.Entry, height int64) [32]byte {
	h := sha256.New()
	h.Write([]byte("contracttest/seed/v1"))
	h.Write(id[:])
	h.Write([]byte{byte(entry)})
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(height)))
	var s [32]byte
	h.Sum(s[:0])
	return s
}
