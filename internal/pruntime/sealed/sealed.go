// Package sealed encrypts pRuntime's data at rest under the TEE seal key and
// writes files atomically. A sealed blob names its purpose in its
// authenticated data, so a blob sealed for one purpose (a checkpoint) can
// never be opened as another (an identity key).
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	magic   = "PHSL"
	version = 1
	header  = len(magic) + 1
)

// ErrOpen means a sealed blob is truncated, corrupt, sealed under another
// key or for another purpose.
var ErrOpen = errors.New("sealed: cannot open")

func aead(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealed: key has %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func ad(purpose string) []byte {
	return append([]byte(magic+string(rune(version))), purpose...)
}

// Seal encrypts plaintext under key for purpose.
func Seal(key []byte, purpose string, plaintext []byte) ([]byte, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, header, header+g.NonceSize()+len(plaintext)+g.Overhead())
	copy(out, magic)
	out[len(magic)] = version
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return g.Seal(out, nonce, plaintext, ad(purpose)), nil
}

// Open decrypts a blob sealed by Seal with the same key and purpose.
func Open(key []byte, purpose string, blob []byte) ([]byte, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	if len(blob) < header+g.NonceSize()+g.Overhead() || string(blob[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a sealed blob (%d bytes)", ErrOpen, len(blob))
	}
	if blob[len(magic)] != version {
		return nil, fmt.Errorf("%w: version %d", ErrOpen, blob[len(magic)])
	}
	nonce := blob[header : header+g.NonceSize()]
	pt, err := g.Open(nil, nonce, blob[header+g.NonceSize():], ad(purpose))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: authentication failed", ErrOpen, purpose)
	}
	return pt, nil
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// file or the new one, never a mix: write a temporary file, fsync it, rename
// it over path, fsync the directory.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
