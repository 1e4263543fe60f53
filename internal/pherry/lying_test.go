package pherry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pruntime/pruntimetest"
)

// result returns the result object of a JSON-RPC response that holds
// field, or nil.
func result(r map[string]any, field string) map[string]any {
	res, _ := r["result"].(map[string]any)
	if _, ok := res[field]; !ok {
		return nil
	}
	return res
}

func header(r map[string]any) map[string]any {
	res := result(r, "signed_header")
	sh, _ := res["signed_header"].(map[string]any)
	h, _ := sh["header"].(map[string]any)
	return h
}

// validators returns the validator entries of a validators answer.
func validators(r map[string]any) []any {
	res := result(r, "validators")
	vs, _ := res["validators"].([]any)
	return vs
}

// lies are answers a lying node gives pherry, each as an edit of the
// node's JSON-RPC answers (all of a batch at once).
var lies = map[string]func(batch []map[string]any) []map[string]any{
	"a negative chain height": each(func(r map[string]any) {
		if res := result(r, "sync_info"); res != nil {
			res["sync_info"].(map[string]any)["latest_block_height"] = "-5"
		}
	}),
	"a chain height of 2^63-1": each(func(r map[string]any) {
		if res := result(r, "sync_info"); res != nil {
			res["sync_info"].(map[string]any)["latest_block_height"] = "9223372036854775807"
		}
	}),
	"commits without a header": each(func(r map[string]any) {
		if res := result(r, "signed_header"); res != nil {
			res["signed_header"].(map[string]any)["header"] = nil
		}
	}),
	"commits without signatures": each(func(r map[string]any) {
		if res := result(r, "signed_header"); res != nil {
			res["signed_header"].(map[string]any)["commit"] = nil
		}
	}),
	"no result at all": each(func(r map[string]any) {
		if result(r, "signed_header") != nil {
			r["result"] = nil
		}
	}),
	"commits of another height": each(func(r map[string]any) {
		if h := header(r); h != nil {
			n, _ := strconv.ParseInt(h["height"].(string), 10, 64)
			h["height"] = strconv.FormatInt(n+1000, 10)
		}
	}),
	"commits of height -1": each(func(r map[string]any) {
		if h := header(r); h != nil {
			h["height"] = "-1"
		}
	}),
	"garbage message lists": each(func(r map[string]any) {
		if res := result(r, "response"); res != nil {
			res["response"].(map[string]any)["value"] = base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0x01})
		}
	}),
	"a batch missing its last answer": func(batch []map[string]any) []map[string]any {
		if len(batch) > 1 {
			return batch[:len(batch)-1]
		}
		return batch
	},
	"null answers": func(batch []map[string]any) []map[string]any {
		for i := range batch {
			batch[i] = nil // CometBFT's client dereferenced nil on these
		}
		return batch
	},
	"a batch in the wrong order": func(batch []map[string]any) []map[string]any {
		if len(batch) > 1 {
			batch[0]["result"], batch[1]["result"] = batch[1]["result"], batch[0]["result"]
		}
		return batch
	},
	"a validator listed twice": changingValidators(func(vs []any) []any { return append(vs, vs[0]) }),
	"a validator without a public key": changingValidators(func(vs []any) []any {
		vs[0].(map[string]any)["pub_key"] = nil
		return vs
	}),
	"a validator key of 31 bytes": changingValidators(func(vs []any) []any {
		vs[0].(map[string]any)["pub_key"].(map[string]any)["value"] = base64.StdEncoding.EncodeToString(make([]byte, 31))
		return vs
	}),
	"voting power above CometBFT's maximum": changingValidators(func(vs []any) []any {
		vs[0].(map[string]any)["voting_power"] = "9223372036854775807"
		return vs
	}),
	"a negative voting power": changingValidators(func(vs []any) []any {
		vs[0].(map[string]any)["voting_power"] = "-10"
		return vs
	}),
	"no validators": changingValidators(func([]any) []any { return []any{} }),
}

