// Package devnet runs the all-in-one local network behind `phala devnet`: a
// single-validator phala-node, a pRuntime with the sim TEE and a pherry
// between them. They share one process but talk only through their real
// interfaces (CometBFT RPC, pRuntime's HTTP API), exactly as separate
// processes would. Everything lives under one home, so a restart continues
// where it stopped.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/sdk"
)

// ChainID is the devnet's chain id.
const ChainID = "phala-devnet"

// Options configure a devnet.
type Options struct {
	Home      string
	BlockTime time.Duration
	// BasePort: node p2p on BasePort, RPC +1, node metrics +2; pRuntime
	// private API +4, public API +5.
	BasePort int
	Logger   *slog.Logger
	// Reset wipes the home first.
	Reset bool
	// Progress is how often a status line is logged.
	Progress time.Duration
}

// DefaultOptions returns the defaults of `phala devnet`.
func DefaultOptions() Options {
	dir, err := os.UserHomeDir()
	if err != nil {
		dir = "."
	}
	return Options{
		Home:      filepath.Join(dir, ".phala", "devnet"),
		BlockTime: 200 * time.Millisecond,
		BasePort:  26656,
		Progress:  10 * time.Second,
	}
}

// Addresses of a devnet's components.
type Addresses struct {
	NodeRPC         string
	PRuntimePrivate string
	PRuntimePublic  string
}

// Addresses returns where the devnet's components listen.
func (o Options) Addresses() Addresses {
	return Addresses{
		NodeRPC:         fmt.Sprintf("tcp://127.0.0.1:%d", o.BasePort+1),
		PRuntimePrivate: fmt.Sprintf("127.0.0.1:%d", o.BasePort+4),
		PRuntimePublic:  fmt.Sprintf("127.0.0.1:%d", o.BasePort+5),
	}
}

// Devnet is a running devnet.
type Devnet struct {
	Node     *node.Node
	Runtime  *pruntime.Runtime
	DevKey   *sdk.Key
	KeyPath  string
	Operator *sdk.Key
	Home     string
	Addr     Addresses

	o         Options
	listeners *api.Listeners
	stopRelay context.CancelFunc
	relayDone chan error
	stopOnce  sync.Once
	stopErr   error
}

func (o Options) nodeHome() string     { return filepath.Join(o.Home, "node") }
func (o Options) pruntimeHome() string { return filepath.Join(o.Home, "pruntime") }

