// Package devnet runs the all-in-one local network behind `phala devnet`: a
// single-validator phala-node and two workers on the sim TEE, each a
// pRuntime with its own pherry — the first gatekeeper, and a member of the
// cluster "default" that runs contracts. They share one process but talk
// only through their real interfaces (CometBFT RPC, pRuntime's HTTP API),
// exactly as separate processes would. Everything lives under one home, so
// a restart continues where it stopped.
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
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// ChainID is the devnet's chain id.
const ChainID = "phala-devnet"

// Cluster is the name of the devnet's cluster, whose member runs contracts.
const Cluster = "default"

// WebOrigins are the pages allowed to call the devnet's node RPC from a
// browser: pages served from this machine, such as examples/dapp's
// `npm run dev` (docs/sdk-ts.md).
func WebOrigins() []string { return []string{"http://localhost:*", "http://127.0.0.1:*"} }

// Options configure a devnet.
type Options struct {
	Home      string
	BlockTime time.Duration
	// BasePort: node p2p on BasePort, RPC +1, node metrics +2; the
	// gatekeeper's pRuntime private API +4, public +5; the worker's
	// private +6, public +7.
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
	NodeRPC string
	// The worker runs the contracts: clients query its public API.
	WorkerPrivate string
	WorkerPublic  string
	// The gatekeeper holds the epoch secret.
	GatekeeperPrivate string
	GatekeeperPublic  string
}

// Addresses returns where the devnet's components listen.
func (o Options) Addresses() Addresses {
	at := func(off int) string { return fmt.Sprintf("127.0.0.1:%d", o.BasePort+off) }
	return Addresses{
		NodeRPC:           "tcp://" + at(1),
		GatekeeperPrivate: at(4), GatekeeperPublic: at(5),
		WorkerPrivate: at(6), WorkerPublic: at(7),
	}
}

// Devnet is a running devnet.
type Devnet struct {
	Node       *node.Node
	Gatekeeper *Member
	Worker     *Member
	DevKey     *sdk.Key
	KeyPath    string
	Admin      *sdk.Key
	AdminPath  string
	Home       string
	Addr       Addresses
	// GenesisPath is the chain's genesis document: the CLI pins it as the
	// devnet's trust root.
	GenesisPath string

	o        Options
	stopOnce sync.Once
	stopErr  error
}

func (o Options) nodeHome() string { return filepath.Join(o.Home, "node") }

// Start creates the home if needed, starts the node and both workers, sets
// up the gatekeeper and the cluster on a new chain, and returns once both
// workers are registered, caught up and hold the current keys.
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
		ho.AllowSim = true // the devnet's pRuntime runs on the sim TEE
		ho.BlockTime = o.BlockTime
		ho.BasePort = o.BasePort
		ho.DevAccounts = 3 // "dev" for the user, "dev1" and "dev2" pay for the relayers
		if _, err := home.Write([]string{nh}, ho); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		o.Logger.Info("devnet home created", "home", o.Home)
	}
	keys := filepath.Join(nh, home.KeysDir)
	d := &Devnet{Home: o.Home, Addr: o.Addresses(), GenesisPath: filepath.Join(nh, "config", "genesis.json"), o: o, KeyPath: filepath.Join(keys, home.DevKeyName+".json"), AdminPath: filepath.Join(keys, home.AdminKeyName+".json")}
	var err error
	if d.DevKey, err = sdk.LoadKey(d.KeyPath); err != nil {
		return nil, fmt.Errorf("devnet: dev key: %w", err)
	}
	if d.Admin, err = sdk.LoadKey(d.AdminPath); err != nil {
		return nil, fmt.Errorf("devnet: admin key: %w", err)
	}
	var ops [2]*sdk.Key
	for i := range ops {
		if ops[i], err = sdk.LoadKey(filepath.Join(keys, fmt.Sprintf("%s%d.json", home.DevKeyName, i+1))); err != nil {
			return nil, fmt.Errorf("devnet: relayer key: %w (a home from an older version: start with --reset)", err)
		}
	}
	if err := d.start(ctx, ops); err != nil {
		d.Stop()
		return nil, err
	}
	if err := d.ready(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Devnet) start(ctx context.Context, ops [2]*sdk.Key) error {
	o := d.o
	n, err := node.Start(ctx, node.Options{
		Home: o.nodeHome(), RPCAddr: d.Addr.NodeRPC, P2PAddr: fmt.Sprintf("tcp://127.0.0.1:%d", o.BasePort),
		Logger: o.Logger.With("component", "node"), CometLevel: slog.LevelWarn,
		CORSOrigins: WebOrigins(),
	})
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	d.Node = n
	if d.Gatekeeper, err = startMember("gatekeeper", o.memberHome("gatekeeper"), d.Addr.NodeRPC, d.Addr.GatekeeperPrivate, d.Addr.GatekeeperPublic, ops[0], o); err != nil {
		return err
	}
	d.Worker, err = startMember("worker", o.memberHome("worker"), d.Addr.NodeRPC, d.Addr.WorkerPrivate, d.Addr.WorkerPublic, ops[1], o)
	return err
}

