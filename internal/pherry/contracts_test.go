package pherry_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// logRecorder is a slog handler that remembers the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

// logged reports whether msg was logged.
func (l *logRecorder) logged(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.msgs, msg)
}

// eventually polls cond until it holds, failing the test with what when
// ctx ends first.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// endpoint is the endpoint the chain's record of worker names.
func endpoint(t *testing.T, ctx context.Context, c *sdk.Client, worker []byte) string {
	t.Helper()
	rec, ok, err := c.WorkerUnverified(ctx, worker)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return rec.Endpoint
}

func nonce(t *testing.T, ctx context.Context, c *sdk.Client, key *sdk.Key) uint64 {
	t.Helper()
	acc, err := c.AccountUnverified(ctx, key.Address())
	if err != nil {
		t.Fatal(err)
	}
	return acc.Nonce
}

// TestEndpointAnnouncement runs pherry with a public URL between a real
// node and real pRuntimes: it announces the URL on the operator nonce it
// tracks, so pending egress does not make the announcement collide, and
// it sends nothing when the registry names the URL already.
func TestEndpointAnnouncement(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	node, user := tn.RPCAddr(0), tn.Keys.Dev[0]

	t.Run("a restarted pherry finds its endpoint in the registry and sends nothing", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		worker := pr.Runtime.Info().WorkerPubkey
		url := "http://" + pr.PublicAddr
		first := startRelay(t, node, pr.PrivateAddr, tn.Keys.Dev[1], func(c *pherry.Config) { c.PublicURL = url })
		eventually(t, ctx, "the first announcement", func() bool { return endpoint(t, ctx, c, worker) == url })
		first.stop()

		op, logs := tn.Keys.Dev[2], &logRecorder{}
		before := nonce(t, ctx, c, op)
		r := startRelay(t, node, pr.PrivateAddr, op, func(c *pherry.Config) {
			c.PublicURL, c.Logger = url, slog.New(logs)
		})
		eventually(t, ctx, "pherry to read the worker's record", func() bool { return logs.logged("the registry names the worker's endpoint") })
		if after := nonce(t, ctx, c, op); after != before || logs.logged("endpoint announcement sent") {
			t.Fatalf("the operator's nonce went from %d to %d (announcement sent: %v)", before, after, logs.logged("endpoint announcement sent"))
		}
		if got := r.counter(t, "pherry_errors_total", "kind", "announce_failed"); got != 0 {
			t.Fatalf("%v failed announcements", got)
		}
	})

	t.Run("announcing while egress is pending does not collide with it", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		worker := ed25519.PublicKey(pr.Runtime.Info().WorkerPubkey)
		op := tn.Keys.Dev[3]
		registrar := startRelay(t, node, pr.PrivateAddr, op)
		eventually(t, ctx, "the worker registered", func() bool { return info(t, ctx, pr).Registered })
		registrar.stop()
		// Pings land while no pherry runs: the next one's first round
		// broadcasts their answers, then announces in the same round.
		p := newPinger(t, ctx, c, user)
		res, err := c.WaitTx(ctx, p.ping(t, ctx, worker, 30))
		if err != nil {
			t.Fatal(err)
		}
		tn.WaitHeight(ctx, 0, res.Height+1) // the header that proves the block
		url, logs := "http://"+pr.PublicAddr, &logRecorder{}
		r := startRelay(t, node, pr.PrivateAddr, op, func(c *pherry.Config) { c.PublicURL, c.Logger = url, slog.New(logs) })
		waitAnswered(t, ctx, c, worker, 30)
		eventually(t, ctx, "the announcement", func() bool { return endpoint(t, ctx, c, worker) == url })
		if got := r.counter(t, "pherry_errors_total", "kind", "announce_failed"); got != 0 || !logs.logged("endpoint announcement sent") {
			t.Fatalf("%v failed announcements (one sent: %v)", got, logs.logged("endpoint announcement sent"))
		}
		checkExactlyOnceInOrder(t, answers(t, ctx, c, worker), user.Address(), 30)
	})
}

