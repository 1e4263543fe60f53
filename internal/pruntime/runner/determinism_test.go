package runner_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
)

// recorder keeps every result a worker computes, in order.
type recorder struct {
	mu      sync.Mutex
	results []recorded
}

type recorded struct {
	contract []byte
	epoch    uint64
	result   protocol.ContractResult
}

func (r *recorder) option() pruntimetest.Option {
	return func(c *pruntime.Config) {
		c.ResultObserver = func(id []byte, epoch uint64, res *protocol.ContractResult) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.results = append(r.results, recorded{contract: bytes.Clone(id), epoch: epoch, result: *res})
		}
	}
}

func (r *recorder) snapshot() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.results...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.results)
}

// mixedCommands draws n commands of the mixed contract, reproducibly:
// writes, deletions, counters, randomness, emitted messages, errors,
// traps, loops that run out of gas and computation.
func mixedCommands(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	for i := range n {
		key := fmt.Sprintf("k%d", rng.IntN(50))
		var c string
		switch p := rng.IntN(100); {
		case p < 30:
			c = fmt.Sprintf("s%s=v%d", key, i)
		case p < 40:
			c = "d" + key
		case p < 52:
			c = "c"
		case p < 62:
			c = "r" + key
		case p < 74:
			c = fmt.Sprintf("enote %d", i)
		case p < 82:
			c = fmt.Sprintf("x%d", i)
		case p < 87:
			c = "l"
		case p < 92:
			c = "t"
		default:
			c = fmt.Sprintf("h%d", rng.IntN(200))
		}
		out = append(out, []byte(c))
	}
	return out
}

// TestMembersAgreeOnEveryCommand runs 1,000 mixed commands (successes,
// errors, traps, out-of-gas, randomness, emitted messages) through the
// chain to a cluster of two members. State changes only at events, and
// both members report the same result, state root included, for every one
// of them, in the same order, so their contract state agrees at every
// height; the chain's record holds exactly those results, and the emitted
// messages landed once each.
func TestMembersAgreeOnEveryCommand(t *testing.T) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	r1, r2 := &recorder{}, &recorder{}
	w1, w2 := e.StartWorker("member1", r1.option()), e.StartWorker("member2", r2.option())
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w1.Pub()})
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w2.Pub()})
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, gk, w1, w2)
	id, _ := e.Instantiate(e.Deploy(clustertest.Mixed(t)), "alpha", nil)

	const n = 1000
	inputs := mixedCommands(n)
	e.Broadcast(e.User, id, inputs, 5_000_000)
	e.WaitWithin(5*time.Minute, "both members to run every command", func() bool { return r1.len() >= n+1 && r2.len() >= n+1 })
	e.WaitWithin(5*time.Minute, "every result to land", func() bool {
		st, ok, err := e.C.CommandStatus(e.Ctx, id, n-1)
		return err == nil && ok && st.Result != nil
	})

	a, b := r1.snapshot(), r2.snapshot()
	if len(a) != n+1 || len(b) != n+1 {
		t.Fatalf("members computed %d and %d results, want %d", len(a), len(b), n+1)
	}
	outcomes := map[string]int{}
	emitted := 0
	for i := range a {
		ra, rb := protocol.MustMarshal(&a[i].result), protocol.MustMarshal(&b[i].result)
		if !bytes.Equal(ra, rb) {
			t.Fatalf("result %d differs:\n%+v\n%+v", i, a[i].result, b[i].result)
		}
		if i == 0 {
			continue // the init
		}
		res := a[i].result
		if res.Kind != protocol.ResultCommand || res.Index != uint64(i-1) {
			t.Fatalf("result %d is %s %d", i, res.Kind, res.Index)
		}
		outcomes[res.Outcome]++
		emitted += int(res.Emitted)
		st, ok, err := e.C.CommandStatus(e.Ctx, id, res.Index)
		if err != nil || !ok || st.Result == nil || !bytes.Equal(protocol.MustMarshal(st.Result), ra) {
			t.Fatalf("the chain's record of command %d is not the members' result: %+v %v", res.Index, st.Result, err)
		}
	}
	for _, o := range []string{protocol.OutcomeOK, protocol.OutcomeError, protocol.OutcomeTrap, protocol.OutcomeOutOfGas} {
		if outcomes[o] == 0 {
			t.Fatalf("no command had outcome %s: %v", o, outcomes)
		}
	}
	if emitted == 0 || emitted != countOutputs(t, e, id) {
		t.Fatalf("results say %d messages were emitted, the chain holds %d", emitted, countOutputs(t, e, id))
	}
	last := a[n].result.StateRoot
	e.WaitFor("both members' views at the same height", func() bool {
		i1, i2 := w1.Info(), w2.Info()
		return i1.ContractsHeight == i2.ContractsHeight && bytes.Equal(i1.ContractsRoot, i2.ContractsRoot) && len(i1.ContractsRoot) > 0
	})
	for _, w := range []*clustertest.Worker{w1, w2} {
		cs, err := w.PR.Private().Contracts(e.Ctx)
		if err != nil || len(cs) != 1 || !bytes.Equal(cs[0].StateRoot, last) {
			t.Fatalf("%s's contract state root is not the last result's: %+v %v", w.Name, cs, err)
		}
	}
	t.Logf("outcomes %v, %d messages emitted", outcomes, emitted)
}

// countOutputs counts the messages on chain that the contract emitted.
func countOutputs(t *testing.T, e *clustertest.Env, id []byte) int {
	t.Helper()
	n := 0
	origin, topic := protocol.ContractOrigin(id), protocol.ContractOutputTopic(id, "note")
	clustertest.EachMessage(t, e.Ctx, e.C, func(_ int64, m *protocol.Message) bool {
		if bytes.Equal(m.Origin.Key(), origin.Key()) && m.Topic == topic {
			n++
		}
		return true
	})
	return n
}
