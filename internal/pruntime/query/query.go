// Package query answers encrypted, signed contract queries (DESIGN 4.3
// "fresh answers only", 4.4). It reads only the state the runtime last
// published — an immutable view of the cluster's contracts, the current
// encryption key and the heights — so a query never waits for sync and
// sync never waits for a query. Concurrency is bounded: when every slot is
// taken the caller is told to retry (ErrQueryBusy) rather than queued.
//
// The checks, in order: the request decodes and names this chain, this
// worker and its current key; its signature by the signer its header names
// verifies; it has not expired; the contract is live, not stuck far behind
// this worker waiting for keys, and its state has reached the request's
// minimum height; its nonce is new; its ciphertext opens (under an aad
// that covers the signer, so a request re-signed by anyone else does not);
// only then is the nonce claimed. The answer echoes the signer, is sealed
// under a key of its own (the request's HPKE export secret and a fresh
// salt) and is signed by the worker identity key.
package query

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/internal/pruntime/runner"
	"github.com/phala-go/phala/protocol"
)

// Snapshot is what queries read: published by the runtime after each
// change, never modified after.
type Snapshot struct {
	View *runner.View
	// Time is the verified time of block View.Height.
	Time time.Time
	// Key is the worker's current encryption key: queries are sealed to it.
	Key *keys.Encryption
}

// Config configures a Server.
type Config struct {
	ChainID  string
	Identity ed25519.PrivateKey
	Engine   *contract.Engine
	Logger   *slog.Logger
	// Concurrency bounds queries in flight (default 2 × GOMAXPROCS).
	Concurrency int
	// MaxGas bounds a query's gas limit.
	MaxGas uint64
	// Nonces bounds the replay cache (default 200,000).
	Nonces int
	// Timeout bounds a query's execution (default 5 s), on top of gas.
	Timeout time.Duration
	// Debug routes contracts' debug output to the log (sim TEE only).
	Debug bool
	// Observe, if set, is told the result of every query (metrics).
	Observe func(outcome string, err error, took time.Duration)
}

// Server answers queries.
type Server struct {
	cfg   Config
	pub   []byte
	state atomic.Pointer[Snapshot]
	slots chan struct{}
	seen  *nonces
}

// New returns a query server with nothing published yet.
func New(c Config) *Server {
	if c.Concurrency <= 0 {
		c.Concurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if c.Nonces <= 0 {
		c.Nonces = 200_000
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: c, pub: c.Identity.Public().(ed25519.PublicKey), slots: make(chan struct{}, c.Concurrency), seen: newNonces(c.Nonces)}
}

// Publish makes s the state later queries read.
func (s *Server) Publish(snap *Snapshot) { s.state.Store(snap) }

// Published is the state queries read now (nil before the first Publish).
func (s *Server) Published() *Snapshot { return s.state.Load() }

// Answer handles one request body and returns the canonical response.
func (s *Server) Answer(ctx context.Context, body []byte) ([]byte, error) {
	start := time.Now()
	out, outcome, err := s.answer(ctx, body)
	if s.cfg.Observe != nil {
		s.cfg.Observe(outcome, err, time.Since(start))
	}
	return out, err
}

func (s *Server) answer(ctx context.Context, body []byte) ([]byte, string, error) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		return nil, "", protocol.Errorf(protocol.ErrQueryBusy, "%d queries in flight", cap(s.slots))
	}
	snap := s.state.Load()
	if snap == nil || snap.View == nil || snap.Key == nil {
		return nil, "", protocol.Errorf(protocol.ErrNotInitialized, "no chain state yet")
	}
	req, err := s.decode(body)
	if err != nil {
		return nil, "", err
	}
	h := &req.Query
	aad, signing := req.Bindings()
	if !protocol.Verify(h.Signer, protocol.SigQuery, signing, req.Sig) {
		return nil, "", protocol.Errorf(protocol.ErrQuerySignature, "not signed by %x", h.Signer)
	}
	cv, err := s.check(snap, h)
	if err != nil {
		return nil, "", err
	}
	if s.seen.seen(h.Nonce) {
		return nil, "", protocol.Errorf(protocol.ErrQueryReplay, "nonce %x", h.Nonce)
	}
	// The nonce is claimed only once the ciphertext opened: a copy that
	// names another signer does not open, and must not burn the nonce of
	// the request it was copied from.
	input, secret, err := protocol.HPKEOpenExport(snap.Key.Private(), protocol.QueryInfo(s.cfg.ChainID, s.pub), aad, req.Ciphertext)
	if err != nil {
		return nil, "", protocol.Errorf(protocol.ErrQueryDecrypt, "%v", err)
	}
	if err := s.seen.claim(h.Nonce, h.Expiry, snap.View.Height); err != nil {
		return nil, "", err
	}
	reply, err := s.run(ctx, snap, cv, req, input)
	if err != nil {
		return nil, "", err
	}
	reqHash := sha256.Sum256(signing)
	salt := make([]byte, protocol.QueryReplySalt)
	if _, err := rand.Read(salt); err != nil {
		return nil, "", err
	}
	sealed, err := protocol.SealQueryReply(secret, salt, reqHash[:], protocol.MustMarshal(reply))
	if err != nil {
		return nil, "", err
	}
	ans := protocol.QueryAnswer{
		ChainID: s.cfg.ChainID, Contract: h.Contract, Worker: s.pub, Signer: h.Signer, Request: reqHash[:], Height: cv.Height,
		Salt: salt, Reply: sealed,
	}
	return protocol.SignQueryAnswer(s.cfg.Identity, &ans), reply.Outcome, nil
}

