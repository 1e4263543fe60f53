// Package clustertest runs a chain with workers for end-to-end tests of
// keys and contracts: a real single-validator node, pRuntimes behind their
// real HTTP API, each with its own pherry, and governance through the SDK.
// Only tests import it.
package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// Env is a chain with workers and governance.
type Env struct {
	T     testing.TB
	Ctx   context.Context
	TN    *nodetest.Testnet
	C     *sdk.Client
	Payer *sdk.Key // pays for governance
	User  *sdk.Key // a funded user account
	Users []*sdk.Key

	ops     []*sdk.Key
	mu      sync.Mutex
	workers []*Worker
}

// New starts a one-validator chain with 100 ms blocks that accepts sim
// workers and rotates quickly (announce window and activation delay of 3
// blocks, a lost secret declared after 15). adjust, if set, changes the
// parameters further.
func New(t testing.TB, adjust func(*protocol.Params)) *Env {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	dev := tn.Keys.Dev
	e := &Env{T: t, Ctx: ctx, TN: tn, C: tn.Client(ctx, 0), Payer: dev[0], User: dev[1], Users: dev[1:], ops: dev[2:]}
	t.Cleanup(func() {
		for _, w := range e.workers {
			w.Stop()
		}
	})
	p := protocol.DefaultParams()
	p.AllowSimAttestation, p.AnnounceWindow, p.ActivationDelay, p.ServeTimeout = true, 3, 3, 15
	if adjust != nil {
		adjust(&p)
	}
	e.Gov(protocol.ActionSetParams, protocol.SetParamsArgs{Params: p})
	return e
}

// debug logs to stderr when CLUSTER_DEBUG is set, else discards.
func debug(name string) *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") == "" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("w", name)
}

// Gov executes a governance action approved by the chain's admin.
func (e *Env) Gov(kind string, args any) {
	e.T.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.C.Govern(e.Ctx, e.Payer, kind, args, e.TN.Keys.Admin); err != nil {
		e.T.Fatal(err)
	}
}

// Worker is a pRuntime with its own pherry.
type Worker struct {
	Name string
	PR   *pruntimetest.Server

	env    *Env
	op     *sdk.Key
	opts   []pruntimetest.Option
	cancel context.CancelFunc
	done   chan error
}

// Pub is the worker's identity key.
func (w *Worker) Pub() []byte { return w.PR.Runtime.Info().WorkerPubkey }

// Info is the worker's pRuntime info.
func (w *Worker) Info() protocol.Info { return w.PR.Runtime.Info() }

func (w *Worker) startRelay() {
	r, err := pherry.New(pherry.Config{NodeRPC: w.env.TN.RPCAddr(0), PRuntime: w.PR.PrivateAddr, Operator: w.op, RPCBatchLimit: 200,
		Logger: debug(w.Name + "/pherry"), Poll: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		PublicURL: "http://" + w.PR.PublicAddr})
	if err != nil {
		w.env.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- r.Run(ctx) }()
}

// StopRelay stops the worker's pherry only: pRuntime keeps its state and
// stops hearing of new blocks.
func (w *Worker) StopRelay() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
		w.cancel = nil
	}
}

// StartRelay starts the worker's pherry again.
func (w *Worker) StartRelay() {
	if w.cancel == nil {
		w.startRelay()
	}
}

// Stop kills the worker: pherry stopped, pRuntime crashed (no final
// checkpoint, memory gone).
func (w *Worker) Stop() {
	w.StopRelay()
	w.PR.Crash()
}

// Restart brings the worker back on its data dir, as after a crash.
func (w *Worker) Restart() {
	w.PR = w.PR.Restart()
	w.startRelay()
}

// StartWorker starts a pRuntime (checkpointing every 10 blocks) and its
// pherry, and waits until the worker is registered.
func (e *Env) StartWorker(name string, opts ...pruntimetest.Option) *Worker {
	e.T.Helper()
	w := &Worker{Name: name, env: e, op: e.ops[len(e.workers)%len(e.ops)]}
	opts = append([]pruntimetest.Option{func(c *pruntime.Config) {
		c.CheckpointEvery = 10
		c.Logger = debug(name)
	}}, opts...)
	w.PR = pruntimetest.Start(e.T, filepath.Join(e.T.TempDir(), name), "", "", opts...)
	w.startRelay()
	e.workers = append(e.workers, w)
	e.WaitFor(name+" registered", func() bool { return w.PR.Runtime.Info().Registered })
	return w
}

// WaitFor polls cond for up to 90 s, failing the test with the state of
// the chain and every worker if it never holds.
func (e *Env) WaitFor(what string, cond func() bool) {
	e.T.Helper()
	e.WaitWithin(90*time.Second, what, cond)
}

// WaitWithin is WaitFor with another patience.
func (e *Env) WaitWithin(patience time.Duration, what string, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("waiting for %s: %s", what, e.state())
		}
		select {
		case <-e.Ctx.Done():
			e.T.Fatalf("waiting for %s: %v", what, e.Ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// state describes the chain's epochs and every worker, for a wait that
// failed.
func (e *Env) state() string {
	info, _ := e.C.Epoch(context.Background())
	h, _ := e.C.Height(context.Background())
	var ws []string
	for _, w := range e.workers {
		i := w.PR.Runtime.Info()
		ws = append(ws, fmt.Sprintf("%s: synced %d epoch %d gk %v holds %v registered %v egress %d contracts %d needs_state %v",
			w.Name, i.SyncedHeight, i.Epoch, i.Gatekeeper, i.HoldsEpochKey, i.Registered, i.PendingEgress, i.Contracts, i.NeedsState))
	}
	return fmt.Sprintf("at height %d: chain epochs %+v; workers: %s", h, info, strings.Join(ws, "; "))
}

// Epoch reads the chain's key epochs.
func (e *Env) Epoch() *protocol.EpochInfo {
	e.T.Helper()
	info, err := e.C.Epoch(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	return info
}

// WaitEpoch waits until epoch n is current on chain and every worker in ws
// holds its key.
func (e *Env) WaitEpoch(n uint64, ws ...*Worker) {
	e.T.Helper()
	e.WaitFor(fmt.Sprintf("epoch %d", n), func() bool {
		info, err := e.C.Epoch(e.Ctx)
		if err != nil || info.Current < n {
			return false
		}
		for _, w := range ws {
			i := w.PR.Runtime.Info()
			if i.Epoch < n || !i.HoldsEpochKey {
				return false
			}
		}
		return true
	})
}

// Is reports whether err carries the protocol error want.
func Is(err error, want *protocol.Error) bool {
	e, ok := protocol.CodeOf(err)
	return ok && e.Is(want)
}

// SyncToTip feeds a pRuntime every block it lacks up to the node's tip,
// directly (no pherry: nothing is registered or submitted).
func (e *Env) SyncToTip(pr *pruntimetest.Server) {
	e.T.Helper()
	f, err := fetch.Dial(e.TN.RPCAddr(0), 200)
	if err != nil {
		e.T.Fatal(err)
	}
	tip, err := e.C.Height(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	for {
		h := pr.Runtime.Info().SyncedHeight
		if h >= tip {
			return
		}
		blocks, err := f.Blocks(e.Ctx, h, min(h+100, tip)-1)
		if err != nil {
			e.T.Fatal(err)
		}
		if _, err := pr.Private().Sync(e.Ctx, &protocol.SyncRequest{Blocks: blocks}); err != nil {
			e.T.Fatal(err)
		}
	}
}
