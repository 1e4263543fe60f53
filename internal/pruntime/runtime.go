// Package pruntime is the enclave runtime's core: it owns the trust root,
// the light client state, the dispatcher and its subscribers, the keys and
// the checkpoints, and exposes the operations the HTTP API serves (init,
// sync, info, egress, attestation).
//
// It trusts only its own code, the pinned genesis and the TEE. Everything a
// relayer sends is untrusted until light verifies the header and dispatch
// matches the message list against the header's app hash; a block is
// applied completely or not at all.
package pruntime

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/internal/pruntime/checkpoint"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/internal/pruntime/keyring"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/pruntime/light"
	"github.com/phala-go/phala/internal/pruntime/query"
	"github.com/phala-go/phala/internal/pruntime/runner"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/internal/pruntime/workers"
	"github.com/phala-go/phala/internal/tee"
	"github.com/phala-go/phala/internal/version"
	"github.com/phala-go/phala/protocol"
)

// RuntimeVersion is the version attested in report data; the registry's
// policy can require a minimum.
const RuntimeVersion uint32 = 1

// Config configures a Runtime.
type Config struct {
	DataDir string
	TEE     tee.Provider
	Logger  *slog.Logger
	// CheckpointEvery is the number of blocks between checkpoints.
	CheckpointEvery int64
	// CheckpointKeep is how many checkpoints are kept.
	CheckpointKeep int
	// PinnedGenesisHash overrides the compiled-in trust root (tests); nil
	// uses the one set at build time, if any.
	PinnedGenesisHash []byte
	// Metrics receives pRuntime's Prometheus series (nil: none).
	Metrics prometheus.Registerer
	// ResultObserver, if set, is told of every contract result this worker
	// computes, with the epoch of the key it used (monitoring, tests).
	ResultObserver func(contract []byte, epoch uint64, r *protocol.ContractResult)
	// Interpreter runs contracts in wazero's interpreter rather than its
	// compiler (tests compare the two).
	Interpreter bool
	// QueryConcurrency bounds contract queries in flight (default 2 ×
	// GOMAXPROCS); MaxQueryGas bounds a query's gas (default the chain
	// default).
	QueryConcurrency int
	MaxQueryGas      uint64
}

// Runtime is a running pRuntime.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	pinned []byte
	ckpt   *checkpoint.Store
	m      *metrics

	identity ed25519.PrivateKey
	boot     *keys.Encryption // this boot's encryption key (the keyring takes it over)
	contract *contract.Engine // runs contracts; outlives chain bindings
	queries  *query.Server
	// serving is held while a state transfer is built: one at a time.
	serving atomic.Bool

	// mu guards everything below: Sync and Init take it for writing, the
	// read-only operations for reading.
	mu          sync.RWMutex
	genesisJSON []byte
	root        *light.TrustRoot
	light       *light.State
	tx          *state.Tx
	engine      *dispatch.Engine
	egress      *egress.Queue
	workers     *workers.View
	keyring     *keyring.Keyring
	runner      *runner.Runner
	lastCkpt    int64
	// applied is the last block applied and its verified time.
	applied     int64
	appliedTime time.Time
	// headers are the hashes of recently verified headers, by height:
	// state transfers name one.
	headers map[int64][]byte
	// transferNonces are the nonces of this worker's outstanding state
	// requests.
	transferNonces [][]byte
}

// Open starts pRuntime on its data dir: it unseals (or creates) the
// identity key, generates this boot's encryption key, and resumes from the
// newest usable checkpoint if there is one.
func Open(cfg Config) (*Runtime, error) {
	if cfg.TEE == nil {
		return nil, errors.New("pruntime: no TEE provider")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 1000
	}
	if cfg.CheckpointKeep <= 0 {
		cfg.CheckpointKeep = 3
	}
	log := cfg.Logger.With("tee", cfg.TEE.Kind())
	if cfg.TEE.Insecure() {
		log = log.With("insecure", true)
	}
	pinned := cfg.PinnedGenesisHash
	if pinned == nil {
		p, ok, err := light.PinnedGenesisHash()
		if err != nil {
			return nil, err
		}
		if ok {
			pinned = p
		}
	}
	sealKey, err := cfg.TEE.SealKey()
	if errors.Is(err, tee.ErrNoSealing) {
		// Without a platform sealing key nothing written can be trusted on
		// reload: seal under a key that dies with this process. The identity
		// and checkpoints then last one boot (docs/attestation.md).
		sealKey = make([]byte, 32)
		if _, err := rand.Read(sealKey); err != nil {
			return nil, err
		}
		log.Warn("the TEE has no sealing key: identity and checkpoints will not survive a restart")
	} else if err != nil {
		return nil, fmt.Errorf("pruntime: seal key: %w", err)
	}
	identity, created, err := keys.LoadOrCreateIdentity(cfg.DataDir, sealKey)
	if err != nil {
		return nil, err
	}
	enc, err := keys.NewEncryption()
	if err != nil {
		return nil, err
	}
	ckpt, err := checkpoint.Open(filepath.Join(cfg.DataDir, "checkpoints"), sealKey, cfg.CheckpointKeep, log)
	if err != nil {
		return nil, err
	}
	engine, err := contract.New(context.Background(), contract.Config{Interpreter: cfg.Interpreter, Log: log.With("component", "contract")})
	if err != nil {
		return nil, fmt.Errorf("pruntime: contract engine: %w", err)
	}
	r := &Runtime{cfg: cfg, log: log, pinned: pinned, ckpt: ckpt, identity: identity, boot: enc, contract: engine, m: newMetrics(cfg.Metrics)}
	if r.cfg.MaxQueryGas == 0 {
		r.cfg.MaxQueryGas = protocol.DefaultParams().MaxQueryGas
	}
	log.Info("pruntime starting", "worker", fmt.Sprintf("%x", identity.Public()), "new_identity", created, "trust_root_pinned", pinned != nil)
	h, err := ckpt.LoadLatest(r.restore)
	switch {
	case errors.Is(err, checkpoint.ErrNone):
		log.Info("no checkpoint; waiting for /v1/init")
	case err != nil:
		return nil, err
	default:
		r.lastCkpt = h
		log.Info("resumed from checkpoint", "synced_height", h, "chain_id", r.root.ChainID)
	}
	r.m.setHeight(r.syncedHeight())
	return r, nil
}

