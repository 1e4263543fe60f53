// Command pruntime is the enclave runtime: it verifies every block with its
// embedded light client, applies verified messages in chain order and signs
// its outputs. It trusts only its own binary, the pinned genesis and the TEE.
//
// This binary must stay small (DESIGN section 4.7): it never links
// CometBFT's node, p2p, mempool, consensus or RPC server; a test enforces it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/version"
)

// Exit codes.
const (
	exitError  = 1
	exitConfig = 2
)

func main() {
	var (
		dataDir     = flag.String("data-dir", "pruntime-data", "directory for sealed state (identity key, checkpoints)")
		teeKind     = flag.String("tee", "tdx", "TEE platform: tdx, or sim (insecure, development only)")
		privateAddr = flag.String("private-addr", "127.0.0.1:8000", "listen address for the relayer API (sync, egress, admin, metrics)")
		publicAddr  = flag.String("public-addr", "0.0.0.0:8001", "listen address for the public API (info, attestation)")
		logFormat   = flag.String("log-format", "text", "log format: text or json")
		logLevel    = flag.String("log-level", "info", "log level: debug, info, warn, error")
		ckptEvery   = flag.Int64("checkpoint-every", 1000, "blocks between sealed checkpoints")
		ckptKeep    = flag.Int("checkpoint-keep", 3, "checkpoints kept")
		showVersion = flag.Bool("version", false, "print the version and exit")
	)
	flag.Parse()
	if *showVersion {
		fmt.Println("pruntime", version.String())
		return
	}
	log, err := logging.New(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pruntime:", err)
		os.Exit(exitConfig)
	}
	provider, err := openTEE(*teeKind, *dataDir)
	if err != nil {
		log.Error("cannot open TEE", "tee", *teeKind, "err", err)
		os.Exit(exitConfig)
	}
	if err := run(provider, *dataDir, *privateAddr, *publicAddr, *ckptEvery, *ckptKeep, log); err != nil {
		log.Error("pruntime stopped", "err", err)
		os.Exit(exitError)
	}
}

func openTEE(kind, dataDir string) (tee.Provider, error) {
	switch kind {
	case "sim":
		return sim.Open(dataDir)
	case "tdx":
		return tdx.Open()
	}
	return nil, fmt.Errorf("unknown TEE %q: want tdx or sim", kind)
}

func run(provider tee.Provider, dataDir, privateAddr, publicAddr string, every int64, keep int, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	rt, err := pruntime.Open(pruntime.Config{
		DataDir: dataDir, TEE: provider, Logger: log,
		CheckpointEvery: every, CheckpointKeep: keep, Metrics: reg,
	})
	if err != nil {
		return err
	}
	log = rt.Logger()
	if provider.Insecure() {
		log.Warn("INSECURE: running with the sim TEE; nothing is protected. Development only.")
	}
	srv := api.New(rt, log, reg)
	ls, err := srv.Listen(privateAddr, publicAddr)
	if err != nil {
		return err
	}
	log.Info("serving", "private", ls.PrivateAddr, "public", ls.PublicAddr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err = <-ls.Err():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(err, ls.Shutdown(shutdownCtx), rt.Close())
	log.Info("stopped", "err", err)
	return err
}
