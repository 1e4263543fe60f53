package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// The SDK decodes every node answer totally: structure-aware fuzzing of
// recorded answers of a real node. The seed corpus runs in go test; fuzz
// longer with
//
//	go test ./sdk -run XXX -fuzz FuzzClientRefusesMutatedNodeAnswers -fuzztime 10m

// recording is a real node's answers, keyed by method and params, to the
// calls of the operations below, with the node's tip frozen so that the
// answers are coherent.
type recording struct {
	replies map[string]json.RawMessage
	methods []string // recorded methods, sorted
	now     time.Time
	honest  []string // each operation's honest result
	ops     []operation
}

// operation is a client call and a summary of its result that a lying
// node must not be able to change without an error.
type operation struct {
	name string
	run  func(ctx context.Context, c *sdk.Client) (string, error)
}

func callKey(method string, params map[string]any) string {
	p, _ := json.Marshal(params) // keys sorted
	return method + " " + string(p)
}

// replay serves rec's answers, mutate rewriting each result.
func replay(rec *recording, mutate func(method string, result any) any) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var call struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) || json.Unmarshal(body, &call) != nil {
			http.Error(w, "batches are not recorded", http.StatusBadRequest)
			return
		}
		reply := map[string]any{"jsonrpc": "2.0", "id": call.ID}
		res, ok := rec.replies[callKey(call.Method, call.Params)]
		if !ok {
			reply["error"] = map[string]any{"code": -32603, "message": "not recorded", "data": callKey(call.Method, call.Params)}
		} else {
			var v any
			json.Unmarshal(res, &v)
			if mutate != nil {
				v = mutate(call.Method, v)
			}
			reply["result"] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply)
	}))
}

var (
	recordOnce sync.Once
	recorded   *recording
)

// record runs the operations against a real node through a recording
// proxy, once per test binary.
func record(t testing.TB) *recording {
	recordOnce.Do(func() { recorded = doRecord(t) })
	if recorded == nil {
		t.Fatal("recording failed")
	}
	return recorded
}

