// Package home writes node homes: CometBFT configuration, keys and the
// genesis document whose app_state carries the governance admins, the
// funded dev accounts and the chain parameters. It writes single-validator
// dev homes (`phala-node init`) and N-validator local testnets
// (`phala-node testnet`).
package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// Key file names written into a home's keys/ directory.
const (
	KeysDir      = "keys"
	AdminKeyName = "admin"
	DevKeyName   = "dev"
)

// DevBalance is what each dev account holds at genesis.
const DevBalance uint64 = 1_000_000_000_000

// Options describe the homes to write.
type Options struct {
	ChainID string
	// Validators is the number of validator homes (1 for `init`).
	Validators int
	// DevAccounts is the number of funded dev accounts ("dev", "dev1", ...).
	DevAccounts int
	// AllowSim admits workers with the insecure sim TEE and allowlists the
	// default sim build. Off unless set explicitly: only `phala devnet` and
	// tests set it. Governance can never turn it on later, and a chain that
	// does not allow sim requires TCB collateral for every TDX worker.
	AllowSim bool
	// BlockTime is CometBFT's timeout_commit: the pause after each block.
	BlockTime time.Duration
	// Host and BasePort place the listeners: validator i uses
	// BasePort+10*i for p2p, +1 for RPC and +2 for Prometheus.
	Host     string
	BasePort int
}

// DefaultOptions returns options for a one-validator home with a funded
// dev account. Sim attestation is off: set AllowSim for a development
// chain.
func DefaultOptions(chainID string) Options {
	return Options{
		ChainID:     chainID,
		Validators:  1,
		DevAccounts: 1,
		BlockTime:   time.Second,
		Host:        "127.0.0.1",
		BasePort:    26656,
	}
}

// Result says what was written.
type Result struct {
	Homes   []string
	Genesis *types.GenesisDoc
	Admin   *sdk.Key
	Dev     []*sdk.Key
}

// RPCAddr is the RPC listen address of validator i.
func (o Options) RPCAddr(i int) string { return fmt.Sprintf("tcp://%s:%d", o.Host, o.BasePort+10*i+1) }

// P2PAddr is the p2p listen address of validator i.
func (o Options) P2PAddr(i int) string { return fmt.Sprintf("tcp://%s:%d", o.Host, o.BasePort+10*i) }

// PrometheusAddr is the metrics listen address of validator i.
func (o Options) PrometheusAddr(i int) string { return fmt.Sprintf("%s:%d", o.Host, o.BasePort+10*i+2) }

// Write creates one home per validator: homes[i]. It refuses to touch a
// directory that already holds a genesis file.
func Write(homes []string, o Options) (*Result, error) {
	if o.ChainID == "" {
		return nil, errors.New("home: empty chain id")
	}
	if len(homes) == 0 || len(homes) != o.Validators {
		return nil, fmt.Errorf("home: %d homes for %d validators", len(homes), o.Validators)
	}
	for _, h := range homes {
		if _, err := os.Stat(filepath.Join(h, "config", "genesis.json")); err == nil {
			return nil, fmt.Errorf("home: %s already holds a genesis file", h)
		}
	}
	res := &Result{Homes: homes}
	var err error
	if res.Admin, err = sdk.GenerateKey(AdminKeyName); err != nil {
		return nil, err
	}
	for i := range max(o.DevAccounts, 0) {
		name := DevKeyName
		if i > 0 {
			name = fmt.Sprintf("%s%d", DevKeyName, i)
		}
		k, err := sdk.GenerateKey(name)
		if err != nil {
			return nil, err
		}
		res.Dev = append(res.Dev, k)
	}

	configs := make([]*cfg.Config, len(homes))
	nodeIDs := make([]string, len(homes))
	var vals []types.GenesisValidator
	for i, h := range homes {
		c := nodeConfig(h, i, o)
		configs[i] = c
		cfg.EnsureRoot(h)
		pv, err := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile(), func() (crypto.PrivKey, error) { return ed25519.GenPrivKey(), nil })
		if err != nil {
			return nil, fmt.Errorf("home %s: validator key: %w", h, err)
		}
		pv.Save()
		nk, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
		if err != nil {
			return nil, fmt.Errorf("home %s: node key: %w", h, err)
		}
		nodeIDs[i] = string(nk.ID())
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, err
		}
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: fmt.Sprintf("validator%d", i)})
	}

	app := protocol.GenesisState{
		Params:     protocol.DefaultParams(),
		Governance: protocol.GovernanceGenesis{Admins: []protocol.HexBytes{protocol.HexBytes(res.Admin.Public())}, Threshold: 1},
	}
	app.Params.AllowSimAttestation = o.AllowSim
	app.Registry.Policy = protocol.DefaultAttestationPolicy()
	if o.AllowSim {
		app.Registry.Measurements = []protocol.HexBytes{sim.DefaultMeasurement}
	}
	for _, k := range res.Dev {
		app.Accounts = append(app.Accounts, protocol.GenesisAccount{Address: k.Address(), Balance: DevBalance})
	}
	appJSON, err := json.MarshalIndent(app, "", "  ")
	if err != nil {
		return nil, err
	}
	gen := &types.GenesisDoc{
		ChainID:         o.ChainID,
		GenesisTime:     time.Now().UTC().Truncate(time.Millisecond),
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        appJSON,
	}
	if err := gen.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("home: genesis: %w", err)
	}
	res.Genesis = gen

	for i, h := range homes {
		c := configs[i]
		var peers []string
		for j := range homes {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@%s:%d", nodeIDs[j], o.Host, o.BasePort+10*j))
			}
		}
		c.P2P.PersistentPeers = strings.Join(peers, ",")
		cfg.WriteConfigFile(filepath.Join(h, "config", "config.toml"), c)
		if err := gen.SaveAs(c.GenesisFile()); err != nil {
			return nil, err
		}
		for _, k := range append([]*sdk.Key{res.Admin}, res.Dev...) {
			if err := sdk.SaveKey(filepath.Join(h, KeysDir, k.Name+".json"), k); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// nodeConfig is the CometBFT configuration of validator i.
func nodeConfig(home string, i int, o Options) *cfg.Config {
	c := cfg.DefaultConfig()
	c.SetRoot(home)
	c.Moniker = fmt.Sprintf("validator%d", i)
	c.ProxyApp = "phala" // the application runs in-process
	c.RPC.ListenAddress = o.RPCAddr(i)
	c.P2P.ListenAddress = o.P2PAddr(i)
	c.P2P.AllowDuplicateIP = true
	c.P2P.AddrBookStrict = false
	c.P2P.PexReactor = o.Validators > 1
	c.Consensus.TimeoutCommit = o.BlockTime
	c.Consensus.TimeoutPropose = max(o.BlockTime, 500*time.Millisecond)
	c.Mempool.MaxTxBytes = protocol.LimitTxBytes + 1024
	c.Mempool.MaxTxsBytes = 64 * int64(protocol.LimitTxBytes)
	c.RPC.MaxBodyBytes = 4 * int64(protocol.LimitTxBytes)
	c.RPC.MaxRequestBatchSize = 200 // relayers fetch blocks in batches
	c.TxIndex.Indexer = "kv"
	c.Instrumentation.Prometheus = true
	c.Instrumentation.PrometheusListenAddr = o.PrometheusAddr(i)
	c.Instrumentation.Namespace = "cometbft"
	return c
}
