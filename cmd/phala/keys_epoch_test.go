package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

func key32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// render prints a report and returns its lines.
func render(r *epochReport) string {
	var out bytes.Buffer
	r.print(&out)
	return out.String()
}

func mustContain(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

// TestEpochReportBeforeTheFirstGatekeeper: a chain without an epoch says
// so, and says how to start one.
func TestEpochReportBeforeTheFirstGatekeeper(t *testing.T) {
	out := render(&epochReport{info: &protocol.EpochInfo{}, status: map[string]string{}})
	mustContain(t, out,
		"epoch             none yet\n",
		"next rotation     none\n",
		"secret lost       no\n",
		"rotation          none under way\n",
		"gatekeepers       none (the first `phala gov add-gatekeeper WORKER` starts epoch 1)\n",
		"clusters          none with a key",
	)
}

// TestEpochReportShowsHoldersServedMembersAndRemovedHolders: gatekeepers are
// marked by whether they hold the current secret, members by whether they
// were served the cluster's key; workers removed after being served are
// listed as still holding it; the cluster key appears by fingerprint, the
// next one too once a proposal landed.
func TestEpochReportShowsHoldersServedMembersAndRemovedHolders(t *testing.T) {
	gk1, gk2, oldGK := key32(1), key32(2), key32(3)
	m1, m2, oldM := key32(4), key32(5), key32(6)
	alpha := protocol.ClusterID("alpha")
	pub, next := []byte("current cluster key"), []byte("next cluster key")
	info := &protocol.EpochInfo{
		EpochRecord: protocol.EpochRecord{
			Current: 4, ActivatedAt: 120,
			Clusters: []protocol.ClusterPubkey{{Cluster: alpha, Pubkey: pub}},
			Pending: &protocol.PendingEpoch{Epoch: 5, Phase: protocol.PhaseActivating, RequestedAt: 130, ProposeAt: 133, ActivateAt: 140,
				Clusters: []protocol.ClusterPubkey{{Cluster: alpha, Pubkey: next}}},
		},
		NextAuto:    1120,
		Gatekeepers: [][]byte{gk1, gk2},
		Holders:     [][]byte{gk1},
		Served: []protocol.Recipient{
			{Worker: gk1, Role: protocol.RoleGatekeeper},
			{Worker: oldGK, Role: protocol.RoleGatekeeper},
			{Worker: m1, Role: protocol.RoleMember, Cluster: alpha},
			{Worker: oldM, Role: protocol.RoleMember, Cluster: alpha},
		},
	}
	r := &epochReport{
		info:     info,
		clusters: []protocol.ClusterUpdate{{Cluster: alpha, Name: "alpha", Members: [][]byte{m1, m2}}},
		status:   map[string]string{string(gk1): "active", string(gk2): "active", string(m1): "active", string(m2): "expired"},
	}
	if ids := epochClusters(info); len(ids) != 1 || !bytes.Equal(ids[0], alpha) {
		t.Fatalf("cluster ids %x, want alpha's once", ids)
	}
	row := func(w []byte, status, held string) string {
		return fmt.Sprintf(workerColumn, fmt.Sprintf("%x", w), status, held)
	}
	mustContain(t, render(r),
		"epoch             4, activated at block 120\n",
		"next rotation     block 1120 (automatic)\n",
		"rotation          to epoch 5, requested at block 130, phase activating: proposal landed; activates at block 140\n",
		"gatekeepers       2, 1 holding the current secret\n",
		row(gk1, "active", "held"),
		row(gk2, "active", "not held"),
		row(oldGK, "unknown", "served, then removed: keeps it until the next rotation"),
		fmt.Sprintf("  cluster \"alpha\"  id %x\n", alpha),
		fmt.Sprintf("    key           %s (epoch 4); next %s (epoch 5)\n", fingerprint(pub), fingerprint(next)),
		"    members       2\n",
		row(m1, "active", "served"),
		row(m2, "expired", "not served"),
		row(oldM, "unknown", "served, then removed: keeps it until the next rotation"),
	)
}

// TestEpochReportShowsLossAndEmergency: a lost secret and the emergency
// rotation replacing it are spelled out.
func TestEpochReportShowsLossAndEmergency(t *testing.T) {
	info := &protocol.EpochInfo{Gatekeepers: [][]byte{key32(1)}, EpochRecord: protocol.EpochRecord{Current: 3, ActivatedAt: 50, Lost: true,
		Pending: &protocol.PendingEpoch{Epoch: 4, Phase: protocol.PhaseAnnounce, Emergency: true, RequestedAt: 90, ProposeAt: 93}}}
	mustContain(t, render(&epochReport{info: info, status: map[string]string{}}),
		"secret lost       YES: commands for epoch 3 are refused; an emergency rotation replaces it\n",
		"rotation          to epoch 4 (EMERGENCY), requested at block 90, phase announce: members announce fresh keys; proposals are asked for at block 93",
		"gatekeepers       1, 0 holding the current secret\n",
	)
	info.Pending.Phase, info.Pending.Recipients = protocol.PhasePropose, make([]protocol.Recipient, 3)
	mustContain(t, render(&epochReport{info: info, status: map[string]string{}}),
		"phase propose: waiting for a gatekeeper's proposal to 3 recipients\n")
}

// TestKeyCommandsRefuseBadInputBeforeSending: every malformed argument is a
// usage error with its own cause, found before the node is contacted (the
// node address points nowhere).
func TestKeyCommandsRefuseBadInputBeforeSending(t *testing.T) {
	ctx := context.Background()
	g := []string{"--node", "tcp://127.0.0.1:1", "--keyring", t.TempDir()}
	good := strings.Repeat("ab", 32)
	long := strings.Repeat("a", maxClusterName+1)
	for _, tc := range []struct {
		name string
		args []string
		want error  // nil: only a usage error
		text string // in the message
	}{
		{"worker not hex", []string{"gov", "add-gatekeeper", "zz" + good[2:], "--admin", "a"}, errNotHex, `worker "zz` + good[2:] + `": not hex`},
		{"worker too short", []string{"gov", "add-gatekeeper", "abcd", "--admin", "a"}, errLength, `worker "abcd" has 2 bytes, not 32`},
		{"worker too long", []string{"gov", "remove-gatekeeper", good + "00", "--admin", "a"}, errLength, "has 33 bytes, not 32"},
		{"member not hex", []string{"gov", "add-to-cluster", "alpha", "0x" + good, "--admin", "a"}, errNotHex, `worker "0x`},
		{"member too short", []string{"gov", "remove-from-cluster", "alpha", good[:62], "--admin", "a"}, errLength, "has 31 bytes, not 32"},
		{"empty cluster name", []string{"gov", "add-to-cluster", "", good, "--admin", "a"}, errClusterNameSize, `cluster name ""`},
		{"cluster name too long", []string{"gov", "create-cluster", long, "--admin", "a"}, errClusterNameSize, "1 to 64 bytes"},
		{"cluster name too long to show", []string{"keys", "cluster", long}, errClusterNameSize, "1 to 64 bytes"},
		{"missing worker", []string{"gov", "remove-from-cluster", "alpha", "--admin", "a"}, nil, "accepts 2 arg(s), received 1"},
		{"missing gatekeeper", []string{"gov", "add-gatekeeper", "--admin", "a"}, nil, "accepts 1 arg(s), received 0"},
		{"rotate takes no argument", []string{"gov", "rotate", "now", "--admin", "a"}, nil, `unknown command "now"`},
		{"epoch takes no argument", []string{"keys", "epoch", "1"}, nil, `unknown command "1"`},
		{"no admin", []string{"gov", "add-gatekeeper", good}, nil, "--admin is required"},
		{"admin key missing", []string{"gov", "rotate", "--admin", "nobody"}, nil, `key "nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, ctx, g, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want one saying %q", err, tc.text)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if !errors.As(err, new(usageError)) {
				t.Fatalf("err %v is not a usage error", err)
			}
		})
	}
}
