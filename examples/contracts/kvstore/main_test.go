//go:build !wasip1

package main_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var module *contracttest.Module

func TestMain(m *testing.M) { contracttest.Main(m, &module, ".", contracttest.Options{}) }

var (
	owner  = contracttest.Account("owner")
	reader = contracttest.Account("reader")
	other  = contracttest.Account("other")
)

func deploy(t *testing.T) *contracttest.Instance {
	t.Helper()
	c, res := module.Instantiate(t, owner, []byte(`{}`))
	contracttest.Output(t, res)
	return c
}

func put(key, value string) []byte {
	return fmt.Appendf(nil, `{"put": {"key": %q, "value": %q}}`, key, value)
}

func grant(key string, a protocol.Address) []byte {
	return fmt.Appendf(nil, `{"grant": {"key": %q, "reader": %q}}`, key, a)
}

func revoke(key string, a protocol.Address) []byte {
	return fmt.Appendf(nil, `{"revoke": {"key": %q, "reader": %q}}`, key, a)
}

func del(key string) []byte { return fmt.Appendf(nil, `{"delete": {"key": %q}}`, key) }

func get(key string) []byte { return fmt.Appendf(nil, `{"get": {"key": %q}}`, key) }

var listAll = []byte(`{"list": {}}`)

func ok(t *testing.T, c *contracttest.Instance, from protocol.Address, input []byte) {
	t.Helper()
	if out := contracttest.Output(t, c.Command(t, from, input)); string(out) != "{}" {
		t.Fatalf("reply %s", out)
	}
}

func entryJSON(key, value string, o protocol.Address) string {
	return fmt.Sprintf(`{"key":%q,"value":%q,"owner":"%s"}`, key, value, o)
}

func query(t *testing.T, c *contracttest.Instance, from protocol.Address, input []byte) string {
	t.Helper()
	return string(contracttest.Output(t, c.Query(t, from, input)))
}

func TestTheFirstWriterOwnsAKey(t *testing.T) {
	c := deploy(t)
	ok(t, c, owner, put("color", "blue"))
	ok(t, c, owner, put("color", "green"))
	if got, want := query(t, c, owner, get("color")), entryJSON("color", "green", owner); got != want {
		t.Fatalf("get: %s, want %s", got, want)
	}
	contracttest.ErrorText(t, c.Command(t, other, put("color", "red")), "the key belongs to another account")
	if got := query(t, c, owner, get("color")); !strings.Contains(got, `"green"`) {
		t.Fatalf("value after a refused overwrite: %s", got)
	}
}

func TestOnlyTheOwnerAndGrantedReadersCanRead(t *testing.T) {
	c := deploy(t)
	ok(t, c, owner, put("secret", "42"))
	absent := contracttest.ErrorText(t, c.Query(t, reader, get("nothing-here")), "no such key, or you may not read it")
	denied := contracttest.ErrorText(t, c.Query(t, reader, get("secret")), "no such key, or you may not read it")
	if absent != denied {
		t.Fatalf("a denied get (%q) differs from a get of an absent key (%q)", denied, absent)
	}
	ok(t, c, owner, grant("secret", reader))
	if got, want := query(t, c, reader, get("secret")), entryJSON("secret", "42", owner); got != want {
		t.Fatalf("granted get: %s, want %s", got, want)
	}
	contracttest.ErrorText(t, c.Query(t, other, get("secret")), "no such key, or you may not read it")
	ok(t, c, owner, revoke("secret", reader))
	contracttest.ErrorText(t, c.Query(t, reader, get("secret")), "no such key, or you may not read it")
}

func TestListShowsOwnedAndReadableKeys(t *testing.T) {
	c := deploy(t)
	ok(t, c, owner, put("b", "1"))
	ok(t, c, owner, put("a", "2"))
	ok(t, c, other, put("c", "3"))
	ok(t, c, other, put("d", "4"))
	ok(t, c, other, grant("d", owner))
	ok(t, c, other, grant("c", reader))
	for who, want := range map[protocol.Address]string{
		owner:  `{"keys":["a","b","d"],"more":false}`,
		other:  `{"keys":["c","d"],"more":false}`,
		reader: `{"keys":["c"],"more":false}`,
	} {
		if got := query(t, c, who, listAll); got != want {
			t.Errorf("list: %s, want %s", got, want)
		}
	}
	ok(t, c, other, revoke("c", reader))
	ok(t, c, other, del("d"))
	if got := query(t, c, owner, listAll); got != `{"keys":["a","b"],"more":false}` {
		t.Fatalf("owner's list after delete: %s", got)
	}
	if got := query(t, c, reader, listAll); got != `{"keys":[],"more":false}` {
		t.Fatalf("reader's list after revoke: %s", got)
	}
}

func TestListPagesThroughManyKeys(t *testing.T) {
	c := deploy(t)
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		keys = append(keys, k)
		ok(t, c, owner, put(k, "v"))
	}
	page := func(ks []string, more bool) string {
		return fmt.Sprintf(`{"keys":["%s"],"more":%v}`, strings.Join(ks, `","`), more)
	}
	if got, want := query(t, c, owner, listAll), page(keys[:32], true); got != want {
		t.Fatalf("first page: %s, want %s", got, want)
	}
	if got, want := query(t, c, owner, []byte(`{"list": {"after": "k31"}}`)), page(keys[32:], false); got != want {
		t.Fatalf("second page: %s, want %s", got, want)
	}
}

