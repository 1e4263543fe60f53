// Package api serves pRuntime over HTTP on two listeners. The private one
// (sync, egress, init, admin, metrics) is meant for the relayer on the same
// host; the public one (info, attestation, later queries) for anyone.
//
// Every request body is size-limited and decoded by exactly one decoder;
// every error is JSON {"space", "code", "message"} with a stable code.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/protocol"
)

// Body limits.
const (
	MaxInitBody = 8 << 20
	MaxSyncBody = 64 << 20
	// MaxEgressPage bounds one egress answer.
	MaxEgressPage = 1000
)

// Server is pRuntime's HTTP API.
type Server struct {
	rt  *pruntime.Runtime
	log *slog.Logger
	reg prometheus.Gatherer
}

// New returns the API of rt; gatherer (may be nil) is served on /metrics.
func New(rt *pruntime.Runtime, log *slog.Logger, gatherer prometheus.Gatherer) *Server {
	return &Server{rt: rt, log: log, reg: gatherer}
}

// Private is the relayer-facing handler. It also serves info and
// attestation, so a relayer needs only this listener.
func (s *Server) Private() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/init", s.route(http.MethodPost, s.init))
	mux.Handle("/v1/sync", s.route(http.MethodPost, s.sync))
	mux.Handle("/v1/egress", s.route(http.MethodGet, s.egress))
	mux.Handle("/v1/admin/checkpoint", s.route(http.MethodPost, s.checkpoint))
	mux.Handle("/v1/info", s.route(http.MethodGet, s.info))
	mux.Handle("/v1/attestation", s.route(http.MethodGet, s.attestation))
	mux.Handle("/v1/contracts", s.route(http.MethodGet, s.contracts))
	mux.Handle("/v1/state/request", s.route(http.MethodGet, s.stateRequest))
	mux.Handle("/v1/state/apply", s.route(http.MethodPost, s.stateApply))
	mux.Handle("/v1/endpoint", s.route(http.MethodPost, s.endpoint))
	if s.reg != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	}
	mux.Handle("/", http.HandlerFunc(notFound))
	return mux
}

// Public is the world-facing handler: info, attestation, contract queries
// and state transfers to other members of the cluster.
func (s *Server) Public() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/info", s.route(http.MethodGet, s.info))
	mux.Handle("/v1/attestation", s.route(http.MethodGet, s.attestation))
	mux.Handle("/v1/contracts", s.route(http.MethodGet, s.contracts))
	mux.Handle("/v1/query", s.route(http.MethodPost, s.query))
	mux.Handle("/v1/state", s.route(http.MethodPost, s.state))
	mux.Handle("/", http.HandlerFunc(notFound))
	return crossOrigin(mux)
}

// crossOrigin lets web pages of any origin call the public API, as a
// browser dApp queries a worker directly (docs/sdk-ts.md): the API takes
// no cookies or credentials, and every request is authenticated by what
// it carries (a query's signature and sealed input), so no origin gains
// anything another could not. Preflights are answered here; the private
// API sends no such header, so no page can reach it.
func crossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) route(method string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, protocol.Errorf(protocol.ErrMethodNotAllowed, "%s %s, want %s", r.Method, r.URL.Path, method))
			return
		}
		defer s.recoverPanic(w, r)
		if err := h(w, r); err != nil {
			if _, ok := protocol.CodeOf(err); !ok {
				s.log.Error("request failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	})
}

// recoverPanic answers a panic that escaped a handler with a 500 and a
// stable code (runtime/7), and logs it with its stack, instead of letting
// net/http drop the connection without an answer. The runtime contains
// panics where it changes state (a block or a state transfer is applied
// whole or not at all); this is the last line for everything else.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { // net/http's own way to abort a response
		panic(v)
	}
	msg := fmt.Sprint(v)
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	s.log.Error("handler panicked", "path", r.URL.Path, "panic", msg, "stack", string(debug.Stack()))
	writeError(w, protocol.Errorf(protocol.ErrRuntimeInternal, "%s %s: internal error (logged by pRuntime)", r.Method, r.URL.Path))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, protocol.Errorf(protocol.ErrNotFound, "%s %s", r.Method, r.URL.Path))
}

// readBody reads at most limit bytes of the request body. With a
// Content-Length it allocates the body once, at its size (io.ReadAll's
// doubling would cost up to twice the body); a larger announced body is
// refused before reading it.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, protocol.Errorf(protocol.ErrBodyTooLarge, "body of %d bytes exceeds %d", r.ContentLength, limit)
	}
	if r.ContentLength >= 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, protocol.Errorf(protocol.ErrBadRequest, "read body: %v", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrBadRequest, "read body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, protocol.Errorf(protocol.ErrBodyTooLarge, "body exceeds %d bytes", limit)
	}
	return b, nil
}

func (s *Server) init(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, MaxInitBody)
	if err != nil {
		return err
	}
	if err := s.rt.Init(body); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.rt.Info())
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, MaxSyncBody)
	if err != nil {
		return err
	}
	req, err := protocol.DecodeSyncRequest(body)
	if err != nil {
		return err
	}
	resp, err := s.rt.Sync(req)
	if err != nil {
		// Report what was applied before the failing block along with the
		// error, so a relayer knows where pRuntime stands.
		return &syncError{err: err, resp: resp}
	}
	return writeJSON(w, http.StatusOK, resp)
}

// syncError carries the partial progress of a failed sync.
type syncError struct {
	err  error
	resp *protocol.SyncResponse
}

func (e *syncError) Error() string { return e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

func (s *Server) egress(w http.ResponseWriter, r *http.Request) error {
	after := int64(-1)
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return protocol.Errorf(protocol.ErrBadRequest, "after=%q: want a sequence number", v)
		}
		after = int64(n)
	}
	resp, err := s.rt.Egress(after, MaxEgressPage)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) checkpoint(w http.ResponseWriter, _ *http.Request) error {
	if err := s.rt.Checkpoint(); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.rt.Info())
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, s.rt.Info())
}

func (s *Server) attestation(w http.ResponseWriter, _ *http.Request) error {
	a, err := s.rt.Attestation()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON of an error response. Sync failures also carry the
// progress made before the failing block.
type ErrorBody struct {
	Error protocol.APIError      `json:"error"`
	Sync  *protocol.SyncResponse `json:"sync,omitempty"`
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := protocol.CodeOf(err)
	if !ok {
		e = protocol.ErrRuntimeInternal
	}
	body := ErrorBody{Error: protocol.APIError{Space: e.Space, Code: e.Code, Message: err.Error()}}
	var se *syncError
	if errors.As(err, &se) {
		body.Sync = se.resp
	}
	writeJSON(w, statusOf(e), body)
}

func statusOf(e *protocol.Error) int {
	switch {
	case e.Is(protocol.ErrNotFound):
		return http.StatusNotFound
	case e.Is(protocol.ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case e.Is(protocol.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case e.Is(protocol.ErrNotInitialized):
		return http.StatusServiceUnavailable
	case e.Is(protocol.ErrGenesisMismatch), e.Is(protocol.ErrTrustRoot):
		return http.StatusConflict
	case e.Is(protocol.ErrRuntimeInternal):
		return http.StatusInternalServerError
	case e.Is(protocol.ErrQueryBusy):
		return http.StatusServiceUnavailable
	case e.Is(protocol.ErrQuerySignature):
		return http.StatusUnauthorized
	}
	return http.StatusUnprocessableEntity
}
