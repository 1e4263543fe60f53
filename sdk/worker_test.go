package sdk

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/protocol"
)

func simRecord(t *testing.T) *protocol.WorkerRecord {
	t.Helper()
	r, _ := simWorker(t)
	return r
}

// simWorker is a sim worker's record and its identity key.
func simWorker(t *testing.T) (*protocol.WorkerRecord, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	p, err := sim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := protocol.Attestation{TEE: sim.Kind, ChainID: "c", GenesisHash: testGenesis, WorkerPubkey: protocol.HexBytes(pub),
		EncryptionPubkey: []byte("enc"), RuntimeVersion: 1, Height: 7, BlockHash: bytes.Repeat([]byte{2}, 32)}
	if a.Quote, err = p.Quote(a.ReportData()); err != nil {
		t.Fatal(err)
	}
	return &protocol.WorkerRecord{Pubkey: pub, EncryptionKey: []byte("enc"), AttestationKind: sim.Kind, AttestationLevel: protocol.LevelSim,
		Measurement: sim.DefaultMeasurement, Attestation: a, Status: protocol.StatusActive}, priv
}

// testGenesis is the genesis hash the test records' chain has.
var testGenesis = bytes.Repeat([]byte{1}, 32)

// announcement is an announcement of key by signer's identity, validly
// signed.
func announcement(signer ed25519.PrivateKey, key []byte) *protocol.KeyAnnouncement {
	pub := signer.Public().(ed25519.PublicKey)
	body := protocol.AnnouncementBody{ChainID: "c", Worker: pub, Epoch: 2, Key: key}
	return &protocol.KeyAnnouncement{Worker: pub, Epoch: 2, Key: key, Sig: protocol.Sign(signer, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
}

// announce replaces the record's key as a rotation does, the announcement
// signed by signer.
func announce(r *protocol.WorkerRecord, signer ed25519.PrivateKey, key []byte) {
	r.EncryptionKey = key
	r.KeyAnnouncement = announcement(signer, key)
}

func TestCheckAttestationAcceptsAKeyAnnouncedByTheAttestedIdentity(t *testing.T) {
	r, id := simWorker(t)
	announce(r, id, []byte("rotated"))
	if err := CheckAttestation(r, "c", testGenesis, time.Now(), VerifyOptions{AllowSim: true}); err != nil {
		t.Fatalf("rotated key announced by the identity: %v", err)
	}
}

func TestCheckAttestation(t *testing.T) {
	now := time.Now()
	if err := CheckAttestation(simRecord(t), "c", testGenesis, now, VerifyOptions{AllowSim: true}); err != nil {
		t.Fatalf("valid sim record: %v", err)
	}
	if err := CheckAttestation(simRecord(t), "c", testGenesis, now, VerifyOptions{AllowSim: true, Measurements: [][]byte{sim.DefaultMeasurement}}); err != nil {
		t.Fatalf("pinned measurement: %v", err)
	}
	cases := map[string]struct {
		edit func(r *protocol.WorkerRecord)
		o    VerifyOptions
		why  string
	}{
		"sim not accepted":                       {nil, VerifyOptions{}, "sim TEE"},
		"record names another key":               {func(r *protocol.WorkerRecord) { r.EncryptionKey = []byte("other") }, VerifyOptions{AllowSim: true}, "neither attested nor announced"},
		"attestation edited":                     {func(r *protocol.WorkerRecord) { r.Attestation.Height = 8 }, VerifyOptions{AllowSim: true}, "does not bind"},
		"measurement not the registered one":     {func(r *protocol.WorkerRecord) { r.Measurement = bytes.Repeat([]byte{3}, 32) }, VerifyOptions{AllowSim: true}, "registered"},
		"measurement not accepted by the caller": {nil, VerifyOptions{AllowSim: true, Measurements: [][]byte{bytes.Repeat([]byte{4}, 32)}}, "caller accepts"},
		"kind not the registered one":            {func(r *protocol.WorkerRecord) { r.AttestationKind = tdx.Kind }, VerifyOptions{AllowSim: true}, "record says TEE"},
		"level not the registered one":           {func(r *protocol.WorkerRecord) { r.AttestationLevel = protocol.LevelCollateral }, VerifyOptions{AllowSim: true}, "record says level"},
		"attestation for another genesis":        {func(r *protocol.WorkerRecord) { r.Attestation.GenesisHash = bytes.Repeat([]byte{9}, 32) }, VerifyOptions{AllowSim: true}, "binds genesis"},
		"real TDX quote of a TD without SEPT_VE_DISABLE": {func(r *protocol.WorkerRecord) {
			r.AttestationKind, r.Attestation.TEE, r.Attestation.Quote = tdx.Kind, tdx.Kind, testdata.RawQuote
		}, VerifyOptions{}, "TD attributes"},
	}
	for name, c := range cases {
		r := simRecord(t)
		if c.edit != nil {
			c.edit(r)
		}
		at := now
		if r.Attestation.TEE == tdx.Kind {
			at = time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
		}
		err := CheckAttestation(r, "c", testGenesis, at, c.o)
		if !errors.Is(err, ErrWorkerNotTrusted) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: got %v, want a refusal mentioning %q", name, err, c.why)
		}
		// Only the sim refusal says so: a caller offers --allow-sim on it.
		if onSim := name == "sim not accepted"; errors.Is(err, ErrSimTEE) != onSim {
			t.Errorf("%s: got %v, want errors.Is(err, ErrSimTEE) %v", name, err, onSim)
		}
	}
	if err := CheckAttestation(simRecord(t), "another chain", testGenesis, now, VerifyOptions{AllowSim: true}); !errors.Is(err, ErrWorkerNotTrusted) {
		t.Errorf("another chain: %v", err)
	}
}

// TestCheckAttestationRefusesAnAnnouncementOfAnotherKeyOrByAnotherIdentity:
// a rotated key is trusted only if the attested identity signed an
// announcement of exactly that key. Each announcement but the forged one
// is validly signed, so that the check the case names is the one refusing.
func TestCheckAttestationRefusesAnAnnouncementOfAnotherKeyOrByAnotherIdentity(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(nil)
	for name, c := range map[string]struct {
		edit func(r *protocol.WorkerRecord, id ed25519.PrivateKey)
		why  string
	}{
		"announced by another identity": {func(r *protocol.WorkerRecord, _ ed25519.PrivateKey) {
			announce(r, other, []byte("rotated"))
		}, fmt.Sprintf("the key announcement is by %x, not the attested identity", other.Public())},
		"announcement of another key": {func(r *protocol.WorkerRecord, id ed25519.PrivateKey) {
			announce(r, id, []byte("rotated"))
			r.EncryptionKey = []byte("yet another")
		}, "the key announcement is of another key than the current one"},
		"announcement signed by another key": {func(r *protocol.WorkerRecord, id ed25519.PrivateKey) {
			announce(r, id, []byte("rotated"))
			r.KeyAnnouncement.Sig = announcement(other, []byte("rotated")).Sig
		}, "the key announcement's signature does not verify"},
	} {
		r, id := simWorker(t)
		c.edit(r, id)
		err := CheckAttestation(r, "c", testGenesis, time.Now(), VerifyOptions{AllowSim: true})
		if !errors.Is(err, ErrWorkerNotTrusted) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: got %v, want a refusal saying %q", name, err, c.why)
		}
	}
}
