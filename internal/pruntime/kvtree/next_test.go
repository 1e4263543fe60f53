package kvtree

import "testing"

func TestNextAtTheEdges(t *testing.T) {
	tr := build(t, model{
		"a": "", "app": "", "apple": "", "apply": "", "b": "", "ba": "",
		"\x00": "", "\xff": "", "\xff\xff": "",
	})
	const none = "<none>"
	cases := []struct {
		name, after, prefix, want string
	}{
		{"empty after and prefix: the first key", "", "", "\x00"},
		{"empty prefix: plain successor", "apple", "", "apply"},
		{"after not itself a key", "apq", "", "b"},
		{"after beyond the last key", "\xff\xff\xff", "", none},
		{"after equal to the last key", "\xff\xff", "", none},
		{"first key with a prefix", "", "app", "app"},
		{"the key equal to the prefix has it", "", "apple", "apple"},
		{"after equal to the prefix skips that key", "app", "app", "apple"},
		{"after inside the run", "apple", "app", "apply"},
		{"after at the run's end", "apply", "app", none},
		{"after sorts before the prefix", "a", "b", "b"},
		{"after far before the prefix", "\x00", "ba", "ba"},
		{"after past the prefix's run", "c", "a", none},
		{"prefix with no keys, between keys", "", "ax", none},
		{"prefix with no keys, beyond all keys", "", "\xff\xff\xff", none},
		{"prefix longer than every key with its start", "", "applesauce", none},
		{"0xff prefix", "", "\xff", "\xff"},
		{"0xff prefix after its first key", "\xff", "\xff", "\xff\xff"},
		{"after not a key, inside the run", "appla", "app", "apple"},
	}
	for _, c := range cases {
		got, ok := tr.Next([]byte(c.after), []byte(c.prefix))
		gotS := string(got)
		if !ok {
			gotS = none
		}
		if gotS != c.want {
			t.Errorf("%s: Next(%q, %q) = %q, want %q", c.name, c.after, c.prefix, gotS, c.want)
		}
	}
}

func TestNextIteratesEveryKeyWithThePrefixInOrder(t *testing.T) {
	m := model{"p": "", "p/1": "", "p/2": "", "p/2/x": "", "q": "", "o": "", "p\x00": ""}
	tr := build(t, m)
	var got []string
	for k, ok := tr.Next(nil, []byte("p")); ok; k, ok = tr.Next(k, []byte("p")) {
		got = append(got, string(k))
	}
	want := []string{"p", "p\x00", "p/1", "p/2", "p/2/x"}
	if len(got) != len(want) {
		t.Fatalf("iteration visited %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("iteration visited %q, want %q", got, want)
		}
	}
}
