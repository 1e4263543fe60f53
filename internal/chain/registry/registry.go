// Package registry owns the worker registry: attested workers and their
// keys and endpoints, the attestation policy, and the allowlist of pRuntime
// measurements. It admits a worker only when its attestation proves an
// allowed pRuntime build, on a genuine TEE (or the sim TEE where genesis
// allows it), holding the keys it claims, synced to this chain recently; it
// expires workers whose attestation grew old and revokes those whose
// measurement governance revoked, or who attested with sim after governance
// turned sim off. A registration must supersede the record it replaces (a
// later attested block; a revoked identity never returns), so that nobody
// can replay a worker's public attestations against it. It decides which
// off-chain workers the mq module accepts messages from, and announces
// every change on protocol.TopicWorker so each pRuntime's verified view
// follows it.
package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// Module is the registry module.
type Module struct {
	hook KeyChangeHook
	tdx  *verifier.Verifier
}

// New returns the registry module, verifying TDX quotes against Intel's
// root (verifier.Intel).
func New() *Module { return &Module{tdx: verifier.Intel()} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleRegistry }

// State layout, under "registry/":
//
//	genesis_hash            the genesis hash attestations must bind
//	policy                  AttestationPolicy
//	meas/<hash>             MeasurementEntry
//	w/<pubkey>              WorkerRecord
//	bym/<hash>/<pubkey>     index: active workers by measurement
//	exp/<height>/<pubkey>   index: active workers by expiry height
//	sim/<pubkey>            index: active sim workers
//	retire/<hash>           queue: revoked measurements whose workers are
//	                        still being retired
var (
	keyGenesisHash = []byte("genesis_hash")
	keyPolicy      = []byte("policy")
	prefixMeas     = []byte("meas/")
	prefixWorker   = []byte("w/")
	prefixByMeas   = []byte("bym/")
	prefixExpiry   = []byte("exp/")
	prefixSim      = []byte("sim/")
	prefixRetire   = []byte("retire/")
)

// LimitMaxAgeBlocks bounds max_age_blocks far from overflowing a height.
const LimitMaxAgeBlocks = 1 << 40

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleRegistry+"/")) }

func join(parts ...[]byte) []byte { return slices.Concat(parts...) }

func heightKey(h int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(h)) }

// WorkerStateKey is the full store key of a worker record, for proofs.
func WorkerStateKey(pub []byte) []byte {
	return join([]byte(protocol.ModuleRegistry+"/"), prefixWorker, pub)
}

// MeasurementStateKey is the full store key of an allowlist entry, for
// proofs.
func MeasurementStateKey(hash []byte) []byte {
	return join([]byte(protocol.ModuleRegistry+"/"), prefixMeas, hash)
}

// PolicyStateKey is the full store key of the attestation policy.
func PolicyStateKey() []byte { return join([]byte(protocol.ModuleRegistry+"/"), keyPolicy) }

func read(s store.KV, key []byte, v any) bool {
	raw := kv(s).Get(key)
	if raw == nil {
		return false
	}
	if err := protocol.Unmarshal(raw, v); err != nil {
		store.Fail(fmt.Sprintf("registry: decode %q", key), err)
	}
	return true
}

func write(s store.KV, key []byte, v any) { kv(s).Set(key, protocol.MustMarshal(v)) }

// Policy returns the attestation policy in force.
func Policy(s store.KV) protocol.AttestationPolicy {
	var p protocol.AttestationPolicy
	read(s, keyPolicy, &p)
	return p
}

// Worker returns a worker's record, with the status in force: a record
// still marked active whose measurement was revoked, or a sim worker on a
// chain that no longer allows sim, is reported revoked before the
// end-of-block batches have rewritten it. Every rule that asks whether a
// worker is active (CheckActive, the keys module) reads it here.
func Worker(s store.KV, pub []byte) (protocol.WorkerRecord, bool) {
	w, ok := load(s, pub)
	if ok {
		w.Status = statusInForce(s, &w)
	}
	return w, ok
}

// load returns a worker's record as stored.
func load(s store.KV, pub []byte) (protocol.WorkerRecord, bool) {
	var w protocol.WorkerRecord
	ok := read(s, join(prefixWorker, pub), &w)
	return w, ok
}

