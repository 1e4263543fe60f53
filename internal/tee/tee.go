// Package tee abstracts the trusted execution environment pRuntime runs in:
// quoting report data for remote attestation and deriving the key that seals
// data to this enclave. Platforms live in subpackages (sim, tdx); the chain
// verifies their quotes with the matching verifier.
package tee

import "errors"

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
