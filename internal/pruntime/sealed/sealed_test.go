package sealed_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/sealed"
)

const purpose = "phala/test/v1"

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustSeal(t *testing.T, plaintext []byte) []byte {
	t.Helper()
	blob, err := sealed.Seal(key(1), purpose, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, pt := range [][]byte{nil, {0}, []byte("a secret"), bytes.Repeat([]byte{7}, 1<<16)} {
		blob := mustSeal(t, pt)
		got, err := sealed.Open(key(1), purpose, blob)
		if err != nil {
			t.Fatalf("Open(%d bytes sealed): %v", len(pt), err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %x, want %x", got, pt)
		}
	}
}

func TestSealHidesThePlaintextAndNeverRepeats(t *testing.T) {
	pt := []byte("the identity seed, 32 bytes long")
	a, b := mustSeal(t, pt), mustSeal(t, pt)
	if bytes.Contains(a, pt) {
		t.Error("the sealed blob contains the plaintext")
	}
	if bytes.Equal(a, b) {
		t.Error("sealing twice gave the same blob: the nonce repeats")
	}
}

func TestOpenRefusesWhatItCannotAuthenticate(t *testing.T) {
	pt := []byte("checkpoint data")
	blob := mustSeal(t, pt)
	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		key     []byte
		purpose string
		blob    []byte
	}{
		{"wrong key", key(2), purpose, blob},
		{"wrong purpose", key(1), purpose + "x", blob},
		{"purpose prefix", key(1), "phala/test", blob},
		{"empty blob", key(1), purpose, nil},
		{"header only", key(1), purpose, blob[:5]},
		{"truncated by one byte", key(1), purpose, blob[:len(blob)-1]},
		{"truncated tag", key(1), purpose, blob[:len(blob)-16]},
		{"trailing byte", key(1), purpose, append(bytes.Clone(blob), 0)},
		{"wrong magic", key(1), purpose, flip(0)},
		{"wrong version", key(1), purpose, flip(4)},
		{"flipped nonce byte", key(1), purpose, flip(5)},
		{"flipped ciphertext byte", key(1), purpose, flip(5 + 12)},
		{"flipped tag byte", key(1), purpose, flip(len(blob) - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sealed.Open(tt.key, tt.purpose, tt.blob)
			if !errors.Is(err, sealed.ErrOpen) {
				t.Fatalf("Open = %x, %v; want ErrOpen", got, err)
			}
			if got != nil {
				t.Errorf("Open returned %x with an error", got)
			}
		})
	}
}

func TestSealAndOpenRefuseKeysOfTheWrongLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := sealed.Seal(make([]byte, n), purpose, []byte("x")); err == nil {
			t.Errorf("Seal with a %d-byte key succeeded", n)
		}
		if _, err := sealed.Open(make([]byte, n), purpose, mustSeal(t, []byte("x"))); err == nil {
			t.Errorf("Open with a %d-byte key succeeded", n)
		}
	}
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomicCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.sealed")
	for _, content := range [][]byte{[]byte("first, longer content"), []byte("second"), {}} {
		if err := sealed.WriteFileAtomic(path, content); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("file holds %q, want %q", got, content)
		}
		if names := entries(t, dir); len(names) != 1 || names[0] != "f.sealed" {
			t.Fatalf("directory holds %q, want only f.sealed (no temporary file)", names)
		}
	}
}

func TestWriteFileAtomicMakesTheFileOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.sealed")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sealed.WriteFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteFileAtomicFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory cannot be replaced by a file: the rename fails.
	target := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := sealed.WriteFileAtomic(target, []byte("data")); err == nil {
		t.Fatal("WriteFileAtomic over a non-empty directory succeeded")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "target" {
		t.Errorf("directory holds %q after a failed write, want only target", names)
	}
}

func TestWriteFileAtomicFailsInAMissingDirectory(t *testing.T) {
	if err := sealed.WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "f"), []byte("x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteFileAtomic = %v, want ErrNotExist", err)
	}
}
