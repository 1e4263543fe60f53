package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTrustedComputingBaseStaysSmall enforces DESIGN section 4.7: the enclave
// binary links CometBFT's verification types and crypto, never its node,
// networking, mempool, consensus, stores or RPC machinery.
func TestTrustedComputingBaseStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/phala-go/phala/cmd/pruntime").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	forbidden := []string{
		"github.com/cometbft/cometbft/node",
		"github.com/cometbft/cometbft/p2p",
		"github.com/cometbft/cometbft/mempool",
		"github.com/cometbft/cometbft/consensus",
		"github.com/cometbft/cometbft/internal/consensus",
		"github.com/cometbft/cometbft/internal/blocksync",
		"github.com/cometbft/cometbft/internal/evidence",
		"github.com/cometbft/cometbft/blocksync",
		"github.com/cometbft/cometbft/statesync",
		"github.com/cometbft/cometbft/state",
		"github.com/cometbft/cometbft/store",
		"github.com/cometbft/cometbft/rpc",
		"github.com/cometbft/cometbft/proxy",
		"github.com/cometbft/cometbft-db",
		"github.com/cosmos/iavl",
		"github.com/google/go-tdx-guest/verify", // the chain verifies quotes; the enclave only makes them
		"github.com/phala-go/phala/internal/tee/tdx/verifier",
		"github.com/phala-go/phala/internal/chain",
		"github.com/phala-go/phala/internal/pherry",
		"github.com/phala-go/phala/sdk",
	}
	found := 0
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/cometbft/cometbft/types") {
			found++
		}
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("cmd/pruntime depends on %s", d)
			}
		}
	}
	if found == 0 {
		t.Fatal("cmd/pruntime does not link cometbft/types: the dependency list is not what this test expects")
	}
}
