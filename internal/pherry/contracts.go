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
	sent         bool
	nextAnnounce time.Time
	nextTransfer time.Time
	// pendingState is a transfer of block pendingHeight, ahead of
	// pRuntime: it is applied as soon as pRuntime has synced past it.
	pendingState  []byte
	pendingHeight int64
	transferDelay time.Duration
	// firstMember is the index in the cluster's member list where the next
	// transfer attempt starts: just past the last member that failed, so
	// that a dead member is not always asked first.
	firstMember int
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
// checks the member and the height on its own. Each member gets
// cfg.StateTransferTimeout to answer.
func (r *Relayer) transferState(ctx context.Context, info *protocol.Info) {
	if !info.NeedsState {
		// Whatever satisfied the need, the next one starts afresh.
		r.duties.pendingState, r.duties.transferDelay, r.duties.nextTransfer = nil, 0, time.Time{}
		return
	}
	if len(info.Cluster) == 0 {
		return
	}
	if r.duties.pendingState != nil {
		// pRuntime verifies header pendingHeight+1 once it has synced
		// past pendingHeight; until then the kept transfer waits, without
		// asking anyone again.
		if info.SyncedHeight <= r.duties.pendingHeight || r.applyState(ctx, r.duties.pendingState) {
			return
		}
	}
	if time.Now().Before(r.duties.nextTransfer) {
		return
	}
	r.duties.transferDelay = min(max(2*r.duties.transferDelay, time.Second), 30*time.Second)
	r.duties.nextTransfer = time.Now().Add(r.duties.transferDelay)
	cluster, ok, err := r.node.Cluster(ctx, info.Cluster)
	if err != nil || !ok {
		r.log.Warn("cannot read the worker's cluster", "err", err)
		return
	}
	members := cluster.Members
	for k := range members {
		i := (r.duties.firstMember + k) % len(members)
		m := members[i]
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
		switch blob, err := r.serveState(ctx, rec.Endpoint, req); {
		case err != nil:
			r.log.Info("a member could not serve state", "member", fmt.Sprintf("%x", m), "endpoint", rec.Endpoint, "err", err)
		case r.applyState(ctx, blob):
			return
		}
		r.duties.firstMember = i + 1
	}
}

// serveState asks the member at endpoint to answer req, within
// cfg.StateTransferTimeout.
func (r *Relayer) serveState(ctx context.Context, endpoint string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StateTransferTimeout)
	defer cancel()
	return sdk.NewPRuntime(endpoint).ServeState(ctx, req)
}

// applyState hands a transfer to pRuntime. It reports whether this attempt
// is over: the transfer was installed, or is ahead of pRuntime and kept to
// be applied after syncing. It reports false when pRuntime refused it, so
// that the next member is asked.
func (r *Relayer) applyState(ctx context.Context, blob []byte) bool {
	n, err := r.pr.ApplyState(ctx, blob)
	switch {
	case err == nil:
		r.duties.pendingState, r.duties.transferDelay = nil, 0
		r.m.stateTransfers.Inc()
		r.log.Info("state transfer installed", "contracts", n)
		return true
	case errors.Is(err, protocol.ErrStateAhead):
		var st protocol.SignedStateTransfer
		if err := protocol.Unmarshal(blob, &st); err != nil {
			// pRuntime read it to say so; one pherry cannot read is not kept.
			r.duties.pendingState = nil
			return false
		}
		if r.duties.pendingState == nil {
			r.log.Info("state transfer is ahead of pRuntime; applying it once synced", "height", st.Transfer.Height, "err", err)
		}
		r.duties.pendingState, r.duties.pendingHeight = blob, st.Transfer.Height
		return true
	default:
		r.duties.pendingState = nil
		r.m.errors.WithLabelValues("state_transfer_refused").Inc()
		r.log.Warn("pRuntime refused a state transfer", "err", err)
		return false
	}
}
