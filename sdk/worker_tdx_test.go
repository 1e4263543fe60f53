package sdk

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/protocol"
)

// tdxRecord is the record a chain would hold for a TDX worker whose quote
// comes from qe, with collateral if coll.
func tdxRecord(t *testing.T, p *tdxtest.PKI, qe tdxtest.QE, coll bool) *protocol.WorkerRecord {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(nil)
	a := protocol.Attestation{TEE: tdx.Kind, ChainID: "c", GenesisHash: testGenesis, WorkerPubkey: protocol.HexBytes(pub),
		EncryptionPubkey: []byte("enc"), RuntimeVersion: 1, Height: 7, BlockHash: bytes.Repeat([]byte{2}, 32)}
	var err error
	if a.Quote, err = p.Quote(tdxtest.NewTD("build", a.ReportData()), qe); err != nil {
		t.Fatal(err)
	}
	level := protocol.LevelQuote
	if coll {
		if a.Collateral, err = p.Collateral(tdxtest.DefaultCollateral()); err != nil {
			t.Fatal(err)
		}
		level = protocol.LevelCollateral
	}
	measurement := bytes.Repeat([]byte{7}, 32) // a foreign QE's quote verifies to nothing
	if v, err := p.Verifier().Verify(a.Quote, nil, tdxtest.Time()); err == nil {
		measurement = v.Measurement
	}
	return &protocol.WorkerRecord{Pubkey: pub, EncryptionKey: []byte("enc"), AttestationKind: tdx.Kind, AttestationLevel: level,
		Measurement: measurement, Attestation: a, Status: protocol.StatusActive}
}

// TestSDKRefusesAQuoteFromAForeignQuotingEnclave: a chain that admitted a
// host's own enclave's quote (review finding 1) does not fool a client.
func TestSDKRefusesAQuoteFromAForeignQuotingEnclave(t *testing.T) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range []bool{false, true} {
		r := tdxRecord(t, p, tdxtest.ForeignQE(), coll)
		err := VerifyOptions{MinLevel: protocol.LevelQuote}.check(r, "c", testGenesis, tdxtest.Time(), p.Verifier())
		if !errors.Is(err, ErrWorkerNotTrusted) || !errors.Is(err, protocol.ErrQEIdentity) {
			t.Errorf("collateral %v: got %v", coll, err)
		}
	}
}

// TestSDKRequiresCollateralUnlessTheCallerLowersTheLevel: the zero
// VerifyOptions accept only level collateral; a quote-level worker needs
// MinLevel: LevelQuote.
func TestSDKRequiresCollateralUnlessTheCallerLowersTheLevel(t *testing.T) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	quoteOnly := tdxRecord(t, p, tdxtest.IntelQE(), false)
	if err := (VerifyOptions{}).check(quoteOnly, "c", testGenesis, tdxtest.Time(), p.Verifier()); !errors.Is(err, ErrWorkerNotTrusted) || !strings.Contains(err.Error(), "level quote") {
		t.Fatalf("quote level under the default options: %v", err)
	}
	if err := (VerifyOptions{MinLevel: protocol.LevelQuote}).check(quoteOnly, "c", testGenesis, tdxtest.Time(), p.Verifier()); err != nil {
		t.Fatalf("quote level, accepted by the caller: %v", err)
	}
	full := tdxRecord(t, p, tdxtest.IntelQE(), true)
	if err := (VerifyOptions{}).check(full, "c", testGenesis, tdxtest.Time(), p.Verifier()); err != nil {
		t.Fatalf("collateral level: %v", err)
	}
	// A record claiming more than its evidence shows.
	quoteOnly.AttestationLevel = protocol.LevelCollateral
	if err := (VerifyOptions{MinLevel: protocol.LevelQuote}).check(quoteOnly, "c", testGenesis, tdxtest.Time(), p.Verifier()); !errors.Is(err, ErrWorkerNotTrusted) {
		t.Fatalf("record overstating its level: %v", err)
	}
	if err := (VerifyOptions{MinLevel: "sim"}).check(full, "c", testGenesis, tdxtest.Time(), p.Verifier()); err == nil || errors.Is(err, ErrWorkerNotTrusted) {
		t.Fatalf("unknown MinLevel: %v", err)
	}
}

// legacySimQuote is a sim quote in the format that claimed a measurement,
// signed with the sim development key, which anyone can compute.
func legacySimQuote(measurement, reportData []byte) []byte {
	seed := sha256.Sum256([]byte("phala sim attestation key: INSECURE, for development only"))
	body := protocol.MustMarshal(&struct {
		Kind        string `cbor:"kind"`
		Measurement []byte `cbor:"measurement"`
		ReportData  []byte `cbor:"report_data"`
	}{sim.Kind, measurement, reportData})
	return protocol.MustMarshal(&struct {
		Kind        string `cbor:"kind"`
		Measurement []byte `cbor:"measurement"`
		ReportData  []byte `cbor:"report_data"`
		Sig         []byte `cbor:"sig"`
	}{sim.Kind, measurement, reportData, protocol.Sign(ed25519.NewKeyFromSeed(seed[:]), protocol.SigSimQuote, body)})
}

// TestSDKRefusesASimWorkerUnderATDXMeasurement is review finding 4 on the
// client side: a sim worker a chain registered under a TDX measurement,
// checked by a caller who allows sim for development and pins that TDX
// build. The sim quote's measurement is derived from its build name under
// the sim context, so it can never be the pinned TDX measurement.
func TestSDKRefusesASimWorkerUnderATDXMeasurement(t *testing.T) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	tdxBuild := tdxRecord(t, p, tdxtest.IntelQE(), true).Measurement
	r := simRecord(t)
	r.Measurement = tdxBuild
	r.Attestation.Quote = legacySimQuote(tdxBuild, r.Attestation.ReportData())
	err = CheckAttestation(r, "c", testGenesis, tdxtest.Time(), VerifyOptions{AllowSim: true, Measurements: [][]byte{tdxBuild}})
	if !errors.Is(err, ErrWorkerNotTrusted) {
		t.Fatalf("sim worker under a TDX measurement: %v", err)
	}
}