// Start creates the home if needed, starts the three components and
// returns once the worker is registered and pRuntime has caught up.
func Start(ctx context.Context, o Options) (*Devnet, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress <= 0 {
		o.Progress = 10 * time.Second
	}
	if o.Reset {
		if err := os.RemoveAll(o.Home); err != nil {
			return nil, fmt.Errorf("devnet: reset: %w", err)
		}
	}
	nh := o.nodeHome()
	if _, err := os.Stat(filepath.Join(nh, "config", "genesis.json")); errors.Is(err, os.ErrNotExist) {
		ho := home.DefaultOptions(ChainID)
		ho.BlockTime = o.BlockTime
		ho.BasePort = o.BasePort
		ho.DevAccounts = 2 // "dev" for the user, "dev1" pays for the relayer
		if _, err := home.Write([]string{nh}, ho); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		o.Logger.Info("devnet home created", "home", o.Home)
	}
	d := &Devnet{Home: o.Home, Addr: o.Addresses(), o: o, KeyPath: filepath.Join(nh, home.KeysDir, home.DevKeyName+".json")}
	var err error
	if d.DevKey, err = sdk.LoadKey(d.KeyPath); err != nil {
		return nil, fmt.Errorf("devnet: dev key: %w", err)
	}
	if d.Operator, err = sdk.LoadKey(filepath.Join(nh, home.KeysDir, home.DevKeyName+"1.json")); err != nil {
		return nil, fmt.Errorf("devnet: operator key: %w", err)
	}
	if err := d.start(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	if err := d.waitReady(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Devnet) start(ctx context.Context) error {
	o := d.o
	n, err := node.Start(ctx, node.Options{
		Home: o.nodeHome(), RPCAddr: d.Addr.NodeRPC, P2PAddr: fmt.Sprintf("tcp://127.0.0.1:%d", o.BasePort),
		Logger: o.Logger.With("component", "node"), CometLevel: slog.LevelWarn,
	})
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	d.Node = n

	provider, err := sim.Open(o.pruntimeHome())
	if err != nil {
		return fmt.Errorf("devnet: pruntime: %w", err)
	}
	rtLog := o.Logger.With("component", "pruntime")
	d.Runtime, err = pruntime.Open(pruntime.Config{DataDir: o.pruntimeHome(), TEE: provider, Logger: rtLog, CheckpointEvery: 500})
	if err != nil {
		return fmt.Errorf("devnet: pruntime: %w", err)
	}
	d.listeners, err = api.New(d.Runtime, d.Runtime.Logger(), nil).Listen(d.Addr.PRuntimePrivate, d.Addr.PRuntimePublic)
	if err != nil {
		return fmt.Errorf("devnet: pruntime: %w", err)
	}

	relayer, err := pherry.New(pherry.Config{
		NodeRPC: d.Addr.NodeRPC, PRuntime: d.Addr.PRuntimePrivate, Operator: d.Operator,
		RPCBatchLimit: 200, Logger: o.Logger.With("component", "pherry"), Poll: o.BlockTime,
		ProgressEvery: o.Progress,
	})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	d.stopRelay, d.relayDone = cancel, make(chan error, 1)
	go func() { d.relayDone <- relayer.Run(rctx) }()
	return nil
}

// waitReady waits until pRuntime is synced to the tip and registered.
func (d *Devnet) waitReady(ctx context.Context) error {
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		return err
	}
	pr := sdk.NewPRuntime(d.Addr.PRuntimePublic)
	for {
		h, herr := c.Height(ctx)
		info, ierr := pr.Info(ctx)
		if herr == nil && ierr == nil && info.Registered && info.SyncedHeight >= h-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: waiting for the worker to register and sync: %w", ctx.Err())
		case err := <-d.relayDone:
			d.relayDone <- err
			return fmt.Errorf("devnet: pherry stopped: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PrintInfo writes the endpoints, the dev account and next steps.
func (d *Devnet) PrintInfo(ctx context.Context, w io.Writer) error {
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		return err
	}
	acc, _, err := c.Account(ctx, d.DevKey.Address())
	if err != nil {
		return err
	}
	info := d.Runtime.Info()
	fmt.Fprintf(w, `Phala devnet is running (chain %s, height %d)

  node RPC          %s
  pRuntime public   http://%s   (info, attestation)
  pRuntime private  http://%s   (relayer API)
  worker            %x  (registered, TEE %s: INSECURE, development only)
  home              %s
  dev account       %s  (balance %d)
  dev key file      %s

Next steps:
  phala status
  phala query account %s
  phala tx transfer --from %s --to <address> --amount 1000
  phala tx push-message --from %s --topic phala/worker/%x/ping --payload hello
  phala query messages --height <H>   (the worker's signed answer lands a few blocks later)

Press Ctrl-C to stop; run the same command again to continue.
`, ChainID, info.SyncedHeight, d.Addr.NodeRPC, d.Addr.PRuntimePublic, d.Addr.PRuntimePrivate,
		[]byte(info.WorkerPubkey), info.TEE, d.Home, d.DevKey.Address(), acc.Balance, d.KeyPath,
		d.DevKey.Address(), d.KeyPath, d.KeyPath, []byte(info.WorkerPubkey))
	return nil
}

// Run serves until ctx is done, logging progress, then stops everything.
func (d *Devnet) Run(ctx context.Context) error {
	t := time.NewTicker(d.o.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return d.Stop()
		case err := <-d.relayDone:
			d.relayDone <- err
			return errors.Join(fmt.Errorf("devnet: pherry stopped: %w", err), d.Stop())
		case <-t.C:
			info := d.Runtime.Info()
			d.o.Logger.Info("devnet", "synced_height", info.SyncedHeight, "registered", info.Registered, "pending_egress", info.PendingEgress)
		}
	}
}

// Stop stops pherry, pRuntime (with a final checkpoint) and the node, in
// that order. It is idempotent.
func (d *Devnet) Stop() error {
	d.stopOnce.Do(func() {
		var errs []error
		if d.stopRelay != nil {
			d.stopRelay()
			if err := <-d.relayDone; err != nil {
				errs = append(errs, err)
			}
		}
		if d.listeners != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, d.listeners.Shutdown(ctx))
			cancel()
		}
		if d.Runtime != nil {
			errs = append(errs, d.Runtime.Close())
		}
		if d.Node != nil {
			errs = append(errs, d.Node.Stop())
		}
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}
