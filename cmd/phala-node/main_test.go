package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// TestInitAndTestnetDoNotAllowSimByDefault is review finding 4: both
// commands wrote sim-enabled genesis files unless told otherwise.
func TestInitAndTestnetDoNotAllowSimByDefault(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		genesis string
		sim     bool
	}{
		{[]string{"init", "--home", filepath.Join(dir, "a"), "--port-base", "47000"}, filepath.Join(dir, "a"), false},
		{[]string{"testnet", "--validators", "1", "--output", filepath.Join(dir, "b"), "--port-base", "47100"}, filepath.Join(dir, "b", "node0"), false},
		{[]string{"init", "--home", filepath.Join(dir, "c"), "--port-base", "47200", "--allow-sim"}, filepath.Join(dir, "c"), true},
	} {
		cmd := initCmd()
		if c.args[0] == "testnet" {
			cmd = testnetCmd()
		}
		cmd.SetArgs(c.args[1:])
		cmd.SetOut(os.Stderr)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		doc, err := types.GenesisDocFromFile(filepath.Join(c.genesis, "config", "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		var g protocol.GenesisState
		if err := json.Unmarshal(doc.AppState, &g); err != nil {
			t.Fatal(err)
		}
		if g.Params.AllowSimAttestation != c.sim {
			t.Errorf("%v: allow_sim_attestation %v", c.args, g.Params.AllowSimAttestation)
		}
	}
}
