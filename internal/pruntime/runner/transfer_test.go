package runner_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
)

// byIndex indexes a member's command results by command index (a member
// that ran a command twice, e.g. after a restart, must agree with itself).
func byIndex(t *testing.T, r *recorder, id []byte) map[uint64]protocol.ContractResult {
	t.Helper()
	out := map[uint64]protocol.ContractResult{}
	for _, rec := range r.snapshot() {
		if rec.result.Kind != protocol.ResultCommand || !bytes.Equal(rec.contract, id) {
			continue
		}
		if prev, ok := out[rec.result.Index]; ok && !bytes.Equal(protocol.MustMarshal(&prev), protocol.MustMarshal(&rec.result)) {
			t.Fatalf("command %d computed twice with different results", rec.result.Index)
		}
		out[rec.result.Index] = rec.result
	}
	return out
}

// agree fails unless every command the follower ran has the leader's
// result, and returns how many it ran.
func agree(t *testing.T, leader, follower map[uint64]protocol.ContractResult) int {
	t.Helper()
	for i, r := range follower {
		l, ok := leader[i]
		if !ok || !bytes.Equal(protocol.MustMarshal(&l), protocol.MustMarshal(&r)) {
			t.Fatalf("command %d: follower %+v, leader %+v", i, r, l)
		}
	}
	return len(follower)
}

// sameState waits until both workers report the contract's state at the
// same height, and fails unless it is the same state.
func sameState(t *testing.T, e *clustertest.Env, a, b *clustertest.Worker) {
	t.Helper()
	e.WaitFor(a.Name+" and "+b.Name+" at the same contract state", func() bool {
		ia, ib := a.Info(), b.Info()
		return !ia.NeedsState && !ib.NeedsState && ia.ContractsHeight == ib.ContractsHeight && bytes.Equal(ia.ContractsRoot, ib.ContractsRoot) && ia.Contracts == 1 && ib.Contracts == 1
	})
	ca, err := a.PR.Private().Contracts(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.PR.Private().Contracts(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ca) != 1 || len(cb) != 1 || !bytes.Equal(ca[0].StateRoot, cb[0].StateRoot) || !ca[0].Live || !cb[0].Live {
		t.Fatalf("contract state: %s %+v, %s %+v", a.Name, ca, b.Name, cb)
	}
}

func counter(t *testing.T, e *clustertest.Env, w *clustertest.Worker, id []byte, minHeight int64) string {
	t.Helper()
	q, err := e.Query(w, e.User, id, []byte("count"), minHeight)
	if err != nil || q.Outcome != protocol.OutcomeOK {
		t.Fatalf("count from %s: %+v %v", w.Name, q, err)
	}
	return string(q.Output)
}

// TestRestartedMemberCatchesUpFromItsCheckpoint crashes a member, runs
// commands without it, and restarts it from its last checkpoint: it lost
// its keys with its memory, keeps the commands it cannot open yet, is
// served the epoch's key again once it re-registers, runs them, and ends
// in the same state as the member that never stopped — no state transfer.
func TestRestartedMemberCatchesUpFromItsCheckpoint(t *testing.T) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	r2 := &recorder{}
	m1, m2 := e.StartWorker("member1"), e.StartWorker("member2", r2.option())
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: m1.Pub()})
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: m2.Pub()})
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, gk, m1, m2)
	id, _ := e.Instantiate(e.Deploy(clustertest.Mixed(t)), "alpha", nil)
	e.Command(e.User, id, []byte("sa=1"))
	m2.Stop()
	var missed []uint64
	var last *clustertest.Outcome
	for range 5 {
		last = e.Command(e.User, id, []byte("c"))
		missed = append(missed, last.Index)
	}
	if string(last.Reply) != "5" {
		t.Fatalf("count after five increments: %q", last.Reply)
	}
	m2.Restart()
	sameState(t, e, m1, m2)
	if got := counter(t, e, m2, id, last.Height); got != "5" {
		t.Fatalf("the restarted member counts %s", got)
	}
	// It ran what it missed itself, to the results the chain holds.
	ran, chain := byIndex(t, r2, id), commandResults(t, e, id)
	agree(t, chain, ran)
	for _, i := range missed {
		if _, ok := ran[i]; !ok {
			t.Fatalf("the restarted member did not run command %d itself", i)
		}
	}
}

