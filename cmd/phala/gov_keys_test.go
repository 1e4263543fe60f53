package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// startMember runs a third worker next to the devnet's two: a pRuntime
// (sim TEE) and its own pherry paying from op, and waits until it is
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

// servedIn reports whether the chain records worker as served the current
// epoch in role (and, for a member, cluster).
func servedIn(info *protocol.EpochInfo, worker []byte, role string, cluster []byte) bool {
	return slices.ContainsFunc(info.Served, func(r protocol.Recipient) bool {
		return bytes.Equal(r.Worker, worker) && r.Role == role && bytes.Equal(r.Cluster, cluster)
	})
}

// holdsEpoch reports whether a pRuntime itself says it holds epoch n's key.
func holdsEpoch(rt *pruntime.Runtime, n uint64) bool {
	i := rt.Info()
	return i.Epoch == n && i.HoldsEpochKey
}

// clusterPub is cluster name's public key in the current epoch.
func clusterPub(t *testing.T, info *protocol.EpochInfo, name string) []byte {
	t.Helper()
	pub, ok := clusterKey(info.Clusters, protocol.ClusterID(name))
	if !ok {
		t.Fatalf("epoch %d has no key for cluster %q: %+v", info.Current, name, info.Clusters)
	}
	return pub
}

func sameKeys(got [][]byte, want ...[]byte) bool {
	return slices.EqualFunc(got, want, bytes.Equal)
}

func sortedPair(a, b []byte) [][]byte {
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	return [][]byte{a, b}
}

var includedAt = regexp.MustCompile(`included at height (\d+)\n`)

// inclusionHeight is the height a command's transaction was included at.
func inclusionHeight(t *testing.T, out string) int64 {
	t.Helper()
	m := includedAt.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no inclusion height in %q", out)
	}
	h, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The lines of `phala keys epoch|cluster`, spelled out for the states the
// test reaches.

func row(indent string, worker []byte, status, held string) string {
	return indent + fmt.Sprintf(workerColumn, hex.EncodeToString(worker), status, held)
}

// settledHead is the top of the report in epoch n, activated at block at,
// without an automatic rotation, a loss or a rotation under way.
func settledHead(n uint64, at int64) []string {
	return []string{
		fmt.Sprintf("epoch             %d, activated at block %d\n", n, at),
		"next rotation     none\n",
		"secret lost       no\n",
		"rotation          none under way\n",
	}
}

// gatekeeperLines is the gatekeepers' part: how many, how many hold the
// secret, then their rows.
func gatekeeperLines(n, holding int, rows ...string) []string {
	return append([]string{
		fmt.Sprintf("gatekeepers       %d, %d holding the current secret\n", n, holding),
		"  " + fmt.Sprintf(workerColumn, "WORKER", "STATUS", "CURRENT SECRET"),
	}, rows...)
}

// clusterLines is one cluster's part: its key in epoch n (none: nil pub),
// its member count and the member rows, under a header when there are any.
func clusterLines(name string, pub []byte, n uint64, members int, rows ...string) []string {
	key := "none in the current epoch"
	if pub != nil {
		key = fmt.Sprintf("%s (epoch %d)", fingerprint(pub), n)
	}
	lines := []string{
		fmt.Sprintf("  cluster %q  id %x\n", name, protocol.ClusterID(name)),
		fmt.Sprintf("    key           %s\n", key),
		fmt.Sprintf("    members       %d\n", members),
	}
	if len(rows) > 0 {
		lines = append(lines, "    "+fmt.Sprintf(workerColumn, "WORKER", "STATUS", "CURRENT KEY"))
	}
	return append(lines, rows...)
}

// clustersLines lists the clusters' parts in the epoch record's order,
// which must name exactly the clusters given.
func clustersLines(t *testing.T, info *protocol.EpochInfo, parts map[string][]string) []string {
	t.Helper()
	lines := []string{fmt.Sprintf("clusters          %d\n", len(parts))}
	for _, cp := range info.Clusters {
		name := ""
		for n := range parts {
			if bytes.Equal(protocol.ClusterID(n), cp.Cluster) {
				name = n
			}
		}
		if name == "" {
			t.Fatalf("epoch %d has a key for cluster %x, which the test does not expect", info.Current, cp.Cluster)
		}
		lines = append(lines, parts[name]...)
	}
	if len(info.Clusters) != len(parts) {
		t.Fatalf("epoch %d has keys for %d clusters, want %d", info.Current, len(info.Clusters), len(parts))
	}
	return lines
}

const reportFoot = "(read without a proof: the node assembles this view from several records)\n"

