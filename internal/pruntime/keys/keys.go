// Package keys holds pRuntime's own keys (DESIGN section 4.3): the worker
// identity key, an ed25519 key generated inside pRuntime on first start and
// sealed, which signs egress and query answers and never decrypts; and the
// encryption key, an HPKE X-Wing (ML-KEM-768 + X25519) key generated fresh at
// every start, held only in memory and never written anywhere.
package keys

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/internal/pruntime/sealed"
)

// IdentityFile is the sealed identity key's file in the data dir.
const IdentityFile = "identity.sealed"

const identityPurpose = "phala/pruntime/identity/v1"

// KEM is the HPKE KEM of every encryption key: X-Wing.
func KEM() hpke.KEM { return hpke.MLKEM768X25519() }

// LoadOrCreateIdentity unseals the identity key from dataDir, or generates
// and seals a new one on first start. created reports the latter.
func LoadOrCreateIdentity(dataDir string, sealKey []byte) (key ed25519.PrivateKey, created bool, err error) {
	path := filepath.Join(dataDir, IdentityFile)
	blob, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		s, err := sealed.Seal(sealKey, identityPurpose, priv.Seed())
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, false, err
		}
		if err := sealed.WriteFileAtomic(path, s); err != nil {
			return nil, false, fmt.Errorf("keys: write identity: %w", err)
		}
		return priv, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keys: read identity: %w", err)
	}
	seed, err := sealed.Open(sealKey, identityPurpose, blob)
	if err != nil {
		return nil, false, fmt.Errorf("keys: identity: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("keys: identity seed has %d bytes", len(seed))
	}
	return ed25519.NewKeyFromSeed(seed), false, nil
}

// Encryption is a boot-time HPKE key pair. Its private half exists only in
// this value.
type Encryption struct {
	priv hpke.PrivateKey
	pub  []byte
}

// NewEncryption generates a fresh X-Wing key pair.
func NewEncryption() (*Encryption, error) {
	priv, err := KEM().GenerateKey()
	if err != nil {
		return nil, err
	}
	return &Encryption{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// Public returns the serialized public key.
func (e *Encryption) Public() []byte { return append([]byte(nil), e.pub...) }

// Private returns the HPKE private key, for decryption inside pRuntime.
func (e *Encryption) Private() hpke.PrivateKey { return e.priv }
