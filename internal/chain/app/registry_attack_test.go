package app

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// Attacks on the worker registry by an account holder who replays public
// attestations, and by a revoked worker that tries to come back. Each test
// drives the real app with the transactions the attacker would send.

// TestReplayedAttestationCannotExpireWorker: bob, a stranger, keeps a
// worker's older attestation (public, in an old block) and replays it
// exactly max_age_blocks after it was made, when the record would be
// rewritten to expire in that very block. The registry refuses any
// registration at or below the last attested height whatever the key, so
// the worker stays active, its lifetime and operator untouched.
func TestReplayedAttestationCannotExpireWorker(t *testing.T) {
	const maxAge = 20
	ta := newTestApp(t, testGenesis())
	a, b := newTxBuilder(alice), newTxBuilder(bob)
	ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: maxAge, MinRuntimeVersion: 1}}, admin1, admin2))
	h0 := ta.app.LastHeight()
	a0 := simAttestation(t, worker, []byte("boot key"), h0, sim.DefaultBuild)
	if r := ta.finalize(a.register(a0)).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	for ta.app.LastHeight() < h0+maxAge/2 {
		ta.finalize()
	}
	// pherry refreshes the registration with the same key at half-life.
	h1 := ta.app.LastHeight()
	if r := ta.finalize(a.register(simAttestation(t, worker, []byte("boot key"), h1, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	want0 := ta.worker(pub(worker))
	if want0.AttestedHeight != h1 || want0.ExpiresAt != h1+maxAge {
		t.Fatalf("refreshed record %+v", want0)
	}

	// Replays of the older attestation: early, in the last block the age
	// check admits it, and exactly max_age_blocks after it (where it would
	// have expired the worker in that block); and of the current one.
	// CheckTx runs at the last committed height, one block before.
	replay := func(when string, att protocol.Attestation, want *protocol.Error) {
		t.Helper()
		raw := b.register(att)
		ck := ta.checkTx(raw)
		wantCode(t, when+" (CheckTx)", ck.Codespace, ck.Code, ck.Log, protocol.ErrStaleRegistration)
		r := ta.finalize(raw).TxResults[0]
		wantCode(t, when, r.Codespace, r.Code, r.Log, want)
		got := ta.worker(pub(worker))
		if got.Status != protocol.StatusActive || got.AttestedHeight != want0.AttestedHeight || got.ExpiresAt != want0.ExpiresAt ||
			got.Operator != addr(alice) || got.RegisteredHeight != want0.RegisteredHeight {
			t.Fatalf("%s changed the record: %+v", when, got)
		}
		if ev := ta.events(); len(ev) != 0 {
			t.Fatalf("%s: events %+v", when, ev)
		}
	}
	replay("older attestation replayed early", a0, protocol.ErrStaleRegistration)
	for ta.app.LastHeight() < h0+maxAge-2 {
		ta.finalize()
	}
	replay("older attestation replayed in the last block its age allows", a0, protocol.ErrStaleRegistration)
	replay("older attestation replayed exactly max_age_blocks after it", a0, protocol.ErrAttestationTooOld)
	replay("current attestation replayed", want0.Attestation, protocol.ErrStaleRegistration)
	ta.finalize()
	if got := ta.worker(pub(worker)); got.Status != protocol.StatusActive {
		t.Fatalf("worker %s after the replays", got.Status)
	}
}

// TestAttestationExactlyMaxAgeOldIsRefused: an attestation exactly
// max_age_blocks old would register a worker that expires in the block that
// registers it; it is refused as too old.
func TestAttestationExactlyMaxAgeOldIsRefused(t *testing.T) {
	const maxAge = 5
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: maxAge, MinRuntimeVersion: 1}}, admin1, admin2))
	h := ta.app.LastHeight()
	att := simAttestation(t, worker, []byte("k"), h, sim.DefaultBuild)
	for ta.app.LastHeight() < h+maxAge-1 {
		ta.finalize()
	}
	r := ta.finalize(a.register(att)).TxResults[0]
	wantCode(t, "attestation max_age_blocks old", r.Codespace, r.Code, r.Log, protocol.ErrAttestationTooOld)
}