// Workers returns every worker record, in key order, with the status in
// force.
func Workers(s store.KV) []protocol.WorkerRecord {
	var out []protocol.WorkerRecord
	kv(s).Iterate(prefixWorker, store.PrefixEnd(prefixWorker), func(_, v []byte) bool {
		var w protocol.WorkerRecord
		if err := protocol.Unmarshal(v, &w); err != nil {
			store.Fail("registry: decode worker", err)
		}
		out = append(out, w)
		return true
	})
	for i := range out {
		out[i].Status = statusInForce(s, &out[i])
	}
	return out
}

// InitGenesis records the genesis hash attestations must bind, the policy
// and the measurements allowed at genesis.
func (*Module) InitGenesis(ctx *module.Context, genesisHash []byte, g protocol.RegistryGenesis) error {
	if err := validatePolicy(g.Policy); err != nil {
		return err
	}
	kv(ctx.State).Set(keyGenesisHash, genesisHash)
	write(ctx.State, keyPolicy, &g.Policy)
	for _, m := range g.Measurements {
		if len(m) != 32 {
			return protocol.Errorf(protocol.ErrBadMeasurement, "genesis measurement %x: want 32 bytes", []byte(m))
		}
		write(ctx.State, join(prefixMeas, m), &protocol.MeasurementEntry{Measurement: m, Note: "genesis"})
	}
	return nil
}

// Call implements module.Module.
func (m *Module) Call(ctx *module.Context, method string, args []byte) error {
	switch method {
	case protocol.MethodRegisterWorker:
		var a protocol.RegisterWorkerArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return m.register(ctx, &a.Attestation)
	case protocol.MethodUpdateEndpoint:
		var a protocol.UpdateEndpointArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return updateEndpoint(ctx, &a)
	}
	return protocol.Errorf(protocol.ErrUnknownMethod, "registry.%s", method)
}

// evidence is what verifying a quote established.
type evidence struct {
	reportData  []byte
	measurement []byte
	level       string
}

// register admits or refreshes a worker. The checks run cheapest first and
// each refusal has its own code.
func (m *Module) register(ctx *module.Context, a *protocol.Attestation) error {
	if len(a.WorkerPubkey) != ed25519.PublicKeySize || len(a.EncryptionPubkey) == 0 || len(a.EncryptionPubkey) > 4096 {
		return protocol.Errorf(protocol.ErrBadWorkerKeys, "worker key %d bytes, encryption key %d bytes", len(a.WorkerPubkey), len(a.EncryptionPubkey))
	}
	genesis := kv(ctx.State).Get(keyGenesisHash)
	if a.ChainID != ctx.Block.ChainID || !bytes.Equal(a.GenesisHash, genesis) {
		return protocol.Errorf(protocol.ErrAttestationChain, "attestation for %s %X, this chain is %s %X", a.ChainID, []byte(a.GenesisHash), ctx.Block.ChainID, genesis)
	}
	policy := Policy(ctx.State)
	if hash, ok := ctx.Block.HashAt(a.Height); !ok || !bytes.Equal(hash, a.BlockHash) {
		return protocol.Errorf(protocol.ErrAttestationFork, "attestation binds block %d %X, this chain has %X", a.Height, []byte(a.BlockHash), hash)
	}
	// An attestation max_age_blocks old would expire in the block that
	// registers it: it is too old.
	if policy.MaxAgeBlocks > 0 && ctx.Block.Height-a.Height >= policy.MaxAgeBlocks {
		return protocol.Errorf(protocol.ErrAttestationTooOld, "binds block %d, %d blocks ago; policy allows fewer than %d", a.Height, ctx.Block.Height-a.Height, policy.MaxAgeBlocks)
	}
	if a.RuntimeVersion < policy.MinRuntimeVersion {
		return protocol.Errorf(protocol.ErrRuntimeTooOld, "runtime version %d, minimum %d", a.RuntimeVersion, policy.MinRuntimeVersion)
	}
	prev, existed := Worker(ctx.State, a.WorkerPubkey)
	if existed {
		if err := checkSupersedes(&prev, a); err != nil {
			return err
		}
	}
	ev, err := m.verifyQuote(ctx, a, policy)
	if err != nil {
		return err
	}
	var entry protocol.MeasurementEntry
	switch {
	case !read(ctx.State, join(prefixMeas, ev.measurement), &entry):
		return protocol.Errorf(protocol.ErrMeasurementNotAllowed, "%x", ev.measurement)
	case entry.Revoked:
		return protocol.Errorf(protocol.ErrMeasurementRevoked, "%x", ev.measurement)
	}
	if !bytes.Equal(ev.reportData, a.ReportData()) {
		return protocol.Errorf(protocol.ErrReportData, "worker %x", []byte(a.WorkerPubkey))
	}
	rec := protocol.WorkerRecord{
		Pubkey:           a.WorkerPubkey,
		EncryptionKey:    a.EncryptionPubkey,
		AttestationKind:  a.TEE,
		AttestationLevel: ev.level,
		Measurement:      ev.measurement,
		RuntimeVersion:   a.RuntimeVersion,
		AttestedHeight:   a.Height,
		RegisteredHeight: ctx.Block.Height,
		KeySince:         a.Height,
		Operator:         ctx.Tx.Signer,
		Status:           protocol.StatusActive,
		Attestation:      *a,
	}
	if existed {
		// The operator is whoever first registered this identity: anyone
		// may relay a later registration, and relaying grants nothing.
		rec.Endpoint, rec.EndpointSeq, rec.Operator = prev.Endpoint, prev.EndpointSeq, prev.Operator
		if bytes.Equal(prev.EncryptionKey, a.EncryptionPubkey) {
			rec.KeySince = prev.KeySince
		}
		unindex(ctx, &prev)
	}
	save(ctx, &rec, policy)
	if err := emit(ctx, protocol.WorkerRegistered, &rec); err != nil {
		return err
	}
	if m.hook != nil && (!existed || !bytes.Equal(prev.EncryptionKey, rec.EncryptionKey) || prev.Status != protocol.StatusActive) {
		return m.hook(ctx, &rec)
	}
	return nil
}

