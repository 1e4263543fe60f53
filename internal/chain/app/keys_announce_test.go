package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
)

// TestMemberReannouncingEveryBlockCannotForceALostEpoch (chain review
// finding 6): a malicious member announces a fresh key for the current
// epoch every block, ahead of the gatekeeper's delivery to the key it
// announced before. Were each re-announcement accepted, every delivery
// would be sealed to a superseded key and refused, the member's wait would
// reach serve_timeout, and the chain would declare the epoch secret lost
// for every cluster. One late announcement per worker and epoch is
// accepted; the others are refused with keys/21 and change nothing, so
// the first delivery lands and nothing is lost.
func TestMemberReannouncingEveryBlockCannotForceALostEpoch(t *testing.T) {
	g := testGenesis()
	g.Params.ServeTimeout = 10
	s := newKeysSetupOn(t, g)
	alpha := protocol.ClusterID("alpha")
	seq := uint64(0)
	announce := func() []byte {
		k, err := keys.NewEncryption()
		if err != nil {
			t.Fatal(err)
		}
		return s.a.submit(workerMsg(s.m.id, seq, protocol.TopicAnnounce, announcement(s.m, 1, k.Public())))
	}
	if r := s.run(announce()); r.Code != 0 {
		t.Fatalf("first late announcement: %s", r.Log)
	}
	seq++
	var asked *protocol.Recipient // the last key the chain asked to serve the member at
	note := func() {
		for _, ev := range s.ta.serveEvents() {
			if r, ok := recipientOf(ev.Recipients, pub(s.m.id)); ok {
				asked = &r
			}
		}
	}
	note()
	refusals := 0
	for i := 0; i < 2*int(g.Params.ServeTimeout); i++ {
		txs := [][]byte{announce()} // the attacker's message lands first
		if asked != nil {
			txs = append(txs, s.deliveryTx(1, *asked))
		}
		res := s.ta.finalize(txs...).TxResults
		if res[0].Code == 0 {
			seq++
		} else {
			wantCode(t, "re-announcement", res[0].Codespace, res[0].Code, res[0].Log, protocol.ErrAlreadyAnnounced)
			refusals++
		}
		if len(res) > 1 && res[1].Code == 0 {
			s.gkSeq++
			asked = nil
		}
		note()
		if info := s.ta.epochInfo(); info.Lost {
			t.Fatalf("epoch lost after %d blocks of re-announcements (%d refused)", i+1, refusals)
		}
	}
	if r, ok := recipientOf(s.ta.epochInfo().Served, pub(s.m.id)); !ok || !bytes.Equal(r.Cluster, alpha) || bytes.Equal(r.Key, s.m.enc.Public()) {
		t.Fatalf("the member was not served at its announced key: %s", describe(s.ta.epochInfo()))
	}
}

// TestSecondLateAnnouncementIsRefused: the refusal itself changes nothing
// but the payer's fee and nonce.
func TestSecondLateAnnouncementIsRefused(t *testing.T) {
	s := newKeysSetup(t)
	k1, _ := keys.NewEncryption()
	k2, _ := keys.NewEncryption()
	s.mustOK(s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, announcement(s.m, 1, k1.Public()))))
	raw := s.a.submit(workerMsg(s.m.id, 1, protocol.TopicAnnounce, announcement(s.m, 1, k2.Public())))
	before := s.ta.stateDump()
	r := s.run(raw)
	wantCode(t, "second late announcement", r.Codespace, r.Code, r.Log, protocol.ErrAlreadyAnnounced)
	if changed := changedKeys(before, s.ta.stateDump()); len(changed) != 1 {
		t.Fatalf("refused announcement changed %q", changed)
	}
}

// TestAnnouncementOfAnotherKeysSuccessorIsIgnored: an announcement names
// the key it replaces; one that does not name the worker's registered key
// was made by an earlier boot (or before this boot registered). It is
// accepted, so that the worker's later messages are not held back behind
// it, but changes nothing: no serve request, no late-announcement slot
// used up.
func TestAnnouncementOfAnotherKeysSuccessorIsIgnored(t *testing.T) {
	s := newKeysSetup(t)
	earlier, _ := keys.NewEncryption()
	dead, _ := keys.NewEncryption()
	stale := &keyWorker{id: s.m.id, enc: earlier} // as the member's earlier boot
	before := s.ta.stateDump()
	if r := s.run(s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, announcement(stale, 1, dead.Public())))); r.Code != 0 {
		t.Fatalf("announcement of an earlier boot: %s", r.Log)
	}
	for _, k := range changedKeys(before, s.ta.stateDump()) {
		if strings.HasPrefix(k, protocol.ModuleKeys+"/") {
			t.Errorf("the ignored announcement changed %s", k)
		}
	}
	if ev := s.ta.serveEvents(); len(ev) != 0 {
		t.Fatalf("serve requests for an ignored announcement: %d", len(ev))
	}
	fresh, _ := keys.NewEncryption()
	if r := s.run(s.a.submit(workerMsg(s.m.id, 1, protocol.TopicAnnounce, announcement(s.m, 1, fresh.Public())))); r.Code != 0 {
		t.Fatalf("the current boot's late announcement: %s", r.Log)
	}
	if ev := s.ta.serveEvents(); len(ev) != 1 {
		t.Fatalf("serve requests for the current boot's announcement: %d", len(ev))
	}
}
