package pherry

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// resubmitAfter is how many blocks a submitted message may take to land
// before it is submitted again (e.g. it was dropped from a mempool).
const resubmitAfter = 5

// egressTracker remembers which messages this relayer submitted, and when.
type egressTracker struct {
	submitted map[string]int64 // origin key and seq -> chain height at submission
}

func submittedKey(o protocol.Origin, seq uint64) string { return fmt.Sprintf("%x/%d", o.Key(), seq) }

// nonceTracker follows the operator account's next nonce across the
// transactions this relayer has in the mempool.
type nonceTracker struct {
	next  uint64
	known bool
}

// submitEgress puts pRuntime's pending signed messages on chain, in order,
// per origin (the worker's own, and the Gatekeeper origin for a
// gatekeeper). Messages the chain already has (seq below its next_seq) are
// skipped; a copy another relayer or gatekeeper submitted first is refused
// by the chain as a duplicate and counted as such. Nothing can be lost or
// doubled: the chain accepts exactly one message per (origin, seq).
func (r *Relayer) submitEgress(ctx context.Context, tip int64) error {
	if r.cfg.Operator == nil {
		return nil
	}
	msgs, _, err := r.pr.Egress(ctx, -1)
	if err != nil {
		return &transient{"pruntime_unreachable", err}
	}
	r.m.egressPending.Set(float64(len(msgs)))
	if r.egress.submitted == nil {
		r.egress.submitted = map[string]int64{}
	}
	if len(msgs) == 0 {
		clear(r.egress.submitted)
		return nil
	}
	byOrigin := map[string][]protocol.SignedMessage{}
	var origins []string
	for _, sm := range msgs {
		k := string(sm.Message.Origin.Key())
		if _, ok := byOrigin[k]; !ok {
			origins = append(origins, k)
		}
		byOrigin[k] = append(byOrigin[k], sm)
	}
	for _, k := range origins {
		if err := r.submitOrigin(ctx, tip, byOrigin[k]); err != nil {
			return err
		}
	}
	return nil
}

// submitOrigin submits one origin's messages, in sequence order.
func (r *Relayer) submitOrigin(ctx context.Context, tip int64, msgs []protocol.SignedMessage) error {
	slices.SortFunc(msgs, func(a, b protocol.SignedMessage) int { return cmp.Compare(a.Message.Seq, b.Message.Seq) })
	origin := msgs[0].Message.Origin
	next, err := r.node.NextSeqUnverified(ctx, origin)
	if err != nil {
		return &transient{"node_unreachable", err}
	}
	for i := range msgs {
		sm := &msgs[i]
		seq := sm.Message.Seq
		key := submittedKey(origin, seq)
		if seq < next {
			delete(r.egress.submitted, key)
			r.m.duplicates.Inc() // on chain already; pRuntime has not seen it yet
			continue
		}
		if at, ok := r.egress.submitted[key]; ok && tip-at < resubmitAfter {
			continue
		}
		call, err := protocol.NewCall(protocol.ModuleMQ, protocol.MethodSubmit, protocol.SubmitArgs{Message: *sm})
		if err != nil {
			return err
		}
		err = r.sendTx(ctx, call)
		switch {
		case err == nil:
			r.egress.submitted[key] = tip
			r.m.submitted.Inc()
		case errors.Is(err, protocol.ErrDuplicateSeq):
			r.egress.submitted[key] = tip
			r.m.duplicates.Inc() // another relayer's copy won
		case errors.Is(err, protocol.ErrFutureSeq), errors.Is(err, protocol.ErrWrongNonce):
			return nil // an earlier message or transaction is still pending: next round
		default:
			if _, ok := protocol.CodeOf(err); ok {
				// E.g. the worker is not (or no longer) registered: retry after
				// resubmitAfter blocks, by when registration may have landed.
				r.egress.submitted[key] = tip
				r.m.errors.WithLabelValues("submit_refused").Inc()
				r.log.Warn("chain refused an egress message", "origin", origin, "seq", seq, "err", err)
				return nil
			}
			return &transient{"node_unreachable", err}
		}
	}
	return nil
}

