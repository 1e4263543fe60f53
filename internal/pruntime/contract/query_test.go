package contract_test

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// TestQueriesAreReadOnly checks that a query can read storage but that
// every write traps read-only and leaves the store alone.
func TestQueriesAreReadOnly(t *testing.T) {
	t.Parallel()
	for _, m := range modes(t) {
		code := compile(t, m.e, kitchen(t))
		store := newStore()
		store.put("k", "v")
		cases := []struct {
			name    string
			input   []byte
			outcome string
			reason  string
			output  []byte
		}{
			{"read", cmd('G', "k"), protocol.OutcomeOK, "", []byte("v")},
			{"iterate", cmd('I', ""), protocol.OutcomeOK, "", []byte("k,")},
			{"set", cmd('S', "k", "w"), protocol.OutcomeTrap, contract.ReasonReadOnly, nil},
			{"delete", cmd('D', "k"), protocol.OutcomeTrap, contract.ReasonReadOnly, nil},
			{"emit", cmd('E', "x", "y"), protocol.OutcomeTrap, contract.ReasonReadOnly, nil},
		}
		for _, tc := range cases {
			res := run(t, m.e, code, call(contract.EntryQuery, tc.input, store))
			expect(t, m.name+"/query "+tc.name, res, tc.outcome, tc.reason, tc.output)
		}
		if store.pending() || store.get("k") != "v" {
			t.Errorf("%s: queries changed the store: pending %v, k=%q", m.name, store.pending(), store.get("k"))
		}
	}
}

