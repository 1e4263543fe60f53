// Package sim is the software stand-in TEE for development and tests. It
// protects nothing: its seal key is derived from a file in the data dir, and
// its "quote" is a statement signed by a development key whose private half
// is public (it is derived from a constant in this file). The chain accepts
// sim quotes only where genesis set allow_sim_attestation, which governance
// can never turn on later.
//
// A sim quote names a build; it does not claim a measurement. The verifier
// derives the measurement, protocol.SimMeasurement(build), a hash under the
// sim context, so no sim quote can carry a TDX measurement (or any other
// kind's) onto the allowlist. Like a TD, the sim provider extends its
// modelled RTMR3 with the digest of the runtime before its first quote; the
// digest of a sim "binary" is the hash of its build name, since sim has no
// binary identity to measure.
package sim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
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

// DefaultBuild is the build a sim pRuntime names unless told otherwise.
const DefaultBuild = "pruntime-sim-v1"

// DefaultMeasurement is the measurement of DefaultBuild. Dev genesis files
// allow it.
var DefaultMeasurement = protocol.SimMeasurement(DefaultBuild)

// devKey is the fixed development attestation key. Anyone can compute it.
func devKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("phala sim attestation key: INSECURE, for development only"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// DevPublicKey is the public key sim quotes are signed with.
func DevPublicKey() ed25519.PublicKey { return devKey().Public().(ed25519.PublicKey) }

// Quote is a sim quote's content.
type Quote struct {
	Kind       string `cbor:"kind"`
	Build      string `cbor:"build"`
	RTMR3      []byte `cbor:"rtmr3"` // the modelled RTMR3: ExtendRTMR(zero, RuntimeDigest(Build))
	ReportData []byte `cbor:"report_data"`
	Sig        []byte `cbor:"sig"`
}

// Measurement is the measurement a verified quote proves:
// protocol.SimMeasurement(q.Build).
func (q *Quote) Measurement() []byte { return protocol.SimMeasurement(q.Build) }

type quoteBody struct {
	Kind       string `cbor:"kind"`
	Build      string `cbor:"build"`
	RTMR3      []byte `cbor:"rtmr3"`
	ReportData []byte `cbor:"report_data"`
}

// MaxBuildLen bounds a build name.
const MaxBuildLen = 128

// RuntimeDigest stands for the SHA-384 digest of a sim build's binary.
func RuntimeDigest(build string) []byte {
	sum := sha512.Sum384([]byte("phala/sim/runtime/v1" + build))
	return sum[:]
}

// Provider is the sim TEE.
type Provider struct {
	secret []byte
	build  string
	rtmr3  []byte
}

var _ tee.Provider = (*Provider)(nil)

// Open returns the sim TEE of dataDir, creating its secret file on first
// use. Its quotes name DefaultBuild.
func Open(dataDir string) (*Provider, error) { return OpenBuild(dataDir, DefaultBuild) }

// OpenBuild is Open naming another build, standing for another pRuntime
// (tests of allowlists and revocation).
func OpenBuild(dataDir, build string) (*Provider, error) {
	if build == "" || len(build) > MaxBuildLen {
		return nil, fmt.Errorf("sim: build name of %d bytes", len(build))
	}
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
	rtmr3 := tee.ExtendRTMR(make([]byte, tee.RTMRLen), RuntimeDigest(build))
	return &Provider{secret: secret, build: build, rtmr3: rtmr3}, nil
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
	body := protocol.MustMarshal(&quoteBody{Kind: Kind, Build: p.build, RTMR3: p.rtmr3, ReportData: reportData})
	return protocol.MustMarshal(&Quote{Kind: Kind, Build: p.build, RTMR3: p.rtmr3, ReportData: reportData,
		Sig: protocol.Sign(devKey(), protocol.SigSimQuote, body)}), nil
}

// Verify checks a sim quote: its signature by the development key, and
// that its RTMR3 is the build's runtime extended into a fresh register.
// The measurement it proves is q.Measurement().
func Verify(raw []byte) (*Quote, error) {
	var q Quote
	if err := protocol.Unmarshal(raw, &q); err != nil {
		return nil, fmt.Errorf("sim quote: %w", err)
	}
	if q.Kind != Kind || len(q.ReportData) != tee.ReportDataLen || q.Build == "" || len(q.Build) > MaxBuildLen {
		return nil, fmt.Errorf("sim quote: kind %q, report data %d bytes, build name %d bytes", q.Kind, len(q.ReportData), len(q.Build))
	}
	if !bytes.Equal(q.RTMR3, tee.ExtendRTMR(make([]byte, tee.RTMRLen), RuntimeDigest(q.Build))) {
		return nil, errors.New("sim quote: RTMR3 is not the build's runtime extended once")
	}
	body := protocol.MustMarshal(&quoteBody{Kind: q.Kind, Build: q.Build, RTMR3: q.RTMR3, ReportData: q.ReportData})
	if !protocol.Verify(DevPublicKey(), protocol.SigSimQuote, body, q.Sig) {
		return nil, errors.New("sim quote: bad signature")
	}
	return &q, nil
}
