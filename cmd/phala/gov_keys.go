package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
)

// errClusterNameSize: a cluster name the keys module would refuse, found
// before anything is sent.
var errClusterNameSize = fmt.Errorf("cluster names have 1 to %d bytes", maxClusterName)

// maxClusterName is the longest cluster name the keys module accepts
// (internal/chain/keys, create_cluster); checked here too so that a bad
// name is refused before it costs a fee.
const maxClusterName = 64

// clusterArg checks a cluster name.
func clusterArg(name string) (string, error) {
	if len(name) == 0 || len(name) > maxClusterName {
		return "", usageError{fmt.Errorf("cluster name %q: %w", name, errClusterNameSize)}
	}
	return name, nil
}

// govKeysCmds are the governance actions of the keys module: gatekeepers,
// clusters and rotation (docs/keys.md).
func govKeysCmds(g *globals, execute govExecutor) []*cobra.Command {
	addGatekeeper := &cobra.Command{
		Use:   "add-gatekeeper WORKER --admin KEY",
		Short: "Make a registered worker a gatekeeper (the first one starts key epoch 1)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := hexArg("worker", args[0], ed25519.PublicKeySize)
			if err != nil {
				return err
			}
			return execute(cmd, protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: w})
		},
	}
	removeGatekeeper := &cobra.Command{
		Use:   "remove-gatekeeper WORKER --admin KEY",
		Short: "Take a gatekeeper's power away at once (the last gatekeeper cannot be removed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := hexArg("worker", args[0], ed25519.PublicKeySize)
			if err != nil {
				return err
			}
			if err := execute(cmd, protocol.ActionRemoveGatekeeper, protocol.WorkerArgs{Worker: w}); err != nil {
				return err
			}
			g.noteRetainedKeys(cmd.Context(), w)
			return nil
		},
	}
	createCluster := &cobra.Command{
		Use:   "create-cluster NAME --admin KEY",
		Short: "Create a cluster: workers that share a cluster key (once an epoch exists, a rotation gives it its key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterArg(args[0])
			if err != nil {
				return err
			}
			return execute(cmd, protocol.ActionCreateCluster, protocol.ClusterArgs{Name: name})
		},
	}
	addToCluster := &cobra.Command{
		Use:   "add-to-cluster NAME WORKER --admin KEY",
		Short: "Put a registered worker (not a gatekeeper) in a cluster; the gatekeepers hand it the cluster's key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterArg(args[0])
			if err != nil {
				return err
			}
			w, err := hexArg("worker", args[1], ed25519.PublicKeySize)
			if err != nil {
				return err
			}
			return execute(cmd, protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: name, Worker: w})
		},
	}
	removeFromCluster := &cobra.Command{
		Use:   "remove-from-cluster NAME WORKER --admin KEY",
		Short: "Take a worker out of a cluster: it gets none of the cluster's future keys",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterArg(args[0])
			if err != nil {
				return err
			}
			w, err := hexArg("worker", args[1], ed25519.PublicKeySize)
			if err != nil {
				return err
			}
			if err := execute(cmd, protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: name, Worker: w}); err != nil {
				return err
			}
			g.noteRetainedKeys(cmd.Context(), w)
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate --admin KEY",
		Short: "Rotate the keys now: a fresh epoch secret, every earlier epoch retired (while an epoch activates: once it has; follow it with `phala keys epoch`)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return execute(cmd, protocol.ActionRotate, protocol.RotateArgs{})
		},
	}
	return []*cobra.Command{addGatekeeper, removeGatekeeper, createCluster, addToCluster, removeFromCluster, rotate}
}

// noteRetainedKeys tells the operator, after a worker was removed from a
// role, what it still holds in enclave memory and what retires it: removal
// stops future distribution, only a rotation retires what it has. A
// rotation announcing or proposing leaves the worker out; one whose
// proposal already landed was sealed to it, and the chain follows it with
// another rotation by itself.
func (g *globals) noteRetainedKeys(ctx context.Context, worker []byte) {
	c, err := g.client(ctx)
	if err != nil {
		return
	}
	info, err := c.Epoch(ctx)
	if err != nil {
		return
	}
	has := func(rs []protocol.Recipient) bool {
		return slices.ContainsFunc(rs, func(r protocol.Recipient) bool { return bytes.Equal(r.Worker, worker) })
	}
	p := info.Pending
	switch {
	case p != nil && p.Phase == protocol.PhaseActivating && has(p.Recipients):
		fmt.Fprintf(g.out, "note: %x was sealed epoch %d, which activates at block %d; the chain rotates again right after, to retire it\n", worker, p.Epoch, p.ActivateAt)
	case info.Current == 0 || !has(info.Served):
	case p != nil:
		fmt.Fprintf(g.out, "note: %x was served the keys of epoch %d and keeps them in memory until epoch %d activates; the rotation under way leaves it out\n", worker, info.Current, p.Epoch)
	default:
		fmt.Fprintf(g.out, "note: %x was served the keys of epoch %d and keeps them in memory until the next rotation; `phala gov rotate` retires them now\n", worker, info.Current)
	}
}
