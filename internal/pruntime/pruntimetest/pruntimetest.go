// Package pruntimetest serves a pRuntime over loopback for tests of its
// clients (pherry, devnet): the real runtime behind the real HTTP API.
// Only tests import it.
package pruntimetest

import (
	"context"
	"testing"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/sdk"
)

// Server is a pRuntime listening on loopback.
type Server struct {
	t           testing.TB
	Dir         string
	Runtime     *pruntime.Runtime
	PrivateAddr string
	PublicAddr  string
	listeners   *api.Listeners
	opts        []Option
}

// Option adjusts the runtime's configuration.
type Option func(*pruntime.Config)

// Start opens a pRuntime with the sim TEE on dir and serves it. Empty
// addresses pick free ports.
func Start(t testing.TB, dir, privateAddr, publicAddr string, opts ...Option) *Server {
	t.Helper()
	if privateAddr == "" {
		privateAddr = "127.0.0.1:0"
	}
	if publicAddr == "" {
		publicAddr = "127.0.0.1:0"
	}
	provider, err := sim.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: 20}
	for _, o := range opts {
		o(&cfg)
	}
	rt, err := pruntime.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := api.New(rt, logging.Discard(), nil).Listen(privateAddr, publicAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Dir: dir, Runtime: rt, PrivateAddr: ls.PrivateAddr, PublicAddr: ls.PublicAddr, listeners: ls, opts: opts}
	t.Cleanup(s.Crash)
	return s
}

// Private is a client of the private API.
func (s *Server) Private() *sdk.PRuntime { return sdk.NewPRuntime(s.PrivateAddr) }

// Crash stops serving without a final checkpoint, as kill -9 would leave
// the data dir, and releases the runtime's contract engine.
func (s *Server) Crash() {
	if s.listeners != nil {
		s.listeners.Shutdown(context.Background())
		s.listeners = nil
		s.Runtime.Kill()
	}
}

// Restart crashes the server and starts a new pRuntime on the same data dir
// and addresses.
func (s *Server) Restart() *Server {
	s.t.Helper()
	s.Crash()
	return Start(s.t, s.Dir, s.PrivateAddr, s.PublicAddr, s.opts...)
}
