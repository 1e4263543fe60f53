package sdk

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// VerifyOptions say what a user accepts of a worker.
type VerifyOptions struct {
	// AllowSim accepts workers on the insecure sim TEE (development only).
	AllowSim bool
	// Measurements, if not empty, restricts the pRuntime builds accepted,
	// on top of the chain's own allowlist.
	Measurements [][]byte
}

// ErrWorkerNotTrusted is returned by VerifyWorker when the worker's
// registration or attestation does not meet the caller's requirements.
var ErrWorkerNotTrusted = errors.New("sdk: worker not trusted")

// ErrSimTEE is wrapped, together with ErrWorkerNotTrusted, when a worker is
// refused because it runs on the insecure sim TEE and the caller did not
// set AllowSim: a caller can then tell its user that this is a development
// chain and how to accept it, without reading the records again to guess.
var ErrSimTEE = errors.New("it runs on the insecure sim TEE")

// VerifyWorker checks, before anything is encrypted to a worker's key, that
// the chain holds an active registration for it (read with a proof against
// a verified header), and re-verifies the attestation the chain recorded:
// the quote itself, that it binds the registered keys to this chain, and
// that its measurement is the registered one. It returns the record, whose
// EncryptionKey is the key to encrypt to.
func (c *Client) VerifyWorker(ctx context.Context, pub []byte, o VerifyOptions) (*protocol.WorkerRecord, error) {
	rec, ok, err := c.Worker(ctx, pub)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %x is not registered", ErrWorkerNotTrusted, pub)
	}
	if rec.Status != protocol.StatusActive {
		return nil, fmt.Errorf("%w: %x is %s", ErrWorkerNotTrusted, pub, rec.Status)
	}
	blockTime, err := c.attestedBlockTime(ctx, &rec)
	if err != nil {
		return nil, err
	}
	if err := CheckAttestation(&rec, c.chainID, blockTime, o); err != nil {
		return nil, err
	}
	return &rec, nil
}

// CheckAttestation re-verifies a worker record's attestation offline: the
// quote (at blockTime, the time of the block it binds), its report data
// against the record's keys and chainID, and its measurement against the
// record and the caller's options.
func CheckAttestation(rec *protocol.WorkerRecord, chainID string, blockTime time.Time, o VerifyOptions) error {
	a := &rec.Attestation
	if a.ChainID != chainID || !bytes.Equal(a.WorkerPubkey, rec.Pubkey) {
		return fmt.Errorf("%w: the recorded attestation is for another worker or another chain", ErrWorkerNotTrusted)
	}
	if !bytes.Equal(a.EncryptionPubkey, rec.EncryptionKey) {
		// A key rotation replaced the attested key: the attested identity
		// must have signed the current one.
		ann := rec.KeyAnnouncement
		switch {
		case ann == nil:
			return fmt.Errorf("%w: the current encryption key is neither attested nor announced by the attested identity", ErrWorkerNotTrusted)
		case !bytes.Equal(ann.Worker, rec.Pubkey):
			return fmt.Errorf("%w: the key announcement is by %x, not the attested identity", ErrWorkerNotTrusted, ann.Worker)
		case !bytes.Equal(ann.Key, rec.EncryptionKey):
			return fmt.Errorf("%w: the key announcement is of another key than the current one", ErrWorkerNotTrusted)
		case !ann.Verify(chainID):
			return fmt.Errorf("%w: the key announcement's signature does not verify", ErrWorkerNotTrusted)
		}
	}
	var reportData, measurement []byte
	switch a.TEE {
	case sim.Kind:
		if !o.AllowSim {
			return fmt.Errorf("%w: %w", ErrWorkerNotTrusted, ErrSimTEE)
		}
		q, err := sim.Verify(a.Quote)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrWorkerNotTrusted, err)
		}
		reportData, measurement = q.ReportData, q.Measurement
	case tdx.Kind:
		v, err := verifier.Verify(a.Quote, a.Collateral, blockTime)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrWorkerNotTrusted, err)
		}
		if v.Debug {
			return fmt.Errorf("%w: debug TD", ErrWorkerNotTrusted)
		}
		reportData, measurement = v.ReportData, v.Measurement
	default:
		return fmt.Errorf("%w: unknown TEE %q", ErrWorkerNotTrusted, a.TEE)
	}
	if !bytes.Equal(reportData, a.ReportData()) {
		return fmt.Errorf("%w: the quote does not bind the registered keys", ErrWorkerNotTrusted)
	}
	if !bytes.Equal(measurement, rec.Measurement) {
		return fmt.Errorf("%w: quote measurement %x, registered %x", ErrWorkerNotTrusted, measurement, rec.Measurement)
	}
	if len(o.Measurements) > 0 {
		for _, m := range o.Measurements {
			if bytes.Equal(m, measurement) {
				return nil
			}
		}
		return fmt.Errorf("%w: measurement %x is not one the caller accepts", ErrWorkerNotTrusted, measurement)
	}
	return nil
}

// WorkerUnverifiedAt reads a worker's registry record as of height,
// without a proof.
func (c *Client) WorkerUnverifiedAt(ctx context.Context, pub []byte, height int64) (protocol.WorkerRecord, bool, error) {
	var w protocol.WorkerRecord
	q, err := c.query(ctx, protocol.QueryWorker+hex.EncodeToString(pub), height)
	if err != nil || q.value == nil {
		return w, false, err
	}
	if err := decode("worker", q.value, &w); err != nil {
		return w, false, err
	}
	return w, true, nil
}

// Workers lists every worker record (without proofs; verify one with
// VerifyWorker before relying on it).
func (c *Client) Workers(ctx context.Context) ([]protocol.WorkerRecord, error) {
	q, err := c.query(ctx, protocol.QueryWorkers, 0)
	if err != nil {
		return nil, err
	}
	var out []protocol.WorkerRecord
	if err := decode("workers", q.value, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// AttestationPolicy reads the registry's policy with its proof.
func (c *Client) AttestationPolicy(ctx context.Context) (protocol.AttestationPolicy, error) {
	var p protocol.AttestationPolicy
	q, err := c.verifiedQuery(ctx, protocol.QueryPolicy)
	if err != nil {
		return p, err
	}
	return p, decode("attestation policy", q.value, &p)
}

// attestedBlockTime returns the time of the block a worker's attestation
// binds, which dates its quote. The record is proven, and the chain
// registered it only if the attestation's block hash is that of its
// height on this chain, so the node's header at that height is genuine
// if it hashes to it: no commit to verify, however old.
func (c *Client) attestedBlockTime(ctx context.Context, rec *protocol.WorkerRecord) (time.Time, error) {
	h := rec.Attestation.Height
	if h < 1 {
		return time.Time{}, fmt.Errorf("%w: attestation of block %d", ErrWorkerNotTrusted, h)
	}
	res, err := c.rpc.Header(ctx, &h)
	if err != nil {
		return time.Time{}, fmt.Errorf("sdk: header %d: %w", h, err)
	}
	if res.Header == nil || res.Header.Height != h || !bytes.Equal(res.Header.Hash(), rec.Attestation.BlockHash) {
		return time.Time{}, protocol.Errorf(protocol.ErrUntrustedHeader, "the node's header %d does not hash to %X, the block the attestation binds", h, []byte(rec.Attestation.BlockHash))
	}
	return res.Header.Time, nil
}
