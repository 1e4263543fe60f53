package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phala-go/phala/sdk"
)

// Fuzzing pherry's decoders of node answers: each target serves the
// fetcher, over HTTP through CometBFT's own JSON-RPC client, an answer
// made from one a real node gave (testdata, see TestRecordAnswers), and
// requires that the fetcher either refuses it with an error or returns
// what was asked for; never a panic. The seeds run in go test; to fuzz
// longer: go test ./internal/pherry/fetch -run '^$' -fuzz FuzzBlocksAnswer -fuzztime 5m
// (likewise FuzzBlocksAnswerBytes, FuzzValidatorsAnswer, FuzzStatusAnswer).

// fakeNode answers the fetcher's requests with the answers it holds,
// renumbered to the requests' IDs.
type fakeNode struct {
	batch, validators, status atomic.Pointer[[]byte]
	url                       string
}

func newFakeNode(t testing.TB) *fakeNode {
	n := &fakeNode{}
	for name, p := range map[string]*atomic.Pointer[[]byte]{"batch.json": &n.batch, "validators.json": &n.validators, "status.json": &n.status} {
		b := recorded(t, name)
		p.Store(&b)
	}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	n.url = srv.URL
	return n
}

func recorded(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (n *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ids []json.RawMessage
	answer := n.batch.Load()
	var batch []struct{ ID json.RawMessage }
	if json.Unmarshal(body, &batch) == nil {
		for _, b := range batch {
			ids = append(ids, b.ID)
		}
	} else {
		var single struct {
			ID     json.RawMessage
			Method string
		}
		_ = json.Unmarshal(body, &single)
		ids = []json.RawMessage{single.ID}
		switch single.Method {
		case "validators":
			answer = n.validators.Load()
		case "status":
			answer = n.status.Load()
		}
	}
	_, _ = w.Write(renumber(*answer, ids))
}

// renumber gives the responses in answer the request IDs, in order, when
// answer is JSON-RPC; it returns anything else as it is.
func renumber(answer []byte, ids []json.RawMessage) []byte {
	var many []map[string]json.RawMessage
	if json.Unmarshal(answer, &many) == nil {
		for i := range min(len(many), len(ids)) {
			if many[i] != nil {
				many[i]["id"] = ids[i]
			}
		}
		out, _ := json.Marshal(many)
		return out
	}
	var one map[string]json.RawMessage
	if json.Unmarshal(answer, &one) == nil && one != nil && len(ids) > 0 {
		one["id"] = ids[0]
		out, _ := json.Marshal(one)
		return out
	}
	return answer
}

// fetchRecorded asks n for the recorded blocks and checks that the
// answer, when accepted, is what was asked for.
func fetchRecorded(t *testing.T, n *fakeNode) {
	rpc, err := sdk.NewRPC(n.url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := New(rpc, 200)
	blocks, err := f.Blocks(ctx, recordFrom, recordTo)
	if err != nil {
		return
	}
	if len(blocks) != recordTo-recordFrom+1 {
		t.Fatalf("%d blocks for %d..%d", len(blocks), recordFrom, recordTo)
	}
	for i, b := range blocks {
		if b.Height != recordFrom+int64(i) || len(b.SignedHeader) == 0 {
			t.Fatalf("block %d: height %d, %d header bytes", i, b.Height, len(b.SignedHeader))
		}
	}
	if h, err := f.Height(ctx); err == nil && h < 0 {
		t.Fatalf("height %d accepted", h)
	}
}

// FuzzBlocksAnswer mutates the decoded JSON of a recorded batch answer
// (commits and message lists): values set to null, emptied, set to
// extreme numbers or to garbage, entries dropped, duplicated, swapped or
// taken from another height, arrays grown.
func FuzzBlocksAnswer(f *testing.F) {
	for _, seed := range [][]byte{
		nil,
		{0, 3}, {0, 10}, {0, 40}, // nulls: header, commit, result, value
		{1, 7}, {2, 12}, {2, 30}, {2, 31}, // empty, extreme heights
		{3, 0}, {3, 1}, {4, 2}, {5, 0}, {5, 1}, // drop, duplicate, swap responses
		{6, 5}, {6, 60}, // from another height
		{7, 50}, {7, 51}, {8, 9}, {9, 20}, // garbage, huge arrays, flipped hex
	} {
		f.Add(seed)
	}
	orig := recorded(f, "batch.json")
	n := newFakeNode(f)
	f.Fuzz(func(t *testing.T, program []byte) {
		answer := mutateJSON(t, orig, program)
		n.batch.Store(&answer)
		fetchRecorded(t, n)
	})
}

// FuzzBlocksAnswerBytes serves arbitrary bytes as the batch answer.
func FuzzBlocksAnswerBytes(f *testing.F) {
	orig := recorded(f, "batch.json")
	f.Add(orig)
	f.Add(orig[:len(orig)/2])
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":0,"result":null}]`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":0,"error":{"code":-32603,"message":"x"}}`))
	n := newFakeNode(f)
	f.Fuzz(func(t *testing.T, answer []byte) {
		n.batch.Store(&answer)
		fetchRecorded(t, n)
	})
}

// FuzzValidatorsAnswer serves a mutated validator set where the recorded
// headers announce a change of validators.
func FuzzValidatorsAnswer(f *testing.F) {
	for _, seed := range [][]byte{
		nil, {0, 5}, {0, 8}, {1, 6}, {2, 2}, {2, 3}, {2, 11}, {4, 4}, {4, 4, 4, 4}, {7, 6}, {8, 4}, {9, 7},
	} {
		f.Add(seed)
	}
	// Every recorded header announces another next validator set.
	var batch []map[string]any
	if err := json.Unmarshal(recorded(f, "batch.json"), &batch); err != nil {
		f.Fatal(err)
	}
	for _, r := range batch {
		if hdr := dig(r, "result", "signed_header", "header"); hdr != nil {
			hdr["next_validators_hash"] = "00"
		}
	}
	changing, _ := json.Marshal(batch)
	orig := recorded(f, "validators.json")
	n := newFakeNode(f)
	n.batch.Store(&changing)
	f.Fuzz(func(t *testing.T, program []byte) {
		answer := mutateJSON(t, orig, program)
		n.validators.Store(&answer)
		fetchRecorded(t, n)
	})
}

// FuzzStatusAnswer serves a mutated status answer.
func FuzzStatusAnswer(f *testing.F) {
	for _, seed := range [][]byte{nil, {0, 20}, {2, 20}, {2, 21}, {7, 20}} {
		f.Add(seed)
	}
	orig := recorded(f, "status.json")
	n := newFakeNode(f)
	f.Fuzz(func(t *testing.T, program []byte) {
		answer := mutateJSON(t, orig, program)
		n.status.Store(&answer)
		rpc, err := sdk.NewRPC(n.url)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := New(rpc, 0).Height(context.Background()); err == nil && h < 0 {
			t.Fatalf("height %d accepted", h)
		}
	})
}

func dig(v any, path ...string) map[string]any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

// A node is a place in a decoded JSON document: its parent container and
// its key or index there.
type node struct {
	parent any // map[string]any or *[]any
	key    string
	index  int
}

func (n node) get() any {
	if m, ok := n.parent.(map[string]any); ok {
		return m[n.key]
	}
	return (*n.parent.(*[]any))[n.index]
}

func (n node) set(v any) {
	if m, ok := n.parent.(map[string]any); ok {
		m[n.key] = v
		return
	}
	(*n.parent.(*[]any))[n.index] = v
}

// nodes lists every place in doc, depth first. Arrays are replaced by
// pointers to themselves so that they can grow and shrink in place.
func nodes(doc *any) []node {
	var out []node
	var walk func(parent any, key string, index int, v any)
	walk = func(parent any, key string, index int, v any) {
		n := node{parent, key, index}
		if arr, ok := v.([]any); ok {
			p := &arr
			n.set(p)
			v = p
		}
		out = append(out, n)
		switch c := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			sortStrings(keys)
			for _, k := range keys {
				walk(c, k, 0, c[k])
			}
		case *[]any:
			for i := range *c {
				walk(c, "", i, (*c)[i])
			}
		}
	}
	root := map[string]any{"": *doc}
	walk(root, "", 0, *doc)
	*doc = root[""]
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// unwrap turns the array pointers nodes made back into arrays.
func unwrap(v any) any {
	switch c := v.(type) {
	case *[]any:
		out := make([]any, len(*c))
		for i := range *c {
			out[i] = unwrap((*c)[i])
		}
		return out
	case map[string]any:
		for k := range c {
			c[k] = unwrap(c[k])
		}
	}
	return v
}

var extremes = []string{"-1", "0", "1", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "2305843009213693951", "1.5", ""}

// mutateJSON applies program to the decoded doc and re-encodes it. The
// program is read two bytes at a time: an operation and the place it
// applies to (an index into the document's places).
func mutateJSON(t *testing.T, doc []byte, program []byte) []byte {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(program) && i < 32; i += 2 {
		op, arg := program[i]%10, int(program[i+1])
		places := nodes(&v)
		at := places[arg%len(places)]
		other := places[(arg*7+3)%len(places)]
		switch op {
		case 0: // null
			at.set(nil)
		case 1: // empty
			switch at.get().(type) {
			case map[string]any:
				at.set(map[string]any{})
			case *[]any:
				at.set(&[]any{})
			default:
				at.set("")
			}
		case 2: // an extreme number, as CometBFT writes int64s: a string
			at.set(extremes[arg%len(extremes)])
		case 3: // drop an entry
			if arr, ok := at.parent.(*[]any); ok {
				*arr = append((*arr)[:at.index:at.index], (*arr)[at.index+1:]...)
			}
		case 4: // duplicate an entry
			if arr, ok := at.parent.(*[]any); ok {
				*arr = append(*arr, copyJSON(t, (*arr)[at.index]))
			}
		case 5: // swap with the entry after
			if arr, ok := at.parent.(*[]any); ok && at.index+1 < len(*arr) {
				(*arr)[at.index], (*arr)[at.index+1] = (*arr)[at.index+1], (*arr)[at.index]
			}
		case 6: // a value from elsewhere (another height, another field)
			at.set(copyJSON(t, other.get()))
		case 7: // garbage: base64 of bytes that decode to nothing valid
			at.set("//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eDf3t3c")
		case 8: // an oversized array
			if arr, ok := at.get().(*[]any); ok && len(*arr) > 0 {
				grown := make([]any, 0, 2000)
				for len(grown) < 2000 {
					grown = append(grown, copyJSON(t, (*arr)[len(grown)%len(*arr)]))
				}
				*arr = grown
			}
		case 9: // one character changed
			if s, ok := at.get().(string); ok && s != "" {
				b := []byte(s)
				b[arg%len(b)] ^= 1
				at.set(string(b))
			} else {
				at.set(strconv.Itoa(arg))
			}
		}
	}
	out, err := json.Marshal(unwrap(v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyJSON(t *testing.T, v any) any {
	b, err := json.Marshal(unwrap(v))
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(bytes.Clone(b), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordedAnswerIsAccepted guards the fuzz targets' starting point:
// the recorded answers, unchanged, are accepted.
func TestRecordedAnswerIsAccepted(t *testing.T) {
	n := newFakeNode(t)
	rpc, err := sdk.NewRPC(n.url)
	if err != nil {
		t.Fatal(err)
	}
	f := New(rpc, 200)
	blocks, err := f.Blocks(context.Background(), recordFrom, recordTo)
	if err != nil || len(blocks) != recordTo-recordFrom+1 {
		t.Fatalf("%d blocks: %v", len(blocks), err)
	}
	if _, err := f.Height(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.validators(context.Background(), recordFrom+1); err != nil {
		t.Fatal(err)
	}
}
