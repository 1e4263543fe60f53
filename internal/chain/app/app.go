// Package app is the ABCI++ application of phala-node: it wires the modules,
// runs transactions against the IAVL state, and commits each block as
// AppHash(H) = merkle.HashFromByteSlices([stateRoot(H), messagesRoot(H)]).
//
// It owns the transaction pipeline (decode, verify, authorize, call) and the
// block log of per-height message lists; modules own the rules.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/internal/chain/accounts"
	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// Version is the application protocol version reported to CometBFT.
const Version uint64 = 1

// Config configures an App.
type Config struct {
	ChainID string
	// GenesisHash identifies the genesis document (protocol.GenesisHash);
	// attestations must bind it. It is recorded in state at InitChain.
	GenesisHash []byte
	// DB holds the IAVL state and the block log. The App owns it and closes
	// it in Close.
	DB     dbm.DB
	Logger *slog.Logger
	// IAVLCacheSize is the number of tree nodes kept in memory.
	IAVLCacheSize int
	// Metrics, if set, receives the application's Prometheus series.
	Metrics prometheus.Registerer
	// TDXVerifier replaces the registry's TDX verifier (Intel's root). Only
	// tests set it, with a verifier.ForTestRoot verifier, which cannot be
	// built outside a test binary.
	TDXVerifier *verifier.Verifier
}

// App is the phala ABCI++ application.
type App struct {
	abci.BaseApplication // snapshots and vote extensions: not used

	chainID string
	log     *slog.Logger
	db      dbm.DB
	tree    *iavl.MutableTree
	blocks  blockLog

	modules     map[string]module.Module
	endBlockers []module.EndBlocker
	acc         *accounts.Module
	gov         *governance.Module
	reg         *registry.Module
	genesisHash []byte
	metrics     *metrics

	// mu guards the fields below. CometBFT's local client already serialises
	// ABCI calls; the mutex makes App safe to use without it (tests, tools).
	mu      sync.Mutex
	check   *module.Context // mempool view: last commit + admitted txs
	pending *blockRecord    // finalized, not yet committed
	height  int64           // last committed height
}

