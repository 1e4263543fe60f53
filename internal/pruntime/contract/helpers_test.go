package contract_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/protocol"
)

// engines are one engine per wazero mode, shared by the package's tests
// (an contract.Engine is safe for concurrent use, and compiling the Go contract
// once per mode keeps the tests quick).
var engines struct {
	once     sync.Once
	compiler *contract.Engine
	interp   *contract.Engine
	err      error
}

type mode struct {
	name string
	e    *contract.Engine
}

// modes returns the shared engines.
func modes(t testing.TB) []mode {
	t.Helper()
	engines.once.Do(func() {
		ctx := context.Background()
		if engines.compiler, engines.err = contract.New(ctx, contract.Config{}); engines.err != nil {
			return
		}
		engines.interp, engines.err = contract.New(ctx, contract.Config{Interpreter: true})
	})
	if engines.err != nil {
		t.Fatal(engines.err)
	}
	return []mode{{"compiler", engines.compiler}, {"interpreter", engines.interp}}
}

func TestMain(m *testing.M) {
	code := m.Run()
	ctx := context.Background()
	for _, e := range []*contract.Engine{engines.compiler, engines.interp} {
		if e != nil {
			e.Close(ctx)
		}
	}
	os.Exit(code)
}

var kitchenWasm = sync.OnceValues(func() ([]byte, error) {
	return contractbuild.Build(context.Background(), "testdata/kitchen")
})

// kitchen returns the Go test contract, built once per test binary.
func kitchen(t testing.TB) []byte {
	t.Helper()
	wasm, err := kitchenWasm()
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func compile(t testing.TB, e *contract.Engine, wasm []byte) *contract.Code {
	t.Helper()
	code, err := e.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return code
}

// memStore is an in-memory contract.Store with the overlay semantics pRuntime
// gives: writes go to a pending layer that commit keeps and discard drops.
type memStore struct {
	mu      sync.Mutex
	kv      map[string][]byte
	pending map[string]*[]byte // nil value: deleted
}

func newStore() *memStore { return &memStore{kv: map[string][]byte{}, pending: map[string]*[]byte{}} }

func (s *memStore) Get(k []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[string(k)]; ok {
		if p == nil {
			return nil, false
		}
		return *p, true
	}
	v, ok := s.kv[string(k)]
	return v, ok
}

func (s *memStore) Set(k, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v = bytes.Clone(v)
	s.pending[string(k)] = &v
}

func (s *memStore) Delete(k []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[string(k)] = nil
}

func (s *memStore) Next(after, prefix []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best string
	found := false
	consider := func(k string, live bool) {
		if live && strings.HasPrefix(k, string(prefix)) && k > string(after) && (!found || k < best) {
			best, found = k, true
		}
	}
	for k := range s.kv {
		if _, shadowed := s.pending[k]; !shadowed {
			consider(k, true)
		}
	}
	for k, p := range s.pending {
		consider(k, p != nil)
	}
	return []byte(best), found
}

// settle keeps the pending writes when the outcome is ok and drops them
// otherwise, as pRuntime does.
func (s *memStore) settle(res *contract.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res != nil && res.Outcome == protocol.OutcomeOK {
		for k, p := range s.pending {
			if p == nil {
				delete(s.kv, k)
			} else {
				s.kv[k] = *p
			}
		}
	}
	clear(s.pending)
}

// dump is the committed contents, in key order.
func (s *memStore) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.kv))
	for k := range s.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q\n", k, s.kv[k])
	}
	return b.String()
}

// cmd encodes a kitchen command: the opcode and its fields (strings and
// []byte as is, ints as 8 bytes).
func cmd(op byte, args ...any) []byte {
	out := []byte{op}
	for _, a := range args {
		var f []byte
		switch v := a.(type) {
		case string:
			f = []byte(v)
		case []byte:
			f = v
		case int:
			f = binary.BigEndian.AppendUint64(nil, uint64(v))
		default:
			panic(fmt.Sprintf("cmd: %T", a))
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

var (
	testContract = [32]byte{0xc0, 0x01}
	testCaller   = protocol.Address{0xca, 0x11}
	testTime     = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
)

// testGas is the tests' default gas limit: ample for the Go runtime's
// start-up and the commands, small enough that loops run out quickly in
// the interpreter.
const testGas = 20_000_000

// call is a command (or another entry) with the tests' defaults.
func call(entry contract.Entry, input []byte, store contract.Store) *contract.Call {
	return &contract.Call{
		Entry: entry, Input: input, Contract: testContract, Caller: testCaller,
		Height: 7, Time: testTime, Seed: [32]byte{1, 2, 3}, GasLimit: testGas, Store: store,
	}
}

// run runs c and fails the test on a host-side error.
func run(t testing.TB, e *contract.Engine, code *contract.Code, c *contract.Call) *contract.Result {
	t.Helper()
	res, err := e.Run(context.Background(), code, c)
	if err != nil {
		t.Fatalf("run %s %q: %v", c.Entry, c.Input, err)
	}
	return res
}

// expect checks a result's outcome and reason (and output when want is
// not nil).
func expect(t testing.TB, what string, res *contract.Result, outcome, reason string, output []byte) {
	t.Helper()
	if res.Outcome != outcome || res.Reason != reason || (output != nil && !bytes.Equal(res.Output, output)) {
		t.Errorf("%s: outcome %q reason %q output %q; want %q %q %q", what, res.Outcome, res.Reason, clip(res.Output), outcome, reason, clip(output))
	}
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "..."...)
	}
	return b
}
