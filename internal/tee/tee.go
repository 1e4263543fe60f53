// Package tee abstracts the trusted execution environment pRuntime runs in:
// quoting report data for remote attestation and deriving the key that seals
// data to this enclave. Platforms live in subpackages (sim, tdx); the chain
// verifies their quotes with the matching verifier.
package tee

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
)

// Provider is one TEE platform, as seen from inside the enclave.
type Provider interface {
	// Kind names the platform ("sim", "tdx"); attestations carry it.
	Kind() string
	// Insecure reports whether the platform gives no real protection (sim).
	// Every log line and /v1/info say so.
	Insecure() bool
	// Quote returns a quote over 64 bytes of report data.
	Quote(reportData []byte) ([]byte, error)
	// SealKey returns the 32-byte key that seals this enclave's data at
	// rest. It never leaves pRuntime's memory.
	SealKey() ([]byte, error)
}

// ReportDataLen is the length of the report data a quote binds.
const ReportDataLen = 64

// ErrNoSealing is SealKey's answer on a platform without a sealing key.
var ErrNoSealing = errors.New("tee: platform has no sealing key")

// RTMRLen is the length of a TDX runtime measurement register (SHA-384).
const RTMRLen = sha512.Size384

// ExtendRTMR is the value of a runtime measurement register holding old
// after digest is extended into it: SHA-384(old || digest), as the TDX
// module computes it.
func ExtendRTMR(old, digest []byte) []byte {
	sum := sha512.Sum384(append(append([]byte(nil), old...), digest...))
	return sum[:]
}

// RuntimeDigest is the SHA-384 digest of the file at path: pRuntime
// measures its own binary with it before its first quote (see
// docs/attestation.md, "What the measurement covers").
func RuntimeDigest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tee: measure runtime: %w", err)
	}
	defer f.Close()
	h := sha512.New384()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("tee: measure runtime %s: %w", path, err)
	}
	return h.Sum(nil), nil
}
