package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// The CLI's trust roots (docs/sdk.md, "The CLI"): one file per chain in
// the keyring's trust/ directory, holding the chain's genesis hash and
// validators and the newest header the CLI verified. The first command
// run against a keyring with no root pins the node's genesis; after that,
// a node of a chain without a root is refused unless --chain-id names it
// (trusting it at first use) or `phala trust pin` pinned it. Every command
// saves the header it verified, so the next one resumes from there and
// never accepts state from below it.

// errUnpinned: the node serves a chain the keyring has no root for.
var errUnpinned = errors.New("chain not pinned")

// trustDir is where the keyring keeps its trust roots.
func (g *globals) trustDir() string { return filepath.Join(g.keyring, "trust") }

var safeChainID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// trustPath is the file of chainID's root.
func (g *globals) trustPath(chainID string) string {
	name := chainID
	if !safeChainID.MatchString(name) || strings.HasPrefix(name, ".") {
		name = fmt.Sprintf("%x", chainID)
	}
	return filepath.Join(g.trustDir(), name+".json")
}

// loadTrust reads chainID's root; nil if there is none.
func (g *globals) loadTrust(chainID string) (*sdk.TrustRoot, error) {
	b, err := os.ReadFile(g.trustPath(chainID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r sdk.TrustRoot
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("trust root %s: %w", g.trustPath(chainID), err)
	}
	if r.ChainID != chainID {
		return nil, protocol.Errorf(protocol.ErrBadTrustRoot, "%s holds chain %q", g.trustPath(chainID), r.ChainID)
	}
	return &r, nil
}

// pinnedChains lists the chains the keyring has roots for.
func (g *globals) pinnedChains() ([]*sdk.TrustRoot, error) {
	entries, err := os.ReadDir(g.trustDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*sdk.TrustRoot
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(g.trustDir(), e.Name()))
		if err != nil {
			return nil, err
		}
		var r sdk.TrustRoot
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("trust root %s: %w", e.Name(), err)
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, func(a, b *sdk.TrustRoot) int { return strings.Compare(a.ChainID, b.ChainID) })
	return out, nil
}

