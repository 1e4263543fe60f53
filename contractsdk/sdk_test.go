//go:build !wasip1

package contractsdk_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

// The SDK's own tests in the real engine: contractsdk/internal/probe
// exposes every feature as an operation.
var probe *contracttest.Module

func TestMain(m *testing.M) { contracttest.Main(m, &probe, "internal/probe", contracttest.Options{}) }

var (
	deployer = contracttest.Account("deployer")
	bob      = contracttest.Account("bob")
	carol    = contracttest.Account("carol")
)

func deploy(t *testing.T) *contracttest.Instance {
	t.Helper()
	c, res := probe.Instantiate(t, deployer, []byte(`{"env": {}}`))
	contracttest.Output(t, res)
	return c
}

func call(op, args string) []byte { return []byte(`{"` + op + `": {` + args + `}}`) }

func TestHandlersSeeTheCallersAndTheBlock(t *testing.T) {
	c, res := probe.Instantiate(t, deployer, call("env", ""))
	env := func(entry string, readOnly bool, who protocol.Address, height int64) string {
		return fmt.Sprintf(`{"entry":%q,"read_only":%v,"caller":"%s","contract":"%x","height":%d,"time":%d,"gas_decreases":true}`,
			entry, readOnly, who, c.ID, height, contracttest.Time(height).UnixNano())
	}
	if got, want := string(contracttest.Output(t, res)), env("init", false, deployer, 1); got != want {
		t.Fatalf("init env\n got %s\nwant %s", got, want)
	}
	if got, want := string(contracttest.Output(t, c.Command(t, bob, call("env", "")))), env("command", false, bob, 2); got != want {
		t.Fatalf("command env\n got %s\nwant %s", got, want)
	}
	if got, want := string(contracttest.Output(t, c.Query(t, carol, call("env", "")))), env("query", true, carol, 2); got != want {
		t.Fatalf("query env\n got %s\nwant %s", got, want)
	}
}

func TestStorageRoundTripsAndIteratesInKeyOrder(t *testing.T) {
	c := deploy(t)
	for _, kv := range [][2]string{{"b/2", "two"}, {"a", "A"}, {"b/1", "one"}, {"b/3", ""}, {"c", "C"}} {
		contracttest.Output(t, c.Command(t, bob, call("set", fmt.Sprintf(`"key": %q, "value": %q`, kv[0], kv[1]))))
	}
	for key, want := range map[string]string{
		"b/1": `{"found":true,"value":"one","has":true}`,
		"b/3": `{"found":true,"value":"","has":true}`,
		"zz":  `{"found":false,"value":"","has":false}`,
	} {
		if got := string(contracttest.Output(t, c.Query(t, bob, call("get", `"key": "`+key+`"`)))); got != want {
			t.Errorf("get %s: %s, want %s", key, got, want)
		}
	}
	for args, want := range map[string]string{
		`"prefix": "", "after": ""`:      `{"keys":["a","b/1","b/2","b/3","c"]}`,
		`"prefix": "b/", "after": ""`:    `{"keys":["b/1","b/2","b/3"]}`,
		`"prefix": "b/", "after": "b/1"`: `{"keys":["b/2","b/3"]}`,
		`"prefix": "b/", "after": "b"`:   `{"keys":["b/1","b/2","b/3"]}`,
		`"prefix": "b/", "after": "b/3"`: `{"keys":[]}`,
		`"prefix": "d", "after": ""`:     `{"keys":[]}`,
	} {
		if got := string(contracttest.Output(t, c.Query(t, bob, call("keys", args)))); got != want {
			t.Errorf("keys %s: %s, want %s", args, got, want)
		}
	}
	contracttest.Output(t, c.Command(t, bob, call("delete", `"key": "b/2"`)))
	contracttest.Output(t, c.Command(t, bob, call("delete", `"key": "never-set"`)))
	if got := string(contracttest.Output(t, c.Query(t, bob, call("keys", `"prefix": "b/", "after": ""`)))); got != `{"keys":["b/1","b/3"]}` {
		t.Fatalf("keys after delete: %s", got)
	}
}

