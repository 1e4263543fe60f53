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

// announceRetry is the wait before an endpoint announcement that could
// not be made is tried again; announceLanding is the wait after one was
// sent before the registry is read to see whether it landed.
const (
	announceRetry   = 5 * time.Second
	announceLanding = 30 * time.Second
)

// contractDuties is what a round does for the worker's contracts beyond
// relaying: announcing the worker's public endpoint (clients query it and
// members fetch state from it) and arranging state transfers when the
// worker waits for one.
type contractDuties struct {
	// announced is the endpoint the chain's record of the worker names.
	announced string
	// sent reports that an announcement went out: if the record still
	// names another endpoint when it is read again, it did not land.
	sent          bool
	nextAnnounce  time.Time
	nextTransfer  time.Time
	pendingState  []byte // a transfer ahead of pRuntime, to apply once it caught up
	transferDelay time.Duration
}

// announceEndpoint publishes cfg.PublicURL in the registry when the
// chain's record of the worker names another. The announcement goes out
// on the operator nonce that egress tracks (egress this round may still be
// in the mempool) without waiting for inclusion; a later round reads the
// record to see whether it landed.
func (r *Relayer) announceEndpoint(ctx context.Context, info *protocol.Info) {
	if r.cfg.PublicURL == "" || r.cfg.Operator == nil || !info.Registered || r.duties.announced == r.cfg.PublicURL || time.Now().Before(r.duties.nextAnnounce) {
		return
	}
	r.duties.nextAnnounce = time.Now().Add(announceRetry)
	rec, ok, err := r.node.WorkerUnverified(ctx, info.WorkerPubkey)
	if err != nil || !ok {
		return
	}
	if rec.Endpoint == r.cfg.PublicURL {
		r.duties.announced = rec.Endpoint
		r.log.Info("the registry names the worker's endpoint", "url", rec.Endpoint)
		return
	}
	if r.duties.sent {
		r.log.Warn("the registry does not name the endpoint announced; announcing again", "url", r.cfg.PublicURL, "registry", rec.Endpoint)
	}
	u, err := r.pr.SignEndpoint(ctx, r.cfg.PublicURL)
	if err != nil {
		r.log.Warn("pRuntime did not sign the endpoint", "err", err)
		return
	}
	call, err := protocol.NewCall(protocol.ModuleRegistry, protocol.MethodUpdateEndpoint, *u)
	if err == nil {
		err = r.sendTx(ctx, call)
	}
	if err != nil {
		r.m.errors.WithLabelValues("announce_failed").Inc()
		r.log.Warn("endpoint announcement failed", "url", r.cfg.PublicURL, "err", err)
		return
	}
	// Give the announcement time to land before reading the record again.
	r.duties.sent, r.duties.nextAnnounce = true, time.Now().Add(announceLanding)
	r.log.Info("endpoint announcement sent", "url", r.cfg.PublicURL)
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