// saveTrust writes r, unless the file already holds a later header of the
// same genesis (another command got further).
func (g *globals) saveTrust(r *sdk.TrustRoot) error {
	if old, err := g.loadTrust(r.ChainID); err == nil && old != nil && string(old.GenesisHash) == string(r.GenesisHash) && old.Height() >= r.Height() {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(g.trustDir(), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(g.trustDir(), ".trust-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), g.trustPath(r.ChainID))
}

// client dials the node with the keyring's root of the chain it serves
// (see the top of this file), pinning the node's genesis if the keyring
// has none yet. The command's last verified header is saved when it ends.
func (g *globals) client(ctx context.Context) (*sdk.Client, error) {
	want := g.chainID
	if want == "" {
		pins, err := g.pinnedChains()
		if err != nil {
			return nil, err
		}
		if len(pins) > 0 {
			rpc, err := sdk.NewRPC(g.node)
			if err != nil {
				return nil, err
			}
			st, err := rpc.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", g.node, err)
			}
			want = st.NodeInfo.Network
			if !slices.ContainsFunc(pins, func(r *sdk.TrustRoot) bool { return r.ChainID == want }) {
				var names []string
				for _, r := range pins {
					names = append(names, r.ChainID)
				}
				return nil, fmt.Errorf("%w: node %s serves chain %q; this keyring trusts %s. Pass --chain-id %s to trust that chain at first use, or pin its genesis with `phala trust pin`",
					errUnpinned, g.node, want, strings.Join(names, ", "), want)
			}
		}
	}
	var root *sdk.TrustRoot
	if want != "" {
		var err error
		if root, err = g.loadTrust(want); err != nil {
			return nil, err
		}
	}
	c, err := sdk.DialOptions(ctx, g.node, sdk.Options{Trust: root, ChainID: g.chainID, MaxFee: g.maxFee})
	if err != nil {
		return nil, err
	}
	if root == nil {
		t := c.Trust()
		if err := g.saveTrust(t); err != nil {
			return nil, err
		}
		fmt.Fprintf(g.errOut, "phala: trusting chain %s, genesis %X, at first use (pinned in %s; check the hash with the chain's operators)\n", t.ChainID, t.GenesisHash, g.trustPath(t.ChainID))
	}
	g.clients = append(g.clients, c)
	return c, nil
}

// saveClients saves the newest header each client of the command
// verified.
func (g *globals) saveClients() error {
	var errs []error
	for _, c := range g.clients {
		errs = append(errs, g.saveTrust(c.Trust()))
	}
	g.clients = nil
	return errors.Join(errs...)
}

func trustCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Show, pin or reset the chains this keyring trusts (genesis and newest verified header)"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the trusted chains: genesis hash, validators, newest verified header",
		RunE: func(*cobra.Command, []string) error {
			pins, err := g.pinnedChains()
			if err != nil {
				return err
			}
			if len(pins) == 0 {
				fmt.Fprintf(g.out, "no chain pinned in %s: the next command pins the genesis of the node it asks\n", g.trustDir())
			}
			for _, r := range pins {
				if g.chainID != "" && r.ChainID != g.chainID {
					continue
				}
				printTrust(g.out, g.trustPath(r.ChainID), r)
			}
			return nil
		},
	}
	reset := &cobra.Command{
		Use:   "reset --chain-id ID",
		Short: "Forget a chain's root: the next command trusts the node's genesis at first use again",
		RunE: func(*cobra.Command, []string) error {
			if g.chainID == "" {
				return usageError{errors.New("--chain-id is required")}
			}
			err := os.Remove(g.trustPath(g.chainID))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w: %q has no root in %s", errUnpinned, g.chainID, g.trustDir())
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "forgot chain %s\n", g.chainID)
			return nil
		},
	}
	var genesis string
	pin := &cobra.Command{
		Use:   "pin --genesis FILE",
		Short: "Trust a chain by its genesis document (from its operators), instead of the node's at first use",
		RunE: func(*cobra.Command, []string) error {
			if genesis == "" {
				return usageError{errors.New("--genesis is required")}
			}
			b, err := os.ReadFile(genesis)
			if err != nil {
				return usageError{err}
			}
			r, err := sdk.GenesisTrust(b)
			if err != nil {
				return err
			}
			if err := g.pinGenesis(r, false); err != nil {
				return err
			}
			printTrust(g.out, g.trustPath(r.ChainID), r)
			return nil
		},
	}
	pin.Flags().StringVar(&genesis, "genesis", "", "genesis document (genesis.json)")
	cmd.AddCommand(show, reset, pin)
	return cmd
}

// pinGenesis saves r, a root made from a genesis document. A root of
// another genesis of the same chain is replaced only if replace (the
// devnet, which made the chain); otherwise it is an error.
func (g *globals) pinGenesis(r *sdk.TrustRoot, replace bool) error {
	old, err := g.loadTrust(r.ChainID)
	if err != nil && !replace {
		return err
	}
	if old != nil && string(old.GenesisHash) == string(r.GenesisHash) {
		return nil // same chain, maybe verified further already
	}
	if old != nil && !replace {
		return protocol.Errorf(protocol.ErrTrustMismatch, "chain %s is pinned to genesis %X, not %X: `phala trust reset --chain-id %s` first if that is intended", r.ChainID, old.GenesisHash, r.GenesisHash, r.ChainID)
	}
	if err := os.Remove(g.trustPath(r.ChainID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return g.saveTrust(r)
}

func printTrust(w io.Writer, path string, r *sdk.TrustRoot) {
	fmt.Fprintf(w, "chain        %s\ngenesis hash %X\n", r.ChainID, r.GenesisHash)
	if r.Header == nil {
		fmt.Fprintf(w, "verified     genesis only (%d validators, set %X)\n", r.Validators.Size(), r.Validators.Hash())
	} else {
		fmt.Fprintf(w, "verified     header %d of %s (%d validators, set %X)\n", r.Height(), r.Time().UTC().Format(time.RFC3339), r.Validators.Size(), r.Validators.Hash())
	}
	fmt.Fprintf(w, "file         %s\n", path)
}
