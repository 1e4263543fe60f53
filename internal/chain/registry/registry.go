// Package registry owns the worker registry: attested workers, their keys,
// and (with the attestation issue) the attestation policy, allowed pRuntime
// measurements and endpoints. It decides which off-chain workers the mq
// module accepts messages from, and announces every change on
// protocol.TopicWorker so each pRuntime's verified view follows it.
//
// Status: sim attestations only, accepted only where genesis allows them.
// TDX verification, measurement allowlists, freshness and revocation arrive
// with the attestation issue; until then any worker key with a valid
// signature may send messages.
package registry

import (
	"bytes"
	"crypto/ed25519"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// Module is the registry module.
type Module struct{}

// New returns the registry module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleRegistry }

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleRegistry+"/")) }

var keyGenesisHash = []byte("genesis_hash")

func workerKey(pub []byte) []byte { return append([]byte("w/"), pub...) }

// WorkerStateKey is the full store key of a worker record, for proofs.
func WorkerStateKey(pub []byte) []byte {
	return append([]byte(protocol.ModuleRegistry+"/"), workerKey(pub)...)
}

// InitGenesis records the genesis hash attestations must bind.
func (*Module) InitGenesis(ctx *module.Context, genesisHash []byte) {
	kv(ctx.State).Set(keyGenesisHash, genesisHash)
}

// Worker returns a worker's record.
func Worker(s store.KV, pub []byte) (protocol.WorkerRecord, bool) {
	var w protocol.WorkerRecord
	raw := kv(s).Get(workerKey(pub))
	if raw == nil {
		return w, false
	}
	if err := protocol.Unmarshal(raw, &w); err != nil {
		store.Fail("registry: decode worker", err)
	}
	return w, true
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
	}
	return protocol.Errorf(protocol.ErrUnknownMethod, "registry.%s", method)
}

func (m *Module) register(ctx *module.Context, a *protocol.Attestation) error {
	if len(a.WorkerPubkey) != ed25519.PublicKeySize || len(a.EncryptionPubkey) == 0 {
		return protocol.Errorf(protocol.ErrBadWorkerKeys, "worker key %d bytes, encryption key %d bytes", len(a.WorkerPubkey), len(a.EncryptionPubkey))
	}
	genesis := kv(ctx.State).Get(keyGenesisHash)
	if a.ChainID != ctx.Block.ChainID || !bytes.Equal(a.GenesisHash, genesis) {
		return protocol.Errorf(protocol.ErrAttestationChain, "attestation for %s %X, this chain is %s %X", a.ChainID, a.GenesisHash, ctx.Block.ChainID, genesis)
	}
	var reportData []byte
	switch a.TEE {
	case sim.Kind:
		if !ctx.Params.AllowSimAttestation {
			return protocol.Errorf(protocol.ErrSimNotAllowed, "worker %x", a.WorkerPubkey)
		}
		q, err := sim.Verify(a.Quote)
		if err != nil {
			return protocol.Errorf(protocol.ErrBadQuote, "%v", err)
		}
		reportData = q.ReportData
	default:
		return protocol.Errorf(protocol.ErrUnsupportedTEE, "%q", a.TEE)
	}
	want := protocol.ReportData(a.ChainID, a.GenesisHash, a.WorkerPubkey, a.EncryptionPubkey, a.RuntimeVersion)
	if !bytes.Equal(reportData, want) {
		return protocol.Errorf(protocol.ErrReportData, "worker %x", a.WorkerPubkey)
	}
	rec := protocol.WorkerRecord{
		Pubkey:           a.WorkerPubkey,
		EncryptionKey:    a.EncryptionPubkey,
		AttestationKind:  a.TEE,
		RuntimeVersion:   a.RuntimeVersion,
		RegisteredHeight: ctx.Block.Height,
		Operator:         ctx.Tx.Signer,
	}
	enc := protocol.MustMarshal(&rec)
	kv(ctx.State).Set(workerKey(a.WorkerPubkey), enc)
	ev := protocol.WorkerEvent{Kind: protocol.WorkerRegistered, Worker: rec}
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleRegistry), protocol.TopicWorker, protocol.MustMarshal(&ev))
}

// AuthorizeSender implements mq.Authorizer for worker origins. The message
// signature and the signer-origin match were checked by mq.
func (*Module) AuthorizeSender(_ *module.Context, sm *protocol.SignedMessage) error {
	switch sm.Message.Origin.Kind {
	case protocol.OriginWorker:
		return nil
	case protocol.OriginGatekeeper:
		return protocol.Errorf(protocol.ErrNotGatekeeper, "no gatekeepers exist yet")
	}
	return protocol.Errorf(protocol.ErrOriginNotAllowed, "origin %s cannot send yet", sm.Message.Origin)
}
