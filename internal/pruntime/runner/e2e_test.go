package runner_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
)

// cluster is a chain with a gatekeeper and a member of cluster "alpha".
func cluster(t *testing.T) (*clustertest.Env, *clustertest.Worker) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	w := e.StartWorker("member")
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w.Pub()})
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, gk, w)
	return e, w
}

func TestTokenSmoke(t *testing.T) {
	e, w := cluster(t)
	code := e.Deploy(clustertest.Example(t, "token"))
	id, reply := e.Instantiate(code, "alpha", []byte(`{"supply": 1000}`))
	t.Logf("init reply %s", reply)
	bob := e.Users[1]
	out := e.Command(e.User, id, fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": 250}}`, bob.Address()))
	t.Logf("transfer: %+v reply %s", out.Result, out.Reply)
	q, err := e.Query(w, bob, id, []byte(`{"balance": {}}`), out.Height)
	if err != nil {
		t.Fatal(err)
	}
	var bal struct{ Balance uint64 }
	json.Unmarshal(q.Output, &bal)
	t.Logf("bob's balance: %s (%d) at %d", q.Output, bal.Balance, q.Height)
}
