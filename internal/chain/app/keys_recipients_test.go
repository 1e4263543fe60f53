package app

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
)

// Attacks on who a rotation seals the next epoch to (keys review findings 2
// and 4): workers that leave between the freeze of the recipients and the
// activation, and workers that restart in that window.

// registerWith registers a worker whose quote reports measurement.
func (ta *testApp) registerWith(name, build string) *keyWorker {
	ta.t.Helper()
	enc, err := keys.NewEncryption()
	if err != nil {
		ta.t.Fatal(err)
	}
	w := &keyWorker{id: key(name), enc: enc, build: build}
	ta.finalize()
	b := newTxBuilder(key("registrar"))
	b.nonce = ta.account(addr(key("registrar"))).Nonce
	a := simAttestation(ta.t, w.id, enc.Public(), ta.app.LastHeight(), build)
	if r := ta.finalize(b.register(a)).TxResults[0]; r.Code != 0 {
		ta.t.Fatalf("register %s: %s", name, r.Log)
	}
	return w
}

// restart gives w a new boot key and re-registers it, as pherry does after
// its pRuntime restarted.
func (s *keysSetup) restart(w *keyWorker) {
	s.ta.t.Helper()
	enc, err := keys.NewEncryption()
	if err != nil {
		s.ta.t.Fatal(err)
	}
	w.enc = enc
	s.reattest(w)
}

// reattest registers w's current key again with a fresh attestation.
func (s *keysSetup) reattest(w *keyWorker) {
	s.ta.t.Helper()
	b := newTxBuilder(key("registrar"))
	b.nonce = s.ta.account(addr(key("registrar"))).Nonce
	a := simAttestation(s.ta.t, w.id, w.enc.Public(), s.ta.app.LastHeight(), w.build)
	s.mustOK(b.register(a))
}

// toPhase finalizes empty blocks until the rotation under way is in phase,
// and returns it.
func (s *keysSetup) toPhase(phase string) protocol.PendingEpoch {
	s.ta.t.Helper()
	for {
		info := s.ta.epochInfo()
		switch {
		case info.Pending == nil:
			s.ta.t.Fatalf("no rotation under way (waiting for phase %s): %s", phase, describe(info))
		case info.Pending.Phase == phase:
			return *info.Pending
		}
		s.ta.finalize()
	}
}

// untilCurrent finalizes empty blocks until epoch is current.
func (s *keysSetup) untilCurrent(epoch uint64) {
	s.ta.t.Helper()
	for s.ta.epochInfo().Current < epoch {
		s.ta.finalize()
	}
}

// proposalTx is gk's proposal of what p asks for, under the next
// gatekeeper sequence number.
func (s *keysSetup) proposalTx(p *protocol.PendingEpoch) []byte {
	ep := proposalFor(s.ta.t, p, s.secret)
	return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, &ep))
}

// deliveryTx is gk's delivery of epoch's key to r.
func (s *keysSetup) deliveryTx(epoch uint64, r protocol.Recipient) []byte {
	seed := s.secret
	if r.Role == protocol.RoleMember {
		seed = protocol.DeriveSeed(s.secret, "cluster", r.Cluster)
	}
	d := protocol.KeyDelivery{Epoch: epoch, Seal: sealTo(s.ta.t, epoch, r, seed)}
	return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, &d))
}

// run finalizes raw alone in a block and returns its result.
func (s *keysSetup) run(raw []byte) *abci.ExecTxResult { return s.ta.finalize(raw).TxResults[0] }

// recipientOf finds worker in rs.
func recipientOf(rs []protocol.Recipient, worker []byte) (protocol.Recipient, bool) {
	for _, r := range rs {
		if bytes.Equal(r.Worker, worker) {
			return r, true
		}
	}
	return protocol.Recipient{}, false
}