func TestStorageLimitsAreErrorsNotTraps(t *testing.T) {
	c := deploy(t)
	contracttest.ErrorText(t, c.Command(t, bob, call("set", fmt.Sprintf(`"key": %q, "value": ""`, strings.Repeat("k", 257)))), "storage key is 257 bytes, limit 256")
	contracttest.ErrorText(t, c.Command(t, bob, call("set", fmt.Sprintf(`"key": "k", "value": %q`, strings.Repeat("v", 64<<10+1)))), "storage value is 65537 bytes, limit 65536")
	contracttest.Output(t, c.Command(t, bob, call("set", fmt.Sprintf(`"key": %q, "value": %q`, strings.Repeat("k", 256), strings.Repeat("v", 64<<10)))))
	// The host traps on the empty key (iteration could never reach it):
	// the SDK refuses to store it and reports it absent.
	contracttest.ErrorText(t, c.Command(t, bob, call("set", `"key": "", "value": "v"`)), "storage key is empty: host ABI limit exceeded")
	if got := string(contracttest.Output(t, c.Query(t, bob, call("get", `"key": ""`)))); got != `{"found":false,"value":"","has":false}` {
		t.Fatalf("get of the empty key: %s", got)
	}
	contracttest.Output(t, c.Command(t, bob, call("delete", `"key": ""`)))
}

func TestQueriesCannotWriteOrEmit(t *testing.T) {
	c := deploy(t)
	contracttest.ErrorText(t, c.Query(t, bob, call("set", `"key": "k", "value": "v"`)), "read-only")
	contracttest.ErrorText(t, c.Query(t, bob, call("delete", `"key": "k"`)), "read-only")
	contracttest.ErrorText(t, c.Query(t, bob, call("emit", `"suffix": "x", "payload": "p", "count": 1`)), "read-only")
}

func TestAFailedCallReturnsItsErrorText(t *testing.T) {
	c := deploy(t)
	if got := contracttest.ErrorText(t, c.Command(t, bob, call("fail", `"key": "k", "value": "v", "message": "refused: k"`)), "refused: k"); got != "refused: k" {
		t.Fatalf("error text %q", got)
	}
}

func TestPanicsFailTheCallWithTheirMessage(t *testing.T) {
	c := deploy(t)
	if got := contracttest.ErrorText(t, c.Command(t, bob, call("panic", `"message": "boom"`)), "boom"); got != "panic: boom" {
		t.Fatalf("error text %q", got)
	}
	contracttest.ErrorText(t, c.Query(t, bob, call("panic", `"message": "in a query"`)), "panic: in a query")
	contracttest.Output(t, c.Query(t, bob, call("env", ""))) // the instance still works
}

func TestEmitDeliversMessagesInOrderAndOnlyOnSuccess(t *testing.T) {
	c := deploy(t)
	res := c.Command(t, bob, call("emit", `"suffix": "events/v1", "payload": "hello", "count": 16`))
	contracttest.Output(t, res)
	if len(res.Emitted) != 16 {
		t.Fatalf("%d messages emitted, want 16", len(res.Emitted))
	}
	for _, m := range res.Emitted {
		if m.Suffix != "events/v1" || string(m.Payload) != "hello" {
			t.Fatalf("emitted %+v", m)
		}
	}
	contracttest.ErrorText(t, c.Command(t, bob, call("emit", `"suffix": "x", "payload": "p", "count": 17`)), "more than 16 messages emitted in one call")
	contracttest.ErrorText(t, c.Command(t, bob, call("emit_then_fail", `"suffix": "x", "payload": "p", "count": 2`)), "failed after emitting")
	for suffix, want := range map[string]string{
		"":                      "want 1..44",
		"a//b":                  "empty segment",
		"a b":                   "a character outside",
		strings.Repeat("s", 45): "want 1..44",
	} {
		contracttest.ErrorText(t, c.Command(t, bob, call("emit", fmt.Sprintf(`"suffix": %q, "payload": "p", "count": 1`, suffix))), want)
	}
	contracttest.ErrorText(t, c.Command(t, bob, call("emit", fmt.Sprintf(`"suffix": "x", "payload": %q, "count": 1`, strings.Repeat("p", 16<<10+1)))), "emit payload is 16385 bytes, limit 16384")
}

