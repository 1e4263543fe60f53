package keyring_test

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Attacks by a member's host on its own key announcements (keys review
// finding 7): withholding one until the rotation is over, and submitting
// one an earlier boot made after the worker restarted. And a gatekeeper
// asked for its proposal again, which must keep its message sequence.

// memberInEpoch2 starts a gatekeeper and a member of alpha, both holding
// epoch 2.
func memberInEpoch2(t *testing.T) (*env, *worker, *worker) {
	e := newEnv(t)
	g1 := e.startWorker("gatekeeper1")
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: g1.pub()})
	e.waitEpoch(1, g1)
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	e.waitEpoch(2, g1)
	w1 := e.startWorker("member1")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w1.pub()})
	e.waitEpoch(2, g1, w1)
	return e, g1, w1
}

// registeredKey is the encryption key the chain holds for w.
func registeredKey(e *env, w *worker) []byte {
	e.T.Helper()
	rec, ok, err := e.C.WorkerUnverified(e.Ctx, w.pub())
	if err != nil || !ok {
		e.T.Fatalf("%s's record: %v", w.Name, err)
	}
	return rec.EncryptionKey
}

// pendingAnnouncement is the signed announcement in w's egress queue.
func pendingAnnouncement(e *env, w *worker) protocol.SignedMessage {
	e.T.Helper()
	out, err := w.PR.Runtime.Egress(-1, 1000)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, raw := range out.Messages {
		var sm protocol.SignedMessage
		if err := protocol.Unmarshal(raw, &sm); err != nil {
			e.T.Fatal(err)
		}
		if sm.Message.Topic == protocol.TopicAnnounce {
			return sm
		}
	}
	e.T.Fatalf("%s has no announcement pending", w.Name)
	return protocol.SignedMessage{}
}

// rotateWithheld rotates to epoch 3 while w's host withholds its egress: w
// follows the chain (blocks fed directly) but nothing of it is submitted.
func rotateWithheld(e *env, w *worker) {
	e.T.Helper()
	w.StopRelay()
	e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
	e.WaitFor("epoch 3 active, with "+w.Name+" past its activation", func() bool {
		e.SyncToTip(w.PR)
		return e.Epoch().Current >= 3 && w.Info().Epoch >= 3
	})
}

// TestWithheldAnnouncementIsNotAdoptedUntilTheChainAdoptsIt: the host
// withholds the member's announcement for epoch 3, so the chain seals
// epoch 3 to the member's registered key and keeps that key. A pRuntime
// that switched to its announced key at activation anyway would hold a key
// the chain does not know: re-registration, a cleared holder flag, for a
// lone gatekeeper a spurious emergency rotation. The member keeps its
// registered key, and adopts the announced one only once the chain does
// (the host releases the announcement; it is served at it as a late one).
func TestWithheldAnnouncementIsNotAdoptedUntilTheChainAdoptsIt(t *testing.T) {
	e, _, w1 := memberInEpoch2(t)
	boot := registeredKey(e, w1)
	rotateWithheld(e, w1)
	if i := w1.Info(); !i.Registered || !bytes.Equal(i.EncryptionPubkey, boot) || !i.HoldsEpochKey {
		t.Fatalf("after epoch 3 activated without its announcement: registered %v (key is the registered one: %v), holds epoch 3 %v",
			i.Registered, bytes.Equal(i.EncryptionPubkey, boot), i.HoldsEpochKey)
	}
	w1.StartRelay()
	e.WaitFor("the member re-keyed to its announced key", func() bool {
		i := w1.Info()
		return i.Registered && i.HoldsEpochKey && !bytes.Equal(i.EncryptionPubkey, boot) && bytes.Equal(registeredKey(e, w1), i.EncryptionPubkey)
	})
}

