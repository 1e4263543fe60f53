package contract_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// TestCompileOncePerCodeHash checks that concurrent and repeated compiles
// of the same bytes share one Code, named by the bytes' hash.
func TestCompileOncePerCodeHash(t *testing.T) {
	t.Parallel()
	e := modes(t)[1].e
	wasm := NewContract(1).Encode()
	codes := make([]*contract.Code, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = compile(t, e, wasm) })
	}
	wg.Wait()
	for _, c := range codes {
		if c != codes[0] {
			t.Fatal("compiles of the same code returned different Codes")
		}
	}
	if codes[0].Hash() != protocol.CodeHash(wasm) {
		t.Errorf("hash %x, want %x", codes[0].Hash(), protocol.CodeHash(wasm))
	}
	other := NewContract(2).Encode()
	if compile(t, e, other) == codes[0] {
		t.Error("different code shares a Code")
	}
}

// TestInitRunsLikeACommand checks the init entry point: a fresh instance,
// storage writes allowed.
func TestInitRunsLikeACommand(t *testing.T) {
	t.Parallel()
	for _, m := range modes(t) {
		store := newStore()
		res := run(t, m.e, compile(t, m.e, kitchen(t)), call(contract.EntryInit, cmd('S', "owner", "me"), store))
		store.settle(res)
		expect(t, m.name+"/init", res, protocol.OutcomeOK, "", []byte("ok"))
		if store.get("owner") != "me" {
			t.Errorf("%s: init did not write the store: %s", m.name, store.dump())
		}
	}
}

// cancellingStore cancels the call's context the first time the contract
// reads storage, so a test can interrupt a running call without timing.
type cancellingStore struct {
	*store
	cancel context.CancelFunc
}

func (s cancellingStore) Get(k []byte) ([]byte, bool) {
	s.cancel()
	return s.store.Get(k)
}

// TestRunStopsWhenItsContextIsCancelled interrupts an endless call with a
// practically unlimited budget: Run returns the context's error, not a
// Result, so nothing engine-dependent reaches the chain.
func TestRunStopsWhenItsContextIsCancelled(t *testing.T) {
	t.Parallel()
	c := NewContract(1, "storage_get")
	c.Entry(abi.ExportCommand, nil, Code(I32Const(0), I32Const(1), Call(c.Host("storage_get")), Drop, Loop(BlockEmpty), Br(0), End, I32Const(0)))
	wasm := c.Encode()
	for _, m := range modes(t) {
		ctx, cancel := context.WithCancel(context.Background())
		cl := call(contract.EntryCommand, nil, cancellingStore{newStore(), cancel})
		cl.GasLimit = 1 << 62
		res, err := m.e.Run(ctx, compile(t, m.e, wasm), cl)
		if !errors.Is(err, context.Canceled) || res != nil {
			t.Errorf("%s: %+v, %v; want context.Canceled", m.name, res, err)
		}
		cancel()
	}
}

// TestClosedEngineRefusesWork checks Close: later compiles and runs fail
// with ErrClosed.
func TestClosedEngineRefusesWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := contract.New(ctx, contract.Config{Interpreter: true})
	if err != nil {
		t.Fatal(err)
	}
	wasm := NewContract(1).Encode()
	code := compile(t, e, wasm)
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(ctx, wasm); !errors.Is(err, contract.ErrClosed) {
		t.Errorf("compile after close: %v", err)
	}
	if _, err := e.Run(ctx, code, call(contract.EntryCommand, nil, newStore())); !errors.Is(err, contract.ErrClosed) {
		t.Errorf("run after close: %v", err)
	}
}

// TestRunRefusesMalformedCalls checks the caller's mistakes, which are
// errors rather than results.
func TestRunRefusesMalformedCalls(t *testing.T) {
	t.Parallel()
	e := modes(t)[1].e
	code := compile(t, e, NewContract(1).Encode())
	for name, c := range map[string]*contract.Call{
		"no store":      call(contract.EntryCommand, nil, nil),
		"unknown entry": call(contract.Entry(9), nil, newStore()),
	} {
		if res, err := e.Run(context.Background(), code, c); err == nil {
			t.Errorf("%s: %+v, want an error", name, res)
		}
	}
}

// TestDebugOutputReachesTheLogOnlyWhenAsked checks debug_log and stderr:
// logged when the call has Debug set, dropped otherwise, at the same gas.
func TestDebugOutputReachesTheLogOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	e, err := contract.New(context.Background(), contract.Config{Interpreter: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	code := compile(t, e, kitchen(t))
	var gas []uint64
	for _, debug := range []bool{false, true} {
		c := call(contract.EntryCommand, cmd('d', "look at me"), newStore())
		c.Debug = debug
		res := run(t, e, code, c)
		expect(t, "debug", res, protocol.OutcomeOK, "", []byte("ok"))
		gas = append(gas, res.GasUsed)
		mu.Lock()
		logged := strings.Count(buf.String(), "look at me")
		buf.Reset()
		mu.Unlock()
		if want := map[bool]int{false: 0, true: 2}[debug]; logged != want {
			t.Errorf("Debug %v: the text was logged %d times, want %d", debug, logged, want)
		}
	}
	if gas[0] != gas[1] {
		t.Errorf("gas with and without Debug: %v", gas)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