func TestDeleteRemovesTheKeyForEveryoneAndFreesIt(t *testing.T) {
	c := deploy(t)
	ok(t, c, owner, put("k", "v"))
	ok(t, c, owner, grant("k", reader))
	contracttest.ErrorText(t, c.Command(t, reader, del("k")), "the key belongs to another account")
	ok(t, c, owner, del("k"))
	contracttest.ErrorText(t, c.Query(t, owner, get("k")), "no such key, or you may not read it")
	contracttest.ErrorText(t, c.Query(t, reader, get("k")), "no such key, or you may not read it")
	if c.State.Len() != 0 {
		t.Fatalf("%d keys left in storage after deleting the only entry", c.State.Len())
	}
	ok(t, c, other, put("k", "mine"))
	if got, want := query(t, c, other, get("k")), entryJSON("k", "mine", other); got != want {
		t.Fatalf("new owner's get: %s, want %s", got, want)
	}
	contracttest.ErrorText(t, c.Query(t, reader, get("k")), "no such key, or you may not read it")
}

func TestCommandRejections(t *testing.T) {
	c := deploy(t)
	ok(t, c, owner, put("k", "v"))
	ok(t, c, owner, grant("k", reader))
	ok(t, c, owner, put("full", "v"))
	for i := range 16 {
		ok(t, c, owner, grant("full", contracttest.Account(fmt.Sprint("r", i))))
	}
	cases := []struct {
		name  string
		from  protocol.Address
		input []byte
		want  string
	}{
		{"grant by a non-owner", other, grant("k", other), "the key belongs to another account"},
		{"grant to the owner", owner, grant("k", owner), "the owner can always read its keys"},
		{"grant twice", owner, grant("k", reader), "already a reader of the key"},
		{"grant to the zero address", owner, grant("k", protocol.Address{}), "reader cannot be the zero address"},
		{"grant on a missing key", owner, grant("nope", reader), "no such key"},
		{"grant beyond the limit", owner, grant("full", other), "a key has at most 16 readers"},
		{"grant to a bad address", owner, []byte(`{"grant": {"key": "k", "reader": "nobody"}}`), "grant.reader"},
		{"revoke by a non-owner", reader, revoke("k", reader), "the key belongs to another account"},
		{"revoke of a non-reader", owner, revoke("k", other), "not a reader of the key"},
		{"delete by a non-owner", other, del("k"), "the key belongs to another account"},
		{"delete of a missing key", owner, del("nope"), "no such key"},
		{"empty key", owner, put("", "v"), "key must be 1..128 bytes"},
		{"long key", owner, put(strings.Repeat("k", 129), "v"), "key must be 1..128 bytes"},
		{"control character in key", owner, put("a\nb", "v"), "key must be 1..128 bytes of text without control characters"},
		{"long value", owner, put("big", strings.Repeat("v", 2049)), "value must be at most 2048 bytes"},
		{"missing value", owner, []byte(`{"put": {"key": "k"}}`), "put.value: required"},
		{"value not a string", owner, []byte(`{"put": {"key": "k", "value": 5}}`), "put.value: want a string"},
		{"unknown command", owner, []byte(`{"rename": {"key": "k"}}`), `unknown command "rename"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			contracttest.ErrorText(t, c.Command(t, tc.from, tc.input), tc.want)
		})
	}
	ok(t, c, owner, put("k", strings.Repeat("v", 2048)))
	ok(t, c, owner, put(strings.Repeat("k", 128), "v"))
}

func TestQueryRejections(t *testing.T) {
	c := deploy(t)
	contracttest.ErrorText(t, c.Query(t, owner, []byte(`{"get": {}}`)), "get.key: required")
	contracttest.ErrorText(t, c.Query(t, owner, []byte(`{"list": {"after": 1}}`)), "list.after: want a string")
	contracttest.ErrorText(t, c.Query(t, owner, []byte(`{"list": {"limit": 1}}`)), "list.limit: not a member")
	contracttest.ErrorText(t, c.Query(t, owner, []byte(`{"dump": {}}`)), `unknown query "dump"`)
}

func TestInitTakesNoArguments(t *testing.T) {
	c, res := module.Instantiate(t, owner, nil)
	contracttest.Output(t, res)
	if c.Failed {
		t.Fatal("empty init failed")
	}
	c, res = module.Instantiate(t, owner, []byte(`{"seed": 1}`))
	contracttest.ErrorText(t, res, "seed: not a member")
	if !c.Failed {
		t.Fatal("init with arguments did not fail")
	}
}

// TestEveryWorkerComputesTheSameResults: every worker of a cluster must
// compute the same replies, gas and state, whichever engine mode it runs
// and whether its query instance is fresh or warm.
func TestEveryWorkerComputesTheSameResults(t *testing.T) {
	module.CheckDeterminism(t, owner, []byte(`{}`), []contracttest.Step{
		{From: owner, Input: put("a", "1")},
		{From: other, Input: put("a", "2")},
		{From: owner, Input: grant("a", reader)},
		{From: reader, Input: get("a"), Query: true},
		{From: other, Input: put("b", "3")},
		{From: owner, Input: revoke("a", reader)},
		{From: reader, Input: get("a"), Query: true},
		{From: other, Input: del("b")},
		{From: reader, Input: put("c", "4")},
		{From: owner, Input: listAll, Query: true},
		{From: reader, Input: get("c"), Query: true},
	})
}

func TestModuleFitsInOneUploadTransaction(t *testing.T) { module.CheckUploadSize(t) }

// BenchmarkListPage measures a query listing a full page of 32 keys.
func BenchmarkListPage(b *testing.B) {
	c, _ := module.Instantiate(b, owner, nil)
	for i := range 40 {
		contracttest.Output(b, c.Command(b, owner, put(fmt.Sprintf("key-%02d", i), "value")))
	}
	var gas uint64
	for b.Loop() {
		res := c.Query(b, owner, listAll)
		contracttest.Output(b, res)
		gas = res.GasUsed
	}
	b.ReportMetric(float64(gas), "gas/op")
}