// TestAnnouncementOfAnEarlierBootIsIgnored: the host keeps a signed
// announcement its member made and never relayed, restarts the member (its
// announced key dies with that boot), re-registers the new boot, then
// submits the old announcement. The chain must not ask the gatekeepers to
// seal the epoch to that dead key, nor adopt it as the member's key.
func TestAnnouncementOfAnEarlierBootIsIgnored(t *testing.T) {
	e, _, w1 := memberInEpoch2(t)
	rotateWithheld(e, w1)
	old := pendingAnnouncement(e, w1)
	var a protocol.KeyAnnouncement
	if err := protocol.Unmarshal(old.Message.Payload, &a); err != nil {
		t.Fatal(err)
	}
	w1.PR = w1.PR.Restart()
	att, err := w1.PR.Runtime.Attestation()
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := protocol.NewCall(protocol.ModuleRegistry, protocol.MethodRegisterWorker, protocol.RegisterWorkerArgs{Attestation: *att})
	if res, err := e.C.Send(e.Ctx, e.User, reg); err != nil || res.Err != nil {
		t.Fatalf("re-register the new boot: %v %v", err, res)
	}
	sub, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodSubmit, protocol.SubmitArgs{Message: old})
	res, err := e.C.Send(e.Ctx, e.User, sub)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		_, msgs, err := e.C.RawBlockMessages(e.Ctx, res.Height)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var ev protocol.ServeEvent
			if m.Topic != protocol.TopicServe || protocol.Unmarshal(m.Payload, &ev) != nil {
				continue
			}
			for _, r := range ev.Recipients {
				if bytes.Equal(r.Key, a.Key) {
					t.Fatalf("block %d asks to serve epoch %d at a key of an earlier boot", res.Height, ev.Epoch)
				}
			}
		}
	}
	w1.StartRelay()
	e.WaitFor("the restarted member served at its new key", func() bool {
		i := w1.Info()
		return i.Registered && i.HoldsEpochKey && bytes.Equal(registeredKey(e, w1), att.EncryptionPubkey)
	})
}

// TestGatekeeperAskedAgainKeepsItsSequence: a gatekeeper queued its
// proposal, then the chain asked again (a member left while it proposed).
// The new proposal must take the sequence number the dropped one had: a
// gap would hold every gatekeeper message back, and a lone gatekeeper's
// rotation would never complete.
func TestGatekeeperAskedAgainKeepsItsSequence(t *testing.T) {
	e, g1, w1 := memberInEpoch2(t)
	w2 := e.startWorker("member2")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w2.pub()})
	e.waitEpoch(2, w2)
	g1.StopRelay()
	e.Gov(protocol.ActionRotate, protocol.RotateArgs{})
	e.WaitFor("gatekeeper1's proposal queued", func() bool {
		e.SyncToTip(g1.PR)
		return len(gatekeeperQueue(e, g1)) > 0
	})
	first := gatekeeperQueue(e, g1)[0]
	e.Gov(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: w2.pub()})
	e.WaitFor("gatekeeper1 asked again", func() bool {
		e.SyncToTip(g1.PR)
		q := gatekeeperQueue(e, g1)
		return len(q) > 0 && !bytes.Equal(q[len(q)-1].Message.Payload, first.Message.Payload)
	})
	next, err := e.C.NextSeqUnverified(e.Ctx, protocol.GatekeeperOrigin())
	if err != nil {
		t.Fatal(err)
	}
	q := gatekeeperQueue(e, g1)
	if len(q) != 1 || q[0].Message.Seq != next {
		var seqs []uint64
		for _, sm := range q {
			seqs = append(seqs, sm.Message.Seq)
		}
		t.Fatalf("queued gatekeeper messages have seqs %v, the chain expects %d next", seqs, next)
	}
	g1.StartRelay()
	e.waitEpoch(3, g1, w1)
	for _, r := range e.Epoch().Served {
		if bytes.Equal(r.Worker, w2.pub()) {
			t.Fatalf("the removed member was served epoch 3 at %x", r.Key[:8])
		}
	}
}

// gatekeeperQueue is w's queue of gatekeeper messages, in sequence order.
func gatekeeperQueue(e *env, w *worker) []protocol.SignedMessage {
	e.T.Helper()
	out, err := w.PR.Runtime.Egress(-1, 1000)
	if err != nil {
		e.T.Fatal(err)
	}
	var q []protocol.SignedMessage
	for _, raw := range out.Messages {
		var sm protocol.SignedMessage
		if err := protocol.Unmarshal(raw, &sm); err != nil {
			e.T.Fatal(err)
		}
		if sm.Message.Origin.Kind == protocol.OriginGatekeeper {
			q = append(q, sm)
		}
	}
	return q
}