// ready waits for both workers to register and catch up, makes the first
// one the gatekeeper and the second a member of the cluster on a new
// chain, and waits until both hold the current epoch's keys (after a
// restart the chain rotates to a new epoch by itself: the old secret died
// with the gatekeeper's memory).
func (d *Devnet) ready(ctx context.Context) error {
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		return err
	}
	members := []*Member{d.Gatekeeper, d.Worker}
	if err := d.waitFor(ctx, "the workers to register and catch up", func() bool {
		h, err := c.Height(ctx)
		if err != nil {
			return false
		}
		for _, m := range members {
			if i := m.Runtime.Info(); !i.Registered || i.SyncedHeight < h-1 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	if err := d.setUpKeys(ctx, c); err != nil {
		return err
	}
	return d.waitFor(ctx, "the workers to hold the current keys", func() bool {
		info, err := c.Epoch(ctx)
		if err != nil || info.Current == 0 || info.Pending != nil {
			return false
		}
		for _, m := range members {
			if i := m.Runtime.Info(); i.Epoch != info.Current || !i.HoldsEpochKey {
				return false
			}
		}
		return true
	})
}

// setUpKeys creates the cluster with the worker in it and makes the
// gatekeeper the first gatekeeper, which starts epoch 1 with the cluster's
// key in it. Each step is skipped when the chain already has it.
func (d *Devnet) setUpKeys(ctx context.Context, c *sdk.Client) error {
	id := protocol.ClusterID(Cluster)
	cl, ok, err := c.Cluster(ctx, id)
	if err != nil {
		return err
	}
	worker := d.Worker.Runtime.Info().WorkerPubkey
	if !ok {
		if err := d.gov(ctx, c, protocol.ActionCreateCluster, protocol.ClusterArgs{Name: Cluster}); err != nil {
			return err
		}
	}
	if !ok || len(cl.Members) == 0 {
		if err := d.gov(ctx, c, protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: Cluster, Worker: worker}); err != nil {
			return err
		}
	}
	info, err := c.Epoch(ctx)
	if err != nil {
		return err
	}
	if len(info.Gatekeepers) == 0 {
		return d.gov(ctx, c, protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: d.Gatekeeper.Runtime.Info().WorkerPubkey})
	}
	return nil
}

// gov executes a governance action with the devnet's admin key, paid from
// the dev account.
func (d *Devnet) gov(ctx context.Context, c *sdk.Client, kind string, args any) error {
	res, err := c.Govern(ctx, d.DevKey, kind, args, d.Admin)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	d.o.Logger.Info("devnet set up", "action", kind, "height", res.Height)
	return nil
}

// waitFor polls cond until it holds, ctx ends or a pherry stops.
func (d *Devnet) waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: waiting for %s: %w", what, ctx.Err())
		case err := <-d.Gatekeeper.relayDone:
			d.Gatekeeper.relayDone <- err // for stop
			return fmt.Errorf("devnet: gatekeeper's pherry stopped: %w", err)
		case err := <-d.Worker.relayDone:
			d.Worker.relayDone <- err
			return fmt.Errorf("devnet: worker's pherry stopped: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
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
	gk, wk := d.Gatekeeper.Runtime.Info(), d.Worker.Runtime.Info()
	fmt.Fprintf(w, `Phala devnet is running (chain %s, height %d, key epoch %d)

  node RPC           %s
  worker             %x  (cluster %q; TEE %s: INSECURE, development only)
    public API       http://%s   (info, attestation, contract queries)
    private API      http://%s   (relayer)
  gatekeeper         %x
    public API       http://%s
    private API      http://%s
  home               %s
  dev account        %s  (balance %d)
  dev key file       %s
  admin key file     %s

Next steps:
  phala status
  phala keys epoch
  phala contract build examples/contracts/token
  phala contract deploy --from %s token.wasm
  phala contract instantiate --from %s --code <hash> --cluster %s --init '{"supply": 1000000}'
  phala contract command --from %s --contract <id> --input '{"transfer": {"to": "<address>", "amount": 10}}'
  phala contract query --from %s --contract <id> --input '{"balance": {}}' --allow-sim
  (docs/contracts.md walks through it)

Press Ctrl-C to stop; run the same command again to continue.
`, ChainID, wk.SyncedHeight, wk.Epoch, d.Addr.NodeRPC,
		[]byte(wk.WorkerPubkey), Cluster, wk.TEE, d.Addr.WorkerPublic, d.Addr.WorkerPrivate,
		[]byte(gk.WorkerPubkey), d.Addr.GatekeeperPublic, d.Addr.GatekeeperPrivate,
		d.Home, d.DevKey.Address(), acc.Balance, d.KeyPath, d.AdminPath,
		d.KeyPath, d.KeyPath, Cluster, d.KeyPath, d.KeyPath)
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
		case err := <-d.Gatekeeper.relayDone:
			d.Gatekeeper.relayDone <- err // for stop
			return errors.Join(fmt.Errorf("devnet: gatekeeper's pherry stopped: %w", err), d.Stop())
		case err := <-d.Worker.relayDone:
			d.Worker.relayDone <- err
			return errors.Join(fmt.Errorf("devnet: worker's pherry stopped: %w", err), d.Stop())
		case <-t.C:
			d.Gatekeeper.logInfo(d.o.Logger)
			d.Worker.logInfo(d.o.Logger)
		}
	}
}

// Stop stops both workers (pherry, then pRuntime with a final checkpoint)
// and then the node. It is idempotent.
func (d *Devnet) Stop() error {
	d.stopOnce.Do(func() {
		var errs []error
		for _, m := range []*Member{d.Worker, d.Gatekeeper} {
			if m != nil {
				errs = append(errs, m.stop())
			}
		}
		if d.Node != nil {
			errs = append(errs, d.Node.Stop())
		}
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}
