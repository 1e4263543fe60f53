// Package devnet runs the all-in-one local network behind `phala devnet`:
// a single-validator phala-node with a funded dev account, in one process
// but reached only through its real network interfaces. It keeps everything
// under one home, so a restart continues where it stopped.
//
// Status: the node only. pRuntime and pherry join it with the pherry and
// devnet issue.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/sdk"
)

// ChainID is the devnet's chain id.
const ChainID = "phala-devnet"

// Options configure a devnet.
type Options struct {
	Home      string
	BlockTime time.Duration
	// BasePort: p2p on BasePort, RPC on BasePort+1, node metrics on +2.
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

// Devnet is a running devnet.
type Devnet struct {
	Node    *node.Node
	DevKey  *sdk.Key
	KeyPath string
	Home    string
	o       Options
}

func (o Options) nodeHome() string { return filepath.Join(o.Home, "node") }

// Start creates the home if needed and starts the network. It returns once
// the first block is committed.
func Start(ctx context.Context, o Options) (*Devnet, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Reset {
		if err := os.RemoveAll(o.Home); err != nil {
			return nil, fmt.Errorf("devnet: reset: %w", err)
		}
	}
	nh := o.nodeHome()
	keyPath := filepath.Join(nh, home.KeysDir, home.DevKeyName+".json")
	if _, err := os.Stat(filepath.Join(nh, "config", "genesis.json")); errors.Is(err, os.ErrNotExist) {
		ho := home.DefaultOptions(ChainID)
		ho.BlockTime = o.BlockTime
		ho.BasePort = o.BasePort
		if _, err := home.Write([]string{nh}, ho); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		o.Logger.Info("devnet home created", "home", o.Home)
	}
	key, err := sdk.LoadKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("devnet: dev key: %w", err)
	}
	n, err := node.Start(ctx, node.Options{
		Home:       nh,
		RPCAddr:    fmt.Sprintf("tcp://127.0.0.1:%d", o.BasePort+1),
		P2PAddr:    fmt.Sprintf("tcp://127.0.0.1:%d", o.BasePort),
		Logger:     o.Logger.With("component", "node"),
		CometLevel: slog.LevelWarn,
	})
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	d := &Devnet{Node: n, DevKey: key, KeyPath: keyPath, Home: o.Home, o: o}
	if err := d.waitFirstBlock(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Devnet) waitFirstBlock(ctx context.Context) error {
	for {
		c, err := sdk.Dial(ctx, d.Node.RPCAddr())
		if err == nil {
			if h, err := c.Height(ctx); err == nil && h >= 1 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: waiting for the first block: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PrintInfo writes the endpoints, the dev account and next steps.
func (d *Devnet) PrintInfo(ctx context.Context, w io.Writer) error {
	c, err := sdk.Dial(ctx, d.Node.RPCAddr())
	if err != nil {
		return err
	}
	acc, _, err := c.Account(ctx, d.DevKey.Address())
	if err != nil {
		return err
	}
	h, _ := c.Height(ctx)
	fmt.Fprintf(w, `Phala devnet is running (chain %s, height %d)

  node RPC      %s
  home          %s
  dev account   %s  (balance %d)
  dev key file  %s

Next steps:
  phala query account %s
  phala tx transfer --from %s --to <address> --amount 1000
  phala tx push-message --from %s --topic demo --payload hello
  phala query messages --height <H>

Press Ctrl-C to stop; run the same command again to continue.
`, c.ChainID(), h, d.Node.RPCAddr(), d.Home, d.DevKey.Address(), acc.Balance, d.KeyPath,
		d.DevKey.Address(), d.KeyPath, d.KeyPath)
	return nil
}

// Run serves until ctx is done, logging progress, then stops the network.
func (d *Devnet) Run(ctx context.Context) error {
	c, err := sdk.Dial(ctx, d.Node.RPCAddr())
	if err != nil {
		d.Stop()
		return err
	}
	t := time.NewTicker(d.o.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return d.Stop()
		case <-t.C:
			if h, err := c.Height(ctx); err == nil {
				d.o.Logger.Info("devnet", "height", h)
			}
		}
	}
}

// Stop stops every component.
func (d *Devnet) Stop() error { return d.Node.Stop() }
