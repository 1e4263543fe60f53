package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strconv"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/protocol"
)

func (ta *testApp) worker(pub []byte) protocol.WorkerRecord {
	ta.t.Helper()
	q := ta.query(protocol.QueryWorker+hex.EncodeToString(pub), 0)
	if q.Code != 0 || q.Value == nil {
		ta.t.Fatalf("worker %x: %s", pub, q.Log)
	}
	if err := protocol.VerifyState(q.Key, q.Value, q.ProofOps, ta.appHashes[q.Height]); err != nil {
		ta.t.Fatal(err)
	}
	var rec protocol.WorkerRecord
	if err := protocol.Unmarshal(q.Value, &rec); err != nil {
		ta.t.Fatal(err)
	}
	return rec
}

// events returns the registry events of the last block.
func (ta *testApp) events() []protocol.WorkerEvent {
	ta.t.Helper()
	bm := ta.query(protocol.QueryMessages+strconv.FormatInt(ta.app.LastHeight(), 10), 0)
	_, msgs, err := protocol.DecodeBlockMessages(bm.Value)
	if err != nil {
		ta.t.Fatal(err)
	}
	var out []protocol.WorkerEvent
	for _, m := range msgs {
		if m.Topic != protocol.TopicWorker {
			continue
		}
		var ev protocol.WorkerEvent
		if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
			ta.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestRegisterWorkerRecordsAndAnnouncesIt(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.finalize()
	a := newTxBuilder(alice)
	resp := ta.finalize(a.register(simAttestation(t, worker, []byte("enc-key-1"), 1, sim.DefaultBuild)))
	if r := resp.TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	rec := ta.worker(pub(worker))
	if !bytes.Equal(rec.EncryptionKey, []byte("enc-key-1")) || rec.Operator != addr(alice) || rec.AttestationKind != sim.Kind ||
		rec.AttestationLevel != protocol.LevelSim || rec.Status != protocol.StatusActive || rec.AttestedHeight != 1 ||
		!bytes.Equal(rec.Measurement, sim.DefaultMeasurement) || rec.ExpiresAt != 1+protocol.DefaultAttestationPolicy().MaxAgeBlocks {
		t.Fatalf("record %+v", rec)
	}
	if ev := ta.events(); len(ev) != 1 || ev[0].Kind != protocol.WorkerRegistered || !bytes.Equal(ev[0].Worker.EncryptionKey, []byte("enc-key-1")) {
		t.Fatalf("events %+v", ev)
	}
	// A restart registers a new encryption key, attested at a later block:
	// the record follows it.
	ta.finalize(a.register(simAttestation(t, worker, []byte("enc-key-2"), 2, sim.DefaultBuild)))
	if rec := ta.worker(pub(worker)); !bytes.Equal(rec.EncryptionKey, []byte("enc-key-2")) || rec.AttestedHeight != 2 {
		t.Fatalf("record after restart %+v", rec)
	}
}

func TestRegisterWorkerRejections(t *testing.T) {
	other := key("other worker")
	attest := func(t *testing.T) protocol.Attestation {
		return simAttestation(t, worker, []byte("k"), 3, sim.DefaultBuild)
	}
	cases := []struct {
		name   string
		setup  func(ta *testApp, a *txBuilder)
		noSim  bool
		attest func(t *testing.T) protocol.Attestation
		want   *protocol.Error
	}{
		{name: "attestation for another chain", want: protocol.ErrAttestationChain, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.ChainID = "other"
			return a
		}},
		{name: "attestation for another genesis", want: protocol.ErrAttestationChain, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.GenesisHash = bytes.Repeat([]byte{1}, 32)
			return a
		}},
		{name: "attestation of a block this chain does not have", want: protocol.ErrAttestationFork, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.BlockHash = bytes.Repeat([]byte{9}, 32)
			return a
		}},
		{name: "attestation of a future block", want: protocol.ErrAttestationFork, attest: func(t *testing.T) protocol.Attestation {
			return simAttestation(t, worker, []byte("k"), 50, sim.DefaultBuild)
		}},
		{name: "attestation too old", want: protocol.ErrAttestationTooOld, setup: func(ta *testApp, a *txBuilder) {
			ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: 2, MinRuntimeVersion: 1}}, admin1, admin2))
			ta.finalize()
			ta.finalize()
		}, attest: attest},
		{name: "runtime version below the minimum", want: protocol.ErrRuntimeTooOld, setup: func(ta *testApp, a *txBuilder) {
			ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MinRuntimeVersion: 2}}, admin1, admin2))
		}, attest: attest},
		{name: "sim quote on a chain that forbids sim", noSim: true, want: protocol.ErrSimNotAllowed, attest: attest},
		{name: "tampered sim quote", want: protocol.ErrBadQuote, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.Quote[len(a.Quote)-1] ^= 1
			return a
		}},
		{name: "quote binding other keys", want: protocol.ErrReportData, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.WorkerPubkey = pub(other)
			return a
		}},
		{name: "another worker's registration replayed with different keys", want: protocol.ErrReportData, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.EncryptionPubkey = []byte("attacker key")
			return a
		}},
		{name: "measurement not on the allowlist", want: protocol.ErrMeasurementNotAllowed, attest: func(t *testing.T) protocol.Attestation {
			return simAttestation(t, worker, []byte("k"), 3, "modified pruntime")
		}},
		{name: "revoked measurement", want: protocol.ErrMeasurementRevoked, setup: func(ta *testApp, a *txBuilder) {
			ta.finalize(a.govTx(0, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: measurementB}, admin1, admin2))
		}, attest: func(t *testing.T) protocol.Attestation {
			return simAttestation(t, worker, []byte("k"), 3, buildB)
		}},
		{name: "stale re-registration carrying an earlier boot's key", want: protocol.ErrStaleRegistration, setup: func(ta *testApp, a *txBuilder) {
			ta.finalize()
			ta.finalize()
			ta.finalize(a.register(simAttestation(ta.t, worker, []byte("current boot"), 5, sim.DefaultBuild)))
		}, attest: attest},
		{name: "unsupported TEE", want: protocol.ErrUnsupportedTEE, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.TEE = "sgx"
			return a
		}},
		{name: "malformed worker key", want: protocol.ErrBadWorkerKeys, attest: func(t *testing.T) protocol.Attestation {
			a := attest(t)
			a.WorkerPubkey = []byte{1, 2}
			return a
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := testGenesis()
			g.Params.AllowSimAttestation = !c.noSim
			ta := newTestApp(t, g)
			a := newTxBuilder(alice)
			ta.finalize()
			ta.finalize()
			ta.finalize()
			if c.setup != nil {
				c.setup(ta, a)
			}
			raw := a.register(c.attest(t))
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

// TestRevocationEndToEnd: a registered worker's egress is accepted;
// governance revokes its measurement; the worker is retired at once and its
// egress refused; the revoked identity cannot register again, under any
// build; a new identity under another allowed measurement is accepted.
func TestRevocationEndToEnd(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	ta.registerWorker(worker)
	if r := ta.finalize(a.submit(workerMsg(worker, 0, "out", nil))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	r := ta.finalize(a.govTx(0, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement}, admin1, admin3)).TxResults[0]
	if r.Code != 0 {
		t.Fatal(r.Log)
	}
	if ev := ta.events(); len(ev) != 1 || ev[0].Kind != protocol.WorkerRevoked || ev[0].Worker.Status != protocol.StatusRevoked {
		t.Fatalf("revocation events %+v", ev)
	}
	if rec := ta.worker(pub(worker)); rec.Status != protocol.StatusRevoked {
		t.Fatalf("status %s", rec.Status)
	}
	r = ta.finalize(a.submit(workerMsg(worker, 1, "out", nil))).TxResults[0]
	wantCode(t, "egress after revocation", r.Codespace, r.Code, r.Log, protocol.ErrSenderExpired)
	// The revoked identity stays refused, under any build; a new identity
	// of another allowed build is accepted. A new worker of the revoked
	// build is refused.
	h := ta.app.LastHeight()
	r = ta.finalize(a.register(simAttestation(t, worker, []byte("new boot"), h, sim.DefaultBuild))).TxResults[0]
	wantCode(t, "re-register under the revoked build", r.Codespace, r.Code, r.Log, protocol.ErrWorkerRevoked)
	h = ta.app.LastHeight()
	r = ta.finalize(a.register(simAttestation(t, worker, []byte("new boot"), h, buildB))).TxResults[0]
	wantCode(t, "re-register under another build", r.Codespace, r.Code, r.Log, protocol.ErrWorkerRevoked)
	fresh := key("fresh identity")
	h = ta.app.LastHeight()
	r = ta.finalize(a.register(simAttestation(t, fresh, []byte("k"), h, sim.DefaultBuild))).TxResults[0]
	wantCode(t, "new identity of the revoked build", r.Codespace, r.Code, r.Log, protocol.ErrMeasurementRevoked)
	h = ta.app.LastHeight()
	if r := ta.finalize(a.register(simAttestation(t, fresh, []byte("k"), h, buildB))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	if r := ta.finalize(a.submit(workerMsg(fresh, 0, "out", nil))).TxResults[0]; r.Code != 0 {
		t.Fatalf("egress of the new identity: %s", r.Log)
	}
}

func TestAttestationsExpireAndCanBeRefreshed(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: 4, MinRuntimeVersion: 1}}, admin1, admin2))
	h := ta.app.LastHeight()
	ta.finalize(a.register(simAttestation(t, worker, []byte("k1"), h, sim.DefaultBuild)))
	if rec := ta.worker(pub(worker)); rec.ExpiresAt != h+4 {
		t.Fatalf("expires at %d, want %d", rec.ExpiresAt, h+4)
	}
	for ta.app.LastHeight() < h+3 {
		ta.finalize()
		if len(ta.events()) != 0 {
			t.Fatalf("event before expiry at %d", ta.app.LastHeight())
		}
	}
	ta.finalize() // block h+4: expiry
	if ev := ta.events(); len(ev) != 1 || ev[0].Kind != protocol.WorkerExpired {
		t.Fatalf("at expiry: %+v", ev)
	}
	r := ta.finalize(a.submit(workerMsg(worker, 0, "out", nil))).TxResults[0]
	wantCode(t, "egress after expiry", r.Codespace, r.Code, r.Log, protocol.ErrSenderExpired)
	// Re-attesting (same boot key, a fresh block) brings it back.
	h = ta.app.LastHeight()
	if r := ta.finalize(a.register(simAttestation(t, worker, []byte("k1"), h, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	if r := ta.finalize(a.submit(workerMsg(worker, 0, "out", nil))).TxResults[0]; r.Code != 0 {
		t.Fatalf("egress after refresh: %s", r.Log)
	}
}

func TestUpdateEndpoint(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.registerWorker(worker)
	a := newTxBuilder(alice)
	signed := func(k ed25519.PrivateKey, url string, seq uint64) protocol.UpdateEndpointArgs {
		u := protocol.EndpointUpdate{ChainID: testChain, Worker: pub(worker), URL: url, Seq: seq}
		return protocol.UpdateEndpointArgs{Update: u, Sig: protocol.Sign(k, protocol.SigEndpoint, protocol.MustMarshal(&u))}
	}
	send := func(args protocol.UpdateEndpointArgs) *abci.ExecTxResult {
		return ta.finalize(a.tx(protocol.ModuleRegistry, protocol.MethodUpdateEndpoint, args)).TxResults[0]
	}
	if r := send(signed(worker, "https://w.example:8001", 1)); r.Code != 0 {
		t.Fatal(r.Log)
	}
	if rec := ta.worker(pub(worker)); rec.Endpoint != "https://w.example:8001" {
		t.Fatalf("endpoint %q", rec.Endpoint)
	}
	if ev := ta.events(); len(ev) != 1 || ev[0].Kind != protocol.WorkerEndpoint {
		t.Fatalf("events %+v", ev)
	}
	for name, c := range map[string]struct {
		args protocol.UpdateEndpointArgs
		want *protocol.Error
	}{
		"signed by another key": {signed(bob, "https://evil", 2), protocol.ErrBadEndpoint},
		"replayed sequence":     {signed(worker, "https://w.example:8001", 1), protocol.ErrBadEndpoint},
		"unknown worker": {func() protocol.UpdateEndpointArgs {
			u := protocol.EndpointUpdate{ChainID: testChain, Worker: pub(bob), URL: "https://b", Seq: 1}
			return protocol.UpdateEndpointArgs{Update: u, Sig: protocol.Sign(bob, protocol.SigEndpoint, protocol.MustMarshal(&u))}
		}(), protocol.ErrUnknownWorker},
	} {
		r := send(c.args)
		wantCode(t, name, r.Codespace, r.Code, r.Log, c.want)
	}
}

func TestRegistryGovernanceRejections(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	// Each failed action consumes its governance nonce.
	nonce := uint64(0)
	for name, c := range map[string]struct {
		kind string
		args any
		want *protocol.Error
	}{
		"measurement of the wrong size":     {protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: []byte{1}}, protocol.ErrBadMeasurement},
		"revoking an unknown measurement":   {protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: bytes.Repeat([]byte{3}, 32)}, protocol.ErrBadMeasurement},
		"negative maximum attestation age":  {protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: -1}}, protocol.ErrBadPolicy},
		"maximum attestation age too large": {protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: registry.LimitMaxAgeBlocks + 1}}, protocol.ErrBadPolicy},
	} {
		r := ta.finalize(a.govTx(nonce, c.kind, c.args, admin1, admin2)).TxResults[0]
		nonce++
		wantCode(t, name, r.Codespace, r.Code, r.Log, c.want)
	}
}

