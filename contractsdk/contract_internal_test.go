//go:build !wasip1

package contractsdk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phala-go/phala/protocol"
)

func TestRegisterPanicsOnSecondCallAndOnNoHandler(t *testing.T) {
	t.Cleanup(func() { registered = nil })
	registered = nil
	mustPanic(t, "no handler", func() { Register(Contract{}) })
	Register(Contract{Query: func(*Context, []byte) ([]byte, error) { return nil, nil }})
	mustPanic(t, "second Register", func() { Register(Contract{Query: func(*Context, []byte) ([]byte, error) { return nil, nil }}) })
}

func TestMissingHandlersAreErrorsNotCrashes(t *testing.T) {
	t.Cleanup(func() { registered = nil })
	registered = nil
	if _, err := dispatch(&Context{entry: EntryCommand}, nil); err == nil || !strings.Contains(err.Error(), "no contract registered") {
		t.Fatalf("unregistered: %v", err)
	}
	Register(Contract{Query: func(*Context, []byte) ([]byte, error) { return []byte("q"), nil }})
	for _, e := range []Entry{EntryInit, EntryCommand} {
		if _, err := dispatch(&Context{entry: e}, nil); err == nil || err.Error() != "contract has no "+e.String()+" handler" {
			t.Errorf("%v: %v", e, err)
		}
	}
	if out, err := dispatch(&Context{entry: EntryQuery}, nil); err != nil || string(out) != "q" {
		t.Fatalf("query: %q, %v", out, err)
	}
}

func TestDispatchTurnsPanicsIntoErrors(t *testing.T) {
	t.Cleanup(func() { registered = nil })
	registered = nil
	var which any
	Register(Contract{Command: func(*Context, []byte) ([]byte, error) { panic(which) }})
	for _, c := range []struct {
		value any
		want  string
	}{
		{"boom", "panic: boom"},
		{errors.New("bad"), "panic: bad"},
		{42, "panic"},
	} {
		which = c.value
		out, err := dispatch(&Context{entry: EntryCommand}, nil)
		if out != nil || err == nil || err.Error() != c.want {
			t.Errorf("panic(%v): %q, %v; want %q", c.value, out, err, c.want)
		}
	}
	registered = &Contract{Command: func(_ *Context, input []byte) ([]byte, error) { return input[1:2], nil }}
	if _, err := dispatch(&Context{entry: EntryCommand}, nil); err == nil || !strings.HasPrefix(err.Error(), "panic: runtime error: slice bounds out of range") {
		t.Fatalf("runtime error: %v", err)
	}
}

func TestErrorTextIsNeverEmptyAndFitsTheOutputLimit(t *testing.T) {
	if got := string(errorText(errors.New(""))); got != emptyErrorMessage {
		t.Fatalf("empty error: %q", got)
	}
	long := strings.Repeat("é", MaxOutputBytes) // 2 bytes a rune
	got := errorText(errors.New("x" + long))
	if len(got) > MaxOutputBytes || len(got) < MaxOutputBytes-1 || !utf8.Valid(got) {
		t.Fatalf("long error: %d bytes, valid UTF-8 %v", len(got), utf8.Valid(got))
	}
}

func TestEntryNames(t *testing.T) {
	for e, want := range map[Entry]string{EntryInit: "init", EntryCommand: "command", EntryQuery: "query", 9: "entry(9)"} {
		if e.String() != want {
			t.Errorf("%d: %q", e, e.String())
		}
	}
}

func TestContextRefusesWritesAndEmitsInQueries(t *testing.T) {
	ctx := &Context{entry: EntryQuery}
	if !ctx.ReadOnly() {
		t.Fatal("query context not read-only")
	}
	if err := ctx.Store().Set([]byte("k"), nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Set: %v", err)
	}
	if err := ctx.Store().Delete([]byte("k")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete: %v", err)
	}
	if err := ctx.Emit("out", nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Emit: %v", err)
	}
}

// TestStoreRefusesEmptyAndOversizeKeysAndValuesBeforeTheHost runs outside
// WebAssembly, where any host call panics: every case here must be
// settled by the SDK alone.
func TestStoreRefusesEmptyAndOversizeKeysAndValuesBeforeTheHost(t *testing.T) {
	s := (&Context{entry: EntryCommand}).Store()
	for _, key := range [][]byte{nil, {}} {
		if err := s.Set(key, []byte("v")); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "storage key is empty") {
			t.Errorf("empty key %#v: %v", key, err)
		}
		if _, ok := s.Get(key); ok {
			t.Error("the empty key cannot be present")
		}
		if s.Has(key) {
			t.Error("the empty key cannot be present")
		}
		if err := s.Delete(key); err != nil {
			t.Errorf("deleting the empty key: %v", err)
		}
	}
	if err := s.Set(make([]byte, MaxKeyBytes+1), nil); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "storage key is 257 bytes, limit 256") {
		t.Errorf("long key: %v", err)
	}
	if err := s.Set([]byte("k"), make([]byte, MaxValueBytes+1)); !errors.Is(err, ErrLimit) {
		t.Errorf("long value: %v", err)
	}
	if _, ok := s.Get(make([]byte, MaxKeyBytes+1)); ok {
		t.Error("a too-long key cannot be present")
	}
	if s.Has(make([]byte, MaxKeyBytes+1)) {
		t.Error("a too-long key cannot be present")
	}
	if err := s.Delete(make([]byte, MaxKeyBytes+1)); err != nil {
		t.Errorf("deleting a too-long key: %v", err)
	}
	if _, ok := s.Next(nil, make([]byte, MaxKeyBytes+1)); ok {
		t.Error("no key has a too-long prefix")
	}
}

