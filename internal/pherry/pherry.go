// Package pherry is the relayer between a phala node and a pRuntime. It is
// stateless and trusted by nobody: each round it asks pRuntime where it
// stands, feeds it the blocks it lacks (fetched in JSON-RPC batches, the next
// batch fetched while the current one is fed), registers the worker, and
// submits pRuntime's signed outbound messages to the chain, where the
// per-sender sequence rule makes duplicates harmless.
//
// Transient failures (node or pRuntime unreachable) are retried with backoff
// forever. A refusal by pRuntime of the data the node served is retried a few
// times from a fresh fetch, then ends the relayer with ErrRefused: pRuntime
// never accepts forged input, so a persistent refusal means the node (or the
// path to it) is lying, and an operator must look.
package pherry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/go-tdx-guest/verify/trust"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// Config configures a relayer.
type Config struct {
	NodeRPC  string // CometBFT RPC address of the node
	PRuntime string // pRuntime's private API address
	Operator *sdk.Key
	// Batch is the number of blocks per sync request (default 100).
	Batch int
	// RPCBatchLimit is the node's max_request_batch_size (default 10, as
	// CometBFT's default).
	RPCBatchLimit int
	// NoRegister leaves registration to someone else.
	NoRegister bool
	// TDXCollateral, if set, fetches Intel PCS collateral for TDX quotes
	// (trust.DefaultHTTPSGetter() for Intel's service) and attaches it to
	// registrations.
	TDXCollateral trust.HTTPSGetter
	Logger        *slog.Logger
	Metrics       prometheus.Registerer
	// Progress, if set, receives a progress bar (a terminal); otherwise
	// progress goes to the log every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
	// MaxBackoff caps the wait between retries (default 10s).
	MaxBackoff time.Duration
	// RefusalRetries is how often a refused batch is fetched and fed again
	// before giving up (default 3).
	RefusalRetries int
	// Poll is how often the tip is checked when no new-block event arrives
	// (default 1s).
	Poll time.Duration
	// PublicURL, if set, is announced in the registry as the worker's
	// public API (queries, state transfers to other members).
	PublicURL string
	// StateTransferTimeout bounds each request to another cluster member's
	// public API for a state transfer (default 30s): the round waits for
	// it, so a member that stops answering must not hold up syncing and
	// egress for long.
	StateTransferTimeout time.Duration
}

// ErrRefused ends the relayer: pRuntime kept refusing what the node served.
var ErrRefused = errors.New("pherry: pRuntime refuses the node's data")

// ErrConfig ends the relayer: the node and pRuntime cannot be paired (e.g.
// pRuntime is bound to another chain).
var ErrConfig = errors.New("pherry: configuration")

// Relayer is one pherry.
type Relayer struct {
	cfg   Config
	log   *slog.Logger
	fetch *fetch.Fetcher
	node  *sdk.Client
	pr    *sdk.PRuntime
	m     *metrics
	prog  *progress

	chainID string
	nonce   nonceTracker
	egress  egressTracker
	// landed is this relayer's last registration that landed: a round does
	// not register again before pRuntime has applied that block.
	landed struct {
		key    []byte
		height int64
	}
	// retryRegister delays the next registration attempt after a failure.
	retryRegister   time.Time
	registerBackoff time.Duration
	duties          contractDuties
}