// Logger is pRuntime's logger; on an insecure TEE every line says so.
func (r *Runtime) Logger() *slog.Logger { return r.log }

// setChain builds the per-chain components for root. Called with mu held
// (or before the Runtime is shared).
func (r *Runtime) setChain(genesisJSON []byte, root *light.TrustRoot) {
	r.genesisJSON = genesisJSON
	r.root = root
	r.light = light.Genesis(root)
	r.tx = &state.Tx{}
	r.engine = dispatch.New(r.tx)
	r.workers = workers.New(r.tx)
	r.egress = egress.New(r.tx, r.identity, root.ChainID)
	r.keyring = keyring.New(r.tx, keyring.Config{
		ChainID: root.ChainID, Identity: r.identity, BootKey: r.boot, Egress: r.egress, Engine: r.engine,
		Logger: r.log.With("component", "keyring"),
		OnSeed: func(epoch uint64, cluster []byte) error { return r.runner.OnSeed(epoch, cluster) },
	})
	r.runner = runner.New(r.tx, runner.Config{
		ChainID: root.ChainID, Identity: r.identity, Engine: r.contract, Keyring: r.keyring, Dispatch: r.engine,
		Egress: r.egress, Logger: r.log.With("component", "runner"), Debug: r.cfg.TEE.Insecure(),
		Observe: func(id []byte, epoch uint64, res *protocol.ContractResult) {
			r.m.contractResult(res.Outcome)
			if r.cfg.ResultObserver != nil {
				r.cfg.ResultObserver(id, epoch, res)
			}
		},
	})
	r.queries = query.New(query.Config{
		ChainID: root.ChainID, Identity: r.identity, Engine: r.contract, Logger: r.log.With("component", "query"),
		Concurrency: r.cfg.QueryConcurrency, MaxGas: r.cfg.MaxQueryGas, Debug: r.cfg.TEE.Insecure(), Observe: r.m.query,
	})
	r.headers = map[int64][]byte{}
	r.engine.Subscribe(r.workers)
	r.engine.Subscribe(r.egress)
	r.engine.Subscribe(r.keyring)
	r.engine.Subscribe(r.runner) // after the keyring: it reads the keys the keyring just took
	r.engine.Subscribe(newEcho(r.identity.Public().(ed25519.PublicKey), r.egress))
}

// encryptionKey is the current encryption key. Caller holds mu.
func (r *Runtime) encryptionKey() *keys.Encryption {
	if r.keyring == nil {
		return r.boot
	}
	return r.keyring.EncryptionKey()
}

// Init binds a fresh pRuntime to a chain by its genesis document. Calling it
// again with the same genesis is a no-op; with another it is refused.
func (r *Runtime) Init(genesisJSON []byte) error {
	root, err := light.NewTrustRoot(genesisJSON, r.pinned)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root != nil {
		if bytes.Equal(r.root.GenesisHash, root.GenesisHash) {
			return nil
		}
		return protocol.Errorf(protocol.ErrGenesisMismatch, "bound to %s genesis %X, offered %s genesis %X", r.root.ChainID, r.root.GenesisHash, root.ChainID, root.GenesisHash)
	}
	r.setChain(genesisJSON, root)
	r.publishLocked()
	r.log.Info("initialised", "chain_id", root.ChainID, "genesis_hash", fmt.Sprintf("%X", root.GenesisHash), "validators", root.Validators.Size())
	return r.saveCheckpointLocked()
}

// syncedHeight is the height of the last verified header: blocks below it
// are applied. Caller holds mu, or owns r.
func (r *Runtime) syncedHeight() int64 {
	if r.light == nil {
		return 0
	}
	return r.light.Height
}

