// Package nodetest starts real phala nodes in-process for tests: homes
// written by package home on free loopback ports, nodes started by package
// node, clients from sdk. Only tests import it.
package nodetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/privval"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/sdk"
)

// Testnet is a set of validators running in this process.
type Testnet struct {
	t       testing.TB
	Options home.Options
	Homes   []string
	Nodes   []*node.Node // nil while stopped
	Keys    *home.Result
}

// Write writes the homes of an n-validator testnet without starting it.
func Write(t testing.TB, n int, blockTime time.Duration) *Testnet {
	t.Helper()
	o := home.DefaultOptions(fmt.Sprintf("phala-test-%d", rand.IntN(1_000_000)))
	o.Validators = n
	o.AllowSim = true // test workers run on the sim TEE
	o.BlockTime = blockTime
	o.BasePort = FreePortBase(t, n)
	o.DevAccounts = 8
	dir := t.TempDir()
	homes := make([]string, n)
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
	}
	res, err := home.Write(homes, o)
	if err != nil {
		t.Fatal(err)
	}
	tn := &Testnet{t: t, Options: o, Homes: homes, Nodes: make([]*node.Node, n), Keys: res}
	t.Cleanup(tn.StopAll)
	return tn
}

// Start writes and starts an n-validator testnet and waits until the
// application has committed a block (so state queries work).
func Start(t testing.TB, n int, blockTime time.Duration) *Testnet {
	t.Helper()
	tn := Write(t, n, blockTime)
	for i := range n {
		tn.StartNode(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn.WaitHeight(ctx, 0, 2)
	return tn
}

// StartNode starts (or restarts) validator i.
func (tn *Testnet) StartNode(i int) {
	tn.t.Helper()
	n, err := node.Start(context.Background(), node.Options{Home: tn.Homes[i]})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.Nodes[i] = n
}

// StopNode stops validator i.
func (tn *Testnet) StopNode(i int) {
	tn.t.Helper()
	if tn.Nodes[i] == nil {
		return
	}
	if err := tn.Nodes[i].Stop(); err != nil {
		tn.t.Errorf("stop node %d: %v", i, err)
	}
	tn.Nodes[i] = nil
}

// StopAll stops every running validator.
func (tn *Testnet) StopAll() {
	for i := range tn.Nodes {
		tn.StopNode(i)
	}
}

// RPCAddr is validator i's RPC address.
func (tn *Testnet) RPCAddr(i int) string { return tn.Options.RPCAddr(i) }

// Client dials validator i.
func (tn *Testnet) Client(ctx context.Context, i int) *sdk.Client {
	tn.t.Helper()
	var lastErr error
	for range 100 {
		c, err := sdk.Dial(ctx, tn.RPCAddr(i))
		if err == nil {
			return c
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	tn.t.Fatalf("dial node %d: %v", i, lastErr)
	return nil
}

// WaitHeight waits until validator i reports height >= h.
func (tn *Testnet) WaitHeight(ctx context.Context, i int, h int64) {
	tn.t.Helper()
	c := tn.Client(ctx, i)
	for {
		cur, err := c.Height(ctx)
		if err == nil && cur >= h {
			return
		}
		select {
		case <-ctx.Done():
			tn.t.Fatalf("node %d: waiting for height %d (at %d, %v): %v", i, h, cur, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ValidatorKey loads validator i's consensus private key, so that tests can
// forge blocks only the validators could sign.
func (tn *Testnet) ValidatorKey(i int) ed25519.PrivKey {
	tn.t.Helper()
	c := filepath.Join(tn.Homes[i], "config", "priv_validator_key.json")
	s := filepath.Join(tn.Homes[i], "data", "priv_validator_state.json")
	pv := privval.LoadFilePV(c, s)
	k, ok := pv.Key.PrivKey.(ed25519.PrivKey)
	if !ok {
		tn.t.Fatalf("validator %d key is %T", i, pv.Key.PrivKey)
	}
	return k
}
