// Package lyingnode is a lying node for tests: a JSON-RPC proxy in front
// of a real node (which it can switch) that rewrites requests and results
// as a test tells it, and records what the client broadcast. Clients talk
// to it as to any node. Only tests import it.
package lyingnode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Proxy is a lying node.
type Proxy struct {
	srv *httptest.Server

	mu      sync.Mutex
	target  string
	request Request
	result  Result
	// seen counts the calls by method.
	seen map[string]int
	// broadcast holds the transactions the client asked it to broadcast.
	broadcast [][]byte
}

// Request rewrites a call's params before it is forwarded.
type Request func(method string, params map[string]any)

// Result rewrites a call's result before it is returned.
type Result func(method string, params map[string]any, result map[string]any)

// New starts a proxy in front of the node at target (tcp:// or http://),
// closed when the test ends.
func New(t testing.TB, target string) *Proxy {
	l := &Proxy{target: strings.Replace(target, "tcp://", "http://", 1), seen: map[string]int{}}
	l.srv = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.srv.Close)
	return l
}

// URL is the proxy's RPC address.
func (l *Proxy) URL() string { return l.srv.URL }

// Set switches the node behind the proxy (if target is not empty) and its
// rewrites: Request and Result functions, in any order; none is honest.
func (l *Proxy) Set(target string, rewrites ...any) {
	var request Request
	var result Result
	for _, r := range rewrites {
		switch f := r.(type) {
		case Request:
			request = f
		case Result:
			result = f
		case func(string, map[string]any):
			request = f
		case func(string, map[string]any, map[string]any):
			result = f
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if target != "" {
		l.target = strings.Replace(target, "tcp://", "http://", 1)
	}
	l.request, l.result = request, result
}

// Calls returns how often method was called, and the transactions the
// client asked to broadcast.
func (l *Proxy) Calls(method string) (int, [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[method], l.broadcast
}

type rpcCall struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  map[string]any  `json:"params"`
}

type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func (l *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	batch := bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
	var calls []rpcCall
	if batch {
		err = json.Unmarshal(body, &calls)
	} else {
		calls = make([]rpcCall, 1)
		err = json.Unmarshal(body, &calls[0])
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	target, request, result := l.target, l.request, l.result
	for _, c := range calls {
		l.seen[c.Method]++
		if c.Method == "broadcast_tx_sync" {
			if raw, err := base64.StdEncoding.DecodeString(c.Params["tx"].(string)); err == nil {
				l.broadcast = append(l.broadcast, raw)
			}
		}
	}
	l.mu.Unlock()
	if request != nil {
		for _, c := range calls {
			request(c.Method, c.Params)
		}
	}
	var out []byte
	if batch {
		out, err = json.Marshal(calls)
	} else {
		out, err = json.Marshal(calls[0])
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := http.Post(target, "application/json", bytes.NewReader(out))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if result != nil {
		var replies []rpcReply
		if batch {
			err = json.Unmarshal(reply, &replies)
		} else {
			replies = make([]rpcReply, 1)
			err = json.Unmarshal(reply, &replies[0])
		}
		if err == nil && len(replies) == len(calls) {
			for i := range replies {
				if len(replies[i].Result) == 0 {
					continue
				}
				var m map[string]any
				if json.Unmarshal(replies[i].Result, &m) != nil {
					continue
				}
				result(calls[i].Method, calls[i].Params, m)
				replies[i].Result, _ = json.Marshal(m)
			}
			if batch {
				reply, _ = json.Marshal(replies)
			} else {
				reply, _ = json.Marshal(replies[0])
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
}

// AtHeight makes the proxy answer every state query from height h and,
// if tip > 0, claim tip as its newest block.
func AtHeight(h, tip int64) []any {
	request := Request(func(method string, params map[string]any) {
		if method == "abci_query" {
			params["height"] = strconv.FormatInt(h, 10)
		}
	})
	result := Result(func(method string, _ map[string]any, result map[string]any) {
		if sync, ok := result["sync_info"].(map[string]any); ok && method == "status" && tip > 0 {
			sync["latest_block_height"] = strconv.FormatInt(tip, 10)
		}
	})
	return []any{request, result}
}

// Forge makes the proxy answer path's queries with the value edit makes of
// the true one (the zero value when absent), keeping the true proof.
func Forge[T any](path string, edit func(*T)) Result {
	return func(method string, params map[string]any, result map[string]any) {
		if method != "abci_query" || params["path"] != path {
			return
		}
		r, _ := result["response"].(map[string]any)
		if r == nil {
			return
		}
		var v T
		if s, ok := r["value"].(string); ok && s != "" {
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil || protocol.Unmarshal(raw, &v) != nil {
				return
			}
		}
		edit(&v)
		r["value"] = base64.StdEncoding.EncodeToString(protocol.MustMarshal(&v))
	}
}

// ClaimChain makes the proxy say it serves chain id.
func ClaimChain(id string) Result {
	return func(method string, _ map[string]any, result map[string]any) {
		if info, ok := result["node_info"].(map[string]any); ok && method == "status" {
			info["network"] = id
		}
	}
}