// New validates the configuration; it does not contact anyone.
func New(cfg Config) (*Relayer, error) {
	if cfg.NodeRPC == "" || cfg.PRuntime == "" {
		return nil, fmt.Errorf("%w: node RPC and pRuntime addresses are required", ErrConfig)
	}
	if cfg.Operator == nil && !cfg.NoRegister {
		return nil, fmt.Errorf("%w: an operator key is required (or --no-register and no egress)", ErrConfig)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	cfg.Batch = min(cfg.Batch, protocol.MaxSyncBlocks)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.RefusalRetries <= 0 {
		cfg.RefusalRetries = 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	if cfg.StateTransferTimeout <= 0 {
		cfg.StateTransferTimeout = 30 * time.Second
	}
	f, err := fetch.Dial(cfg.NodeRPC, cfg.RPCBatchLimit)
	if err != nil {
		return nil, fmt.Errorf("%w: node RPC %q: %v", ErrConfig, cfg.NodeRPC, err)
	}
	r := &Relayer{cfg: cfg, log: cfg.Logger, fetch: f, pr: sdk.NewPRuntime(cfg.PRuntime), m: newMetrics(cfg.Metrics)}
	r.prog = newProgress(cfg.Progress, cfg.Logger, cfg.ProgressEvery, r.m)
	return r, nil
}

// Run relays until ctx is done (returning nil) or a fatal error.
func (r *Relayer) Run(ctx context.Context) error {
	stopProgress := r.prog.start()
	defer stopProgress()
	events := r.subscribe(ctx)
	backoff := 250 * time.Millisecond
	refusals := 0
	for ctx.Err() == nil {
		caughtUp, err := r.round(ctx)
		switch {
		case err == nil:
			backoff, refusals = 250*time.Millisecond, 0
			if caughtUp {
				r.waitForBlock(ctx, events)
			}
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrConfig):
			return err
		case isRefusal(err):
			refusals++
			r.m.errors.WithLabelValues("refused").Inc()
			e, _ := protocol.CodeOf(err)
			r.log.Error("pRuntime refused the node's data", "code", fmt.Sprintf("%s/%d", e.Space, e.Code), "attempt", refusals, "err", err)
			if refusals > r.cfg.RefusalRetries {
				return fmt.Errorf("%w: %w", ErrRefused, err)
			}
		default:
			r.log.Warn("round failed; retrying", "kind", errKind(err), "in", backoff, "err", err)
			r.m.errors.WithLabelValues(errKind(err)).Inc()
			if k := errKind(err); k == "node_unreachable" || k == "node_malformed" {
				r.fetch.RPC().Reset()
				if r.node != nil {
					r.node.Reset()
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
	return nil
}

// round does one pass: connect, initialise, register, sync to the tip,
// submit egress. caughtUp reports that pRuntime reached the node's tip.
func (r *Relayer) round(ctx context.Context) (caughtUp bool, err error) {
	if r.node == nil {
		c, err := sdk.Dial(ctx, r.cfg.NodeRPC)
		if err != nil {
			return false, &transient{nodeErrKind(err), err}
		}
		r.node, r.chainID = c, c.ChainID()
	}
	info, err := r.pr.Info(ctx)
	if err != nil {
		return false, &transient{"pruntime_unreachable", err}
	}
	if !info.Initialized {
		if info, err = r.initRuntime(ctx); err != nil {
			return false, err
		}
	}
	if info.ChainID != r.chainID {
		return false, fmt.Errorf("%w: pRuntime is bound to chain %q, the node serves %q", ErrConfig, info.ChainID, r.chainID)
	}
	tip, err := r.fetch.Height(ctx)
	if err != nil {
		return false, &transient{nodeErrKind(err), err}
	}
	r.prog.observe(info.SyncedHeight, tip)
	synced, err := r.syncTo(ctx, info.SyncedHeight, tip)
	if err != nil {
		return false, err
	}
	if err := r.submitEgress(ctx, tip); err != nil {
		return false, err
	}
	r.register(ctx, info, tip)
	r.announceEndpoint(ctx, info)
	r.transferState(ctx, info)
	return synced >= tip, nil
}

func (r *Relayer) initRuntime(ctx context.Context) (*protocol.Info, error) {
	genesis, err := r.fetch.Genesis(ctx)
	if err != nil {
		return nil, &transient{nodeErrKind(err), err}
	}
	info, err := r.pr.Init(ctx, genesis)
	if errors.Is(err, protocol.ErrGenesisMismatch) || errors.Is(err, protocol.ErrTrustRoot) {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err != nil {
		return nil, &transient{"pruntime_unreachable", err}
	}
	r.log.Info("pRuntime initialised", "chain_id", info.ChainID, "genesis_hash", fmt.Sprintf("%X", []byte(info.GenesisHash)))
	return info, nil
}

// waitForBlock returns when a new block is announced, when Poll elapses, or
// when ctx is done.
func (r *Relayer) waitForBlock(ctx context.Context, events <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-events:
	case <-time.After(r.cfg.Poll):
	}
}

// subscribe follows new blocks over the node's websocket. If that fails the
// channel stays silent and rounds fall back to polling; gaps never matter,
// since every round syncs from pRuntime's own height.
func (r *Relayer) subscribe(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	rpc := r.fetch.RPC()
	if err := rpc.Start(); err != nil {
		r.log.Warn("websocket unavailable; polling", "err", err)
		return out
	}
	go func() {
		defer rpc.Stop() //nolint:errcheck // best effort on shutdown
		for ctx.Err() == nil {
			sub, err := rpc.Subscribe(ctx, "pherry", "tm.event='NewBlock'", 16)
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(r.cfg.Poll):
					continue
				}
			}
			for ev := range sub {
				_ = ev
				select {
				case out <- struct{}{}:
				default:
				}
			}
			rpc.UnsubscribeAll(context.Background(), "pherry") //nolint:errcheck // resubscribing anyway
		}
	}()
	return out
}

// transient is a failure worth retrying.
type transient struct {
	kind string
	err  error
}

func (t *transient) Error() string { return t.kind + ": " + t.err.Error() }
func (t *transient) Unwrap() error { return t.err }

func errKind(err error) string {
	var t *transient
	if errors.As(err, &t) {
		return t.kind
	}
	return "other"
}

// isRefusal reports whether pRuntime refused block data as unverifiable.
func isRefusal(err error) bool {
	if !sdk.IsRuntimeRefusal(err) {
		return false
	}
	e, ok := protocol.CodeOf(err)
	if !ok || errors.Is(err, protocol.ErrBlockGap) {
		return false
	}
	return e.Space == protocol.SpaceLight || e.Space == protocol.SpaceDispatch
}