// TestNewcomerJoinsByStateTransfer adds a member to a cluster whose
// contract has history under a retired epoch: it can decrypt none of that
// history, so it waits for an attested state transfer from the existing
// member, arranged by its pherry; it then has the same state, and runs
// the next commands to the same results for the next 100 blocks. Stopped
// across a rotation it is stale again, and is brought back the same way.
func TestNewcomerJoinsByStateTransfer(t *testing.T) {
	e, ws := cluster(t, "member")
	m1 := ws[0]
	id, _ := e.Instantiate(e.Deploy(clustertest.Mixed(t)), "alpha", nil)
	for i := range 3 {
		e.Command(e.User, id, fmt.Appendf(nil, "sk%d=epoch1", i))
	}
	e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
	e.WaitEpoch(2, m1)
	e.WaitKey(id)
	for i := range 3 {
		e.Command(e.User, id, fmt.Appendf(nil, "sk%d=epoch2", i))
	}

	r2 := &recorder{}
	n := e.StartWorker("newcomer", r2.option())
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: n.Pub()})
	e.WaitEpoch(2, n)
	sameState(t, e, m1, n)
	joined := n.Info().ContractsHeight
	if ran := len(byIndex(t, r2, id)); ran != 0 {
		t.Fatalf("the newcomer ran %d commands of the history it received", ran)
	}

	// The next 100 blocks: both run every command alike.
	start, _ := e.C.Height(e.Ctx)
	var last *clustertest.Outcome
	for i := 0; ; i++ {
		last = e.Command(e.User, id, []byte([]string{"c", "rk", "enote", "xno", "sz=1"}[i%5]))
		if h, _ := e.C.Height(e.Ctx); h >= start+100 {
			break
		}
	}
	sameState(t, e, m1, n)
	leader := commandResults(t, e, id)
	if ran := agree(t, leader, byIndex(t, r2, id)); ran < 10 {
		t.Fatalf("the newcomer ran only %d commands after joining at %d", ran, joined)
	}
	if a, b := counter(t, e, m1, id, last.Height), counter(t, e, n, id, last.Height); a != b {
		t.Fatalf("counts differ: %s and %s", a, b)
	}

	// Stopped across a rotation, with commands on both sides of it.
	n.Stop()
	lost := e.Command(e.User, id, []byte("c")).Index
	e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
	e.WaitEpoch(3, m1)
	e.WaitKey(id)
	last = e.Command(e.User, id, []byte("c"))
	n.Restart()
	e.WaitWithin(2*time.Minute, "the newcomer back in epoch 3", func() bool { i := n.Info(); return i.Epoch == 3 && i.HoldsEpochKey })
	sameState(t, e, m1, n)
	if a, b := counter(t, e, m1, id, last.Height), counter(t, e, n, id, last.Height); a != b {
		t.Fatalf("after the second transfer counts differ: %s and %s", a, b)
	}
	// The command of the retired epoch it never held the key of was not
	// run there: its effect came with the transfer.
	if _, ok := byIndex(t, r2, id)[lost]; ok {
		t.Fatalf("the newcomer ran command %d of a retired epoch", lost)
	}
}

// commandResults reads the chain's record of every command's result.
func commandResults(t *testing.T, e *clustertest.Env, id []byte) map[uint64]protocol.ContractResult {
	t.Helper()
	info, ok, err := e.C.Contract(e.Ctx, id)
	if err != nil || !ok {
		t.Fatal(err)
	}
	out := map[uint64]protocol.ContractResult{}
	for i := range info.Commands {
		st, ok, err := e.C.CommandStatus(e.Ctx, id, i)
		if err != nil || !ok || st.Result == nil {
			t.Fatalf("command %d has no result on chain: %v", i, err)
		}
		out[i] = *st.Result
	}
	return out
}