func TestOutputsAboveTheLimitAreErrors(t *testing.T) {
	c := deploy(t)
	if out := contracttest.Output(t, c.Query(t, bob, call("output", `"n": 16384`))); len(out) != 16384 {
		t.Fatalf("output of %d bytes", len(out))
	}
	contracttest.ErrorText(t, c.Query(t, bob, call("output", `"n": 16385`)), "output is 16385 bytes, limit 16384")
	text := contracttest.ErrorText(t, c.Query(t, bob, call("error_text", `"n": 10000`)), "éé")
	if len(text) > 16384 || len(text) < 16383 || !utf8.ValidString(text) {
		t.Fatalf("long error text: %d bytes, valid UTF-8 %v", len(text), utf8.ValidString(text))
	}
}

func TestRunningOutOfGasUsesTheWholeLimitAndEmitsNothing(t *testing.T) {
	c := deploy(t)
	res := c.Command(t, bob, call("loop", ""))
	if res.Outcome != protocol.OutcomeOutOfGas || res.GasUsed != contracttest.DefaultCommandGas || len(res.Emitted) != 0 {
		t.Fatalf("outcome %s (%s), gas %d", res.Outcome, res.Reason, res.GasUsed)
	}
}

func TestMemoryIsBoundedBy32MiB(t *testing.T) {
	c := deploy(t)
	if out := contracttest.Output(t, c.Command(t, bob, call("alloc", `"mib": 8`))); string(out) != `{"chunks":8}` {
		t.Fatalf("8 MiB: %s", out)
	}
	res := c.Command(t, bob, call("alloc", `"mib": 64`))
	if res.Outcome != protocol.OutcomeTrap {
		t.Fatalf("64 MiB: outcome %s (%s)", res.Outcome, res.Reason)
	}
}

func TestRandomIsTheSameOnEveryWorkerAndFreshPerCall(t *testing.T) {
	c := deploy(t)
	twin := c.Clone()
	input := call("random", `"n": 2000`)
	r1 := string(contracttest.Output(t, c.Command(t, bob, input)))
	r2 := string(contracttest.Output(t, twin.Command(t, bob, input)))
	if r1 != r2 {
		t.Fatal("the same call drew different bytes on two instances")
	}
	var a, b string
	if _, err := fmt.Sscanf(strings.NewReplacer(`{"a":"`, "", `","b":"`, " ", `"}`, "").Replace(r1), "%s %s", &a, &b); err != nil || len(a) != 4000 || len(b) != 32 {
		t.Fatalf("reply %s", r1)
	}
	if strings.Contains(a, b) || a == strings.Repeat("0", 4000) {
		t.Fatal("successive draws repeat")
	}
	if r3 := string(contracttest.Output(t, c.Command(t, bob, input))); r3 == r1 {
		t.Fatal("the next block drew the same bytes")
	}
}

func TestSHA256MatchesCryptoSHA256(t *testing.T) {
	c := deploy(t)
	for _, data := range []string{"", "abc", strings.Repeat("x", 5000)} {
		sum := sha256.Sum256([]byte(data))
		want := `{"sum":"` + hex.EncodeToString(sum[:]) + `"}`
		if got := string(contracttest.Output(t, c.Query(t, bob, call("sha256", fmt.Sprintf(`"data": %q`, data))))); got != want {
			t.Errorf("sha256(%d bytes): %s, want %s", len(data), got, want)
		}
	}
}