// serveEvents returns the serve requests the keys module emitted in the
// last block.
func (ta *testApp) serveEvents() []protocol.ServeEvent {
	ta.t.Helper()
	bm := ta.query(protocol.QueryMessages+strconv.FormatInt(ta.app.LastHeight(), 10), 0)
	_, msgs, err := protocol.DecodeBlockMessages(bm.Value)
	if err != nil {
		ta.t.Fatal(err)
	}
	var out []protocol.ServeEvent
	for _, m := range msgs {
		if m.Topic != protocol.TopicServe {
			continue
		}
		var ev protocol.ServeEvent
		if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
			ta.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// slowActivation is the test genesis with an activation delay long enough
// for a worker to leave while an epoch activates.
func slowActivation() *protocol.GenesisState {
	g := testGenesis()
	g.Params.ActivationDelay = 20
	return g
}

// departure is a way for a worker to stop being a recipient of the next
// epoch: prepare makes it a recipient before the rotation, leave takes it
// out while the rotation is under way.
type departure struct {
	name    string
	prepare func(s *keysSetup) *keyWorker
	leave   func(s *keysSetup, w *keyWorker)
	movedTo string // the cluster it is a member of afterwards, if any
}

func departures() []departure {
	member := func(s *keysSetup) *keyWorker { return s.m }
	onB := func(gatekeeper bool) func(s *keysSetup) *keyWorker {
		return func(s *keysSetup) *keyWorker {
			w := s.ta.registerWith("on build B", buildB)
			if gatekeeper {
				s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(w.id)}))
			} else {
				s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(w.id)}))
			}
			return w
		}
	}
	revokeB := func(s *keysSetup, _ *keyWorker) {
		s.mustOK(s.govTx(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: measurementB}))
	}
	return []departure{
		{name: "member removed from its cluster", prepare: member, leave: func(s *keysSetup, w *keyWorker) {
			s.mustOK(s.govTx(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(w.id)}))
		}},
		{name: "gatekeeper removed", prepare: func(s *keysSetup) *keyWorker {
			w := s.ta.registerWithKey("second gatekeeper")
			s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(w.id)}))
			return w
		}, leave: func(s *keysSetup, w *keyWorker) {
			s.mustOK(s.govTx(protocol.ActionRemoveGatekeeper, protocol.WorkerArgs{Worker: pub(w.id)}))
		}},
		{name: "member's measurement revoked", prepare: onB(false), leave: revokeB},
		{name: "gatekeeper's measurement revoked", prepare: onB(true), leave: revokeB},
		{name: "member's attestation expired", prepare: member, leave: func(s *keysSetup, w *keyWorker) {
			s.mustOK(s.govTx(protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: 2, MinRuntimeVersion: 1}}))
			s.reattest(w)
			for s.ta.worker(pub(w.id)).Status == protocol.StatusActive {
				s.ta.finalize()
			}
		}},
		{name: "member moved to another cluster", prepare: func(s *keysSetup) *keyWorker {
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"}))
			s.rotate() // beta gets its key
			return s.m
		}, leave: func(s *keysSetup, w *keyWorker) {
			s.mustOK(s.govTx(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(w.id)}))
			s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "beta", Worker: pub(w.id)}))
		}, movedTo: "beta"},
	}
}

// checkCutOff fails unless w is absent from rs (or, for a worker that moved,
// present in its new cluster only).
func checkCutOff(t *testing.T, what string, d departure, rs []protocol.Recipient, w *keyWorker) {
	t.Helper()
	r, ok := recipientOf(rs, pub(w.id))
	switch {
	case d.movedTo == "" && ok:
		t.Fatalf("%s: the worker that left is still there: %x@%x", what, r.Worker, r.Key[:4])
	case d.movedTo != "" && (!ok || !bytes.Equal(r.Cluster, protocol.ClusterID(d.movedTo))):
		t.Fatalf("%s: the moved worker is not there as a member of %s: cluster %x (present %v)", what, d.movedTo, r.Cluster, ok)
	}
}

// TestRotationDoesNotSealWorkersThatLeftBeforeItsProposalLanded: the
// gatekeepers prepared a proposal for the recipients frozen when the
// proposal was asked for; a worker left meanwhile. That proposal would
// hand the next epoch (for a gatekeeper, every cluster's key) to the worker
// the rotation is meant to cut off. The chain refuses it, asks again, and
// the epoch that activates is sealed only to current recipients.
func TestRotationDoesNotSealWorkersThatLeftBeforeItsProposalLanded(t *testing.T) {
	for _, d := range departures() {
		t.Run(d.name, func(t *testing.T) {
			s := newKeysSetup(t)
			w := d.prepare(s)
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			frozen := s.toPhase(protocol.PhasePropose)
			if _, ok := recipientOf(frozen.Recipients, pub(w.id)); !ok {
				t.Fatalf("the worker is not a recipient to begin with")
			}
			d.leave(s, w)
			r := s.run(s.proposalTx(&frozen))
			wantCode(t, "proposal sealed to the recipients frozen before the worker left", r.Codespace, r.Code, r.Log, protocol.ErrWrongRecipient)
			p := s.ta.epochInfo().Pending
			if p == nil || p.Phase != protocol.PhasePropose {
				t.Fatalf("rotation after the refusal: %s", describe(s.ta.epochInfo()))
			}
			checkCutOff(t, "recipients asked for again", d, p.Recipients, w)
			s.rotate()
			checkCutOff(t, "served the new epoch", d, s.ta.epochInfo().Served, w)
		})
	}
}