// checkSupersedes refuses a registration of a known identity that does not
// supersede its record: a revoked identity never returns (its key may be in
// the hands of whoever broke its build, and it would keep its roles); an
// attestation must bind a later block than the one on record, whatever its
// key (a replayed older one would move the expiry back, possibly to the
// current block); and another key than the current one must be attested
// after the current one was registered or adopted (an older one names a
// key its enclave erased at a rotation or a restart).
func checkSupersedes(prev *protocol.WorkerRecord, a *protocol.Attestation) error {
	switch {
	case prev.Status == protocol.StatusRevoked:
		return protocol.Errorf(protocol.ErrWorkerRevoked, "worker %x was revoked (measurement %x); a new identity must register", prev.Pubkey, prev.Measurement)
	case a.Height <= prev.AttestedHeight:
		return protocol.Errorf(protocol.ErrStaleRegistration, "attests block %d; the record holds an attestation of block %d", a.Height, prev.AttestedHeight)
	case !bytes.Equal(prev.EncryptionKey, a.EncryptionPubkey) && a.Height <= prev.KeySince:
		return protocol.Errorf(protocol.ErrStaleRegistration, "key attested at block %d; the current key is registered since block %d", a.Height, prev.KeySince)
	}
	return nil
}

// save writes an active record and its indexes.
func save(ctx *module.Context, rec *protocol.WorkerRecord, policy protocol.AttestationPolicy) {
	rec.ExpiresAt = 0
	if policy.MaxAgeBlocks > 0 {
		rec.ExpiresAt = rec.AttestedHeight + policy.MaxAgeBlocks
		kv(ctx.State).Set(join(prefixExpiry, heightKey(rec.ExpiresAt), rec.Pubkey), store.Mark())
	}
	write(ctx.State, join(prefixWorker, rec.Pubkey), rec)
	kv(ctx.State).Set(join(prefixByMeas, rec.Measurement, rec.Pubkey), store.Mark())
	if rec.AttestationKind == sim.Kind {
		kv(ctx.State).Set(join(prefixSim, rec.Pubkey), store.Mark())
	}
}

