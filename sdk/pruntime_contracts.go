package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/phala-go/phala/protocol"
)

// raw posts (or gets) a CBOR body and returns the CBOR answer, refusing
// one over limit bytes.
func (p *PRuntime) raw(ctx context.Context, method, path string, body []byte, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/cbor")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pruntime %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("pruntime %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, p.answerError(method, path, resp.StatusCode, out)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("pruntime %s %s: answer exceeds %d bytes", method, path, limit)
	}
	return out, nil
}

// answerError turns an error answer into a *RuntimeError when it carries a
// protocol error.
func (p *PRuntime) answerError(method, path string, status int, raw []byte) error {
	var eb struct {
		Error protocol.APIError      `json:"error"`
		Sync  *protocol.SyncResponse `json:"sync"`
	}
	if json.Unmarshal(raw, &eb) != nil || eb.Error.Space == "" {
		return fmt.Errorf("pruntime %s %s: HTTP %d: %.200s", method, path, status, raw)
	}
	return &RuntimeError{Err: protocol.FromWire(eb.Error.Space, eb.Error.Code, eb.Error.Message), Status: status, Sync: eb.Sync}
}

// QueryRaw posts an encoded protocol.QueryRequest to the public API and
// returns the encoded protocol.QueryResponse. Client.QueryContract builds
// and checks both.
func (p *PRuntime) QueryRaw(ctx context.Context, body []byte) ([]byte, error) {
	return p.raw(ctx, http.MethodPost, "/v1/query", body, protocol.MaxQueryAnswer)
}

// Contracts lists the contracts the worker runs (GET /v1/contracts).
func (p *PRuntime) Contracts(ctx context.Context) ([]protocol.WorkerContract, error) {
	var out []protocol.WorkerContract
	return out, p.do(ctx, http.MethodGet, "/v1/contracts", "", nil, &out)
}

// StateRequest fetches the worker's signed request for its cluster's
// contract state (private API).
func (p *PRuntime) StateRequest(ctx context.Context) ([]byte, error) {
	return p.raw(ctx, http.MethodGet, "/v1/state/request", nil, protocol.MaxQueryBody)
}

// ServeState asks a cluster member (public API) to answer a state request.
func (p *PRuntime) ServeState(ctx context.Context, request []byte) ([]byte, error) {
	return p.raw(ctx, http.MethodPost, "/v1/state", request, protocol.MaxStateTransfer)
}

// ApplyState hands the worker a state transfer (private API); it returns
// how many contracts it brought back.
func (p *PRuntime) ApplyState(ctx context.Context, transfer []byte) (int, error) {
	var out struct {
		Contracts int `json:"contracts"`
	}
	return out.Contracts, p.do(ctx, http.MethodPost, "/v1/state/apply", "application/cbor", transfer, &out)
}

// SignEndpoint has the worker sign its public URL for the registry's
// update_endpoint (private API).
func (p *PRuntime) SignEndpoint(ctx context.Context, url string) (*protocol.UpdateEndpointArgs, error) {
	body, err := json.Marshal(map[string]string{"url": url})
	if err != nil {
		return nil, err
	}
	raw, err := p.raw(ctx, http.MethodPost, "/v1/endpoint", body, protocol.MaxQueryBody)
	if err != nil {
		return nil, err
	}
	var u protocol.UpdateEndpointArgs
	if err := protocol.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("pruntime endpoint: %w", err)
	}
	return &u, nil
}
