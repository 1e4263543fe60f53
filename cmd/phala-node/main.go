// Command phala-node runs a node of the Phala chain: CometBFT consensus with
// the phala application in-process.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/version"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1
	exitConfig = 2
)

// configError marks a mistake in flags or configuration (exit code 2).
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

func main() {
	root := &cobra.Command{
		Use:           "phala-node",
		Short:         "Run a Phala chain node (CometBFT with the phala application in-process)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(initCmd(), startCmd(), testnetCmd(), versionCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "phala-node:", err)
		var ce configError
		if errors.As(err, &ce) {
			os.Exit(exitConfig)
		}
		os.Exit(exitError)
	}
	os.Exit(exitOK)
}

func homeFlags(cmd *cobra.Command, o *home.Options) {
	f := cmd.Flags()
	f.StringVar(&o.ChainID, "chain-id", o.ChainID, "chain id")
	f.DurationVar(&o.BlockTime, "block-time", o.BlockTime, "pause after each block (CometBFT timeout_commit)")
	f.IntVar(&o.DevAccounts, "dev-accounts", o.DevAccounts, "number of funded dev accounts")
	f.BoolVar(&o.AllowSim, "allow-sim", false, "INSECURE, development only: admit workers on the sim TEE, which protects nothing (cannot be enabled later; off by default)")
	f.IntVar(&o.BasePort, "port-base", o.BasePort, "first port: validator i listens on base+10i (p2p), +1 (rpc), +2 (metrics)")
	f.StringVar(&o.Host, "host", o.Host, "listen host")
}

// warnSim says, when the genesis allows sim, that it is a development
// chain for good.
func warnSim(o home.Options) {
	if o.AllowSim {
		fmt.Fprintln(os.Stderr, "WARNING: this genesis admits workers on the insecure sim TEE (--allow-sim): a development chain, for good")
	}
}

func initCmd() *cobra.Command {
	o := home.DefaultOptions("phala-dev")
	var dir string
	cmd := &cobra.Command{
		Use:   "init --home DIR --chain-id ID",
		Short: "Write a single-validator home with a funded dev account",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return configError{errors.New("--home is required")}
			}
			res, err := home.Write([]string{dir}, o)
			if err != nil {
				return configError{err}
			}
			warnSim(o)
			fmt.Printf("home:      %s\nchain id:  %s\nrpc:       %s\nadmin key: %s\n", dir, o.ChainID, o.RPCAddr(0), filepath.Join(dir, home.KeysDir, home.AdminKeyName+".json"))
			for _, k := range res.Dev {
				fmt.Printf("dev key:   %s (account %s)\n", filepath.Join(dir, home.KeysDir, k.Name+".json"), k.Address())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "home", "", "home directory to create")
	homeFlags(cmd, &o)
	return cmd
}

func testnetCmd() *cobra.Command {
	o := home.DefaultOptions("phala-testnet")
	o.Validators = 4
	o.BlockTime = 500 * time.Millisecond
	var out string
	cmd := &cobra.Command{
		Use:   "testnet --validators N --output DIR",
		Short: "Write N validator homes with distinct loopback ports and persistent peers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return configError{errors.New("--output is required")}
			}
			if o.Validators < 1 {
				return configError{fmt.Errorf("--validators %d: need at least 1", o.Validators)}
			}
			homes := make([]string, o.Validators)
			for i := range homes {
				homes[i] = filepath.Join(out, fmt.Sprintf("node%d", i))
			}
			if _, err := home.Write(homes, o); err != nil {
				return configError{err}
			}
			warnSim(o)
			for i, h := range homes {
				fmt.Printf("node%d: phala-node start --home %s   (rpc %s)\n", i, h, o.RPCAddr(i))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Validators, "validators", o.Validators, "number of validators")
	cmd.Flags().StringVar(&out, "output", "", "directory to write node0..nodeN-1 into")
	homeFlags(cmd, &o)
	return cmd
}

func startCmd() *cobra.Command {
	var (
		o                           node.Options
		logFormat, logLevel, cmtLvl string
	)
	cmd := &cobra.Command{
		Use:   "start --home DIR",
		Short: "Run the node until interrupted",
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(os.Stderr, logFormat, logLevel)
			if err != nil {
				return configError{err}
			}
			if err := o.CometLevel.UnmarshalText([]byte(cmtLvl)); err != nil {
				return configError{fmt.Errorf("--comet-log-level: %w", err)}
			}
			if o.Home == "" {
				return configError{errors.New("--home is required")}
			}
			logging.RedirectStdLog(logger.With("component", "db"), slog.LevelDebug)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Logger = logger
			o.Prometheus = true
			o.Metrics = prometheus.DefaultRegisterer
			n, err := node.Start(ctx, o)
			if err != nil {
				return err
			}
			logger.Info("serving", "rpc", n.RPCAddr(), "metrics", metricsURL(n))
			<-ctx.Done()
			logger.Info("shutting down")
			return n.Stop()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Home, "home", "", "node home directory")
	f.StringVar(&o.RPCAddr, "rpc.laddr", "", "RPC listen address (overrides config.toml)")
	f.StringVar(&o.P2PAddr, "p2p.laddr", "", "p2p listen address (overrides config.toml)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&cmtLvl, "comet-log-level", "warn", "minimum level of CometBFT's own log lines")
	return cmd
}

func metricsURL(n *node.Node) string {
	c := n.Config().Instrumentation
	if !c.Prometheus {
		return ""
	}
	return "http://" + c.PrometheusListenAddr + "/metrics"
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(*cobra.Command, []string) {
			fmt.Println("phala-node", version.String())
		},
	}
}
