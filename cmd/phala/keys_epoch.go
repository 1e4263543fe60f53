package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// epochCmd shows the chain's key epochs (docs/keys.md).
func epochCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "epoch",
		Short: "Show the key epoch: activation, next rotation, a rotation under way, gatekeepers, clusters and who holds the current keys",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			r, err := loadEpochReport(ctx, c, epochClusters)
			if err != nil {
				return err
			}
			r.print(g.out)
			return nil
		},
	}
}

// clusterCmd shows one cluster, also one that has no key yet.
func clusterCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster NAME",
		Short: "Show a cluster: its id, its key in the current epoch and its members",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			id := protocol.ClusterID(name)
			r, err := loadEpochReport(ctx, c, func(*protocol.EpochInfo) [][]byte { return [][]byte{id} })
			if err != nil {
				return err
			}
			if len(r.clusters) == 0 {
				return protocol.Errorf(protocol.ErrUnknownCluster, "%q", name)
			}
			r.printCluster(g.out, r.clusters[0])
			return nil
		},
	}
}

// epochReport is what the key commands show: the chain's epoch record, the
// clusters it names and the registry status of the workers in them.
type epochReport struct {
	info     *protocol.EpochInfo
	clusters []protocol.ClusterUpdate // in the record's order
	status   map[string]string        // registry status by worker key
}

// loadEpochReport reads the epoch record, the worker registry and the
// clusters that clusters picks from the record (those that exist).
func loadEpochReport(ctx context.Context, c *sdk.Client, clusters func(*protocol.EpochInfo) [][]byte) (*epochReport, error) {
	info, err := c.Epoch(ctx)
	if err != nil {
		return nil, err
	}
	workers, err := c.Workers(ctx)
	if err != nil {
		return nil, err
	}
	r := &epochReport{info: info, status: map[string]string{}}
	for _, w := range workers {
		r.status[string(w.Pubkey)] = w.Status
	}
	for _, id := range clusters(info) {
		cl, ok, err := c.Cluster(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			r.clusters = append(r.clusters, cl)
		}
	}
	return r, nil
}

