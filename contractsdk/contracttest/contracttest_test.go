//go:build !wasip1

package contracttest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var probe *contracttest.Module

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if probe, err = contracttest.Build(ctx, "../internal/probe", contracttest.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	probe.Close(ctx)
	os.Exit(code)
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
