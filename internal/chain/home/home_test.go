package home

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

func genesisOf(t *testing.T, o Options) protocol.GenesisState {
	t.Helper()
	res, err := Write([]string{filepath.Join(t.TempDir(), "node")}, o)
	if err != nil {
		t.Fatal(err)
	}
	var g protocol.GenesisState
	if err := json.Unmarshal(res.Genesis.AppState, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestHomesDoNotAllowSimUnlessAsked is review finding 4 (reproduced by the
// review): `phala-node init` and `testnet` wrote genesis files admitting
// the sim TEE and its measurement by default. Now the default genesis is a
// production one: no sim, no sim build allowed, collateral required.
func TestHomesDoNotAllowSimUnlessAsked(t *testing.T) {
	o := DefaultOptions("prod")
	o.BasePort = 46000
	g := genesisOf(t, o)
	if g.Params.AllowSimAttestation || len(g.Registry.Measurements) != 0 || !g.Registry.Policy.RequireCollateral {
		t.Fatalf("default genesis: allow_sim %v, measurements %x, require_collateral %v",
			g.Params.AllowSimAttestation, g.Registry.Measurements, g.Registry.Policy.RequireCollateral)
	}
	o.AllowSim = true
	g = genesisOf(t, o)
	if !g.Params.AllowSimAttestation || len(g.Registry.Measurements) != 1 || string(g.Registry.Measurements[0]) != string(sim.DefaultMeasurement) {
		t.Fatalf("dev genesis: allow_sim %v, measurements %x", g.Params.AllowSimAttestation, g.Registry.Measurements)
	}
}
