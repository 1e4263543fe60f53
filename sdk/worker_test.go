package sdk

import (
	"bytes"
	"crypto/ed25519"
	"errors"
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
	a := protocol.Attestation{TEE: sim.Kind, ChainID: "c", GenesisHash: bytes.Repeat([]byte{1}, 32), WorkerPubkey: protocol.HexBytes(pub),
		EncryptionPubkey: []byte("enc"), RuntimeVersion: 1, Height: 7, BlockHash: bytes.Repeat([]byte{2}, 32)}
	if a.Quote, err = p.Quote(a.ReportData()); err != nil {
		t.Fatal(err)
	}
	return &protocol.WorkerRecord{Pubkey: pub, EncryptionKey: []byte("enc"), Measurement: sim.DefaultMeasurement, Attestation: a, Status: protocol.StatusActive}, priv
}

// announce replaces the record's key as a rotation does, the announcement
// signed by signer.
func announce(r *protocol.WorkerRecord, signer ed25519.PrivateKey, key []byte) {
	body := protocol.AnnouncementBody{ChainID: "c", Worker: r.Pubkey, Epoch: 2, Key: key}
	r.EncryptionKey = key
	r.KeyAnnouncement = &protocol.KeyAnnouncement{Worker: r.Pubkey, Epoch: 2, Key: key, Sig: protocol.Sign(signer, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
}

func TestCheckAttestationAcceptsAKeyAnnouncedByTheAttestedIdentity(t *testing.T) {
	r, id := simWorker(t)
	announce(r, id, []byte("rotated"))
	if err := CheckAttestation(r, "c", time.Now(), VerifyOptions{AllowSim: true}); err != nil {
		t.Fatalf("rotated key announced by the identity: %v", err)
	}
}

func TestCheckAttestation(t *testing.T) {
	now := time.Now()
	if err := CheckAttestation(simRecord(t), "c", now, VerifyOptions{AllowSim: true}); err != nil {
		t.Fatalf("valid sim record: %v", err)
	}
	if err := CheckAttestation(simRecord(t), "c", now, VerifyOptions{AllowSim: true, Measurements: [][]byte{sim.DefaultMeasurement}}); err != nil {
		t.Fatalf("pinned measurement: %v", err)
	}
	cases := map[string]struct {
		edit func(r *protocol.WorkerRecord)
		o    VerifyOptions
		why  string
	}{
		"sim not accepted":         {nil, VerifyOptions{}, "sim TEE"},
		"record names another key": {func(r *protocol.WorkerRecord) { r.EncryptionKey = []byte("other") }, VerifyOptions{AllowSim: true}, "neither attested nor announced"},
		"key announced by another identity": {func(r *protocol.WorkerRecord) {
			_, other, _ := ed25519.GenerateKey(nil)
			announce(r, other, []byte("rotated"))
		}, VerifyOptions{AllowSim: true}, "neither attested nor announced"},
		"announcement of another key": {func(r *protocol.WorkerRecord) {
			_, id, _ := ed25519.GenerateKey(nil)
			announce(r, id, []byte("rotated"))
			r.EncryptionKey = []byte("yet another")
		}, VerifyOptions{AllowSim: true}, "neither attested nor announced"},
		"attestation edited":                     {func(r *protocol.WorkerRecord) { r.Attestation.Height = 8 }, VerifyOptions{AllowSim: true}, "does not bind"},
		"measurement not the registered one":     {func(r *protocol.WorkerRecord) { r.Measurement = bytes.Repeat([]byte{3}, 32) }, VerifyOptions{AllowSim: true}, "registered"},
		"measurement not accepted by the caller": {nil, VerifyOptions{AllowSim: true, Measurements: [][]byte{bytes.Repeat([]byte{4}, 32)}}, "caller accepts"},
		"real TDX quote binding other data": {func(r *protocol.WorkerRecord) {
			r.Attestation.TEE, r.Attestation.Quote = tdx.Kind, testdata.RawQuote
		}, VerifyOptions{}, "does not bind"},
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
		err := CheckAttestation(r, "c", at, c.o)
		if !errors.Is(err, ErrWorkerNotTrusted) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: got %v, want a refusal mentioning %q", name, err, c.why)
		}
	}
	if err := CheckAttestation(simRecord(t), "another chain", now, VerifyOptions{AllowSim: true}); !errors.Is(err, ErrWorkerNotTrusted) {
		t.Errorf("another chain: %v", err)
	}
}