// malformed are the lies pherry recognises as such (fetch.ErrAnswer,
// counted as node_malformed); the others look like a node that cannot
// serve the blocks asked for (node_unreachable).
var malformed = map[string]string{
	"null answers":                          "shape",
	"a negative chain height":               "height",
	"commits of another height":             "height",
	"commits of height -1":                  "height",
	"garbage message lists":                 "messages",
	"a validator listed twice":              "validators",
	"a validator without a public key":      "validators",
	"a validator key of 31 bytes":           "validators",
	"voting power above CometBFT's maximum": "validators",
	"a negative voting power":               "validators",
	"no validators":                         "validators",
}

// each applies edit to every response of a batch.
func each(edit func(map[string]any)) func([]map[string]any) []map[string]any {
	return func(batch []map[string]any) []map[string]any {
		for _, r := range batch {
			edit(r)
		}
		return batch
	}
}

// changingValidators makes every header announce a change of validators,
// and serves the validator set edited by edit (keeping count and total
// consistent with it).
func changingValidators(edit func([]any) []any) func([]map[string]any) []map[string]any {
	return each(func(r map[string]any) {
		if h := header(r); h != nil {
			h["next_validators_hash"] = "00"
		}
		if vs := validators(r); vs != nil {
			vs = edit(vs)
			res := r["result"].(map[string]any)
			res["validators"], res["count"], res["total"] = vs, strconv.Itoa(len(vs)), strconv.Itoa(len(vs))
		}
	})
}

// TestRelayerSurvivesALyingNode puts a node that lies, one way at a time,
// between pherry and a real chain: pherry must not crash, must feed
// pRuntime nothing of it, and must resume when the node tells the truth
// again.
func TestRelayerSurvivesALyingNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	for name, lie := range lies {
		t.Run(name, func(t *testing.T) {
			var lying atomic.Bool
			lying.Store(true)
			proxy := startBodyProxy(t, tn.RPCAddr(0), func(body []byte) []byte {
				if !lying.Load() {
					return body
				}
				return editBatch(body, lie)
			})
			pr := pruntimetest.Start(t, t.TempDir(), "", "")
			r := startRelay(t, proxy, pr.PrivateAddr, tn.Keys.Dev[1], func(c *pherry.Config) { c.NoRegister, c.Operator = true, nil })
			// pherry initialises pRuntime from the node's genesis (the lies
			// leave it alone), then meets the lie round after round.
			eventually(t, ctx, "pherry to meet the lie", func() bool {
				return r.counter(t, "pherry_errors_total", "", "") >= 3
			})
			select {
			case err := <-r.done:
				t.Fatalf("pherry ended: %v", err)
			default:
			}
			// Whatever a lie reached pRuntime, it refused; none may.
			if got := r.counter(t, "pherry_errors_total", "kind", "refused"); got != 0 {
				t.Fatalf("pherry passed %v lies on to pRuntime", got)
			}
			if h := info(t, ctx, pr).SyncedHeight; h != 0 && name != "a chain height of 2^63-1" { // the blocks below the real tip are true
				t.Fatalf("pRuntime synced to %d from a lying node", h)
			}
			if want, ok := malformed[name]; ok && r.counter(t, "pherry_errors_total", "kind", "node_malformed") < 1 {
				t.Fatalf("the lie was not counted as a malformed answer (%s)", want)
			}
			lying.Store(false)
			tip, err := tn.Client(ctx, 0).Height(ctx)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, ctx, "pherry to resume once the node tells the truth", func() bool {
				return info(t, ctx, pr).SyncedHeight >= tip
			})
		})
	}
}

// editBatch applies edit to the JSON-RPC responses in body, a batch or a
// single response.
func editBatch(body []byte, edit func([]map[string]any) []map[string]any) []byte {
	var batch []map[string]any
	if json.Unmarshal(body, &batch) == nil {
		out, _ := json.Marshal(edit(batch))
		return out
	}
	var single map[string]any
	if json.Unmarshal(body, &single) == nil {
		b := edit([]map[string]any{single})
		if len(b) == 0 {
			return []byte(`{}`)
		}
		out, _ := json.Marshal(b[0])
		return out
	}
	return body
}