func TestEmitRefusesBadSuffixesAndOversizePayloadsBeforeTheHost(t *testing.T) {
	ctx := &Context{entry: EntryCommand}
	if err := ctx.Emit("a b", nil); !errors.Is(err, ErrLimit) {
		t.Errorf("bad suffix: %v", err)
	}
	if err := ctx.Emit("out", make([]byte, MaxEmitPayload+1)); !errors.Is(err, ErrLimit) {
		t.Errorf("long payload: %v", err)
	}
	ctx.emits = MaxEmits
	if err := ctx.Emit("out", nil); !errors.Is(err, ErrLimit) {
		t.Errorf("17th message: %v", err)
	}
}

func TestValidSuffixFollowsTheTopicRules(t *testing.T) {
	for s, ok := range map[string]bool{
		"winner": true, "a/b": true, "A-Z_a.z:0-9": true, strings.Repeat("a", MaxTopicSuffix): true,
		"": false, strings.Repeat("a", MaxTopicSuffix+1): false, "/": false, "/a": false, "a/": false,
		"a//b": false, "a b": false, "a\x00": false, "é": false, "a?b": false,
	} {
		if err := validSuffix(s); (err == nil) != ok {
			t.Errorf("validSuffix(%q) = %v, want ok=%v", s, err, ok)
		}
		if err := validSuffix(s); err != nil && !errors.Is(err, ErrLimit) {
			t.Errorf("validSuffix(%q) = %v, not ErrLimit", s, err)
		}
	}
}

// FuzzValidSuffixAgreesWithProtocol checks that the SDK accepts exactly the
// suffixes whose full topic the chain accepts, so that a valid Emit never
// traps in the host.
func FuzzValidSuffixAgreesWithProtocol(f *testing.F) {
	for _, s := range []string{"winner", "a/b", "", "a//b", "é", strings.Repeat("x", 45)} {
		f.Add(s)
	}
	id := make([]byte, 32)
	rand.Read(id)
	f.Fuzz(func(t *testing.T, s string) {
		sdk := validSuffix(s) == nil
		chain := protocol.ValidateTopic(protocol.ContractOutputTopic(id, s)) == nil
		if sdk != chain {
			t.Fatalf("suffix %q: SDK accepts %v, chain %v (%s)", s, sdk, chain, hex.EncodeToString(id))
		}
	})
}

func TestNamespacesOfDistinctNamesAreDisjoint(t *testing.T) {
	names := []string{"a", "ab", "b", "balance", "balance/", "balance:x", "\x01", strings.Repeat("n", MaxNameBytes)}
	for _, x := range names {
		for _, y := range names {
			if x != y && strings.HasPrefix(string(namespace(y)), string(namespace(x))) {
				t.Errorf("namespace(%q) is a prefix of namespace(%q)", x, y)
			}
		}
	}
	mustPanic(t, "empty name", func() { namespace("") })
	mustPanic(t, "long name", func() { namespace(strings.Repeat("n", MaxNameBytes+1)) })
}

func TestCollectionKeysDoNotShareTheirPrefixArray(t *testing.T) {
	m := NewMap("m", StringCodec{}, StringCodec{})
	k1 := m.storageKey("one")
	k2 := m.storageKey("two")
	if string(k1) != "\x01mone" || string(k2) != "\x01mtwo" {
		t.Fatalf("keys %q %q", k1, k2)
	}
}

func TestHostFunctionsPanicOutsideWebAssembly(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "only inside pRuntime") {
			t.Fatalf("recovered %v", r)
		}
	}()
	(&Context{entry: EntryCommand}).Caller()
	t.Fatal("Caller returned outside WebAssembly")
}

func TestQuoteEscapesAndClips(t *testing.T) {
	for in, want := range map[string]string{
		"abc":                    `"abc"`,
		"a\"b\\c":                `"a\"b\\c"`,
		"\x01\xff\x7f":           `"\x01\xff\x7f"`,
		"é":                      `"é"`,
		strings.Repeat("x", 100): `"` + strings.Repeat("x", maxQuoted) + `..."`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}