// Info reports pRuntime's state.
func (r *Runtime) Info() protocol.Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	pub := r.identity.Public().(ed25519.PublicKey)
	info := protocol.Info{
		WorkerPubkey:     protocol.HexBytes(pub),
		EncryptionPubkey: r.encryptionKey().Public(),
		TEE:              r.cfg.TEE.Kind(),
		Insecure:         r.cfg.TEE.Insecure(),
		Version:          version.String(),
		TrustRootPinned:  r.pinned != nil,
	}
	if info.Insecure {
		info.Warning = "INSECURE: sim TEE, no hardware protection; for development only"
	}
	if r.root == nil {
		return info
	}
	info.Initialized = true
	info.ChainID = r.root.ChainID
	info.GenesisHash = r.root.GenesisHash
	info.SyncedHeight = r.light.Height
	info.AppHash = r.light.AppHash
	info.Registered = r.workers.Registered(pub, r.encryptionKey().Public())
	v := r.keyring.View()
	info.Epoch, info.Gatekeeper, info.HoldsEpochKey = v.Current, r.keyring.IsGatekeeper(), r.keyring.HoldsCurrent()
	if snap := r.queries.Published(); snap != nil && snap.View != nil {
		info.Cluster, info.Contracts, info.ContractsRoot, info.ContractsHeight = snap.View.Cluster, len(snap.View.Contracts), snap.View.Root, snap.View.Height
		info.NeedsState = snap.View.NeedsState()
	}
	info.PendingEgress = r.egress.Len()
	info.EgressNextSeq = r.egress.NextSeq()
	return info
}

// Egress returns up to limit pending signed messages with sequence > after.
func (r *Runtime) Egress(after int64, limit int) (*protocol.EgressResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.root == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	msgs := r.egress.After(after, limit)
	if after < 0 {
		// Gatekeeper messages travel with the worker's own; the relayer
		// sorts them by origin.
		msgs = append(msgs, r.keyring.Outbox()...)
		msgs = append(msgs, r.runner.Outbox()...)
	}
	return &protocol.EgressResponse{Messages: msgs, NextSeq: r.egress.NextSeq()}, nil
}

// Attestation quotes this boot's keys, bound to the chain.
func (r *Runtime) Attestation() (*protocol.Attestation, error) {
	r.mu.RLock()
	root := r.root
	var height int64
	var blockHash []byte
	if r.light != nil {
		height, blockHash = r.light.Height, r.light.BlockID.Hash
	}
	encPub := r.encryptionKey().Public()
	r.mu.RUnlock()
	if root == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "attestations bind a chain; send the genesis first")
	}
	if height < 1 {
		return nil, protocol.Errorf(protocol.ErrNotSynced, "attestations bind a verified block; sync first")
	}
	pub := r.identity.Public().(ed25519.PublicKey)
	a := &protocol.Attestation{
		TEE:              r.cfg.TEE.Kind(),
		ChainID:          root.ChainID,
		GenesisHash:      root.GenesisHash,
		WorkerPubkey:     protocol.HexBytes(pub),
		EncryptionPubkey: encPub,
		RuntimeVersion:   RuntimeVersion,
		Height:           height,
		BlockHash:        blockHash,
	}
	q, err := r.cfg.TEE.Quote(a.ReportData())
	if err != nil {
		return nil, fmt.Errorf("pruntime: quote: %w", err)
	}
	a.Quote = q
	return a, nil
}

// Checkpoint writes a checkpoint now.
func (r *Runtime) Checkpoint() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return protocol.Errorf(protocol.ErrNotInitialized, "nothing to checkpoint")
	}
	return r.saveCheckpointLocked()
}

// Close writes a final checkpoint (clean shutdown) and stops the contract
// engine.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.root != nil && r.light.Height != r.lastCkpt {
		err = r.saveCheckpointLocked()
	}
	return errors.Join(err, r.contract.Close(context.Background()))
}

// Kill stops the contract engine without a checkpoint, as a crash would
// (tests); the Runtime must not be used afterwards.
func (r *Runtime) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.contract.Close(context.Background())
}

func (r *Runtime) saveCheckpointLocked() error {
	start := time.Now()
	data, err := r.snapshotLocked()
	if err != nil {
		return err
	}
	if err := r.ckpt.Save(r.light.Height, data); err != nil {
		return err
	}
	r.lastCkpt = r.light.Height
	r.log.Info("checkpoint written", "synced_height", r.light.Height, "bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// SecretsForTest returns every secret the runtime holds in memory (identity,
// seal key, encryption keys, epoch secrets, cluster seeds), so that tests
// can prove none of them ever reaches the disk. Nothing but tests may call
// it; no API exposes it.
func (r *Runtime) SecretsForTest() map[string][]byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sealKey, err := r.cfg.TEE.SealKey()
	if err != nil {
		panic(err)
	}
	out := map[string][]byte{
		"identity seed":        r.identity.Seed(),
		"identity private key": []byte(r.identity),
		"seal key":             sealKey,
	}
	if b, err := r.boot.Private().Bytes(); err == nil {
		out["boot encryption private key"] = b
	}
	if r.keyring != nil {
		for k, v := range r.keyring.SecretsForTest() {
			out[k] = v
		}
	}
	return out
}
