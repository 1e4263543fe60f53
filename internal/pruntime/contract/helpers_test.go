package contract_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
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

// store is the store pRuntime gives a call: an overlay on the contract's
// keyed kvtree, whose writes settle keeps on an ok outcome and drops
// otherwise. Using the worker's own tree keeps these tests as strict as a
// worker (it refuses what the tree refuses).
type store struct {
	committed kvtree.Tree
	*kvtree.Overlay
}

// newStore returns an empty store.
func newStore() *store {
	t := kvtree.Keyed([32]byte{'t', 'e', 's', 't'})
	return &store{committed: t, Overlay: kvtree.NewOverlay(t)}
}

// put commits k=v, as an earlier block would have.
func (s *store) put(k, v string) {
	s.committed = s.committed.Set([]byte(k), []byte(v))
	s.Overlay = kvtree.NewOverlay(s.committed)
}

// settle keeps the pending writes when the outcome is ok and drops them
// otherwise, as pRuntime does.
func (s *store) settle(res *contract.Result) {
	if res != nil && res.Outcome == protocol.OutcomeOK {
		s.committed = s.Tree()
	}
	s.Overlay = kvtree.NewOverlay(s.committed)
}

// pending reports whether the overlay holds writes not yet settled.
func (s *store) pending() bool { return s.Tree().Root() != s.committed.Root() }

// get is the committed value of k.
func (s *store) get(k string) string {
	v, _ := s.committed.Get([]byte(k))
	return string(v)
}

// dump is the committed contents, in key order.
func (s *store) dump() string {
	var b strings.Builder
	s.committed.Ascend(func(k, v []byte) bool {
		fmt.Fprintf(&b, "%q=%q\n", k, v)
		return true
	})
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