// decode reads a request and checks its shape and that it is meant for
// this chain and worker.
func (s *Server) decode(body []byte) (*protocol.QueryRequest, error) {
	var req protocol.QueryRequest
	if err := protocol.Unmarshal(body, &req); err != nil {
		return nil, protocol.Errorf(protocol.ErrQueryMalformed, "%v", err)
	}
	h := &req.Query
	switch {
	case h.ChainID != s.cfg.ChainID:
		return nil, protocol.Errorf(protocol.ErrQueryMalformed, "chain %q, this worker serves %q", h.ChainID, s.cfg.ChainID)
	case len(h.Contract) != 32:
		return nil, protocol.Errorf(protocol.ErrQueryMalformed, "contract id of %d bytes", len(h.Contract))
	case len(h.Nonce) < protocol.QueryNonceMin || len(h.Nonce) > protocol.QueryNonceMax:
		return nil, protocol.Errorf(protocol.ErrQueryMalformed, "nonce of %d bytes, want %d..%d", len(h.Nonce), protocol.QueryNonceMin, protocol.QueryNonceMax)
	case len(h.Signer) != ed25519.PublicKeySize:
		return nil, protocol.Errorf(protocol.ErrQueryMalformed, "signer key of %d bytes", len(h.Signer))
	case string(h.Worker) != string(s.pub):
		return nil, protocol.Errorf(protocol.ErrQueryWrongKey, "query for worker %x, this is %x", h.Worker, s.pub)
	case h.GasLimit == 0 || h.GasLimit > s.cfg.MaxGas:
		return nil, protocol.Errorf(protocol.ErrQueryGas, "gas limit %d, allowed 1..%d", h.GasLimit, s.cfg.MaxGas)
	}
	return &req, nil
}

// check applies the view-dependent rules: the current key, expiry, the
// contract's availability and freshness, and the minimum height.
func (s *Server) check(snap *Snapshot, h *protocol.QueryHeader) (*runner.ContractView, error) {
	ek := sha256.Sum256(snap.Key.Public())
	if string(h.WorkerEK) != string(ek[:]) {
		return nil, protocol.Errorf(protocol.ErrQueryWrongKey, "sealed to key %x, current key is %x", h.WorkerEK, ek)
	}
	height := snap.View.Height
	switch {
	case h.Expiry < height:
		return nil, protocol.Errorf(protocol.ErrQueryExpired, "expired at %d, worker at %d", h.Expiry, height)
	case h.Expiry > height+protocol.MaxQueryWindow:
		return nil, protocol.Errorf(protocol.ErrQueryExpired, "expiry %d is more than %d blocks after %d", h.Expiry, protocol.MaxQueryWindow, height)
	}
	cv, ok := snap.View.Contract(h.Contract)
	if !ok {
		return nil, protocol.Errorf(protocol.ErrQueryUnknownContract, "%x", h.Contract)
	}
	switch {
	case !cv.Live:
		return nil, protocol.Errorf(protocol.ErrQueryUnavailable, "contract %x waits for a state transfer", h.Contract)
	case cv.Status != protocol.ContractActive:
		return nil, protocol.Errorf(protocol.ErrQueryUnavailable, "contract %x is %s", h.Contract, cv.Status)
	case cv.Waiting && cv.Height < height-protocol.QueryMaxLag:
		// Whatever the caller accepts: this worker knows its contract is
		// stale, and an answer would present old state as its own.
		return nil, protocol.Errorf(protocol.ErrQueryStale, "contract %x waits for keys: its state is at %d, this worker at %d (at most %d blocks behind are answered)", h.Contract, cv.Height, height, protocol.QueryMaxLag)
	case cv.Height < h.MinHeight && cv.Waiting:
		return nil, protocol.Errorf(protocol.ErrQueryBehind, "contract %x waits for keys: its state is at %d, query wants at least %d", h.Contract, cv.Height, h.MinHeight)
	case cv.Height < h.MinHeight:
		return nil, protocol.Errorf(protocol.ErrQueryBehind, "state at %d, query wants at least %d", cv.Height, h.MinHeight)
	}
	return cv, nil
}

// run executes the query in the engine against the published storage.
func (s *Server) run(ctx context.Context, snap *Snapshot, cv *runner.ContractView, req *protocol.QueryRequest, input []byte) (*protocol.QueryReply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	seed := sha256.Sum256(append([]byte("phala/query-random/v1"), protocol.MustMarshal(&req.Query)...))
	call := &contract.Call{
		Entry: contract.EntryQuery, Input: input, Caller: protocol.AddressOf(req.Query.Signer),
		Height: cv.Height, Time: snap.Time, Seed: seed, GasLimit: req.Query.GasLimit,
		Store: kvtree.NewReadOnly(cv.Tree), Debug: s.cfg.Debug,
	}
	copy(call.Contract[:], cv.ID)
	code, err := cv.Code()
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrQueryUnavailable, "contract %x: %v", cv.ID, err)
	}
	res, err := s.cfg.Engine.Run(ctx, code, call)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &protocol.QueryReply{Outcome: protocol.OutcomeTrap, Reason: "query timed out"}, nil
		}
		return nil, err
	}
	return &protocol.QueryReply{Outcome: res.Outcome, Reason: res.Reason, Output: res.Output, GasUsed: res.GasUsed}, nil
}
