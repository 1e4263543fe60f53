package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/lyingnode"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestCLIBelievesNoNode: the CLI pins the genesis of the chain it first
// meets in the keyring, and from then on refuses an impostor of that
// chain, a node of a chain the keyring does not trust unless --chain-id
// names it, a node answering from below the header it saved last time, a
// forged fee or governance nonce, and a minimum fee above --max-fee;
// nothing is signed for any of them.
func TestCLIBelievesNoNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	dir := t.TempDir()
	for name, k := range map[string]*sdk.Key{"victim": tn.Keys.Dev[1], "admin": tn.Keys.Admin} {
		if err := sdk.SaveKey(filepath.Join(dir, name+".json"), k); err != nil {
			t.Fatal(err)
		}
	}
	on := func(node string, extra ...string) []string {
		return append([]string{"--node", node, "--keyring", dir}, extra...)
	}
	addr := tn.Keys.Dev[0].Address().String()
	if _, err := run(t, ctx, on(tn.RPCAddr(0)), "query", "account", addr); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, ctx, on(tn.RPCAddr(0)), "trust", "show")
	if err != nil || !strings.Contains(out, "chain        "+tn.Options.ChainID) || !strings.Contains(out, "verified     header") {
		t.Fatalf("trust show: %v\n%s", err, out)
	}
	saved, err := (&globals{keyring: dir}).loadTrust(tn.Options.ChainID)
	if err != nil || saved == nil || saved.Height() < 2 {
		t.Fatalf("no root saved: %v", err)
	}

	t.Run("an impostor of the pinned chain", func(t *testing.T) {
		fake, _ := lyingnode.Impostor(t, ctx, tn.Options)
		lyingnode.WaitHeight(t, ctx, fake, saved.Height()+3)
		if _, err := run(t, ctx, on(fake), "query", "account", addr); !errors.Is(err, protocol.ErrUntrustedHeader) {
			t.Fatalf("an impostor's state: %v", err)
		}
	})
	t.Run("a chain the keyring does not trust", func(t *testing.T) {
		other := nodetest.Start(t, 1, 100*time.Millisecond)
		if _, err := run(t, ctx, on(other.RPCAddr(0)), "query", "account", addr); !errors.Is(err, errUnpinned) || !strings.Contains(err.Error(), "--chain-id "+other.Options.ChainID) {
			t.Fatalf("an unpinned chain: %v", err)
		}
		if _, err := run(t, ctx, on(other.RPCAddr(0), "--chain-id", other.Options.ChainID), "query", "account", addr); err != nil {
			t.Fatalf("a chain named with --chain-id: %v", err)
		}
		// Both are trusted now; each node is checked against its own.
		if _, err := run(t, ctx, on(tn.RPCAddr(0)), "query", "account", addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a node answering from below the saved header", func(t *testing.T) {
		l := lyingnode.New(t, tn.RPCAddr(0))
		l.Set("", lyingnode.AtHeight(2, 3)...)
		if _, err := run(t, ctx, on(l.URL()), "query", "account", addr); !errors.Is(err, protocol.ErrStaleAnswer) {
			t.Fatalf("state of block 2: %v", err)
		}
	})
	transfer := []string{"tx", "transfer", "--from", "victim", "--to", addr, "--amount", "1"}
	t.Run("a forged fee", func(t *testing.T) {
		l := lyingnode.New(t, tn.RPCAddr(0))
		l.Set("", lyingnode.Forge(protocol.QueryParams, func(p *protocol.Params) { p.MinFee = 1 << 40 }))
		_, err := run(t, ctx, on(l.URL()), transfer...)
		if _, sent := l.Calls("broadcast_tx_sync"); !errors.Is(err, protocol.ErrProof) || len(sent) != 0 {
			t.Fatalf("a forged fee: %v; %d transactions broadcast", err, len(sent))
		}
	})
	t.Run("a fee above --max-fee", func(t *testing.T) {
		l := lyingnode.New(t, tn.RPCAddr(0))
		_, err := run(t, ctx, on(l.URL(), "--max-fee", "999"), transfer...)
		if _, sent := l.Calls("broadcast_tx_sync"); !errors.Is(err, protocol.ErrFeeAboveMax) || len(sent) != 0 {
			t.Fatalf("minimum fee 1000 with --max-fee 999: %v; %d transactions broadcast", err, len(sent))
		}
		if _, err := run(t, ctx, on(l.URL()), transfer...); err != nil {
			t.Fatalf("the default maximum: %v", err)
		}
	})
	t.Run("a forged governance nonce", func(t *testing.T) {
		l := lyingnode.New(t, tn.RPCAddr(0))
		l.Set("", lyingnode.Forge(protocol.QueryGovNonce, func(n *uint64) { *n += 3 }))
		_, err := run(t, ctx, on(l.URL()), "gov", "allow-measurement", "--measurement", strings.Repeat("ab", 32), "--admin", "admin")
		if _, sent := l.Calls("broadcast_tx_sync"); !errors.Is(err, protocol.ErrProof) || len(sent) != 0 {
			t.Fatalf("a forged governance nonce: %v; %d transactions broadcast", err, len(sent))
		}
	})
	t.Run("pin a genesis document", func(t *testing.T) {
		keyring := t.TempDir()
		g := []string{"--node", tn.RPCAddr(0), "--keyring", keyring}
		genesis := filepath.Join(tn.Homes[0], "config", "genesis.json")
		out, err := run(t, ctx, g, "trust", "pin", "--genesis", genesis)
		if err != nil || !strings.Contains(out, "verified     genesis only") {
			t.Fatalf("pin: %v\n%s", err, out)
		}
		if _, err := run(t, ctx, g, "query", "account", addr); err != nil {
			t.Fatal(err)
		}
		// Another genesis of the same chain id is refused, not swapped in.
		b, err := os.ReadFile(genesis)
		if err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(t.TempDir(), "genesis.json")
		if err := os.WriteFile(other, regexp.MustCompile(`("genesis_time":\s*")20`).ReplaceAll(b, []byte("${1}19")), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := run(t, ctx, g, "trust", "pin", "--genesis", other); !errors.Is(err, protocol.ErrTrustMismatch) {
			t.Fatalf("pinning another genesis of %s: %v", tn.Options.ChainID, err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		if _, err := run(t, ctx, on(tn.RPCAddr(0), "--chain-id", tn.Options.ChainID), "trust", "reset"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat((&globals{keyring: dir}).trustPath(tn.Options.ChainID)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the root is still there: %v", err)
		}
		if _, err := run(t, ctx, on(tn.RPCAddr(0), "--chain-id", tn.Options.ChainID), "trust", "reset"); !errors.Is(err, errUnpinned) {
			t.Fatalf("resetting twice: %v", err)
		}
	})
}
