package sdk

import (
	"bytes"
	"cmp"
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

// VerifyOptions say what a user accepts of a worker. The zero value is
// the production requirement: a TDX worker whose quote verifies, again, at
// level collateral.
type VerifyOptions struct {
	// MinLevel is the weakest TDX evidence accepted: "" or
	// protocol.LevelCollateral (the TCB is up to date and the PCK not
	// revoked, per Intel's collateral), or protocol.LevelQuote (the quote
	// is from Intel's TD quoting enclave on some Intel platform, with TCB
	// status and revocation unknown: development chains only).
	MinLevel string
	// AllowSim accepts workers on the insecure sim TEE (development only).
	AllowSim bool
	// Measurements, if not empty, restricts the pRuntime builds accepted,
	// on top of the chain's own allowlist. A measurement names its TEE kind
	// (protocol.TDXMeasurement and protocol.SimMeasurement hash under
	// distinct contexts), so pinning a TDX build never admits a sim worker.
	Measurements [][]byte
	// GenesisHash, if set, is the genesis the caller expects the chain to
	// have; the chain's own (proven) genesis hash must equal it.
	GenesisHash []byte
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
// the quote itself at the caller's minimum level, that it binds the
// registered keys to this chain and its genesis (also read with a proof),
// and that its kind, level and measurement are the registered ones. It
// returns the record, whose EncryptionKey is the key to encrypt to.
func (c *Client) VerifyWorker(ctx context.Context, pub []byte, o VerifyOptions) (*protocol.WorkerRecord, error) {
	if _, err := o.minRank(); err != nil {
		return nil, err
	}
	gq, err := c.verifiedQuery(ctx, protocol.QueryGenesisHash)
	if err != nil {
		return nil, err
	}
	genesis := gq.value
	if o.GenesisHash != nil && !bytes.Equal(genesis, o.GenesisHash) {
		return nil, fmt.Errorf("%w: the chain's genesis is %X, the caller expects %X", ErrWorkerNotTrusted, genesis, o.GenesisHash)
	}
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
	if err := CheckAttestation(&rec, c.chainID, genesis, blockTime, o); err != nil {
		return nil, err
	}
	return &rec, nil
}

// levelRank orders the TDX levels a caller may require.
var levelRank = map[string]int{protocol.LevelQuote: 1, protocol.LevelCollateral: 2}

func (o VerifyOptions) minRank() (int, error) {
	if o.MinLevel == "" {
		return levelRank[protocol.LevelCollateral], nil
	}
	r, ok := levelRank[o.MinLevel]
	if !ok {
		return 0, fmt.Errorf("sdk: MinLevel %q: want %q or %q", o.MinLevel, protocol.LevelCollateral, protocol.LevelQuote)
	}
	return r, nil
}

// CheckAttestation re-verifies a worker record's attestation offline: the
// quote (at blockTime, the time of the block it binds) and its level
// against the caller's minimum, its report data against the record's keys,
// chainID and genesisHash, and its kind, level and measurement against the
// record and the caller's options.
func CheckAttestation(rec *protocol.WorkerRecord, chainID string, genesisHash []byte, blockTime time.Time, o VerifyOptions) error {
	return o.check(rec, chainID, genesisHash, blockTime, verifier.Intel())
}

// check is CheckAttestation with the TDX verifier given (tests give one
// rooted at a test PKI).
func (o VerifyOptions) check(rec *protocol.WorkerRecord, chainID string, genesisHash []byte, blockTime time.Time, tdxVerifier *verifier.Verifier) error {
	minRank, err := o.minRank()
	if err != nil {
		return err
	}
	a := &rec.Attestation
	if a.ChainID != chainID || !bytes.Equal(a.WorkerPubkey, rec.Pubkey) {
		return fmt.Errorf("%w: the recorded attestation is for another worker or another chain", ErrWorkerNotTrusted)
	}
	if !bytes.Equal(a.GenesisHash, genesisHash) {
		return fmt.Errorf("%w: the attestation binds genesis %X, the chain's is %X", ErrWorkerNotTrusted, []byte(a.GenesisHash), genesisHash)
	}
	if rec.AttestationKind != a.TEE {
		return fmt.Errorf("%w: the record says TEE %q, its attestation is %q", ErrWorkerNotTrusted, rec.AttestationKind, a.TEE)
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
	var level string
	switch a.TEE {
	case sim.Kind:
		if !o.AllowSim {
			return fmt.Errorf("%w: %w", ErrWorkerNotTrusted, ErrSimTEE)
		}
		q, err := sim.Verify(a.Quote)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrWorkerNotTrusted, err)
		}
		reportData, measurement, level = q.ReportData, q.Measurement(), protocol.LevelSim
	case tdx.Kind:
		v, err := tdxVerifier.Verify(a.Quote, a.Collateral, blockTime)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWorkerNotTrusted, err)
		}
		if levelRank[v.Level] < minRank {
			return fmt.Errorf("%w: its quote verifies at level %s, the caller requires %s", ErrWorkerNotTrusted, v.Level, cmp.Or(o.MinLevel, protocol.LevelCollateral))
		}
		reportData, measurement, level = v.ReportData, v.Measurement, v.Level
	default:
		return fmt.Errorf("%w: unknown TEE %q", ErrWorkerNotTrusted, a.TEE)
	}
	if !bytes.Equal(reportData, a.ReportData()) {
		return fmt.Errorf("%w: the quote does not bind the registered keys", ErrWorkerNotTrusted)
	}
	if !bytes.Equal(measurement, rec.Measurement) {
		return fmt.Errorf("%w: quote measurement %x, registered %x", ErrWorkerNotTrusted, measurement, rec.Measurement)
	}
	if level != rec.AttestationLevel {
		return fmt.Errorf("%w: the record says level %s, its evidence verifies at %s", ErrWorkerNotTrusted, rec.AttestationLevel, level)
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
