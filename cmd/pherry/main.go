// Command pherry relays blocks from a phala node into a pRuntime and the
// pRuntime's signed messages back to the chain. It is stateless: restart it
// at will.
//
// Exit codes: 0 after an interrupt, 2 for configuration errors, 3 when
// pRuntime keeps refusing what the node serves (a verification failure an
// operator must investigate), 1 otherwise.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-tdx-guest/verify/trust"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/internal/version"
	"github.com/phala-go/phala/sdk"
)

const (
	exitError   = 1
	exitConfig  = 2
	exitRefused = 3
)

func main() {
	var (
		cfg                       pherry.Config
		operatorKey, metricsAddr  string
		logFormat, logLevel       string
		showVersion, noCollateral bool
	)
	cmd := &cobra.Command{
		Use:           "pherry --node-rpc ADDR --pruntime ADDR --operator-key FILE",
		Short:         "Relay blocks into a pRuntime and its signed messages back to the chain",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				fmt.Println("pherry", version.String())
				return nil
			}
			log, err := logging.New(os.Stderr, logFormat, logLevel)
			if err != nil {
				return fmt.Errorf("%w: %v", pherry.ErrConfig, err)
			}
			if operatorKey != "" {
				if cfg.Operator, err = sdk.LoadKey(operatorKey); err != nil {
					return fmt.Errorf("%w: operator key: %v", pherry.ErrConfig, err)
				}
			}
			if !noCollateral {
				cfg.TDXCollateral = trust.DefaultHTTPSGetter()
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
			cfg.Logger, cfg.Metrics = log, reg
			if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				cfg.Progress = os.Stderr
			}
			r, err := pherry.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if metricsAddr != "" {
				srv, err := serveMetrics(metricsAddr, reg)
				if err != nil {
					return fmt.Errorf("%w: metrics: %v", pherry.ErrConfig, err)
				}
				defer srv.Close()
				log.Info("metrics", "addr", "http://"+metricsAddr+"/metrics")
			}
			log.Info("pherry starting", "node", cfg.NodeRPC, "pruntime", cfg.PRuntime, "batch", cfg.Batch, "register", !cfg.NoRegister)
			return r.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeRPC, "node-rpc", "tcp://127.0.0.1:26657", "CometBFT RPC address of the node")
	f.StringVar(&cfg.PRuntime, "pruntime", "127.0.0.1:8000", "pRuntime's private API address")
	f.StringVar(&operatorKey, "operator-key", "", "key file of the account that pays for registration and egress")
	f.IntVar(&cfg.Batch, "batch", 100, "blocks per sync request")
	f.IntVar(&cfg.RPCBatchLimit, "rpc-batch-limit", fetch.DefaultBatchLimit, "the node's max_request_batch_size")
	f.BoolVar(&cfg.NoRegister, "no-register", false, "do not register the worker")
	f.StringVar(&cfg.PublicURL, "public-url", "", "the worker's public API URL to announce in the registry (clients query it; cluster members fetch state from it)")
	f.BoolVar(&noCollateral, "no-tdx-collateral", false, "do not fetch Intel PCS collateral for TDX registrations (dev chains only: a chain that does not allow sim refuses TDX registrations without it)")
	f.StringVar(&metricsAddr, "metrics-addr", "", "listen address for Prometheus metrics (empty: none)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level")
	f.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "pherry:", err)
		switch {
		case errors.Is(err, pherry.ErrConfig):
			os.Exit(exitConfig)
		case errors.Is(err, pherry.ErrRefused):
			os.Exit(exitRefused)
		}
		os.Exit(exitError)
	}
}

func serveMetrics(addr string, reg *prometheus.Registry) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return srv, nil
}
