package pherry_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// relay is a pherry running in the background.
type relay struct {
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func startRelay(t *testing.T, node, pr string, op *sdk.Key, mutate ...func(*pherry.Config)) *relay {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := pherry.Config{NodeRPC: node, PRuntime: pr, Operator: op, RPCBatchLimit: 200, Batch: 50,
		Logger: logging.Discard(), Metrics: reg, Poll: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	r, err := pherry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl := &relay{cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { rl.done <- r.Run(ctx) }()
	t.Cleanup(rl.stop)
	return rl
}

func (r *relay) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// counter reads a pherry counter (summed over labels matching label=value
// when given).
func (r *relay) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !hasLabel(m, label, value) {
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// pinger pushes pings to a worker from one account, tracking its nonce.
type pinger struct {
	c     *sdk.Client
	key   *sdk.Key
	nonce uint64
	sent  int
}

func newPinger(t *testing.T, ctx context.Context, c *sdk.Client, key *sdk.Key) *pinger {
	t.Helper()
	acc, err := c.AccountUnverified(ctx, key.Address())
	if err != nil {
		t.Fatal(err)
	}
	return &pinger{c: c, key: key, nonce: acc.Nonce}
}

// ping broadcasts n pings to worker and returns the hash of the last one.
func (p *pinger) ping(t *testing.T, ctx context.Context, worker ed25519.PublicKey, n int) []byte {
	t.Helper()
	var hash []byte
	for range n {
		call, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: protocol.WorkerPingTopic(worker), Payload: []byte(fmt.Sprint(p.sent))})
		raw := protocol.SignTx(p.key.Private, protocol.Tx{ChainID: p.c.ChainID(), Nonce: p.nonce, Fee: protocol.DefaultParams().MinFee, Call: call})
		var err error
		if hash, err = p.c.Broadcast(ctx, raw); err != nil {
			t.Fatalf("ping %d: %v", p.sent, err)
		}
		p.nonce++
		p.sent++
	}
	return hash
}

// waitAnswered waits until the chain holds n messages from worker.
func waitAnswered(t *testing.T, ctx context.Context, c *sdk.Client, worker ed25519.PublicKey, n uint64) {
	t.Helper()
	origin := protocol.WorkerOrigin(worker)
	for {
		got, err := c.NextSeqUnverified(ctx, origin)
		if err == nil && got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d answers (have %d, %v): %v", n, got, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// answers scans the chain for worker's messages and returns the pongs in
// chain order, checking they carry contiguous sequence numbers from 0.
func answers(t *testing.T, ctx context.Context, c *sdk.Client, worker ed25519.PublicKey) []pruntime.Pong {
	t.Helper()
	tip, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []pruntime.Pong
	for h := int64(0); h <= tip; h++ {
		_, msgs, err := c.RawBlockMessages(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Origin.Kind != protocol.OriginWorker || string(m.Origin.ID) != string(worker) {
				continue
			}
			if m.Seq != uint64(len(out)) || m.Topic != pruntime.PongTopic(worker) {
				t.Fatalf("worker message seq %d on %s, want seq %d on its pong topic", m.Seq, m.Topic, len(out))
			}
			var p pruntime.Pong
			if err := protocol.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// checkExactlyOnceInOrder requires that pongs answer pings 0..n-1 of
// pinger, each once, in order.
func checkExactlyOnceInOrder(t *testing.T, pongs []pruntime.Pong, from protocol.Address, n int) {
	t.Helper()
	if len(pongs) != n {
		t.Fatalf("%d answers for %d pings", len(pongs), n)
	}
	for i, p := range pongs {
		if p.Origin.String() != protocol.AccountOrigin(from).String() || string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("answer %d answers %s %q, want ping %d", i, p.Origin, p.Payload, i)
		}
	}
}

func info(t *testing.T, ctx context.Context, s *pruntimetest.Server) *protocol.Info {
	t.Helper()
	i, err := s.Private().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestRelayer runs pherry between a real node and real pRuntimes over
// loopback: the full loop, crashes and duplicates, outages and tampering.
func TestRelayer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	user, op1, op2 := tn.Keys.Dev[0], tn.Keys.Dev[1], tn.Keys.Dev[2]
	node := tn.RPCAddr(0)
	p := newPinger(t, ctx, c, user)

	t.Run("200 pings are answered exactly once, in order", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		r := startRelay(t, node, pr.PrivateAddr, op1)
		worker := pr.Runtime.Info().WorkerPubkey
		first := p.sent
		p.ping(t, ctx, ed25519.PublicKey(worker), 200)
		waitAnswered(t, ctx, c, ed25519.PublicKey(worker), 200)
		pongs := answers(t, ctx, c, ed25519.PublicKey(worker))
		for i := range pongs {
			pongs[i].Payload = []byte(fmt.Sprint(mustAtoi(t, string(pongs[i].Payload)) - first))
		}
		checkExactlyOnceInOrder(t, pongs, user.Address(), 200)
		if got := r.counter(t, "pherry_registrations_total", "", ""); got != 1 {
			t.Fatalf("%v registrations", got)
		}
		if !info(t, ctx, pr).Registered {
			t.Fatal("pRuntime does not see its registration")
		}
	})

	t.Run("pherry killed mid-stream, then two at once: nothing lost or doubled", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		worker := ed25519.PublicKey(pr.Runtime.Info().WorkerPubkey)
		first := p.sent
		a := startRelay(t, node, pr.PrivateAddr, op1)
		p.ping(t, ctx, worker, 100)
		waitAnswered(t, ctx, c, worker, 30)
		a.stop() // killed mid-stream
		p.ping(t, ctx, worker, 100)
		b1 := startRelay(t, node, pr.PrivateAddr, op1)
		b2 := startRelay(t, node, pr.PrivateAddr, op2)
		waitAnswered(t, ctx, c, worker, 200)
		time.Sleep(500 * time.Millisecond) // let any duplicate attempt land, if one could
		pongs := answers(t, ctx, c, worker)
		for i := range pongs {
			pongs[i].Payload = []byte(fmt.Sprint(mustAtoi(t, string(pongs[i].Payload)) - first))
		}
		checkExactlyOnceInOrder(t, pongs, user.Address(), 200)
		t.Logf("duplicates skipped: %v + %v", b1.counter(t, "pherry_egress_duplicates_skipped_total", "", ""), b2.counter(t, "pherry_egress_duplicates_skipped_total", "", ""))
	})

	t.Run("pRuntime killed and restarted from its checkpoint: pherry resumes", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		worker := ed25519.PublicKey(pr.Runtime.Info().WorkerPubkey)
		first := p.sent
		r := startRelay(t, node, pr.PrivateAddr, op1)
		p.ping(t, ctx, worker, 50)
		waitAnswered(t, ctx, c, worker, 50)
		oldKey := info(t, ctx, pr).EncryptionPubkey
		pr = pr.Restart() // kill -9 and start again on the same data dir and address
		p.ping(t, ctx, worker, 50)
		waitAnswered(t, ctx, c, worker, 100)
		pongs := answers(t, ctx, c, worker)
		for i := range pongs {
			pongs[i].Payload = []byte(fmt.Sprint(mustAtoi(t, string(pongs[i].Payload)) - first))
		}
		checkExactlyOnceInOrder(t, pongs, user.Address(), 100)
		// The new boot's key was registered without operator action.
		deadline := time.Now().Add(30 * time.Second)
		for !info(t, ctx, pr).Registered && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		now := info(t, ctx, pr)
		if !now.Registered || string(now.EncryptionPubkey) == string(oldKey) {
			t.Fatalf("after restart: registered %v, key changed %v", now.Registered, string(now.EncryptionPubkey) != string(oldKey))
		}
		if got := r.counter(t, "pherry_errors_total", "kind", "pruntime_unreachable"); got < 1 {
			t.Logf("no pruntime_unreachable error observed (restart was faster than a round)")
		}
	})

	t.Run("a block tampered with in transit is refused and pRuntime does not advance", func(t *testing.T) {
		proxy := startTamperingProxy(t, node)
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		r := startRelay(t, proxy, pr.PrivateAddr, op1, func(c *pherry.Config) { c.RefusalRetries = 2 })
		var err error
		select {
		case err = <-r.done:
			r.done <- err
		case <-ctx.Done():
			t.Fatal("pherry did not give up on refused data")
		}
		if !errors.Is(err, pherry.ErrRefused) || !errors.Is(err, protocol.ErrAppHashMismatch) {
			t.Fatalf("pherry ended with %v", err)
		}
		if h := info(t, ctx, pr).SyncedHeight; h != 0 {
			t.Fatalf("pRuntime advanced to %d on tampered data", h)
		}
		if got := r.counter(t, "pherry_errors_total", "kind", "refused"); got != 3 {
			t.Fatalf("%v refusals counted, want 3", got)
		}
	})

	t.Run("pherry re-attests before the attestation expires", func(t *testing.T) {
		call, err := sdk.GovExecute(c.ChainID(), 0, protocol.ActionSetAttestationPolicy,
			protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: 20, MinRuntimeVersion: 1}}, tn.Keys.Admin)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := c.Send(ctx, op2, call); err != nil || res.Err != nil {
			t.Fatalf("set policy: %v %v", err, res)
		}
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		r := startRelay(t, node, pr.PrivateAddr, op1)
		start, _ := c.Height(ctx)
		tn.WaitHeight(ctx, 0, start+60)
		rec, ok, err := c.Worker(ctx, pr.Runtime.Info().WorkerPubkey)
		if err != nil || !ok {
			t.Fatalf("worker record: %v %v", ok, err)
		}
		h, _ := c.Height(ctx)
		if n := r.counter(t, "pherry_registrations_total", "", ""); n < 3 {
			t.Fatalf("%v registrations over 60 blocks with a 20-block lifetime", n)
		}
		if rec.Status != protocol.StatusActive || rec.ExpiresAt <= h {
			t.Fatalf("worker %s, expires at %d, chain at %d", rec.Status, rec.ExpiresAt, h)
		}
		// Leave the policy as the other subtests expect it.
		call, _ = sdk.GovExecute(c.ChainID(), 1, protocol.ActionSetAttestationPolicy,
			protocol.SetAttestationPolicyArgs{Policy: protocol.DefaultAttestationPolicy()}, tn.Keys.Admin)
		if res, err := c.Send(ctx, op2, call); err != nil || res.Err != nil {
			t.Fatalf("restore policy: %v %v", err, res)
		}
	})

	t.Run("node stopped for a while: pherry waits, retries and resumes", func(t *testing.T) {
		pr := pruntimetest.Start(t, t.TempDir(), "", "")
		worker := ed25519.PublicKey(pr.Runtime.Info().WorkerPubkey)
		r := startRelay(t, node, pr.PrivateAddr, op1, func(c *pherry.Config) {
			if testing.Verbose() {
				c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
		})
		p.ping(t, ctx, worker, 5)
		waitAnswered(t, ctx, c, worker, 5)
		tn.StopNode(0)
		time.Sleep(2 * time.Second)
		tn.StartNode(0)
		c = tn.Client(ctx, 0)
		p.c = c
		p.ping(t, ctx, worker, 5)
		waitAnswered(t, ctx, c, worker, 10)
		if got := r.counter(t, "pherry_errors_total", "kind", "node_unreachable"); got < 1 {
			t.Fatalf("outage not observed: %v node_unreachable errors", got)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
