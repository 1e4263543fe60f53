package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/sdk"
)

// Member is one of the devnet's workers: a pRuntime with the sim TEE
// behind its HTTP API, and the pherry that relays for it.
type Member struct {
	Name        string
	Runtime     *pruntime.Runtime
	PrivateAddr string
	PublicAddr  string

	listeners *api.Listeners
	stopRelay context.CancelFunc
	relayDone chan error
}

// startMember opens a pRuntime on dir, serves it on the two addresses and
// starts its pherry, paid by op, announcing the public address.
func startMember(name, dir, nodeRPC, privateAddr, publicAddr string, op *sdk.Key, o Options) (*Member, error) {
	provider, err := sim.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", name, err)
	}
	log := o.Logger.With("component", name)
	m := &Member{Name: name, PrivateAddr: privateAddr, PublicAddr: publicAddr}
	m.Runtime, err = pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: log, CheckpointEvery: 500})
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", name, err)
	}
	m.listeners, err = api.New(m.Runtime, m.Runtime.Logger(), nil).Listen(privateAddr, publicAddr)
	if err != nil {
		m.stop()
		return nil, fmt.Errorf("devnet: %s: %w", name, err)
	}
	relayer, err := pherry.New(pherry.Config{
		NodeRPC: nodeRPC, PRuntime: privateAddr, Operator: op, PublicURL: "http://" + publicAddr,
		RPCBatchLimit: 200, Logger: o.Logger.With("component", name+"/pherry"), Poll: o.BlockTime,
		ProgressEvery: o.Progress,
	})
	if err != nil {
		m.stop()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	m.stopRelay, m.relayDone = cancel, make(chan error, 1)
	go func() { m.relayDone <- relayer.Run(rctx) }()
	return m, nil
}

// stop stops pherry, the API and pRuntime (with a final checkpoint).
func (m *Member) stop() error {
	var errs []error
	if m.stopRelay != nil {
		m.stopRelay()
		if err := <-m.relayDone; err != nil {
			errs = append(errs, fmt.Errorf("%s pherry: %w", m.Name, err))
		}
		m.stopRelay = nil
	}
	if m.listeners != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, m.listeners.Shutdown(ctx))
		cancel()
	}
	if m.Runtime != nil {
		errs = append(errs, m.Runtime.Close())
	}
	return errors.Join(errs...)
}

func (o Options) memberHome(name string) string { return filepath.Join(o.Home, name) }

// logInfo logs a member's state on the progress line.
func (m *Member) logInfo(log *slog.Logger) {
	i := m.Runtime.Info()
	log.Info("devnet", "member", m.Name, "synced_height", i.SyncedHeight, "registered", i.Registered, "epoch", i.Epoch,
		"holds_key", i.HoldsEpochKey, "contracts", i.Contracts, "pending_egress", i.PendingEgress)
}