func TestVerifyEd25519AcceptsOnlyTheSignersSignature(t *testing.T) {
	c := deploy(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(priv, []byte("message"))
	bad := bytes.Clone(sig)
	bad[10] ^= 1
	for _, tc := range []struct {
		name     string
		pub, sig []byte
		msg      string
		ok       bool
	}{
		{"valid", pub, sig, "message", true},
		{"other message", pub, sig, "massage", false},
		{"flipped bit", pub, bad, "message", false},
		{"short key", pub[:31], sig, "message", false},
		{"short signature", pub, sig[:63], "message", false},
	} {
		args := fmt.Sprintf(`"pub": "%x", "msg": %q, "sig": "%x"`, tc.pub, tc.msg, tc.sig)
		if got, want := string(contracttest.Output(t, c.Query(t, bob, call("verify", args)))), fmt.Sprintf(`{"ok":%v}`, tc.ok); got != want {
			t.Errorf("%s: %s, want %s", tc.name, got, want)
		}
	}
}

func TestCollectionsStoreTypedValuesInKeyOrder(t *testing.T) {
	c := deploy(t)
	empty := `{"counter":0,"counter_set":false,"scores":[],"scores_after_minus_one":[],"has_three":false,"members":[],"caller_is_member":false}`
	if got := string(contracttest.Output(t, c.Query(t, bob, call("collections", `"write": false`)))); got != empty {
		t.Fatalf("before writing:\n got %s\nwant %s", got, empty)
	}
	want := fmt.Sprintf(`{"counter":1,"counter_set":true,"scores":[[-5,"minus five"],[-1,"minus one"],[0,"zero"],[7,"seven"]],`+
		`"scores_after_minus_one":[0,7],"has_three":false,"members":["%s"],"caller_is_member":true}`, bob)
	if got := string(contracttest.Output(t, c.Command(t, bob, call("collections", `"write": true`)))); got != want {
		t.Fatalf("after writing:\n got %s\nwant %s", got, want)
	}
	if got := string(contracttest.Output(t, c.Query(t, bob, call("collections", `"write": false`)))); got != want {
		t.Fatalf("in a later query:\n got %s\nwant %s", got, want)
	}
}

// TestCollectionsReportUndecodableBytesAsErrDecode uses a codec of the
// contract's own whose Decode returns a plain error: Get and Keys report
// it as ErrDecode, still wrapping the codec's error.
func TestCollectionsReportUndecodableBytesAsErrDecode(t *testing.T) {
	c := deploy(t)
	want := `{"get":{"error":"picky: not ok: stored value does not decode","decode":true,"own":true},` +
		`"keys":{"error":"picky: not ok: stored value does not decode","decode":true,"own":true}}`
	if got := string(contracttest.Output(t, c.Command(t, bob, call("undecodable", "")))); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestAMissingHandlerIsAnErrorNotACrash(t *testing.T) {
	noQuery, err := contracttest.Build(t.Context(), "internal/noquery", contracttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer noQuery.Close(context.Background())
	c, res := noQuery.Instantiate(t, deployer, nil)
	if out := contracttest.Output(t, res); string(out) != "ready" {
		t.Fatalf("init: %s", out)
	}
	if out := contracttest.Output(t, c.Command(t, bob, nil)); string(out) != "done" {
		t.Fatalf("command: %s", out)
	}
	if got := contracttest.ErrorText(t, c.Query(t, bob, nil), "contract has no query handler"); got != "contract has no query handler" {
		t.Fatalf("query: %q", got)
	}
}

// TestInterpreterAndCompilerAgree runs the same history in both engine
// modes (the compiler is what tests use by default), with the debug log on.
func TestInterpreterAndCompilerAgree(t *testing.T) {
	var logged bytes.Buffer
	interp := probe.Reload(t, contracttest.Options{
		Interpreter: true, Debug: true, Log: slog.New(slog.NewTextHandler(&logged, nil)),
	})
	history := func(m *contracttest.Module) []*contracttest.Result {
		c, res := m.Instantiate(t, deployer, call("env", ""))
		results := []*contracttest.Result{res}
		for _, in := range [][]byte{
			call("collections", `"write": true`), call("random", `"n": 64`), call("sha256", `"data": "abc"`),
			call("emit", `"suffix": "e", "payload": "p", "count": 2`), call("log", `"message": "probe says hi"`),
			call("fail", `"key": "k", "value": "v", "message": "no"`), call("panic", `"message": "boom"`),
		} {
			results = append(results, c.Command(t, bob, in))
		}
		return append(results, contracttest.Answer(c.Query(t, carol, call("collections", `"write": false`))))
	}
	compiled, interpreted := history(probe), history(interp)
	if !reflect.DeepEqual(compiled, interpreted) {
		for i := range compiled {
			t.Logf("%d: compiler %+v\n   interpreter %+v", i, *compiled[i], *interpreted[i])
		}
		t.Fatal("the interpreter and the compiler disagree")
	}
	if !strings.Contains(logged.String(), "probe says hi") {
		t.Fatalf("debug log %q lacks the contract's message", logged.String())
	}
}
