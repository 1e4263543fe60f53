//go:build !wasip1

package contracttest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Step is one call of a history for CheckDeterminism: a command from
// From, or a query signed by From if Query is set.
type Step struct {
	From  protocol.Address
	Input []byte
	Query bool
}

// CheckDeterminism fails the test unless a history gives the same
// results wherever it runs. The history (init by deployer with init, then
// steps) runs three times, on fresh instances:
//
//   - in a new engine running the other of compiler and interpreter (a
//     worker may run either), whose first query therefore starts a fresh
//     query instance;
//   - twice in m, the second time with queries answered by warm instances
//     that have just answered the same queries, as a worker's are.
//
// A contract that keeps anything outside storage from one call to the
// next (a cache in a package variable, say), or that depends on the
// engine's mode, answers differently. Init and command results must agree
// in full, gas included (every worker must report the same gas), query
// results in their Answer (a query's gas depends on its instance), final
// states must be Equal, and every init and command must use gas.
func (m *Module) CheckDeterminism(tb testing.TB, deployer protocol.Address, init []byte, steps []Step) {
	tb.Helper()
	run := func(mod *Module) ([]*Result, *Store) {
		tb.Helper()
		c, res := mod.Instantiate(tb, deployer, init)
		results := []*Result{res}
		for _, s := range steps {
			if s.Query {
				results = append(results, Answer(c.Query(tb, s.From, s.Input)))
			} else {
				results = append(results, c.Command(tb, s.From, s.Input))
			}
		}
		for i, r := range results {
			if r.GasUsed == 0 && (i == 0 || !steps[i-1].Query) {
				tb.Errorf("call %d of the history used no gas", i)
			}
		}
		return results, c.State
	}
	o := m.opts
	o.Interpreter = !o.Interpreter
	other, otherState := run(m.Reload(tb, o))
	first, firstState := run(m)
	warm, warmState := run(m)
	for _, r := range []struct {
		name    string
		results []*Result
	}{{"the other engine mode", other}, {"warm query instances", warm}} {
		if !reflect.DeepEqual(first, r.results) {
			for i, got := range r.results {
				if !reflect.DeepEqual(first[i], got) {
					tb.Logf("call %d: %s\n  with %s: %s", i, describe(first[i]), r.name, describe(got))
				}
			}
			tb.Fatalf("results differ with %s", r.name)
		}
	}
	if !firstState.Equal(otherState) || !firstState.Equal(warmState) {
		tb.Fatal("final states differ between runs of the same history")
	}
}

// describe renders a result for a test log, its output as text.
func describe(r *Result) string {
	return fmt.Sprintf("%s (%s), output %q, gas %d, emitted %d", r.Outcome, r.Reason, r.Output, r.GasUsed, len(r.Emitted))
}