// FuzzRegisterWorker feeds arbitrary register_worker arguments through
// CheckTx: a hostile registration must be refused with a code, never crash
// a validator.
func FuzzRegisterWorker(f *testing.F) {
	f.Add(protocol.MustMarshal(&protocol.RegisterWorkerArgs{Attestation: protocol.Attestation{TEE: tdx.Kind, Quote: testdata.RawQuote}}))
	f.Add(protocol.MustMarshal(&protocol.RegisterWorkerArgs{Attestation: simAttestation(f, worker, []byte("k"), 1, sim.DefaultBuild)}))
	ta := newTestApp(f, testGenesis())
	ta.finalize()
	f.Fuzz(func(t *testing.T, args []byte) {
		if cbor.Wellformed(args) != nil {
			return // not a CBOR item: the envelope decoder refuses it (FuzzDecodeTx)
		}
		raw := protocol.SignTx(alice, protocol.Tx{ChainID: testChain, Nonce: 0, Fee: protocol.DefaultParams().MinFee,
			Call: protocol.Call{Module: protocol.ModuleRegistry, Method: protocol.MethodRegisterWorker, Args: args}})
		// Run the transaction as CheckTx would, in a branch that is then
		// dropped, so every input starts from the same state.
		ta.app.mu.Lock()
		_, err := ta.app.execTx(ta.app.check, raw)
		ta.app.mu.Unlock()
		if err == nil {
			return // a valid registration; nothing to refuse
		}
		wantRefusal(t, err)
	})
}
