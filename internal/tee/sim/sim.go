// Package sim is the software stand-in TEE for development and tests. It
// protects nothing: its seal key is derived from a file in the data dir, and
// its "quote" is a statement signed by a development key whose private half
// is public (it is derived from a constant in this file). The chain accepts
// sim quotes only where genesis set allow_sim_attestation, which governance
// can never turn on later.
package sim

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/internal/tee"
	"github.com/phala-go/phala/protocol"
)

// Kind is the platform name of the sim TEE.
const Kind = "sim"

// SecretFile is the file in the data dir from which the sim seal key is
// derived. It stands in for hardware-held sealing secrets.
const SecretFile = "sim-seal-secret"

// DefaultMeasurement is what a sim pRuntime reports as its measurement
// unless told otherwise. Dev genesis files allow it.
var DefaultMeasurement = protocol.SimMeasurement("pruntime-sim-v1")

// devKey is the fixed development attestation key. Anyone can compute it.
func devKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("phala sim attestation key: INSECURE, for development only"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// DevPublicKey is the public key sim quotes are signed with.
func DevPublicKey() ed25519.PublicKey { return devKey().Public().(ed25519.PublicKey) }

// Quote is a sim quote's content.
type Quote struct {
	Kind        string `cbor:"kind"`
	Measurement []byte `cbor:"measurement"`
	ReportData  []byte `cbor:"report_data"`
	Sig         []byte `cbor:"sig"`
}

type quoteBody struct {
	Kind        string `cbor:"kind"`
	Measurement []byte `cbor:"measurement"`
	ReportData  []byte `cbor:"report_data"`
}

// Provider is the sim TEE.
type Provider struct {
	secret      []byte
	measurement []byte
}

var _ tee.Provider = (*Provider)(nil)

// Open returns the sim TEE of dataDir, creating its secret file on first
// use. Its quotes report DefaultMeasurement.
func Open(dataDir string) (*Provider, error) { return OpenWithMeasurement(dataDir, DefaultMeasurement) }

// OpenWithMeasurement is Open with another reported measurement, standing
// for another pRuntime build (tests of allowlists and revocation).
func OpenWithMeasurement(dataDir string, measurement []byte) (*Provider, error) {
	path := filepath.Join(dataDir, SecretFile)
	secret, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, secret, 0o600); err != nil {
			return nil, fmt.Errorf("sim: write secret: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("sim: read secret: %w", err)
	}
	if len(secret) != 32 {
		return nil, fmt.Errorf("sim: %s has %d bytes, want 32", path, len(secret))
	}
	return &Provider{secret: secret, measurement: measurement}, nil
}

// Kind implements tee.Provider.
func (*Provider) Kind() string { return Kind }

// Insecure implements tee.Provider: always true.
func (*Provider) Insecure() bool { return true }

// SealKey implements tee.Provider.
func (p *Provider) SealKey() ([]byte, error) {
	return hkdf.Key(sha256.New, p.secret, nil, "phala/sim/seal/v1", 32)
}

// Quote implements tee.Provider.
func (p *Provider) Quote(reportData []byte) ([]byte, error) {
	if len(reportData) != tee.ReportDataLen {
		return nil, fmt.Errorf("sim: report data has %d bytes, want %d", len(reportData), tee.ReportDataLen)
	}
	body := protocol.MustMarshal(&quoteBody{Kind: Kind, Measurement: p.measurement, ReportData: reportData})
	return protocol.MustMarshal(&Quote{Kind: Kind, Measurement: p.measurement, ReportData: reportData,
		Sig: protocol.Sign(devKey(), protocol.SigSimQuote, body)}), nil
}

// Verify checks a sim quote and returns its measurement and report data.
func Verify(raw []byte) (*Quote, error) {
	var q Quote
	if err := protocol.Unmarshal(raw, &q); err != nil {
		return nil, fmt.Errorf("sim quote: %w", err)
	}
	if q.Kind != Kind || len(q.ReportData) != tee.ReportDataLen {
		return nil, fmt.Errorf("sim quote: kind %q, report data %d bytes", q.Kind, len(q.ReportData))
	}
	body := protocol.MustMarshal(&quoteBody{Kind: q.Kind, Measurement: q.Measurement, ReportData: q.ReportData})
	if !protocol.Verify(DevPublicKey(), protocol.SigSimQuote, body, q.Sig) {
		return nil, errors.New("sim quote: bad signature")
	}
	return &q, nil
}