// TestRecipientThatLeavesWhileItsEpochActivatesIsCutOffByAnotherRotation:
// the proposal landed with the worker among its recipients, then the
// worker left before activation. It holds the new epoch; another rotation
// starts at activation, and the worker is not among its recipients.
func TestRecipientThatLeavesWhileItsEpochActivatesIsCutOffByAnotherRotation(t *testing.T) {
	for _, d := range departures() {
		if d.movedTo != "" {
			continue // moving is leaving one cluster: the same path as removal
		}
		t.Run(d.name, func(t *testing.T) {
			s := newKeysSetupOn(t, slowActivation())
			w := d.prepare(s)
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			p := s.toPhase(protocol.PhasePropose)
			s.mustOK(s.proposalTx(&p))
			s.gkSeq++
			d.leave(s, w)
			info := s.ta.epochInfo()
			if info.Current == p.Epoch {
				t.Fatal("the epoch activated before the worker left: lengthen the activation delay")
			}
			if !info.RotationDue {
				t.Fatalf("no rotation due after a recipient of epoch %d left: %s", p.Epoch, describe(info))
			}
			s.untilCurrent(p.Epoch)
			info = s.ta.epochInfo()
			if info.Pending == nil || info.Pending.Epoch != p.Epoch+1 || info.Pending.RequestedAt != info.ActivatedAt {
				t.Fatalf("no rotation requested at the activation of epoch %d: %s", p.Epoch, describe(info))
			}
			s.secret = bytes.Repeat([]byte{0x7a}, 32)
			s.rotate()
			checkCutOff(t, "served the epoch after", d, s.ta.epochInfo().Served, w)
		})
	}
}

// TestGovRotateWhileAnEpochActivatesSchedulesTheNextRotation: an operator
// who removed a worker while an epoch was activating is told to run
// `phala gov rotate`; the chain accepts it and rotates again at activation.
func TestGovRotateWhileAnEpochActivatesSchedulesTheNextRotation(t *testing.T) {
	s := newKeysSetup(t)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	p := s.toPhase(protocol.PhasePropose)
	s.mustOK(s.proposalTx(&p))
	s.gkSeq++
	if r := s.run(s.govTx(protocol.ActionRotate, protocol.RotateArgs{})); r.Code != 0 {
		t.Fatalf("rotate while epoch %d activates: %s", p.Epoch, r.Log)
	}
	if info := s.ta.epochInfo(); !info.RotationDue || info.Current == p.Epoch {
		t.Fatalf("after rotate: %s", describe(info))
	}
	s.untilCurrent(p.Epoch)
	if info := s.ta.epochInfo(); info.Pending == nil || info.Pending.Epoch != p.Epoch+1 || info.RotationDue {
		t.Fatalf("after activation: %s", describe(info))
	}
}

// TestProposalRefusedWhenItsRecipientsChangedWithoutBeingAskedAgain: a
// member's registered key changed while the gatekeepers were proposing (a
// late key delivery adopted the key it announced), by a path that does not
// ask for a proposal again at once. The proposal for the frozen recipients
// seals to the key the member just dropped; the chain refuses it with its
// own code and asks again at the end of the block.
func TestProposalRefusedWhenItsRecipientsChangedWithoutBeingAskedAgain(t *testing.T) {
	s := newKeysSetup(t)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	late, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	s.mustOK(s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, announcement(s.m, 1, late.Public()))))
	frozen := s.toPhase(protocol.PhasePropose)
	if r, _ := recipientOf(frozen.Recipients, pub(s.m.id)); !bytes.Equal(r.Key, s.m.enc.Public()) {
		t.Fatalf("member frozen at %x, want its registered key", r.Key[:8])
	}
	alpha := protocol.ClusterID("alpha")
	delivery := s.deliveryTx(1, protocol.Recipient{Worker: pub(s.m.id), Key: late.Public(), Role: protocol.RoleMember, Cluster: alpha})
	s.gkSeq++
	res := s.ta.finalize(delivery, s.proposalTx(&frozen)).TxResults
	if res[0].Code != 0 {
		t.Fatalf("late delivery: %s", res[0].Log)
	}
	wantCode(t, "proposal for recipients that changed", res[1].Codespace, res[1].Code, res[1].Log, protocol.ErrRecipientsChanged)
	p := s.ta.epochInfo().Pending
	if r, _ := recipientOf(p.Recipients, pub(s.m.id)); p.Phase != protocol.PhasePropose || !bytes.Equal(r.Key, late.Public()) {
		t.Fatalf("not asked again at the member's new key: %s", describe(s.ta.epochInfo()))
	}
	s.rotate()
}