// New opens the application state in cfg.DB.
func New(cfg Config) (*App, error) {
	if cfg.ChainID == "" {
		return nil, errors.New("app: empty chain id")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IAVLCacheSize == 0 {
		cfg.IAVLCacheSize = 100_000
	}
	tree := iavl.NewMutableTree(idb.NewWrapper(dbm.NewPrefixDB(cfg.DB, []byte("s/"))), cfg.IAVLCacheSize, false, iavl.NewNopLogger())
	height, err := tree.Load()
	if err != nil {
		return nil, fmt.Errorf("app: load state: %w", err)
	}
	reg := registry.New()
	if cfg.TDXVerifier != nil {
		reg.UseTDXVerifier(cfg.TDXVerifier)
	}
	keysMod := keys.New()
	reg.OnKeyChange(keys.KeyChanged)
	actions := reg.GovActions()
	for k, h := range keysMod.GovActions() {
		actions[k] = h
	}
	gov, err := governance.New(actions)
	if err != nil {
		return nil, err
	}
	contractsMod := contracts.New()
	queue := mq.New(map[protocol.OriginKind]mq.Authorizer{
		protocol.OriginWorker:     reg,
		protocol.OriginGatekeeper: keysMod,
		protocol.OriginContract:   contractsMod,
	}, keysMod, contractsMod)
	a := &App{
		chainID:     cfg.ChainID,
		log:         cfg.Logger,
		db:          cfg.DB,
		tree:        tree,
		blocks:      blockLog{db: dbm.NewPrefixDB(cfg.DB, []byte("b/"))},
		acc:         accounts.New(),
		gov:         gov,
		reg:         reg,
		genesisHash: cfg.GenesisHash,
		metrics:     newMetrics(cfg.Metrics),
		height:      height,
	}
	a.modules = map[string]module.Module{}
	// End blockers run in this order: contracts follows keys, so that it
	// sees an epoch activated in the same block.
	for _, m := range []module.Module{a.acc, queue, gov, reg, keysMod, contractsMod} {
		a.modules[m.Name()] = m
		if eb, ok := m.(module.EndBlocker); ok {
			a.endBlockers = append(a.endBlockers, eb)
		}
	}
	if height > 0 {
		if err := a.resetCheckState(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Close releases the state database. Call it after the node has stopped.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(a.tree.Close(), a.db.Close())
}

// LastHeight returns the last committed height.
func (a *App) LastHeight() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.height
}

// Info implements abci.Application. It tells CometBFT where the app is, so
// that blocks committed by CometBFT but not by the app are replayed.
func (a *App) Info(_ context.Context, _ *abci.InfoRequest) (*abci.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	resp := &abci.InfoResponse{Version: "phala", AppVersion: Version, LastBlockHeight: a.height}
	if a.height > 0 {
		rec, err := a.blocks.get(a.height)
		if err != nil {
			return nil, err
		}
		resp.LastBlockAppHash = rec.appHash()
	}
	return resp, nil
}

// InitChain implements abci.Application: it applies app_state and the
// genesis validators. The genesis messages are recorded as "block 0", whose
// app hash appears in header 1.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.ChainId != a.chainID {
		return nil, fmt.Errorf("app: genesis chain id %q, configured %q", req.ChainId, a.chainID)
	}
	if req.InitialHeight > 1 {
		return nil, fmt.Errorf("app: initial height %d unsupported", req.InitialHeight)
	}
	g, err := protocol.ParseGenesisState(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	vals := make([]protocol.ValidatorUpdate, len(req.Validators))
	for i, v := range req.Validators {
		if v.PubKeyType != "ed25519" || len(v.PubKeyBytes) != 32 {
			return nil, fmt.Errorf("app: genesis validator %d: want an ed25519 key, got %s", i, v.PubKeyType)
		}
		vals[i] = protocol.ValidatorUpdate{PubKey: v.PubKeyBytes, Power: v.Power}
	}
	ctx := module.NewContext(store.Tree{T: a.tree}, a.block(0, req.Time, nil), g.Params, false)
	if err := a.acc.InitGenesis(ctx, g); err != nil {
		return nil, fmt.Errorf("app: genesis accounts: %w", err)
	}
	if err := a.gov.InitGenesis(ctx, g, vals); err != nil {
		return nil, fmt.Errorf("app: genesis governance: %w", err)
	}
	if len(a.genesisHash) != 32 {
		return nil, fmt.Errorf("app: genesis hash not configured")
	}
	if err := a.reg.InitGenesis(ctx, a.genesisHash, g.Registry); err != nil {
		return nil, fmt.Errorf("app: genesis registry: %w", err)
	}
	out := ctx.Flush()
	rec := newBlockRecord(0, req.Time, a.tree.WorkingHash(), out.Messages)
	if err := a.blocks.put(rec); err != nil {
		return nil, err
	}
	// Until block 1 commits, the mempool sees the genesis state as written
	// (never written back: check contexts are only dropped).
	a.check = module.NewContext(store.Tree{T: a.tree}, a.block(0, req.Time, nil), g.Params, true)
	a.log.Info("genesis applied", "chain_id", a.chainID, "accounts", len(g.Accounts), "validators", len(vals))
	return &abci.InitChainResponse{AppHash: rec.appHash()}, nil
}

// Commit implements abci.Application: it persists the finalized block. The
// block record is written first, so a crash between the two writes leaves a
// record that the replayed block overwrites identically.
func (a *App) Commit(_ context.Context, _ *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		return nil, errors.New("app: commit without a finalized block")
	}
	if err := a.blocks.put(a.pending); err != nil {
		return nil, err
	}
	_, version, err := a.tree.SaveVersion()
	if err != nil {
		return nil, fmt.Errorf("app: save state %d: %w", a.pending.Height, err)
	}
	if version != a.pending.Height {
		return nil, fmt.Errorf("app: saved state version %d for block %d", version, a.pending.Height)
	}
	a.height = version
	a.pending = nil
	if err := a.resetCheckState(); err != nil {
		return nil, err
	}
	return &abci.CommitResponse{}, nil
}

// resetCheckState starts the mempool view afresh from the last commit;
// CometBFT then rechecks the transactions left in the mempool against it.
func (a *App) resetCheckState() error {
	snap, err := a.tree.GetImmutable(a.height)
	if err != nil {
		return fmt.Errorf("app: state %d: %w", a.height, err)
	}
	kv := store.Snapshot{T: snap}
	rec, err := a.blocks.get(a.height)
	if err != nil {
		return err
	}
	a.check = module.NewContext(kv, a.block(a.height, rec.time(), nil), governance.Params(kv), true)
	return nil
}

// block describes height h to modules. hash is the header hash of h when h
// is being finalized (its record is not written yet).
func (a *App) block(h int64, t time.Time, hash []byte) module.Block {
	return module.Block{ChainID: a.chainID, Height: h, Time: t, HashAt: func(at int64) ([]byte, bool) {
		if at == h && hash != nil {
			return hash, true
		}
		if at < 1 || at > a.height {
			return nil, false
		}
		rec, err := a.blocks.get(at)
		if err != nil {
			return nil, false
		}
		return rec.BlockHash, len(rec.BlockHash) > 0
	}}
}
