package sdk_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// liar is a lying node: a JSON-RPC proxy in front of a real node (which
// it can switch) that rewrites requests and results as a test tells it.
// The SDK talks to it as to any node.
type liar struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	target string
	// request rewrites a call's params before it is forwarded.
	request func(method string, params map[string]any)
	// result rewrites a call's result before it is returned.
	result func(method string, params map[string]any, result map[string]any)
	// seen counts the calls by method.
	seen map[string]int
	// broadcast holds the transactions the client asked it to broadcast.
	broadcast [][]byte
}

func newLiar(t *testing.T, target string) *liar {
	l := &liar{t: t, target: strings.Replace(target, "tcp://", "http://", 1), seen: map[string]int{}}
	l.srv = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.srv.Close)
	return l
}

// URL is the liar's RPC address.
func (l *liar) URL() string { return l.srv.URL }

// set switches the node behind the liar (if target is not empty) and its
// rewrites.
func (l *liar) set(target string, rewrites ...any) {
	var request func(string, map[string]any)
	var result func(string, map[string]any, map[string]any)
	for _, r := range rewrites {
		switch f := r.(type) {
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

// calls returns how often method was called, and the transactions
// broadcast.
func (l *liar) calls(method string) (int, [][]byte) {
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

func (l *liar) serve(w http.ResponseWriter, r *http.Request) {
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

// abciResponse is the response object of an abci_query result.
func abciResponse(result map[string]any) map[string]any {
	r, _ := result["response"].(map[string]any)
	return r
}

// setValue replaces an abci_query result's value.
func setValue(result map[string]any, v []byte) {
	if r := abciResponse(result); r != nil {
		r["value"] = base64.StdEncoding.EncodeToString(v)
	}
}