func doRecord(t testing.TB) *recording {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	dev := tn.Keys.Dev[0]
	transfer, _ := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: tn.Keys.Dev[1].Address(), Amount: 7})
	sent, err := c.Send(ctx, dev, transfer)
	if err != nil {
		t.Fatal(err)
	}
	tn.WaitHeight(ctx, 0, sent.Height+3)
	rec := &recording{replies: map[string]json.RawMessage{}}
	rec.ops = []operation{
		{"account", func(ctx context.Context, c *sdk.Client) (string, error) {
			a, h, err := c.Account(ctx, dev.Address())
			return fmt.Sprint(a, h), err
		}},
		{"absent worker", func(ctx context.Context, c *sdk.Client) (string, error) {
			w, ok, err := c.Worker(ctx, make([]byte, 32))
			return fmt.Sprint(w.Status, ok), err
		}},
		{"fee and nonce", func(ctx context.Context, c *sdk.Client) (string, error) {
			fee, err := c.MinFee(ctx)
			if err != nil {
				return "", err
			}
			n, err := c.GovNonce(ctx)
			return fmt.Sprint(fee, n), err
		}},
		{"epoch", func(ctx context.Context, c *sdk.Client) (string, error) {
			e, err := c.EpochRecord(ctx)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%+v", *e), nil
		}},
		{"old header", func(ctx context.Context, c *sdk.Client) (string, error) {
			if _, err := c.VerifiedTip(ctx); err != nil {
				return "", err
			}
			h, err := c.VerifiedHeader(ctx, 2)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%X", h.Hash()), nil
		}},
		{"messages", func(ctx context.Context, c *sdk.Client) (string, error) {
			bm, _, err := c.BlockMessages(ctx, sent.Height)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%X", bm.AppHash()), nil
		}},
		{"tx", func(ctx context.Context, c *sdk.Client) (string, error) {
			r, err := c.WaitTx(ctx, sent.Hash)
			if err != nil {
				return "", err
			}
			return fmt.Sprint(r.Height, r.Err), nil
		}},
	}

	var mu sync.Mutex
	var frozen json.RawMessage
	var frozenTip int64
	target := tn.RPCAddr(0)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var call struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		json.Unmarshal(body, &call)
		key := callKey(call.Method, call.Params)
		mu.Lock()
		if call.Method == "abci_query" && call.Params["height"] == "0" && frozenTip > 1 {
			// The latest state, as of the frozen tip.
			call.Params["height"] = strconv.FormatInt(frozenTip-1, 10)
			body, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": call.ID, "method": call.Method, "params": call.Params})
		}
		mu.Unlock()
		resp, err := http.Post("http"+target[len("tcp"):], "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var reply struct {
			Result json.RawMessage `json:"result"`
		}
		json.Unmarshal(out, &reply)
		mu.Lock()
		if call.Method == "status" { // the tip stays where it was first seen
			if frozen == nil {
				frozen = reply.Result
				var st struct {
					SyncInfo struct {
						Height int64 `json:"latest_block_height,string"`
					} `json:"sync_info"`
				}
				json.Unmarshal(frozen, &st)
				frozenTip = st.SyncInfo.Height
			}
			reply.Result = frozen
			out, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": call.ID, "result": frozen})
		}
		if len(reply.Result) > 0 {
			rec.replies[key] = reply.Result
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	defer proxy.Close()
	for _, op := range rec.ops {
		c, err := sdk.Dial(ctx, proxy.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.run(ctx, c); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
	}
	rec.now = time.Now()
	for m := range rec.replies {
		rec.methods = append(rec.methods, m[:bytes.IndexByte([]byte(m), ' ')])
	}
	sort.Strings(rec.methods)
	rec.methods = dedup(rec.methods)
	// The honest results, replayed.
	srv := replay(rec, nil)
	defer srv.Close()
	for _, op := range rec.ops {
		got, err := runOp(srv.URL, rec, op)
		if err != nil {
			t.Fatalf("replaying %s: %v", op.name, err)
		}
		rec.honest = append(rec.honest, got)
	}
	return rec
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func runOp(url string, rec *recording, op operation) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := sdk.DialOptions(ctx, url, sdk.Options{Now: func() time.Time { return rec.now }})
	if err != nil {
		return "", err
	}
	return op.run(ctx, c)
}

// mutation rewrites the leaf-th node (in a fixed walk) of a decoded JSON
// value: dropped, nulled, emptied, made extreme or negative, duplicated,
// or set to raw.
func mutation(v any, leaf int, kind uint8, raw []byte) any {
	var nodes []func(any) // setters of every node but the root
	var walk func(v any, set func(any))
	walk = func(v any, set func(any)) {
		nodes = append(nodes, set)
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], func(nv any) {
					if nv == dropped {
						delete(x, k)
					} else {
						x[k] = nv
					}
				})
			}
		case []any:
			for i := range x {
				walk(x[i], func(nv any) {
					if nv == dropped {
						x[i] = nil
					} else {
						x[i] = nv
					}
				})
			}
		}
	}
	root := v
	walk(v, func(nv any) { root = nv })
	if len(nodes) == 0 {
		return root
	}
	values := []any{dropped, nil, "", "-1", "0", "9223372036854775807", "-9223372036854775808", 1e300, []any{}, map[string]any{}, string(raw), []any{string(raw), string(raw)}}
	nodes[leaf%len(nodes)](values[int(kind)%len(values)])
	return root
}

type droppedT struct{}

var dropped any = droppedT{}

// FuzzClientRefusesMutatedNodeAnswers: a node answer with any field
// dropped, nulled, emptied, made extreme or replaced never panics the
// SDK, and never changes what a verified read returns: it is the honest
// result, or an error.
func FuzzClientRefusesMutatedNodeAnswers(f *testing.F) {
	rec := record(f)
	for m := range rec.methods {
		for kind := range uint8(12) {
			f.Add(uint8(m+int(kind)), uint8(m), uint16(kind)*37, kind, []byte("x"))
		}
	}
	f.Fuzz(func(t *testing.T, op, method uint8, leaf uint16, kind uint8, raw []byte) {
		o := rec.ops[int(op)%len(rec.ops)]
		target := rec.methods[int(method)%len(rec.methods)]
		srv := replay(rec, func(m string, result any) any {
			if m != target {
				return result
			}
			return mutation(result, int(leaf), kind, raw)
		})
		defer srv.Close()
		got, err := runOp(srv.URL, rec, o)
		if err != nil {
			return // a refusal
		}
		if want := rec.honest[int(op)%len(rec.ops)]; got != want {
			t.Fatalf("%s with %s's answer mutated (node %d, kind %d): got %s, honest %s", o.name, target, leaf, kind, got, want)
		}
	})
}
