package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/sdk"
)

func statusCmd(g *globals) *cobra.Command {
	pruntimeAddr := devnet.DefaultOptions().Addresses().WorkerPublic
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show chain height, pRuntime's synced height and registration, and the relayer's lag",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return fmt.Errorf("node %s: %w", g.node, err)
			}
			h, err := c.Height(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "chain     %s at height %d (node %s)\n", c.ChainID(), h, g.node)
			info, err := sdk.NewPRuntime(pruntimeAddr).Info(ctx)
			if err != nil {
				fmt.Fprintf(g.out, "pruntime  unreachable at %s: %v\n", pruntimeAddr, err)
				return nil
			}
			tee := info.TEE
			if info.Insecure {
				tee += " (INSECURE)"
			}
			fmt.Fprintf(g.out, "pruntime  synced to %d, worker %x, registered %v, TEE %s, %d messages pending\n",
				info.SyncedHeight, []byte(info.WorkerPubkey), info.Registered, tee, info.PendingEgress)
			if info.ChainID != c.ChainID() {
				fmt.Fprintf(g.out, "WARNING: pRuntime is bound to chain %q\n", info.ChainID)
			}
			fmt.Fprintf(g.out, "pherry    lag %d blocks\n", max(h-info.SyncedHeight, 0))
			return nil
		},
	}
	cmd.Flags().StringVar(&pruntimeAddr, "pruntime", pruntimeAddr, "pRuntime public API address")
	return cmd
}