// TestStrangerCannotTakeOverWorkerOperator: the operator is the account
// that first registered the identity; a stranger relaying a fresh genuine
// attestation of the worker (the attestation endpoint is public) refreshes
// it but does not become its operator.
func TestStrangerCannotTakeOverWorkerOperator(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a, b := newTxBuilder(alice), newTxBuilder(bob)
	ta.finalize()
	if r := ta.finalize(a.register(simAttestation(t, worker, []byte("k"), 1, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	h := ta.app.LastHeight()
	if r := ta.finalize(b.register(simAttestation(t, worker, []byte("k"), h, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	if rec := ta.worker(pub(worker)); rec.Operator != addr(alice) || rec.AttestedHeight != h {
		t.Fatalf("record after a stranger's refresh: operator %s, attested %d", rec.Operator, rec.AttestedHeight)
	}
}

// TestPreRotationAttestationCannotRevertKey: before a rotation a stranger
// saves a member's attestation of its boot key, attested after its
// registration. After the rotation the registry holds the announced key and
// the enclave has erased the boot key; replaying the saved attestation must
// not revert the registry to it.
func TestPreRotationAttestationCannotRevertKey(t *testing.T) {
	s := newKeysSetup(t)
	b := newTxBuilder(bob)
	s.ta.finalize()
	saved := simAttestation(t, s.m.id, s.m.enc.Public(), s.ta.app.LastHeight(), sim.DefaultBuild)

	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	next, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	s.mustOK(s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, announcement(s.m, 2, next.Public()))))
	s.rotate()
	rec := s.ta.worker(pub(s.m.id))
	if !bytes.Equal(rec.EncryptionKey, next.Public()) {
		t.Fatal("the rotation did not adopt the announced key")
	}
	if rec.KeySince <= saved.Height {
		t.Fatalf("key_since %d, want after %d", rec.KeySince, saved.Height)
	}

	r := s.ta.finalize(b.register(saved)).TxResults[0]
	wantCode(t, "pre-rotation attestation replayed", r.Codespace, r.Code, r.Log, protocol.ErrStaleRegistration)
	if got := s.ta.worker(pub(s.m.id)); !bytes.Equal(got.EncryptionKey, next.Public()) {
		t.Fatal("the registry reverted to the erased boot key")
	}
	// A new boot, attested after the adoption, still registers.
	fresh, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	h := s.ta.app.LastHeight()
	if r := s.ta.finalize(b.register(simAttestation(t, s.m.id, fresh.Public(), h, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
		t.Fatalf("new boot after the rotation: %s", r.Log)
	}
}

// TestRevokedWorkerCannotReturnUnderAnotherMeasurement: a worker whose
// measurement was revoked (a broken build: its identity key may be in the
// attacker's hands) re-registers under another allowed measurement to get
// its roles back. A revoked identity never returns.
func TestRevokedWorkerCannotReturnUnderAnotherMeasurement(t *testing.T) {
	for _, retired := range []bool{true, false} {
		name := map[bool]string{true: "after retirement", false: "before its retirement batch"}[retired]
		t.Run(name, func(t *testing.T) {
			s := newKeysSetup(t)
			b := newTxBuilder(bob)
			revoke := s.govTx(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement})
			h := s.ta.app.LastHeight()
			comeback := b.register(simAttestation(t, s.gk.id, []byte("new boot"), h, buildB))
			var r []byte
			if retired {
				s.mustOK(revoke)
				r = comeback
			} else {
				// The revocation and the comeback in one block: the
				// comeback runs before any end-of-block retirement.
				res := s.ta.finalize(revoke, comeback)
				if res.TxResults[0].Code != 0 {
					t.Fatal(res.TxResults[0].Log)
				}
				x := res.TxResults[1]
				wantCode(t, "comeback in the revoking block", x.Codespace, x.Code, x.Log, protocol.ErrWorkerRevoked)
				h = s.ta.app.LastHeight()
				r = b.register(simAttestation(t, s.gk.id, []byte("new boot"), h, buildB))
			}
			x := s.ta.finalize(r).TxResults[0]
			wantCode(t, "comeback under another measurement", x.Codespace, x.Code, x.Log, protocol.ErrWorkerRevoked)
			if rec := s.ta.worker(pub(s.gk.id)); rec.Status != protocol.StatusRevoked || !bytes.Equal(rec.Measurement, sim.DefaultMeasurement) {
				t.Fatalf("record %+v", rec)
			}
			// A new identity under the other build is welcome.
			h = s.ta.app.LastHeight()
			if x := s.ta.finalize(b.register(simAttestation(t, key("new identity"), []byte("k"), h, buildB))).TxResults[0]; x.Code != 0 {
				t.Fatal(x.Log)
			}
		})
	}
}

// TestRevokedMeasurementCannotBeReallowed: allow_measurement on a revoked
// measurement would silently clear the revocation, and the revoked
// workers' public attestations could then be replayed. It is refused.
func TestRevokedMeasurementCannotBeReallowed(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	ta.registerWorker(worker)
	att := ta.worker(pub(worker)).Attestation
	if r := ta.finalize(a.govTx(0, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement}, admin1, admin2)).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	r := ta.finalize(a.govTx(1, protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement, Note: "again"}, admin1, admin2)).TxResults[0]
	wantCode(t, "re-allowing a revoked measurement", r.Codespace, r.Code, r.Log, protocol.ErrMeasurementRevoked)
	r = ta.finalize(a.register(att)).TxResults[0]
	if r.Code == 0 {
		t.Fatal("a revoked worker's attestation registered again")
	}
	if rec := ta.worker(pub(worker)); rec.Status != protocol.StatusRevoked {
		t.Fatalf("status %s", rec.Status)
	}
}

// TestTurningSimOffRetiresSimWorkers: governance turns sim attestation off;
// the sim workers already registered (gatekeepers and members included)
// are refused from the next transaction on and retired in state.
func TestTurningSimOffRetiresSimWorkers(t *testing.T) {
	s := newKeysSetup(t)
	p := protocol.DefaultParams()
	p.AllowSimAttestation = false
	res := s.ta.finalize(s.govTx(protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}), s.a.submit(workerMsg(s.m.id, 0, "out", nil)))
	if res.TxResults[0].Code != 0 {
		t.Fatal(res.TxResults[0].Log)
	}
	r := res.TxResults[1]
	wantCode(t, "sim worker's egress after sim was turned off", r.Codespace, r.Code, r.Log, protocol.ErrSenderExpired)
	for _, w := range [][]byte{pub(s.gk.id), pub(s.m.id)} {
		if rec := s.ta.worker(w); rec.Status != protocol.StatusRevoked {
			t.Fatalf("sim worker %x is %s", w, rec.Status)
		}
	}
	if got := s.ta.epochInfo(); len(got.Holders) != 0 {
		t.Fatalf("retired sim gatekeepers still hold the epoch: %x", got.Holders)
	}
}

// FuzzRegistrationReplays is the structure-aware side of FuzzRegisterWorker:
// it builds genuine registrations of a known worker, at any past height,
// with its current key, an earlier boot's key or a fresh one, relayed by a
// stranger, optionally tampered, and runs each as CheckTx would. Whatever
// lands must supersede the record: a later attested block, a key not older
// than the current one, the same operator, an expiry after the current
// block; everything else is refused with a code.
func FuzzRegistrationReplays(f *testing.F) {
	const maxAge = 30
	ta := newTestApp(f, testGenesis())
	a := newTxBuilder(alice)
	ta.finalize(a.govTx(0, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: maxAge, MinRuntimeVersion: 1}}, admin1, admin2))
	keys := [][]byte{[]byte("boot 1"), []byte("boot 2"), []byte("never registered")}
	for i, k := range keys[:2] {
		for range 3 {
			ta.finalize()
		}
		h := ta.app.LastHeight()
		if r := ta.finalize(a.register(simAttestation(f, worker, k, h, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
			f.Fatalf("registration %d: %s", i, r.Log)
		}
		ta.finalize()
		h = ta.app.LastHeight()
		if r := ta.finalize(a.register(simAttestation(f, worker, k, h, sim.DefaultBuild))).TxResults[0]; r.Code != 0 {
			f.Fatalf("refresh %d: %s", i, r.Log)
		}
	}
	for range 3 {
		ta.finalize()
	}
	for back := range uint8(ta.app.LastHeight()) {
		f.Add(back, uint8(back%3), uint8(0))
	}
	f.Add(uint8(0), uint8(1), uint8(1))
	f.Add(uint8(0), uint8(2), uint8(2))
	f.Add(uint8(0), uint8(2), uint8(0))
	bobNonce := ta.account(addr(bob)).Nonce // the fuzz target commits nothing
	f.Fuzz(func(t *testing.T, back, keyChoice, tamper uint8) {
		ta.app.mu.Lock()
		check := ta.app.check
		ta.app.mu.Unlock()
		last := check.Block.Height
		h := last - int64(back)
		if h < 1 {
			return
		}
		att := simAttestation(t, worker, keys[int(keyChoice)%len(keys)], h, sim.DefaultBuild)
		switch tamper % 4 {
		case 1:
			att.Height++ // no longer what the quote binds
		case 2:
			att.EncryptionPubkey = keys[(int(keyChoice)+1)%len(keys)]
		case 3:
			att.BlockHash = blockHash(h + 1)
		}
		prev, _ := registry.Worker(check.State, pub(worker))
		b := newTxBuilder(bob)
		b.nonce = bobNonce
		raw := b.register(att)
		ta.app.mu.Lock()
		txCtx, err := ta.app.execTx(ta.app.check, raw)
		var rec protocol.WorkerRecord
		if err == nil {
			rec, _ = registry.Worker(txCtx.State, pub(worker))
		}
		ta.app.mu.Unlock()
		if err != nil {
			wantRefusal(t, err)
			return
		}
		switch {
		case rec.AttestedHeight <= prev.AttestedHeight:
			t.Fatalf("attested height went from %d to %d", prev.AttestedHeight, rec.AttestedHeight)
		case rec.KeySince < prev.KeySince:
			t.Fatalf("key_since went from %d to %d", prev.KeySince, rec.KeySince)
		case !bytes.Equal(rec.EncryptionKey, prev.EncryptionKey) && att.Height <= prev.KeySince:
			t.Fatalf("key attested at %d replaced the key registered since %d", att.Height, prev.KeySince)
		case rec.Operator != prev.Operator:
			t.Fatalf("operator changed to %s", rec.Operator)
		case rec.Status != protocol.StatusActive || rec.ExpiresAt <= last:
			t.Fatalf("record %s, expires at %d, at block %d", rec.Status, rec.ExpiresAt, last)
		}
	})
}
