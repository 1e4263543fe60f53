package pherry_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
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