// epochClusters lists, without repeats, the clusters the epoch record
// names: those with a key in the current epoch, those of a rotation under
// way and those of served members.
func epochClusters(info *protocol.EpochInfo) [][]byte {
	var ids [][]byte
	add := func(id []byte) {
		if len(id) > 0 && !containsKey(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, cp := range info.Clusters {
		add(cp.Cluster)
	}
	if p := info.Pending; p != nil {
		for _, id := range p.ClusterIDs {
			add(id)
		}
	}
	for _, s := range info.Served {
		add(s.Cluster)
	}
	return ids
}

// fingerprint names a public key briefly: the first 8 bytes of its SHA-256.
func fingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	return fmt.Sprintf("sha256:%x", sum[:8])
}

func clusterKey(keys []protocol.ClusterPubkey, id []byte) ([]byte, bool) {
	for _, k := range keys {
		if bytes.Equal(k.Cluster, id) {
			return k.Pubkey, true
		}
	}
	return nil, false
}

// servedMember reports whether worker was served cluster's current key.
func (r *epochReport) servedMember(worker, cluster []byte) bool {
	return slices.ContainsFunc(r.info.Served, func(s protocol.Recipient) bool {
		return s.Role == protocol.RoleMember && bytes.Equal(s.Worker, worker) && bytes.Equal(s.Cluster, cluster)
	})
}

func (r *epochReport) workerStatus(worker []byte) string {
	if s, ok := r.status[string(worker)]; ok {
		return s
	}
	return "unknown"
}

func containsKey(set [][]byte, k []byte) bool {
	return slices.ContainsFunc(set, func(x []byte) bool { return bytes.Equal(x, k) })
}

const workerColumn = "%-64s  %-8s  %s\n"

// print writes the whole report.
func (r *epochReport) print(w io.Writer) {
	info := r.info
	if info.Current == 0 {
		fmt.Fprintf(w, "epoch             none yet\n")
	} else {
		fmt.Fprintf(w, "epoch             %d, activated at block %d\n", info.Current, info.ActivatedAt)
	}
	if info.NextAuto > 0 {
		fmt.Fprintf(w, "next rotation     block %d (automatic)\n", info.NextAuto)
	} else {
		fmt.Fprintf(w, "next rotation     none\n")
	}
	if info.Lost {
		fmt.Fprintf(w, "secret lost       YES: commands for epoch %d are refused; an emergency rotation replaces it\n", info.Current)
	} else {
		fmt.Fprintf(w, "secret lost       no\n")
	}
	fmt.Fprintf(w, "rotation          %s\n", pendingLine(info.Pending))
	if info.RotationDue {
		fmt.Fprintf(w, "                  then another rotation (a recipient left or was revoked after the proposal landed, or governance asked)\n")
	}
	r.printGatekeepers(w)
	if len(r.clusters) == 0 {
		fmt.Fprintf(w, "clusters          none with a key yet (see any cluster by name: `phala keys cluster NAME`)\n")
	} else {
		fmt.Fprintf(w, "clusters          %d\n", len(r.clusters))
		for _, cl := range r.clusters {
			r.printCluster(w, cl)
		}
	}
	fmt.Fprintln(w, "(read without a proof: the node assembles this view from several records)")
}

// pendingLine describes a rotation under way.
func pendingLine(p *protocol.PendingEpoch) string {
	if p == nil {
		return "none under way"
	}
	kind := ""
	if p.Emergency {
		kind = " (EMERGENCY)"
	}
	head := fmt.Sprintf("to epoch %d%s, requested at block %d, phase %s: ", p.Epoch, kind, p.RequestedAt, p.Phase)
	switch p.Phase {
	case protocol.PhaseAnnounce:
		return head + fmt.Sprintf("members announce fresh keys; proposals are asked for at block %d (later if no gatekeeper is active)", p.ProposeAt)
	case protocol.PhasePropose:
		return head + fmt.Sprintf("waiting for a gatekeeper's proposal to %d recipients", len(p.Recipients))
	case protocol.PhaseActivating:
		return head + fmt.Sprintf("proposal landed; activates at block %d", p.ActivateAt)
	}
	return head
}

// printGatekeepers lists the gatekeepers and whether each holds the current
// secret, then removed gatekeepers that were served this epoch.
func (r *epochReport) printGatekeepers(w io.Writer) {
	info := r.info
	if len(info.Gatekeepers) == 0 {
		fmt.Fprintf(w, "gatekeepers       none (the first `phala gov add-gatekeeper WORKER` starts epoch 1)\n")
		return
	}
	fmt.Fprintf(w, "gatekeepers       %d, %d holding the current secret\n", len(info.Gatekeepers), len(info.Holders))
	fmt.Fprintf(w, "  "+workerColumn, "WORKER", "STATUS", "CURRENT SECRET")
	for _, gk := range info.Gatekeepers {
		held := "not held"
		if containsKey(info.Holders, gk) {
			held = "held"
		}
		fmt.Fprintf(w, "  "+workerColumn, fmt.Sprintf("%x", gk), r.workerStatus(gk), held)
	}
	for _, s := range info.Served {
		if s.Role == protocol.RoleGatekeeper && !containsKey(info.Gatekeepers, s.Worker) {
			fmt.Fprintf(w, "  "+workerColumn, fmt.Sprintf("%x", s.Worker), r.workerStatus(s.Worker), "served, then removed: keeps it until the next rotation")
		}
	}
}

// printCluster writes a cluster's key and members: which were served the
// current epoch's key, and removed members that were.
func (r *epochReport) printCluster(w io.Writer, cl protocol.ClusterUpdate) {
	info := r.info
	key := "none in the current epoch"
	pub, hasKey := clusterKey(info.Clusters, cl.Cluster)
	if hasKey {
		key = fmt.Sprintf("%s (epoch %d)", fingerprint(pub), info.Current)
	}
	if p := info.Pending; p != nil {
		if next, ok := clusterKey(p.Clusters, cl.Cluster); ok {
			key += fmt.Sprintf("; next %s (epoch %d)", fingerprint(next), p.Epoch)
		}
	}
	fmt.Fprintf(w, "  cluster %q  id %x\n", cl.Name, cl.Cluster)
	fmt.Fprintf(w, "    key           %s\n", key)
	fmt.Fprintf(w, "    members       %d\n", len(cl.Members))
	if len(cl.Members) == 0 && !slices.ContainsFunc(info.Served, func(s protocol.Recipient) bool { return bytes.Equal(s.Cluster, cl.Cluster) }) {
		return
	}
	fmt.Fprintf(w, "    "+workerColumn, "WORKER", "STATUS", "CURRENT KEY")
	for _, m := range cl.Members {
		held := "-"
		switch {
		case r.servedMember(m, cl.Cluster):
			held = "served"
		case hasKey:
			held = "not served"
		}
		fmt.Fprintf(w, "    "+workerColumn, fmt.Sprintf("%x", m), r.workerStatus(m), held)
	}
	for _, s := range info.Served {
		if s.Role == protocol.RoleMember && bytes.Equal(s.Cluster, cl.Cluster) && !containsKey(cl.Members, s.Worker) {
			fmt.Fprintf(w, "    "+workerColumn, fmt.Sprintf("%x", s.Worker), r.workerStatus(s.Worker), "served, then removed: keeps it until the next rotation")
		}
	}
}