// TestConcurrentQueriesShareThePool runs 8 goroutines of queries against
// one code, mixing in queries that trap: every answer must be right, and a
// trap must not affect later queries.
func TestConcurrentQueriesShareThePool(t *testing.T) {
	t.Parallel()
	for _, m := range modes(t) {
		code := compile(t, m.e, kitchen(t))
		store := newStore()
		store.put("k", "stored")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 6 {
					data := fmt.Sprintf("goroutine %d query %d", g, i)
					var res *contract.Result
					switch i % 3 {
					case 0:
						res = run(t, m.e, code, call(contract.EntryQuery, cmd('H', data), store))
						if sum := sha256.Sum256([]byte(data)); res.Outcome != protocol.OutcomeOK || string(res.Output) != string(sum[:]) {
							errs <- fmt.Errorf("%s: sha256 query %q: %+v", m.name, data, res)
						}
					case 1:
						res = run(t, m.e, code, call(contract.EntryQuery, cmd('P'), store))
						if res.Outcome != protocol.OutcomeTrap || res.Reason != contract.ReasonUnreachable {
							errs <- fmt.Errorf("%s: panicking query: %+v", m.name, res)
						}
					case 2:
						res = run(t, m.e, code, call(contract.EntryQuery, cmd('G', "k"), store))
						if res.Outcome != protocol.OutcomeOK || string(res.Output) != "stored" {
							errs <- fmt.Errorf("%s: get query: %+v", m.name, res)
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// TestQueryGasDoesNotIncludeTheInstanceStartUp checks that a query whose
// limit is far below the cost of the Go runtime's start-up still runs, in a
// new instance and in a warm one. (The instrumentation, not the engine
// mode, decides gas, so the interpreter alone runs it.)
func TestQueryGasDoesNotIncludeTheInstanceStartUp(t *testing.T) {
	t.Parallel()
	e, err := contract.New(t.Context(), contract.Config{Interpreter: true, QueryInstances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	code := compile(t, e, kitchen(t))
	startUp := run(t, e, code, call(contract.EntryCommand, cmd('H', "x"), newStore())).GasUsed
	c := call(contract.EntryQuery, cmd('H', "x"), newStore())
	c.GasLimit = 50_000
	for _, instance := range []string{"new", "warm"} {
		res := run(t, e, code, c)
		if res.Outcome != protocol.OutcomeOK || res.GasUsed > c.GasLimit || startUp < 10*c.GasLimit {
			t.Errorf("query in a %s instance: %+v (a command costs %d with the start-up)", instance, res, startUp)
		}
	}
}

// TestQueryInstanceStartUpFailureIsAResult checks that a start-up that does
// not fit Config.QueryInitGas ends the query with out_of_gas and no gas
// charged.
func TestQueryInstanceStartUpFailureIsAResult(t *testing.T) {
	t.Parallel()
	e, err := contract.New(t.Context(), contract.Config{Interpreter: true, QueryInitGas: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	res := run(t, e, compile(t, e, kitchen(t)), call(contract.EntryQuery, cmd('G', "k"), newStore()))
	if res.Outcome != protocol.OutcomeOutOfGas || res.Reason != contract.ReasonOutOfGas || res.GasUsed != 0 {
		t.Errorf("%+v, want out_of_gas with no gas used", res)
	}
}

// counter is a contract whose query counts, in linear memory, the queries
// its instance has answered, and traps on a non-empty input: what a warm
// instance carries from one query to the next, made visible.
func counter(pages uint32) []byte {
	c := NewContract(pages, "output_write")
	c.Entry(abi.ExportQuery, nil, Code(
		LocalGet(0), If(BlockEmpty), Unreachable, End,
		I32Const(2048), I32Const(2048), Mem(I32Load, 2, 0), I32Const(1), I32Add, Mem(I32Store, 2, 0),
		output(c, 2048, 4)))
	return c.Encode()
}

// queryAs runs a counter query as contract id and returns its output.
func queryAs(t *testing.T, e *contract.Engine, code *contract.Code, id byte, input string) *contract.Result {
	t.Helper()
	c := call(contract.EntryQuery, []byte(input), newStore())
	c.Contract = [32]byte{id}
	return run(t, e, code, c)
}

// TestWarmInstancesBelongToOneContract: a clean query's instance is reused
// by that contract's next query, never by another contract built from the
// same code, and a trap discards it.
func TestWarmInstancesBelongToOneContract(t *testing.T) {
	t.Parallel()
	e, err := contract.New(t.Context(), contract.Config{Interpreter: true, QueryInstances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	code := compile(t, e, counter(1))
	steps := []struct {
		id      byte
		input   string
		outcome string
		count   int32
	}{
		{'A', "", protocol.OutcomeOK, 1},
		{'A', "", protocol.OutcomeOK, 2}, // warm
		{'B', "", protocol.OutcomeOK, 1}, // same code, its own instance
		{'A', "", protocol.OutcomeOK, 3}, // A's instance survived B's query
		{'A', "trap", protocol.OutcomeTrap, 0},
		{'A', "", protocol.OutcomeOK, 1}, // the trapped instance was discarded
		{'B', "", protocol.OutcomeOK, 2},
	}
	for i, s := range steps {
		res := queryAs(t, e, code, s.id, s.input)
		if s.outcome == protocol.OutcomeOK {
			expect(t, fmt.Sprintf("step %d (%c)", i, s.id), res, s.outcome, "", le32(s.count))
		} else {
			expect(t, fmt.Sprintf("step %d (%c)", i, s.id), res, s.outcome, contract.ReasonUnreachable, nil)
		}
	}
}

// TestIdleInstancesStayWithinTheirMemory: with room for one instance's
// memory, keeping a second contract's instance closes the least recently
// used one.
func TestIdleInstancesStayWithinTheirMemory(t *testing.T) {
	t.Parallel()
	e, err := contract.New(t.Context(), contract.Config{Interpreter: true, QueryIdleMemory: 1<<16 + contract.InstanceOverhead})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	code := compile(t, e, counter(1))
	for i, s := range []struct {
		id    byte
		count int32
	}{
		{'A', 1}, {'A', 2}, // one page fits
		{'B', 1}, // keeping B's closes A's
		{'A', 1}, // so A starts over, and keeping it closes B's
		{'B', 1},
		{'B', 2},
	} {
		expect(t, fmt.Sprintf("step %d (%c)", i, s.id), queryAs(t, e, code, s.id, ""), protocol.OutcomeOK, "", le32(s.count))
	}
}

// TestQueriesCannotParkTablesOutsideTheIdleBound is the idle-instance
// bound that counted only linear memory (contracts review 2026-12, finding
// 6): a 1-page module with eight tables of 131,072 elements holds ~5.5 MiB
// per warm instance but was counted as 64 KiB, so free queries to many
// contracts could park gigabytes. Its instances are counted with what
// their tables hold, so a bound with room for one keeps one.
func TestQueriesCannotParkTablesOutsideTheIdleBound(t *testing.T) {
	t.Parallel()
	one := uint64(1<<16 + abi.MaxTables*abi.MaxTableElements*8 + contract.InstanceOverhead)
	e, err := contract.New(t.Context(), contract.Config{Interpreter: true, QueryIdleMemory: one + one/2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	c := NewContract(1, "output_write")
	for range abi.MaxTables {
		c.Table(abi.MaxTableElements, 0)
	}
	code := compile(t, e, c.Encode())
	for _, id := range []byte("ABCD") {
		expect(t, fmt.Sprintf("query as %c", id), queryAs(t, e, code, id, ""), protocol.OutcomeOK, "", nil)
	}
	if n, bytes := e.Idle(); n != 1 || bytes != one {
		t.Errorf("%d idle instances counted as %d bytes, want 1 of %d", n, bytes, one)
	}
}
