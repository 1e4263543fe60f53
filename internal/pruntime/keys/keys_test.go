package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/pruntime/sealed"
)

func sealKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestIdentityIsCreatedOnceAndReloaded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created on first start
	first, created, err := keys.LoadOrCreateIdentity(dir, sealKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first start: created = false")
	}
	if len(first) != ed25519.PrivateKeySize {
		t.Fatalf("identity has %d bytes", len(first))
	}

	again, created, err := keys.LoadOrCreateIdentity(dir, sealKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second start: created = true")
	}
	if !first.Equal(again) {
		t.Error("second start loaded another identity")
	}
}

func TestIdentityIsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	priv, _, err := keys.LoadOrCreateIdentity(dir, sealKey(1))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keys.IdentityFile)
	blob, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, priv.Seed()) {
		t.Error("the identity file holds the seed in the clear")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestIdentityRefusesToOpenWithAnotherSealKey(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := keys.LoadOrCreateIdentity(dir, sealKey(1)); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, keys.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	priv, created, err := keys.LoadOrCreateIdentity(dir, sealKey(2))
	if !errors.Is(err, sealed.ErrOpen) {
		t.Fatalf("LoadOrCreateIdentity with another seal key = %v, want ErrOpen", err)
	}
	if priv != nil || created {
		t.Errorf("returned a key (created %v) with an error", created)
	}
	after, err := os.ReadFile(filepath.Join(dir, keys.IdentityFile))
	if err != nil || !bytes.Equal(before, after) {
		t.Error("a failed open replaced the sealed identity")
	}
}

func TestIdentityRefusesACorruptFile(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"empty", func([]byte) []byte { return nil }},
		{"bit flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := keys.LoadOrCreateIdentity(dir, sealKey(1)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, keys.IdentityFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.corrupt(b), 0o600); err != nil {
				t.Fatal(err)
			}
			// A corrupt identity is an error, never silently replaced by a
			// new one: the worker's registration depends on it.
			if _, _, err := keys.LoadOrCreateIdentity(dir, sealKey(1)); !errors.Is(err, sealed.ErrOpen) {
				t.Fatalf("LoadOrCreateIdentity = %v, want ErrOpen", err)
			}
		})
	}
}

func TestIdentityRefusesABlobSealedForAnotherPurpose(t *testing.T) {
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
	blob, err := sealed.Seal(sealKey(1), "phala/pruntime/checkpoint/v1/0", seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keys.IdentityFile), blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.LoadOrCreateIdentity(dir, sealKey(1)); !errors.Is(err, sealed.ErrOpen) {
		t.Fatalf("LoadOrCreateIdentity = %v, want ErrOpen", err)
	}
}

func TestNewEncryptionIsAFreshXWingKeyEachTime(t *testing.T) {
	a, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Public()) != 1216 {
		t.Errorf("public key has %d bytes, want 1216 (X-Wing)", len(a.Public()))
	}
	if bytes.Equal(a.Public(), b.Public()) {
		t.Error("two calls gave the same key")
	}
	if got, want := a.Private().KEM().ID(), hpke.MLKEM768X25519().ID(); got != want {
		t.Errorf("KEM %#x, want X-Wing %#x", got, want)
	}
	if !bytes.Equal(a.Private().PublicKey().Bytes(), a.Public()) {
		t.Error("Public() is not the public half of Private()")
	}
	if _, err := keys.KEM().NewPublicKey(a.Public()); err != nil {
		t.Errorf("Public() does not parse as an X-Wing key: %v", err)
	}
}

func TestPublicReturnsACopy(t *testing.T) {
	e, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	p := e.Public()
	p[0] ^= 0xff
	if bytes.Equal(e.Public(), p) {
		t.Error("changing the result of Public changed the key")
	}
}

func TestHPKERoundTripToTheEncryptionKey(t *testing.T) {
	e, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := keys.KEM().NewPublicKey(e.Public())
	if err != nil {
		t.Fatal(err)
	}
	info, msg := []byte("phala/test"), []byte("an encrypted command")
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info, msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hpke.Open(e.Private(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info, ct)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("Open = %q, want %q", got, msg)
	}

	other, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hpke.Open(other.Private(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info, ct); err == nil {
		t.Error("another boot's key opened the ciphertext")
	}
}
