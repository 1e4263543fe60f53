// Package node runs a CometBFT node with the phala application in-process,
// from a home written by package home. It owns the lifecycle of everything
// it opens: Stop closes every database, including the tx-index database
// that CometBFT v1.0.1's Node.OnStop leaves open (DESIGN section 2), so a
// node can be restarted on the same home in the same process, and no
// goroutine CometBFT leaves behind can crash the process by reaching a
// closed database.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	cfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
	cosmosdb "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/viper"

	"github.com/phala-go/phala/internal/chain/app"
	"github.com/phala-go/phala/protocol"
)

// Options configure Start.
type Options struct {
	Home string
	// RPCAddr and P2PAddr override the home's listen addresses when set.
	RPCAddr string
	P2PAddr string
	// Prometheus enables CometBFT's metrics listener from the config. It
	// registers collectors globally, so only one node per process may set it.
	Prometheus bool
	// Metrics receives the application's Prometheus series (nil: none).
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// CometLevel filters CometBFT's own log lines (it is chatty at info).
	CometLevel slog.Level
	// CORSOrigins, if set, are the web origins allowed to call the RPC
	// from a browser (CometBFT's rpc.cors_allowed_origins; "*" patterns
	// as it reads them).
	CORSOrigins []string
}

// Node is a running phala node.
type Node struct {
	cmt    *cmtnode.Node
	app    *app.App
	config *cfg.Config
	dbs    *dbTracker
	log    *slog.Logger
	// stopping demotes CometBFT's errors during shutdown (closed listeners)
	// to debug: they are expected then.
	stopping *atomic.Bool

	stopOnce sync.Once
	stopErr  error
}

// LoadConfig reads home/config/config.toml over CometBFT's defaults.
func LoadConfig(home string) (*cfg.Config, error) {
	c := cfg.DefaultConfig()
	v := viper.New()
	v.SetConfigFile(filepath.Join(home, "config", "config.toml"))
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("node: read config: %w", err)
	}
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("node: parse config: %w", err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	return c, nil
}

// Start starts the node and returns once it is running (blocks are being
// produced or synced in the background).
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := LoadConfig(o.Home)
	if err != nil {
		return nil, err
	}
	if o.RPCAddr != "" {
		c.RPC.ListenAddress = o.RPCAddr
	}
	if o.P2PAddr != "" {
		c.P2P.ListenAddress = o.P2PAddr
	}
	if len(o.CORSOrigins) > 0 {
		c.RPC.CORSAllowedOrigins = o.CORSOrigins
	}
	c.Instrumentation.Prometheus = o.Prometheus && c.Instrumentation.Prometheus
	gen, err := types.GenesisDocFromFile(c.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}

	genesisHash, err := protocol.GenesisHash(gen)
	if err != nil {
		return nil, err
	}
	appDB, err := cosmosdb.NewGoLevelDB("app", c.DBDir(), nil)
	if err != nil {
		return nil, fmt.Errorf("node: open app state: %w", err)
	}
	application, err := app.New(app.Config{ChainID: gen.ChainID, GenesisHash: genesisHash, DB: appDB, Logger: o.Logger.With("component", "app"), Metrics: o.Metrics})
	if err != nil {
		appDB.Close()
		return nil, err
	}
	pv, err := privval.LoadOrGenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile(), nil)
	if err != nil {
		application.Close()
		return nil, fmt.Errorf("node: validator key: %w", err)
	}
	nodeKey, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
	if err != nil {
		application.Close()
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	dbs := &dbTracker{}
	cmtLogger := &cometLogger{l: o.Logger.With("component", "cometbft"), min: o.CometLevel, stopping: new(atomic.Bool)}
	n, err := cmtnode.NewNode(ctx, c, pv, nodeKey,
		proxy.NewLocalClientCreator(application),
		cmtnode.DefaultGenesisDocProviderFunc(c),
		dbs.provider,
		cmtnode.DefaultMetricsProvider(c.Instrumentation),
		cmtLogger,
	)
	if err != nil {
		dbs.closeAll()
		application.Close()
		return nil, fmt.Errorf("node: create: %w", err)
	}
	if err := n.Start(); err != nil {
		dbs.closeAll()
		application.Close()
		return nil, fmt.Errorf("node: start: %w", err)
	}
	o.Logger.Info("node started", "chain_id", gen.ChainID, "home", o.Home, "rpc", c.RPC.ListenAddress, "p2p", c.P2P.ListenAddress, "height", application.LastHeight())
	return &Node{cmt: n, app: application, config: c, dbs: dbs, log: o.Logger, stopping: cmtLogger.stopping}, nil
}

// RPCAddr is the node's RPC listen address (tcp://host:port).
func (n *Node) RPCAddr() string { return n.config.RPC.ListenAddress }

// Config returns the node's effective configuration.
func (n *Node) Config() *cfg.Config { return n.config }

// Stop stops the node and closes its databases. It is idempotent. When it
// returns, nothing writes to those databases any more: CometBFT's Stop
// does not wait for every goroutine it started (its tx IndexerService
// indexes a block in a goroutine nobody waits for), so each database is
// closed through a gate that waits for the operations under way and keeps
// later ones from the database (see ErrClosed).
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		var errs []error
		if n.cmt.IsRunning() {
			if err := n.cmt.Stop(); err != nil {
				errs = append(errs, err)
			}
			n.cmt.Wait()
		}
		errs = append(errs, n.dbs.closeAll(), n.app.Close())
		n.stopErr = errors.Join(errs...)
		n.log.Info("node stopped", "home", n.config.RootDir)
	})
	return n.stopErr
}

// cometLogger adapts slog to CometBFT's logger interface.
type cometLogger struct {
	l        *slog.Logger
	min      slog.Level
	stopping *atomic.Bool
}

func (c *cometLogger) log(level slog.Level, msg string, kv []any) {
	if level == slog.LevelError && c.stopping.Load() {
		level = slog.LevelDebug
	}
	if level < c.min {
		return
	}
	c.l.Log(context.Background(), level, msg, kv...)
}

func (c *cometLogger) Debug(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }
func (c *cometLogger) Info(msg string, kv ...any)  { c.log(slog.LevelInfo, msg, kv) }
func (c *cometLogger) Error(msg string, kv ...any) { c.log(slog.LevelError, msg, kv) }
func (c *cometLogger) With(kv ...any) cmtlog.Logger {
	return &cometLogger{l: c.l.With(kv...), min: c.min, stopping: c.stopping}
}
