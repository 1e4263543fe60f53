package sdk

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/protocol"
)

// Key is a named ed25519 account key.
type Key struct {
	Name    string
	Private ed25519.PrivateKey
}

// Public returns the key's public half.
func (k *Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// Address returns the key's account address.
func (k *Key) Address() protocol.Address { return protocol.AddressOf(k.Public()) }

// keyFile is the on-disk form of a Key. The private key is the 32-byte
// seed; the file is written with mode 0600.
type keyFile struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Address string `json:"address"`
	PubKey  string `json:"pub_key"`
	Seed    string `json:"seed"`
}

// GenerateKey makes a new random key.
func GenerateKey(name string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{Name: name, Private: priv}, nil
}

// SaveKey writes k to path (mode 0600), refusing to overwrite a file.
func SaveKey(path string, k *Key) error {
	b, err := json.MarshalIndent(keyFile{
		Name:    k.Name,
		Type:    "ed25519",
		Address: k.Address().String(),
		PubKey:  hex.EncodeToString(k.Public()),
		Seed:    hex.EncodeToString(k.Private.Seed()),
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key %s: %w", k.Name, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadKey reads a key file and checks that its recorded public key and
// address match the seed.
func LoadKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if f.Type != "ed25519" {
		return nil, fmt.Errorf("key file %s: type %q, want ed25519", path, f.Type)
	}
	seed, err := hex.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key file %s: bad seed", path)
	}
	k := &Key{Name: f.Name, Private: ed25519.NewKeyFromSeed(seed)}
	if hex.EncodeToString(k.Public()) != f.PubKey || k.Address().String() != f.Address {
		return nil, errors.New("key file " + path + ": public key or address does not match the seed")
	}
	return k, nil
}
