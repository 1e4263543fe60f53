package pherry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// contractDuties is what a round does for the worker's contracts beyond
// relaying: announcing the worker's public endpoint (clients query it and
// members fetch state from it) and arranging state transfers when the
// worker waits for one.
type contractDuties struct {
	// announced is the endpoint whose announcement landed.
	announced     string
	nextAnnounce  time.Time
	nextTransfer  time.Time
	pendingState  []byte // a transfer ahead of pRuntime, to apply once it caught up
	transferDelay time.Duration
}

// announceEndpoint publishes cfg.PublicURL in the registry when the
// chain's record of the worker names another.
func (r *Relayer) announceEndpoint(ctx context.Context, info *protocol.Info) {
	if r.cfg.PublicURL == "" || r.cfg.Operator == nil || !info.Registered || r.duties.announced == r.cfg.PublicURL || time.Now().Before(r.duties.nextAnnounce) {
		return
	}
	r.duties.nextAnnounce = time.Now().Add(5 * time.Second)
	rec, ok, err := r.node.WorkerUnverified(ctx, info.WorkerPubkey)
	if err != nil || !ok {
		return
	}
	if rec.Endpoint == r.cfg.PublicURL {
		r.duties.announced = rec.Endpoint
		return
	}
	u, err := r.pr.SignEndpoint(ctx, r.cfg.PublicURL)
	if err != nil {
		r.log.Warn("pRuntime did not sign the endpoint", "err", err)
		return
	}
	call, err := protocol.NewCall(protocol.ModuleRegistry, protocol.MethodUpdateEndpoint, *u)
	if err != nil {
		return
	}
	res, err := r.node.Send(ctx, r.cfg.Operator, call)
	r.nonce.known = false
	switch {
	case err != nil:
		r.log.Warn("endpoint announcement failed", "err", err)
	case res.Err != nil:
		r.log.Warn("endpoint announcement refused", "err", res.Err)
	default:
		r.duties.announced = r.cfg.PublicURL
		r.log.Info("endpoint announced", "url", r.cfg.PublicURL, "height", res.Height)
	}
}

// transferState brings the worker's stale contracts back: it takes the
// worker's signed request to another active member of its cluster, and
// the member's sealed answer back to the worker. Nobody trusts pherry
// here: the member checks the requester on its chain view, the worker
// checks the member and the height on its own.
func (r *Relayer) transferState(ctx context.Context, info *protocol.Info) {
	if !info.NeedsState || len(info.Cluster) == 0 || time.Now().Before(r.duties.nextTransfer) {
		if !info.NeedsState {
			r.duties.pendingState = nil
		}
		return
	}
	r.duties.transferDelay = min(max(2*r.duties.transferDelay, time.Second), 30*time.Second)
	r.duties.nextTransfer = time.Now().Add(r.duties.transferDelay)
	if r.duties.pendingState != nil {
		if r.applyState(ctx, r.duties.pendingState) {
			return
		}
	}
	cluster, ok, err := r.node.Cluster(ctx, info.Cluster)
	if err != nil || !ok {
		r.log.Warn("cannot read the worker's cluster", "err", err)
		return
	}
	for _, m := range cluster.Members {
		if bytes.Equal(m, info.WorkerPubkey) {
			continue
		}
		rec, ok, err := r.node.WorkerUnverified(ctx, m)
		if err != nil || !ok || rec.Status != protocol.StatusActive || rec.Endpoint == "" {
			continue
		}
		req, err := r.pr.StateRequest(ctx)
		if err != nil {
			r.log.Warn("pRuntime gave no state request", "err", err)
			return
		}
		blob, err := sdk.NewPRuntime(rec.Endpoint).ServeState(ctx, req)
		if err != nil {
			r.log.Info("a member could not serve state", "member", fmt.Sprintf("%x", m), "err", err)
			continue
		}
		if r.applyState(ctx, blob) {
			return
		}
	}
}

// applyState hands a transfer to pRuntime; it reports whether it is done
// with it (applied, or refused for good).
func (r *Relayer) applyState(ctx context.Context, blob []byte) bool {
	n, err := r.pr.ApplyState(ctx, blob)
	switch {
	case err == nil:
		r.duties.pendingState, r.duties.transferDelay = nil, 0
		r.m.stateTransfers.Inc()
		r.log.Info("state transfer installed", "contracts", n)
		return true
	case errors.Is(err, protocol.ErrStateAhead):
		r.duties.pendingState = blob // the member is ahead: apply once synced
		return true
	default:
		r.duties.pendingState = nil
		r.m.errors.WithLabelValues("state_transfer_refused").Inc()
		r.log.Warn("pRuntime refused a state transfer", "err", err)
		return false
	}
}