// wantReport fails unless out is exactly the lines of want, naming the
// first line that differs.
func wantReport(t *testing.T, what, out string, want ...[]string) {
	t.Helper()
	got := strings.SplitAfter(out, "\n")
	if got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	all := slices.Concat(want...)
	for i := range max(len(got), len(all)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(all) {
			w = all[i]
		}
		if g != w {
			t.Fatalf("%s: line %d is %q, want %q; the output:\n%s", what, i+1, g, w, out)
		}
	}
}

// testKeyEpochsAndGovernance drives the keys module's governance commands
// and `phala keys epoch|cluster` on the devnet, which starts in epoch 1
// with its gatekeeper holding the secret and its worker served the key of
// the cluster "default": a second cluster, created mid-epoch so that the
// chain rotates to give it a key; a third worker joining it; a rotation by
// governance; the member leaving; a second gatekeeper added, handed the
// secret and removed; and the chain's refusals on the way. Every step is
// asserted against the chain state it produced, every report line by line
// against the state it describes.
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
		if err != nil || !includedAt.MatchString(out) {
			t.Fatalf("gov %v: %q %v", args, out, err)
		}
		return out
	}
	refused := func(what string, want error, args ...string) {
		t.Helper()
		if out, err := gov(args...); !errors.Is(err, want) {
			t.Fatalf("%s (gov %v): %q %v, want %v", what, args, out, err, want)
		}
	}
	show := func(args ...string) string {
		t.Helper()
		out, err := run(t, ctx, g, append([]string{"keys"}, args...)...)
		if err != nil {
			t.Fatalf("keys %v: %q %v", args, out, err)
		}
		return out
	}
	gk, wk := []byte(d.Gatekeeper.Runtime.Info().WorkerPubkey), []byte(d.Worker.Runtime.Info().WorkerPubkey)
	gkHex, wkHex := hex.EncodeToString(gk), hex.EncodeToString(wk)
	def, alpha := protocol.ClusterID(devnet.Cluster), protocol.ClusterID("alpha")
	unregistered := strings.Repeat("07", 32)

	// inEpoch waits until epoch n is current with no rotation under way,
	// the devnet's gatekeeper is its only gatekeeper and holds its secret,
	// and the devnet's worker (and the members given) were served their
	// cluster's key, by the chain's record and by their own pRuntime.
	type member struct {
		key, cluster []byte
		rt           *pruntime.Runtime
	}
	inEpoch := func(n uint64, members ...member) *protocol.EpochInfo {
		t.Helper()
		members = append(members, member{wk, def, d.Worker.Runtime})
		var info *protocol.EpochInfo
		waitUntil(t, ctx, fmt.Sprintf("epoch %d, served", n), func() bool {
			info = epochOf(t, ctx, c)
			if info.Current != n || info.Pending != nil || !sameKeys(info.Gatekeepers, gk) || !sameKeys(info.Holders, gk) ||
				!servedIn(info, gk, protocol.RoleGatekeeper, nil) || !holdsEpoch(d.Gatekeeper.Runtime, n) {
				return false
			}
			for _, m := range members {
				if !servedIn(info, m.key, protocol.RoleMember, m.cluster) || !holdsEpoch(m.rt, n) {
					return false
				}
			}
			return true
		})
		return info
	}

	// The devnet set up epoch 1: its gatekeeper holds the secret, its
	// worker is the only member of "default" and was served its key.
	info1 := inEpoch(1)
	if len(info1.Served) != 2 {
		t.Fatalf("epoch 1 served %+v, want the gatekeeper and the worker", info1.Served)
	}
	if cl := clusterOf(t, ctx, c, devnet.Cluster); !sameKeys(cl.Members, wk) {
		t.Fatalf("members of %q: %x", devnet.Cluster, cl.Members)
	}
	gkRow := row("  ", gk, "active", "held")
	wkRow := row("    ", wk, "active", "served")
	def1 := clusterLines(devnet.Cluster, clusterPub(t, info1, devnet.Cluster), 1, 1, wkRow)
	wantReport(t, "keys epoch in epoch 1", show("epoch"),
		settledHead(1, info1.ActivatedAt), gatekeeperLines(1, 1, gkRow),
		clustersLines(t, info1, map[string][]string{devnet.Cluster: def1}), []string{reportFoot})
	wantReport(t, "keys cluster default in epoch 1", show("cluster", devnet.Cluster), def1)

	// Refusals by the chain, each with its code; none changes the keys.
	refused("the cluster's member made gatekeeper", protocol.ErrClusterMembership, "add-gatekeeper", wkHex)
	refused("the gatekeeper made gatekeeper again", protocol.ErrAlreadyGatekeeper, "add-gatekeeper", gkHex)
	refused("an unregistered gatekeeper", protocol.ErrNotRegisteredWorker, "add-gatekeeper", unregistered)
	refused("an unregistered member", protocol.ErrNotRegisteredWorker, "add-to-cluster", devnet.Cluster, unregistered)
	refused("the gatekeeper put in a cluster", protocol.ErrClusterMembership, "add-to-cluster", devnet.Cluster, gkHex)
	refused("add-to-cluster of an unknown cluster", protocol.ErrUnknownCluster, "add-to-cluster", "beta", wkHex)
	refused("remove-from-cluster of an unknown cluster", protocol.ErrUnknownCluster, "remove-from-cluster", "beta", wkHex)
	refused("an existing cluster created again", protocol.ErrClusterMembership, "create-cluster", devnet.Cluster)
	refused("the last gatekeeper removed", protocol.ErrLastGatekeeper, "remove-gatekeeper", gkHex)
	refused("remove-gatekeeper of a non-gatekeeper", protocol.ErrNotAGatekeeper, "remove-gatekeeper", wkHex)
	if _, err := run(t, ctx, g, "keys", "cluster", "beta"); !errors.Is(err, protocol.ErrUnknownCluster) {
		t.Fatalf("keys cluster of an unknown cluster: %v", err)
	}
	if info := epochOf(t, ctx, c); info.Current != 1 || info.ActivatedAt != info1.ActivatedAt || info.Pending != nil || !sameKeys(info.Gatekeepers, gk) {
		t.Fatalf("the refusals changed the epoch: %+v", info)
	}
	if cl := clusterOf(t, ctx, c, devnet.Cluster); !sameKeys(cl.Members, wk) {
		t.Fatalf("the refusals changed the members of %q: %x", devnet.Cluster, cl.Members)
	}

	// A cluster created in epoch 1 has no key in it: the chain rotates to
	// epoch 2 at once to give it one. (The rotation takes AnnounceWindow +
	// ActivationDelay blocks and a proposal: the checks right after the
	// creation see it under way.)
	created := inclusionHeight(t, mustGov("create-cluster", "alpha"))
	out := show("cluster", "alpha")
	out2 := show("epoch")
	refused("a rotation while one is under way", protocol.ErrRotationPending, "rotate")
	if info := epochOf(t, ctx, c); info.Current != 1 || info.Pending == nil || info.Pending.Epoch != 2 || info.Pending.RequestedAt != created {
		t.Fatalf("after create-cluster at height %d: %+v, want a rotation to epoch 2 under way since then", created, info)
	}
	if cl := clusterOf(t, ctx, c, "alpha"); cl.Name != "alpha" || len(cl.Members) != 0 {
		t.Fatalf("cluster after create-cluster: %+v", cl)
	}
	mustContain(t, out,
		fmt.Sprintf("  cluster \"alpha\"  id %x\n", alpha),
		"    key           none in the current epoch", // then, once proposed, the next key
		"    members       0\n")
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("keys cluster alpha has %d lines, want 3:\n%s", n, out)
	}
	mustContain(t, out2,
		fmt.Sprintf("epoch             1, activated at block %d\n", info1.ActivatedAt),
		fmt.Sprintf("rotation          to epoch 2, requested at block %d, phase ", created))

	info2 := inEpoch(2)
	if bytes.Equal(clusterPub(t, info2, devnet.Cluster), clusterPub(t, info1, devnet.Cluster)) {
		t.Fatal("the rotation to epoch 2 kept default's key")
	}

	// A third worker joins alpha and is served its key.
	op, err := sdk.GenerateKey("member-operator")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, ctx, g, "tx", "transfer", "--from", d.KeyPath, "--to", op.Address().String(), "--amount", "1000000000"); err != nil {
		t.Fatalf("fund the member's operator: %q %v", out, err)
	}
	m := startMember(t, ctx, d, op)
	mem := []byte(m.Runtime.Info().WorkerPubkey)
	memHex := hex.EncodeToString(mem)
	mustGov("add-to-cluster", "alpha", memHex)
	if cl := clusterOf(t, ctx, c, "alpha"); !sameKeys(cl.Members, mem) {
		t.Fatalf("members after add-to-cluster: %x", cl.Members)
	}
	inAlpha := member{mem, alpha, m.Runtime}
	info2 = inEpoch(2, inAlpha)
	memRow := row("    ", mem, "active", "served")
	wantReport(t, "keys epoch in epoch 2", show("epoch"),
		settledHead(2, info2.ActivatedAt), gatekeeperLines(1, 1, gkRow),
		clustersLines(t, info2, map[string][]string{
			devnet.Cluster: clusterLines(devnet.Cluster, clusterPub(t, info2, devnet.Cluster), 2, 1, wkRow),
			"alpha":        clusterLines("alpha", clusterPub(t, info2, "alpha"), 2, 1, memRow),
		}), []string{reportFoot})
	refused("alpha's member made gatekeeper", protocol.ErrClusterMembership, "add-gatekeeper", memHex)
	refused("alpha's member put in a second cluster", protocol.ErrClusterMembership, "add-to-cluster", devnet.Cluster, memHex)

	// A rotation by governance: epoch 3 replaces epoch 2, with new keys.
	rotated := inclusionHeight(t, mustGov("rotate"))
	if info := epochOf(t, ctx, c); info.Current != 3 && (info.Current != 2 || info.Pending == nil || info.Pending.Epoch != 3 || info.Pending.RequestedAt != rotated) {
		t.Fatalf("after rotate at height %d: %+v", rotated, info)
	}
	info3 := inEpoch(3, inAlpha)
	for _, name := range []string{devnet.Cluster, "alpha"} {
		if bytes.Equal(clusterPub(t, info3, name), clusterPub(t, info2, name)) {
			t.Fatalf("the rotation kept %s's key", name)
		}
	}
	alpha3 := clusterPub(t, info3, "alpha")
	def3 := clusterLines(devnet.Cluster, clusterPub(t, info3, devnet.Cluster), 3, 1, wkRow)
	wantReport(t, "keys epoch in epoch 3", show("epoch"),
		settledHead(3, info3.ActivatedAt), gatekeeperLines(1, 1, gkRow),
		clustersLines(t, info3, map[string][]string{devnet.Cluster: def3, "alpha": clusterLines("alpha", alpha3, 3, 1, memRow)}),
		[]string{reportFoot})

	// The member leaves alpha: it is told that it keeps epoch 3's key
	// until the next rotation, and the report says so too.
	retained := fmt.Sprintf("note: %s was served the keys of epoch 3 and keeps them in memory until the next rotation; `phala gov rotate` retires them now\n", memHex)
	if out := mustGov("remove-from-cluster", "alpha", memHex); !strings.HasSuffix(out, retained) {
		t.Fatalf("remove-from-cluster does not end with the reminder %q:\n%s", retained, out)
	}
	if cl := clusterOf(t, ctx, c, "alpha"); len(cl.Members) != 0 {
		t.Fatalf("members after remove-from-cluster: %x", cl.Members)
	}
	wantReport(t, "keys cluster alpha after remove-from-cluster", show("cluster", "alpha"),
		clusterLines("alpha", alpha3, 3, 0, row("    ", mem, "active", "served, then removed: keeps it until the next rotation")))
	refused("remove-from-cluster of a non-member", protocol.ErrClusterMembership, "remove-from-cluster", "alpha", memHex)

	// The former member becomes a second gatekeeper and is handed the
	// secret (its record as served turns from alpha's member to
	// gatekeeper); then it is removed again and told it keeps the secret.
	mustGov("add-gatekeeper", memHex)
	var info *protocol.EpochInfo
	waitUntil(t, ctx, "the second gatekeeper holds the secret", func() bool {
		info = epochOf(t, ctx, c)
		both := sortedPair(gk, mem)
		return sameKeys(info.Gatekeepers, both...) && sameKeys(info.Holders, both...) && servedIn(info, mem, protocol.RoleGatekeeper, nil)
	})
	if info.Current != 3 || info.Pending != nil {
		t.Fatalf("adding a gatekeeper changed the epoch: %+v", info)
	}
	var gkRows []string
	for _, w := range info.Gatekeepers {
		gkRows = append(gkRows, row("  ", w, "active", "held"))
	}
	wantReport(t, "keys epoch with two gatekeepers", show("epoch"),
		settledHead(3, info3.ActivatedAt), gatekeeperLines(2, 2, gkRows...),
		clustersLines(t, info, map[string][]string{devnet.Cluster: def3, "alpha": clusterLines("alpha", alpha3, 3, 0)}),
		[]string{reportFoot})

	if out := mustGov("remove-gatekeeper", memHex); !strings.HasSuffix(out, retained) {
		t.Fatalf("remove-gatekeeper does not end with the reminder %q:\n%s", retained, out)
	}
	info = epochOf(t, ctx, c)
	if !sameKeys(info.Gatekeepers, gk) || !sameKeys(info.Holders, gk) {
		t.Fatalf("after remove-gatekeeper: gatekeepers %x, holders %x", info.Gatekeepers, info.Holders)
	}
	wantReport(t, "keys epoch after remove-gatekeeper", show("epoch"),
		settledHead(3, info3.ActivatedAt),
		gatekeeperLines(1, 1, gkRow, row("  ", mem, "active", "served, then removed: keeps it until the next rotation")),
		clustersLines(t, info, map[string][]string{devnet.Cluster: def3, "alpha": clusterLines("alpha", alpha3, 3, 0)}),
		[]string{reportFoot})
	refused("remove-gatekeeper of a non-gatekeeper", protocol.ErrNotAGatekeeper, "remove-gatekeeper", memHex)
}