// TestStateTransfer runs pherry for a newcomer to a cluster on a real
// chain with real members: a member that forges, hangs or is ahead does
// not keep the newcomer from the cluster's state.
func TestStateTransfer(t *testing.T) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, gk)
	code := e.Deploy(clustertest.Example(t, "token"))
	node := e.TN.RPCAddr(0)
	// Operator keys no other relay uses: clustertest's relays stop as soon
	// as their worker registered, except the gatekeeper's (Dev[2]).
	ops := e.TN.Keys.Dev[3:]

	// start starts a worker whose own pherry stops once it registered.
	start := func(t *testing.T, name string) *clustertest.Worker {
		t.Helper()
		w := e.StartWorker(name)
		t.Cleanup(w.Stop)
		w.StopRelay()
		return w
	}
	// announce runs a pherry for w that announces url (w's own public API
	// if empty), and waits until the registry names it.
	announce := func(t *testing.T, w *clustertest.Worker, op *sdk.Key, url string) *relay {
		t.Helper()
		if url == "" {
			url = "http://" + w.PR.PublicAddr
		}
		r := startRelay(t, node, w.PR.PrivateAddr, op, func(c *pherry.Config) { c.PublicURL = url })
		e.WaitFor(w.Name+"'s endpoint", func() bool { return endpoint(t, e.Ctx, e.C, w.Pub()) == url })
		return r
	}
	// pair starts two members, the one a newcomer's pherry asks first (the
	// chain orders a cluster's members by key) first.
	pair := func(t *testing.T, prefix string) (*clustertest.Worker, *clustertest.Worker) {
		t.Helper()
		a, b := start(t, prefix+"-a"), start(t, prefix+"-b")
		if bytes.Compare(a.Pub(), b.Pub()) > 0 {
			return b, a
		}
		return a, b
	}
	// cluster creates a cluster of members and runs the token in it.
	cluster := func(name string, members ...*clustertest.Worker) {
		e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: name})
		for _, m := range members {
			e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: name, Worker: m.Pub()})
		}
		e.WaitEpoch(1, members...)
		e.Instantiate(code, name, []byte(`{"supply": 1000}`))
	}
	join := func(name string, n *clustertest.Worker) {
		e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: name, Worker: n.Pub()})
	}
	// installed waits until n runs the cluster's contract and its pherry
	// has counted the transfer (pRuntime shows the state before pherry
	// reads its answer), and requires that exactly one transfer came.
	installed := func(t *testing.T, n *clustertest.Worker, r *relay) {
		t.Helper()
		e.WaitFor(n.Name+" to install the cluster's state", func() bool {
			i := n.Info()
			return !i.NeedsState && i.Contracts == 1 && r.counter(t, "pherry_state_transfers_total", "", "") > 0
		})
		if got := r.counter(t, "pherry_state_transfers_total", "", ""); got != 1 {
			t.Fatalf("%v state transfers installed", got)
		}
	}

	t.Run("a forged transfer is refused and counted, and the next member is asked", func(t *testing.T) {
		forger, honest := pair(t, "forged")
		url, forged := startForgingMember(t, forger.PR.PublicAddr)
		announce(t, forger, ops[0], url)
		announce(t, honest, ops[1], "")
		cluster("forged", forger, honest)
		n := start(t, "forged-newcomer")
		r := startRelay(t, node, n.PR.PrivateAddr, ops[2])
		join("forged", n)
		installed(t, n, r)
		if forged.Load() == 0 {
			t.Fatal("the forging member was never asked")
		}
		if got := r.counter(t, "pherry_errors_total", "kind", "state_transfer_refused"); got < 1 {
			t.Fatalf("%v refused transfers counted", got)
		}
	})

	t.Run("a member that never answers does not hold up the round: the next member is asked", func(t *testing.T) {
		hanging, honest := pair(t, "hanging")
		url, asked := startHangingMember(t)
		announce(t, hanging, ops[0], url)
		announce(t, honest, ops[1], "")
		cluster("hanging", hanging, honest)
		n := start(t, "hanging-newcomer")
		// Unbounded, the request would wait for the sdk client's own
		// timeout (minutes), past WaitFor's patience.
		r := startRelay(t, node, n.PR.PrivateAddr, ops[2], func(c *pherry.Config) { c.StateTransferTimeout = 3 * time.Second })
		join("hanging", n)
		installed(t, n, r)
		if asked.Load() == 0 {
			t.Fatal("the hanging member was never asked")
		}
	})

	t.Run("a transfer ahead of the newcomer is kept and applied once it synced", func(t *testing.T) {
		m := start(t, "ahead-member")
		mr := announce(t, m, ops[0], "")
		cluster("ahead", m)
		n := start(t, "ahead-newcomer")
		join("ahead", n)
		// The newcomer's pherry sees the chain end just above its
		// membership, while the member serves from further on.
		joined, err := e.C.Height(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		var limit atomic.Int64
		limit.Store(joined + 1)
		e.WaitFor("the member past the newcomer's view", func() bool { return m.Info().ContractsHeight > joined+3 })
		logs := &logRecorder{}
		r := startRelay(t, startRPCProxy(t, node, capHeight(&limit)), n.PR.PrivateAddr, ops[1], func(c *pherry.Config) { c.Logger = slog.New(logs) })
		e.WaitFor("a transfer ahead of the newcomer", func() bool {
			return logs.logged("state transfer is ahead of pRuntime; applying it once synced")
		})
		if i := n.Info(); !i.NeedsState || i.SyncedHeight > joined+1 {
			t.Fatalf("the newcomer at %d, needs state %v; want it held at %d, waiting", i.SyncedHeight, i.NeedsState, joined+1)
		}
		// Only the kept transfer can bring the state now.
		mr.stop()
		m.Stop()
		limit.Store(0)
		installed(t, n, r)
	})
}