// sendTx signs call with the operator key and broadcasts it without
// waiting for inclusion. A refused transaction does not consume a nonce.
func (r *Relayer) sendTx(ctx context.Context, call protocol.Call) error {
	op := r.cfg.Operator
	if !r.nonce.known {
		acc, err := r.node.AccountUnverified(ctx, op.Address())
		if err != nil {
			return err
		}
		r.nonce.next, r.nonce.known = acc.Nonce, true
	}
	fee, err := r.node.MinFee(ctx)
	if err != nil {
		return err
	}
	raw := protocol.SignTx(op.Private, protocol.Tx{ChainID: r.chainID, Nonce: r.nonce.next, Fee: fee, Call: call})
	if _, err := r.node.Broadcast(ctx, raw); err != nil {
		if errors.Is(err, protocol.ErrWrongNonce) {
			r.nonce.known = false // transactions of ours left the mempool, or another relayer shares the key
		}
		return err
	}
	r.nonce.next++
	return nil
}

// register submits the worker's attestation when the chain does not hold
// this boot's encryption key, when the worker is not active (expired or
// revoked), or when half of its attestation's lifetime has passed, so that
// it re-attests before expiring. Failures are logged and retried with
// backoff; they never stop syncing.
func (r *Relayer) register(ctx context.Context, info *protocol.Info, tip int64) {
	if r.cfg.NoRegister || time.Now().Before(r.retryRegister) {
		return
	}
	if bytes.Equal(r.landed.key, info.EncryptionPubkey) && info.SyncedHeight <= r.landed.height {
		return // our registration landed; pRuntime has not applied it yet
	}
	// Compare pRuntime's key with the registration as of the last block
	// pRuntime applied: the chain moves a worker's key at a rotation, and
	// pRuntime follows one block later.
	rec, ok, err := r.node.WorkerUnverifiedAt(ctx, info.WorkerPubkey, max(info.SyncedHeight-1, 1))
	if err != nil {
		r.log.Warn("cannot read the worker's registration", "err", err)
		return
	}
	fresh := ok && rec.Status == protocol.StatusActive && bytes.Equal(rec.EncryptionKey, info.EncryptionPubkey) &&
		(rec.ExpiresAt == 0 || tip < rec.AttestedHeight+(rec.ExpiresAt-rec.AttestedHeight)/2)
	if fresh {
		return
	}
	if err := r.registerNow(ctx); err != nil {
		r.registerBackoff = min(max(2*r.registerBackoff, time.Second), time.Minute)
		r.retryRegister = time.Now().Add(r.registerBackoff)
		r.m.errors.WithLabelValues("register_failed").Inc()
		r.log.Error("registration failed", "retry_in", r.registerBackoff, "err", err)
		return
	}
	r.registerBackoff = 0
}

// attachCollateral fetches the quote's Intel PCS collateral and attaches
// it, or fails: it never registers without collateral because fetching or
// verifying it failed (an OutOfDate TCB, a revoked PCK, an unreachable
// PCS). Such a registration would be refused by a production chain, and on
// a dev chain would quietly admit a platform Intel no longer vouches for.
func attachCollateral(att *protocol.Attestation, v *verifier.Verifier, getter trust.HTTPSGetter, now time.Time) error {
	entries, err := v.FetchCollateral(att.Quote, getter, now)
	if err != nil {
		return fmt.Errorf("TDX collateral (not registering without it): %w", err)
	}
	att.Collateral = entries
	return nil
}

func (r *Relayer) registerNow(ctx context.Context) error {
	att, err := r.pr.Attestation(ctx)
	if err != nil {
		return err
	}
	if att.TEE == tdx.Kind && r.cfg.TDXCollateral != nil {
		if err := attachCollateral(att, verifier.Intel(), r.cfg.TDXCollateral, time.Now()); err != nil {
			return err
		}
	}
	call, err := protocol.NewCall(protocol.ModuleRegistry, protocol.MethodRegisterWorker, protocol.RegisterWorkerArgs{Attestation: *att})
	if err != nil {
		return err
	}
	acc, err := r.node.AccountUnverified(ctx, r.cfg.Operator.Address())
	if err != nil {
		return err
	}
	if r.nonce.known && r.nonce.next > acc.Nonce {
		return fmt.Errorf("operator has transactions pending; registering next round")
	}
	res, err := r.node.Send(ctx, r.cfg.Operator, call)
	r.nonce.known = false
	if err != nil {
		return err
	}
	if res.Err != nil {
		return fmt.Errorf("register_worker failed in block %d: %w", res.Height, res.Err)
	}
	r.landed.key, r.landed.height = att.EncryptionPubkey, res.Height
	r.m.registrations.Inc()
	r.log.Info("worker registered", "worker", fmt.Sprintf("%x", []byte(att.WorkerPubkey)), "height", res.Height, "attested_height", att.Height, "tee", att.TEE)
	return nil
}
