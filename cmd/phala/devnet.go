package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/sdk"
)

func devnetCmd(g *globals) *cobra.Command {
	o := devnet.DefaultOptions()
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network: a validator, a gatekeeper and a contract worker (sim TEE), each with its pherry, and a funded dev account",
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(os.Stderr, logFormat, logLevel)
			if err != nil {
				return usageError{err}
			}
			logging.RedirectStdLog(logger.With("component", "db"), slog.LevelDebug)
			o.Logger = logger
			ctx := cmd.Context()
			d, err := devnet.Start(ctx, o)
			if err != nil {
				return err
			}
			if err := g.pinDevnet(d); err != nil {
				d.Stop()
				return err
			}
			if err := d.PrintInfo(ctx, g.out); err != nil {
				d.Stop()
				return err
			}
			return d.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Home, "home", o.Home, "directory holding the devnet's state; a restart continues from it")
	f.DurationVar(&o.BlockTime, "block-time", o.BlockTime, "pause after each block (applies when the home is created)")
	f.IntVar(&o.BasePort, "port-base", o.BasePort, "first port: node p2p; RPC +1, node metrics +2, gatekeeper pRuntime private +4, public +5, worker pRuntime private +6, public +7")
	f.BoolVar(&o.Reset, "reset", false, "delete the home and start a new chain")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level")
	return cmd
}

// pinDevnet makes the devnet's genesis the keyring's root of its chain,
// replacing the root of an earlier devnet (--reset makes a new chain with
// the same id): the devnet made this chain, so the CLI need not trust its
// node at first use.
func (g *globals) pinDevnet(d *devnet.Devnet) error {
	b, err := os.ReadFile(d.GenesisPath)
	if err != nil {
		return err
	}
	r, err := sdk.GenesisTrust(b)
	if err != nil {
		return err
	}
	return g.pinGenesis(r, true)
}
