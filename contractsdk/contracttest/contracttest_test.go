//go:build !wasip1

package contracttest_test

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var probe *contracttest.Module

func TestMain(m *testing.M) {
	contracttest.Main(m, &probe, "../internal/probe", contracttest.Options{})
}

var alice = contracttest.Account("alice")

func TestEachCommandRunsInTheNextBlockAndQueriesAtTheCurrentOne(t *testing.T) {
	c, res := probe.Instantiate(t, alice, []byte(`{"env": {}}`))
	contracttest.Output(t, res)
	if c.Height != 1 || c.Deployer != alice {
		t.Fatalf("after init: height %d, deployer %v", c.Height, c.Deployer)
	}
	contracttest.Output(t, c.Command(t, alice, []byte(`{"env": {}}`)))
	contracttest.ErrorText(t, c.Command(t, alice, []byte(`{"nope": {}}`)), "unknown op")
	contracttest.Output(t, c.Query(t, alice, []byte(`{"env": {}}`)))
	if c.Height != 3 {
		t.Fatalf("height %d after two commands and a query, want 3", c.Height)
	}
}

func TestOnlySuccessfulCallsChangeTheState(t *testing.T) {
	c, _ := probe.Instantiate(t, alice, []byte(`{"env": {}}`))
	contracttest.Output(t, c.Command(t, alice, []byte(`{"set": {"key": "a", "value": "1"}}`)))
	if v, ok := c.State.Get([]byte("a")); !ok || string(v) != "1" {
		t.Fatalf("committed %q %v", v, ok)
	}
	contracttest.ErrorText(t, c.Command(t, alice, []byte(`{"fail": {"key": "b", "value": "2", "message": "no"}}`)), "no")
	if res := c.Command(t, alice, []byte(`{"loop": {}}`)); res.Outcome != protocol.OutcomeOutOfGas {
		t.Fatalf("loop: %s", res.Outcome)
	}
	if c.State.Len() != 1 {
		t.Fatalf("%d keys after failed calls, want 1", c.State.Len())
	}
}

func TestAnInstanceWhoseInitFailedIsMarkedFailed(t *testing.T) {
	c, res := probe.Instantiate(t, alice, []byte(`not json`))
	contracttest.ErrorText(t, res, "invalid JSON")
	if !c.Failed || c.State.Len() != 0 {
		t.Fatalf("failed %v, %d keys", c.Failed, c.State.Len())
	}
}

func TestInstancesOfOneDeployerShareTheirIDAndClonesTheirHistory(t *testing.T) {
	a, _ := probe.Instantiate(t, alice, []byte(`{"env": {}}`))
	b, _ := probe.Instantiate(t, contracttest.Account("bob"), []byte(`{"env": {}}`))
	a2, _ := probe.Instantiate(t, alice, []byte(`{"env": {}}`))
	if a.ID == b.ID || a.ID != a2.ID {
		t.Fatal("ids do not follow the deployer")
	}
	contracttest.Output(t, a.Command(t, alice, []byte(`{"set": {"key": "k", "value": "v"}}`)))
	twin := a.Clone()
	contracttest.Output(t, twin.Command(t, alice, []byte(`{"set": {"key": "k2", "value": "v"}}`)))
	if a.State.Len() != 1 || twin.State.Len() != 2 || a.Height != 2 || twin.Height != 3 {
		t.Fatal("a clone shares state or height with its original")
	}
}

func TestTimeFollowsTheHeight(t *testing.T) {
	if got := contracttest.Time(3).Sub(contracttest.Time(1)); got != 2*contracttest.BlockInterval {
		t.Fatalf("two blocks apart: %v", got)
	}
	if got := contracttest.Time(0); got != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("genesis at %v", got)
	}
}

func TestDefaultGasIsTheChainsDefault(t *testing.T) {
	p := protocol.DefaultParams()
	if contracttest.DefaultCommandGas != p.MaxCommandGas || contracttest.DefaultQueryGas != p.MaxQueryGas {
		t.Fatalf("defaults %d/%d, chain %d/%d", contracttest.DefaultCommandGas, contracttest.DefaultQueryGas, p.MaxCommandGas, p.MaxQueryGas)
	}
}

// recorder is a testing.TB that records the first failure instead of
// failing the test, so that a test can check what a Check reports.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Errorf(format string, args ...any) {
	if r.msg == "" {
		r.msg = fmt.Sprintf(format, args...)
	}
}
func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// failure runs check with a recorder and returns what it reported ("" if
// nothing).
func failure(t *testing.T, check func(testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.msg
}

func TestCheckUploadSizeRefusesModulesTheChainWouldNot(t *testing.T) {
	probe.CheckUploadSize(t)
	random := make([]byte, 1<<20) // incompressible: gzip cannot bring it under half of 2 MiB with the envelope
	rand.Read(random)
	for name, tc := range map[string]struct {
		wasm []byte
		want string
	}{
		"over max_code_bytes": {make([]byte, protocol.DefaultParams().MaxCodeBytes+1), "module is 4194305 bytes, more than max_code_bytes (4194304)"},
		"over the budget":     {random, "over the budget of 1048576 (half of max_tx_bytes)"},
	} {
		m := &contracttest.Module{Wasm: tc.wasm}
		if got := failure(t, m.CheckUploadSize); !strings.Contains(got, tc.want) {
			t.Errorf("%s: reported %q, want %q", name, got, tc.want)
		}
	}
}

// TestCheckDeterminismCatchesStateKeptOutsideStorage runs a history whose
// query reads a package variable, which a warm instance keeps.
func TestCheckDeterminismCatchesStateKeptOutsideStorage(t *testing.T) {
	steps := []contracttest.Step{
		{From: alice, Input: []byte(`{"set": {"key": "k", "value": "v"}}`)},
		{From: alice, Input: []byte(`{"calls": {}}`)},
		{From: alice, Input: []byte(`{"env": {}}`), Query: true},
	}
	probe.CheckDeterminism(t, alice, []byte(`{"env": {}}`), steps)
	steps = append(steps, contracttest.Step{From: alice, Input: []byte(`{"calls": {}}`), Query: true})
	if got := failure(t, func(tb testing.TB) { probe.CheckDeterminism(tb, alice, []byte(`{"env": {}}`), steps) }); !strings.Contains(got, "results differ with") {
		t.Fatalf("reported %q, want results that differ", got)
	}
}
