package kvtree

import (
	"maps"
	"testing"
)

// opReader decodes a fuzzer's bytes into operations. Key bytes come from a
// small alphabet (edges of byte order included) so that operations collide
// and keys are prefixes of each other often enough to matter.
type opReader struct{ data []byte }

func (r *opReader) byte() (byte, bool) {
	if len(r.data) == 0 {
		return 0, false
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b, true
}

// bytes reads a length (at most maxLen) and that many symbols; the length
// byte's top bit prepends longStem, so that keys share more than the 16
// bytes nodes cache.
func (r *opReader) bytes(maxLen int) []byte {
	n, _ := r.byte()
	var out []byte
	if n&0x80 != 0 {
		out = append(out, longStem[:14+int(n>>4&3)%3]...)
	}
	for range int(n&0x7f) % (maxLen + 1) {
		b, ok := r.byte()
		if !ok {
			break
		}
		out = append(out, "\x00\x01ab\x7f\x80\xfe\xff"[b%8])
	}
	return out
}

const (
	maxFuzzInput     = 1 << 12
	maxSavedVersions = 8
)

func FuzzOperations(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 1, 5, 0, 1, 3, 1, 6, 2, 0, 0, 1, 1, 2})
	f.Add([]byte{0, 2, 2, 3, 0, 3, 0, 1, 3, 1, 2, 3, 2, 1, 2, 1, 2, 3})
	f.Add([]byte("\x00\x03abc\x01x\x00\x02ab\x01y\x03\x01\x03abc\x02\x00\x01\x01a"))
	f.Add([]byte{0, 0, 0, 3, 0, 1, 4, 1, 1, 4, 2, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bound the work per input: the model and the final checks are
		// superlinear, and long inputs find nothing short ones cannot.
		if len(data) > maxFuzzInput {
			data = data[:maxFuzzInput]
		}
		for _, kd := range kinds() {
			t.Run(kd.name, func(t *testing.T) { fuzzOperations(t, kd.empty, data) })
		}
	})
}

// fuzzOperations runs the operations data encodes on empty, checking each
// against the model, then the final and every saved version in full.
func fuzzOperations(t *testing.T, empty Tree, data []byte) {
	r := &opReader{data: data}
	tr := empty
	m := model{}
	type saved struct {
		tree Tree
		want model
	}
	var versions []saved
	for {
		op, ok := r.byte()
		if !ok {
			break
		}
		switch op % 4 {
		case 0:
			k, v := r.bytes(4), r.bytes(8)
			if len(k) == 0 {
				assertPanics(t, func() { tr.Set(k, v) })
				continue
			}
			tr = tr.Set(k, v)
			m[string(k)] = string(v)
			if got, ok := tr.Get(k); !ok || string(got) != string(v) {
				t.Fatalf("Get(%q) right after Set = %q, %v; want %q", k, got, ok, v)
			}
		case 1:
			k := r.bytes(4)
			tr = tr.Delete(k)
			delete(m, string(k))
			if _, ok := tr.Get(k); ok {
				t.Fatalf("Get(%q) right after Delete found it", k)
			}
		case 2:
			after, prefix := r.bytes(4), r.bytes(3)
			got, ok := tr.Next(after, prefix)
			want, wok := m.next(string(after), string(prefix))
			if ok != wok || string(got) != want {
				t.Fatalf("Next(%q, %q) = %q, %v; model %q, %v", after, prefix, got, ok, want, wok)
			}
		case 3:
			v := saved{tree: tr, want: maps.Clone(m)}
			if len(versions) < maxSavedVersions {
				versions = append(versions, v)
			} else {
				versions[int(op/4)%maxSavedVersions] = v
			}
		}
		if tr.Len() != len(m) {
			t.Fatalf("Len() = %d, model has %d", tr.Len(), len(m))
		}
	}
	assertMatches(t, tr, m)
	rebuilt, err := empty.Build(m.entries())
	if err != nil {
		t.Fatalf("Build of the model: %v", err)
	}
	if rebuilt.Root() != tr.Root() {
		t.Fatalf("root %x after the operations, %x rebuilt from the same contents", tr.Root(), rebuilt.Root())
	}
	for _, v := range versions {
		assertMatches(t, v.tree, v.want)
	}
}

func assertPanics(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("did not panic")
		}
	}()
	fn()
}
