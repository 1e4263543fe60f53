package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// startMember runs a second worker next to the devnet's: a pRuntime (sim
// TEE) and its own pherry paying from op, and waits until it is
// registered. Both stop when t ends.
func startMember(t *testing.T, ctx context.Context, d *devnet.Devnet, op *sdk.Key) *pruntimetest.Server {
	t.Helper()
	pr := pruntimetest.Start(t, filepath.Join(t.TempDir(), "member"), "", "")
	relayer, err := pherry.New(pherry.Config{NodeRPC: d.Addr.NodeRPC, PRuntime: pr.PrivateAddr, Operator: op, RPCBatchLimit: 200,
		Logger: logging.Discard(), Poll: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relayer.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, ctx, "the member registered", func() bool { return pr.Runtime.Info().Registered })
	return pr
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func epochOf(t *testing.T, ctx context.Context, c *sdk.Client) *protocol.EpochInfo {
	t.Helper()
	info, err := c.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func clusterOf(t *testing.T, ctx context.Context, c *sdk.Client, name string) protocol.ClusterUpdate {
	t.Helper()
	cl, ok, err := c.Cluster(ctx, protocol.ClusterID(name))
	if err != nil || !ok {
		t.Fatalf("cluster %q: ok %v, %v", name, ok, err)
	}
	return cl
}

func served(info *protocol.EpochInfo, worker []byte, role string) bool {
	for _, r := range info.Served {
		if bytes.Equal(r.Worker, worker) && r.Role == role {
			return true
		}
	}
	return false
}

func sameKeys(got [][]byte, want ...[]byte) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

// testKeyEpochsAndGovernance drives the keys module's governance commands
// and `phala keys epoch` on the devnet: clusters created and filled, the
// devnet's worker made the first gatekeeper (epoch 1, with the cluster's
// key served to a second worker), a rotation, membership changes, and the
// chain's refusals, each asserted against the chain state it produced.
func testKeyEpochsAndGovernance(t *testing.T, ctx context.Context, d *devnet.Devnet, g []string, admin string) {
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	gov := func(args ...string) (string, error) {
		return run(t, ctx, g, append(append([]string{"gov"}, args...), "--admin", admin, "--from", d.KeyPath)...)
	}
	mustGov := func(args ...string) string {
		t.Helper()
		out, err := gov(args...)
		if err != nil || !strings.Contains(out, "included at height") {
			t.Fatalf("gov %v: %q %v", args, out, err)
		}
		return out
	}
	keysEpoch := func() string {
		t.Helper()
		out, err := run(t, ctx, g, "keys", "epoch")
		if err != nil {
			t.Fatalf("keys epoch: %q %v", out, err)
		}
		return out
	}
	gk := d.Runtime.Info().WorkerPubkey
	gkHex := hex.EncodeToString(gk)

	// No epoch yet.
	mustContain(t, keysEpoch(), "epoch             none yet\n", "gatekeepers       none")

	// A cluster, created before any epoch: it exists, empty, without a key.
	mustGov("create-cluster", "alpha")
	if cl := clusterOf(t, ctx, c, "alpha"); cl.Name != "alpha" || len(cl.Members) != 0 {
		t.Fatalf("cluster after create-cluster: %+v", cl)
	}
	if out, err := run(t, ctx, g, "keys", "cluster", "alpha"); err != nil || !strings.Contains(out, "key           none in the current epoch") || !strings.Contains(out, "members       0") {
		t.Fatalf("keys cluster: %q %v", out, err)
	}
	if _, err := gov("create-cluster", "alpha"); !errors.Is(err, protocol.ErrClusterMembership) {
		t.Fatalf("create-cluster twice: %v", err)
	}
	if _, err := run(t, ctx, g, "keys", "cluster", "beta"); !errors.Is(err, protocol.ErrUnknownCluster) {
		t.Fatalf("keys cluster of an unknown cluster: %v", err)
	}

	// A second worker joins the cluster.
	op, err := sdk.GenerateKey("member-operator")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, ctx, g, "tx", "transfer", "--from", d.KeyPath, "--to", op.Address().String(), "--amount", "1000000000"); err != nil {
		t.Fatalf("fund the member's operator: %q %v", out, err)
	}
	member := startMember(t, ctx, d, op)
	mem := member.Runtime.Info().WorkerPubkey
	memHex := hex.EncodeToString(mem)
	mustGov("add-to-cluster", "alpha", memHex)
	if cl := clusterOf(t, ctx, c, "alpha"); !sameKeys(cl.Members, mem) {
		t.Fatalf("members after add-to-cluster: %x", cl.Members)
	}

	// Refusals by the chain, each with its code.
	if _, err := gov("add-gatekeeper", memHex); !errors.Is(err, protocol.ErrClusterMembership) {
		t.Fatalf("a cluster member made gatekeeper: %v", err)
	}
	if _, err := gov("add-gatekeeper", strings.Repeat("07", 32)); !errors.Is(err, protocol.ErrNotRegisteredWorker) {
		t.Fatalf("an unregistered gatekeeper: %v", err)
	}
	if _, err := gov("add-to-cluster", "beta", memHex); !errors.Is(err, protocol.ErrUnknownCluster) {
		t.Fatalf("add-to-cluster of an unknown cluster: %v", err)
	}
	if _, err := gov("rotate"); !errors.Is(err, protocol.ErrNoGatekeepers) {
		t.Fatalf("rotate without gatekeepers: %v", err)
	}

	// The first gatekeeper starts epoch 1; the member is served alpha's key.
	mustGov("add-gatekeeper", gkHex)
	if info := epochOf(t, ctx, c); !sameKeys(info.Gatekeepers, gk) || (info.Current == 0 && (info.Pending == nil || info.Pending.Epoch != 1)) {
		t.Fatalf("after add-gatekeeper: %+v", info)
	}
	epochServed := func(n uint64) *protocol.EpochInfo {
		t.Helper()
		var info *protocol.EpochInfo
		waitUntil(t, ctx, fmt.Sprintf("epoch %d served to the member", n), func() bool {
			info = epochOf(t, ctx, c)
			i := member.Runtime.Info()
			return info.Current == n && sameKeys(info.Holders, gk) && served(info, mem, protocol.RoleMember) && i.Epoch == n && i.HoldsEpochKey
		})
		return info
	}
	info := epochServed(1)
	if len(info.Clusters) != 1 || !bytes.Equal(info.Clusters[0].Cluster, protocol.ClusterID("alpha")) {
		t.Fatalf("epoch 1 clusters: %+v", info.Clusters)
	}
	out := keysEpoch()
	if m := regexp.MustCompile(`epoch             1, activated at block (\d+)\n`).FindStringSubmatch(out); m == nil || m[1] != fmt.Sprint(info.ActivatedAt) {
		t.Fatalf("keys epoch does not show epoch 1 activated at %d:\n%s", info.ActivatedAt, out)
	}
	mustContain(t, out,
		"next rotation     none\n",
		"secret lost       no\n",
		"gatekeepers       1, 1 holding the current secret\n",
		fmt.Sprintf(workerColumn, gkHex, "active", "held"),
		"clusters          1\n",
		fmt.Sprintf("    key           %s (epoch 1)\n", fingerprint(info.Clusters[0].Pubkey)),
		fmt.Sprintf(workerColumn, memHex, "active", "served"),
	)

	if _, err := gov("add-to-cluster", "alpha", gkHex); !errors.Is(err, protocol.ErrClusterMembership) {
		t.Fatalf("a gatekeeper put in a cluster: %v", err)
	}
	if _, err := gov("remove-gatekeeper", gkHex); !errors.Is(err, protocol.ErrLastGatekeeper) {
		t.Fatalf("the last gatekeeper removed: %v", err)
	}

	// A rotation by governance: epoch 2 replaces epoch 1, with a new key.
	mustGov("rotate")
	if info := epochOf(t, ctx, c); info.Current < 2 && (info.Pending == nil || info.Pending.Epoch != 2) {
		t.Fatalf("after rotate: %+v", info)
	}
	info2 := epochServed(2)
	if bytes.Equal(info2.Clusters[0].Pubkey, info.Clusters[0].Pubkey) {
		t.Fatal("the rotation kept alpha's key")
	}
	mustContain(t, keysEpoch(), "epoch             2, activated at", fmt.Sprintf("    key           %s (epoch 2)\n", fingerprint(info2.Clusters[0].Pubkey)))

	// The member leaves the cluster: it is told it still holds epoch 2's key.
	out = mustGov("remove-from-cluster", "alpha", memHex)
	if !strings.Contains(out, fmt.Sprintf("note: %s was served the keys of epoch 2", memHex)) {
		t.Fatalf("remove-from-cluster does not warn about the retained key:\n%s", out)
	}
	if cl := clusterOf(t, ctx, c, "alpha"); len(cl.Members) != 0 {
		t.Fatalf("members after remove-from-cluster: %x", cl.Members)
	}
	mustContain(t, keysEpoch(), fmt.Sprintf(workerColumn, memHex, "active", "served, then removed: keeps it until the next rotation"))
	if _, err := gov("remove-from-cluster", "alpha", memHex); !errors.Is(err, protocol.ErrClusterMembership) {
		t.Fatalf("remove-from-cluster of a non-member: %v", err)
	}

	// The former member becomes a second gatekeeper and is handed the
	// secret; then it is removed again.
	mustGov("add-gatekeeper", memHex)
	waitUntil(t, ctx, "the second gatekeeper holds the secret", func() bool {
		info := epochOf(t, ctx, c)
		return sameKeys(info.Gatekeepers, sortedPair(gk, mem)...) && len(info.Holders) == 2
	})
	mustContain(t, keysEpoch(), "gatekeepers       2, 2 holding the current secret\n", fmt.Sprintf(workerColumn, memHex, "active", "held"))
	out = mustGov("remove-gatekeeper", memHex)
	if !strings.Contains(out, fmt.Sprintf("note: %s was served the keys of epoch 2", memHex)) {
		t.Fatalf("remove-gatekeeper does not warn about the retained secret:\n%s", out)
	}
	if info := epochOf(t, ctx, c); !sameKeys(info.Gatekeepers, gk) {
		t.Fatalf("gatekeepers after remove-gatekeeper: %x", info.Gatekeepers)
	}
	if _, err := gov("remove-gatekeeper", memHex); !errors.Is(err, protocol.ErrNotAGatekeeper) {
		t.Fatalf("remove-gatekeeper of a non-gatekeeper: %v", err)
	}
}

func sortedPair(a, b []byte) [][]byte {
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	return [][]byte{a, b}
}
