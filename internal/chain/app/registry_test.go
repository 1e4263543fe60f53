package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// simAttestation is what a pRuntime with the sim TEE would answer on
// /v1/attestation for worker and encKey.
func simAttestation(t *testing.T, worker ed25519.PrivateKey, encKey []byte) protocol.Attestation {
	t.Helper()
	p, err := sim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := protocol.Attestation{TEE: sim.Kind, ChainID: testChain, GenesisHash: testGenesisHash, WorkerPubkey: pub(worker), EncryptionPubkey: encKey, RuntimeVersion: 1}
	if a.Quote, err = p.Quote(protocol.ReportData(a.ChainID, a.GenesisHash, a.WorkerPubkey, a.EncryptionPubkey, a.RuntimeVersion)); err != nil {
		t.Fatal(err)
	}
	return a
}

func (b *txBuilder) register(a protocol.Attestation) []byte {
	return b.tx(protocol.ModuleRegistry, protocol.MethodRegisterWorker, protocol.RegisterWorkerArgs{Attestation: a})
}

func TestRegisterWorkerRecordsAndAnnouncesIt(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	resp := ta.finalize(a.register(simAttestation(t, worker, []byte("enc-key-1"))))
	if r := resp.TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	q := ta.query(protocol.QueryWorker+hex.EncodeToString(pub(worker)), 0)
	if q.Code != 0 {
		t.Fatal(q.Log)
	}
	if err := protocol.VerifyState(q.Key, q.Value, q.ProofOps, ta.appHashes[q.Height]); err != nil {
		t.Fatal(err)
	}
	var rec protocol.WorkerRecord
	mustUnmarshal(t, q.Value, &rec)
	if !bytes.Equal(rec.EncryptionKey, []byte("enc-key-1")) || rec.Operator != addr(alice) || rec.AttestationKind != sim.Kind || rec.RegisteredHeight != 1 {
		t.Fatalf("record %+v", rec)
	}
	bm := ta.query(protocol.QueryMessages+"1", 0)
	_, msgs, err := protocol.DecodeBlockMessages(bm.Value)
	if err != nil || len(msgs) != 1 || msgs[0].Topic != protocol.TopicWorker {
		t.Fatalf("registration emitted %v %v", msgs, err)
	}
	// A restart registers a new encryption key: the record follows it.
	ta.finalize(a.register(simAttestation(t, worker, []byte("enc-key-2"))))
	q = ta.query(protocol.QueryWorker+hex.EncodeToString(pub(worker)), 0)
	mustUnmarshal(t, q.Value, &rec)
	if !bytes.Equal(rec.EncryptionKey, []byte("enc-key-2")) {
		t.Fatal("record kept the old boot's key")
	}
}

func TestRegisterWorkerRejections(t *testing.T) {
	other := key("other worker")
	cases := []struct {
		name   string
		noSim  bool
		attest func(t *testing.T) protocol.Attestation
		want   *protocol.Error
	}{
		{"attestation for another chain", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.ChainID = "other"
			return a
		}, protocol.ErrAttestationChain},
		{"attestation for another genesis", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.GenesisHash = bytes.Repeat([]byte{1}, 32)
			return a
		}, protocol.ErrAttestationChain},
		{"sim quote on a chain that forbids sim", true, func(t *testing.T) protocol.Attestation {
			return simAttestation(t, worker, []byte("k"))
		}, protocol.ErrSimNotAllowed},
		{"tampered quote", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.Quote[len(a.Quote)-1] ^= 1
			return a
		}, protocol.ErrBadQuote},
		{"quote binding other keys", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.WorkerPubkey = pub(other)
			return a
		}, protocol.ErrReportData},
		{"another worker's registration replayed with different keys", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.EncryptionPubkey = []byte("attacker key")
			return a
		}, protocol.ErrReportData},
		{"unsupported TEE", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.TEE = "sgx"
			return a
		}, protocol.ErrUnsupportedTEE},
		{"malformed worker key", false, func(t *testing.T) protocol.Attestation {
			a := simAttestation(t, worker, []byte("k"))
			a.WorkerPubkey = []byte{1, 2}
			return a
		}, protocol.ErrBadWorkerKeys},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := testGenesis()
			g.Params.AllowSimAttestation = !c.noSim
			ta := newTestApp(t, g)
			raw := newTxBuilder(alice).register(c.attest(t))
			ck := ta.checkTx(raw)
			wantCode(t, "CheckTx", ck.Codespace, ck.Code, ck.Log, c.want)
			before := ta.stateDump()
			r := ta.finalize(raw).TxResults[0]
			wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
			if changed := changedKeys(before, ta.stateDump()); len(changed) != 1 {
				t.Fatalf("refused registration changed %q", changed)
			}
		})
	}
}
