package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phala-go/phala/protocol"
)

// PRuntime is a client of a pRuntime's HTTP API (private or public
// listener, depending on the calls used).
type PRuntime struct {
	base string
	http *http.Client
}

// NewPRuntime returns a client for the pRuntime listening at addr
// (host:port or a URL).
func NewPRuntime(addr string) *PRuntime {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &PRuntime{base: strings.TrimRight(addr, "/"), http: &http.Client{Timeout: 5 * time.Minute}}
}

// RuntimeError is an error answered by pRuntime: its protocol error (match
// with errors.Is) and, for a failed sync, the progress made before it.
type RuntimeError struct {
	Err    error
	Status int
	Sync   *protocol.SyncResponse
}

func (e *RuntimeError) Error() string { return fmt.Sprintf("pruntime (HTTP %d): %v", e.Status, e.Err) }
func (e *RuntimeError) Unwrap() error { return e.Err }

func (p *PRuntime) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("pruntime %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("pruntime %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error protocol.APIError      `json:"error"`
			Sync  *protocol.SyncResponse `json:"sync"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error.Space == "" {
			return fmt.Errorf("pruntime %s %s: HTTP %d: %.200s", method, path, resp.StatusCode, raw)
		}
		return &RuntimeError{Err: protocol.FromWire(eb.Error.Space, eb.Error.Code, eb.Error.Message), Status: resp.StatusCode, Sync: eb.Sync}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("pruntime %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Info returns GET /v1/info.
func (p *PRuntime) Info(ctx context.Context) (*protocol.Info, error) {
	var info protocol.Info
	return &info, p.do(ctx, http.MethodGet, "/v1/info", "", nil, &info)
}

// Init sends the chain's genesis document (POST /v1/init).
func (p *PRuntime) Init(ctx context.Context, genesisJSON []byte) (*protocol.Info, error) {
	var info protocol.Info
	return &info, p.do(ctx, http.MethodPost, "/v1/init", "application/json", genesisJSON, &info)
}

// Sync sends consecutive blocks (POST /v1/sync). On a refusal the error is a
// *RuntimeError carrying the progress made before the refused block.
func (p *PRuntime) Sync(ctx context.Context, req *protocol.SyncRequest) (*protocol.SyncResponse, error) {
	body, err := protocol.Marshal(req)
	if err != nil {
		return nil, err
	}
	return p.SyncRaw(ctx, body)
}

// SyncRaw posts an already-encoded sync body.
func (p *PRuntime) SyncRaw(ctx context.Context, body []byte) (*protocol.SyncResponse, error) {
	var resp protocol.SyncResponse
	return &resp, p.do(ctx, http.MethodPost, "/v1/sync", "application/cbor", body, &resp)
}

// Egress returns the pending signed messages with sequence > after (all if
// after < 0), decoded.
func (p *PRuntime) Egress(ctx context.Context, after int64) ([]protocol.SignedMessage, uint64, error) {
	path := "/v1/egress"
	if after >= 0 {
		path += "?after=" + strconv.FormatInt(after, 10)
	}
	var resp protocol.EgressResponse
	if err := p.do(ctx, http.MethodGet, path, "", nil, &resp); err != nil {
		return nil, 0, err
	}
	out := make([]protocol.SignedMessage, len(resp.Messages))
	for i, raw := range resp.Messages {
		if err := protocol.Unmarshal(raw, &out[i]); err != nil {
			return nil, 0, fmt.Errorf("pruntime egress %d: %w", i, err)
		}
	}
	return out, resp.NextSeq, nil
}

// Attestation returns GET /v1/attestation.
func (p *PRuntime) Attestation(ctx context.Context) (*protocol.Attestation, error) {
	var a protocol.Attestation
	return &a, p.do(ctx, http.MethodGet, "/v1/attestation", "", nil, &a)
}

// Checkpoint asks pRuntime to write a checkpoint now.
func (p *PRuntime) Checkpoint(ctx context.Context) error {
	return p.do(ctx, http.MethodPost, "/v1/admin/checkpoint", "", nil, nil)
}

// IsRuntimeRefusal reports whether err is pRuntime refusing input (as
// opposed to pRuntime being unreachable).
func IsRuntimeRefusal(err error) bool {
	var re *RuntimeError
	return errors.As(err, &re)
}