// announcement is w's signed announcement of key for epoch, replacing
// its registered key.
func announcement(w *keyWorker, epoch uint64, key []byte) []byte {
	replaces := protocol.KeyHash(w.enc.Public())
	body := protocol.AnnouncementBody{ChainID: testChain, Worker: pub(w.id), Epoch: epoch, Key: key, Replaces: replaces}
	a := protocol.KeyAnnouncement{Worker: pub(w.id), Epoch: epoch, Key: key, Replaces: replaces, Sig: protocol.Sign(w.id, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
	return protocol.MustMarshal(&a)
}

// TestWorkerRestartedWhileAnEpochActivatesIsServedAgain: the host restarts
// a member after the proposal landed and before activation. The key it was
// sealed is gone with its memory; the chain must not count it as served,
// and asks for it to be served at its new key when the epoch activates.
func TestWorkerRestartedWhileAnEpochActivatesIsServedAgain(t *testing.T) {
	s := newKeysSetup(t)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	p := s.toPhase(protocol.PhasePropose)
	s.mustOK(s.proposalTx(&p))
	s.gkSeq++
	old := s.m.enc.Public()
	s.restart(s.m)
	var asked bool
	for s.ta.epochInfo().Current < p.Epoch {
		s.ta.finalize()
		for _, ev := range s.ta.serveEvents() {
			if r, ok := recipientOf(ev.Recipients, pub(s.m.id)); ok && ev.Epoch == p.Epoch && bytes.Equal(r.Key, s.m.enc.Public()) {
				asked = true
			}
		}
	}
	if r, ok := recipientOf(s.ta.epochInfo().Served, pub(s.m.id)); ok && bytes.Equal(r.Key, old) {
		t.Fatalf("epoch %d: the restarted member is recorded as served at its erased key", p.Epoch)
	}
	if !asked {
		t.Fatalf("epoch %d activated without asking for the restarted member to be served", p.Epoch)
	}
}

// TestLoneGatekeeperRestartedWhileAnEpochActivatesIsDetectedAsLost: the
// only gatekeeper restarts after the proposal landed: nobody holds the new
// secret. The chain must not list it as a holder; it declares the secret
// lost and rotates in an emergency.
func TestLoneGatekeeperRestartedWhileAnEpochActivatesIsDetectedAsLost(t *testing.T) {
	s := newKeysSetup(t)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	p := s.toPhase(protocol.PhasePropose)
	s.mustOK(s.proposalTx(&p))
	s.gkSeq++
	s.restart(s.gk)
	s.untilCurrent(p.Epoch)
	if info := s.ta.epochInfo(); len(info.Holders) != 0 {
		t.Fatalf("epoch %d: the restarted gatekeeper is listed as a holder: %s", p.Epoch, describe(info))
	}
	s.ta.finalize()
	if info := s.ta.epochInfo(); !info.Lost || info.Pending == nil || !info.Pending.Emergency {
		t.Fatalf("epoch %d: the lost secret went unnoticed: %s", p.Epoch, describe(info))
	}
}

// describe summarises an epoch view for failure messages (the full view
// spells every key out).
func describe(info protocol.EpochInfo) string {
	short := func(b []byte) string { return fmt.Sprintf("%x", b[:min(4, len(b))]) }
	s := fmt.Sprintf("current %d (activated %d) lost %v due %v holders %d", info.Current, info.ActivatedAt, info.Lost, info.RotationDue, len(info.Holders))
	if p := info.Pending; p != nil {
		s += fmt.Sprintf("; pending %d %s requested %d emergency %v recipients", p.Epoch, p.Phase, p.RequestedAt, p.Emergency)
		for _, r := range p.Recipients {
			s += " " + short(r.Worker) + "@" + short(r.Key)
		}
	}
	s += "; served"
	for _, r := range info.Served {
		s += " " + short(r.Worker) + "@" + short(r.Key)
	}
	return s
}