// unindex removes an active record's index entries.
func unindex(ctx *module.Context, rec *protocol.WorkerRecord) {
	kv(ctx.State).Delete(join(prefixByMeas, rec.Measurement, rec.Pubkey))
	if rec.AttestationKind == sim.Kind {
		kv(ctx.State).Delete(join(prefixSim, rec.Pubkey))
	}
	if rec.ExpiresAt > 0 {
		kv(ctx.State).Delete(join(prefixExpiry, heightKey(rec.ExpiresAt), rec.Pubkey))
	}
}

func emit(ctx *module.Context, kind string, rec *protocol.WorkerRecord) error {
	ev := protocol.WorkerEvent{Kind: kind, Worker: rec.Summary()}
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleRegistry), protocol.TopicWorker, protocol.MustMarshal(&ev))
}

func updateEndpoint(ctx *module.Context, a *protocol.UpdateEndpointArgs) error {
	u := &a.Update
	if u.ChainID != ctx.Block.ChainID || len(u.URL) == 0 || len(u.URL) > 256 {
		return protocol.Errorf(protocol.ErrBadEndpoint, "chain %q, url of %d bytes", u.ChainID, len(u.URL))
	}
	rec, ok := load(ctx.State, u.Worker)
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownWorker, "%x", u.Worker)
	}
	if !protocol.Verify(u.Worker, protocol.SigEndpoint, protocol.MustMarshal(u), a.Sig) {
		return protocol.Errorf(protocol.ErrBadEndpoint, "not signed by worker %x", u.Worker)
	}
	if u.Seq <= rec.EndpointSeq {
		return protocol.Errorf(protocol.ErrBadEndpoint, "seq %d, last %d", u.Seq, rec.EndpointSeq)
	}
	rec.Endpoint, rec.EndpointSeq = u.URL, u.Seq
	write(ctx.State, join(prefixWorker, rec.Pubkey), &rec)
	return emit(ctx, protocol.WorkerEndpoint, &rec)
}

// AuthorizeSender implements mq.Authorizer for worker origins: a worker may
// send only while registered and active. The message signature and the
// signer-origin match were checked by mq.
func (*Module) AuthorizeSender(ctx *module.Context, sm *protocol.SignedMessage) error {
	return CheckActive(ctx.State, sm.Message.Origin.ID, protocol.ErrSenderUnknown, protocol.ErrSenderExpired)
}

// CheckActive refuses a worker that is not registered (unknown) or not
// active (inactive), with the caller's error codes.
func CheckActive(s store.KV, pub []byte, unknown, inactive *protocol.Error) error {
	rec, ok := Worker(s, pub)
	if !ok {
		return protocol.Errorf(unknown, "worker %x", pub)
	}
	if rec.Status != protocol.StatusActive {
		return protocol.Errorf(inactive, "worker %x is %s", pub, rec.Status)
	}
	return nil
}

// KeyChangeHook is told when a worker's registered encryption key changes
// (a new boot) or it stops being active, so that key distribution follows.
type KeyChangeHook func(ctx *module.Context, rec *protocol.WorkerRecord) error

// OnKeyChange installs the hook. It is wiring, set once when the
// application is built.
func (m *Module) OnKeyChange(h KeyChangeHook) { m.hook = h }

// SetEncryptionKey replaces an active worker's encryption key with the one
// it announced for a key rotation (called by the keys module, which checked
// the announcement's signature), keeps the announcement so that clients can
// check the key's provenance, and announces the change.
//
// KeySince becomes this block: an attestation of the key the enclave erases
// now, however recent, can no longer replace it.
func SetEncryptionKey(ctx *module.Context, ann *protocol.KeyAnnouncement) error {
	if rec, ok := Worker(ctx.State, ann.Worker); !ok || rec.Status != protocol.StatusActive {
		return nil
	}
	rec, _ := load(ctx.State, ann.Worker)
	pub := ann.Worker
	rec.EncryptionKey, rec.KeyAnnouncement, rec.KeySince = ann.Key, ann, ctx.Block.Height
	write(ctx.State, join(prefixWorker, pub), &rec)
	return emit(ctx, protocol.WorkerRegistered, &rec)
}
