package app

import (
	"crypto/ed25519"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
)

// Kinds of keys message FuzzKeysMessages builds.
const (
	fuzzProposal byte = iota
	fuzzDelivery
	fuzzAnnouncement
	fuzzKinds
)

// FuzzKeysMessages feeds the keys module's untrusted decoders — epoch
// proposals, key deliveries and key announcements — on a chain whose
// rotation waits for a proposal. An input is decoded as the structure it
// stands for when it can be, mutated by structure (dropped, duplicated and
// swapped seals, other epochs, empty and truncated keys), re-encoded and
// correctly signed, so that it reaches the module's own checks rather than
// stopping at a signature; bytes that do not decode go in as they are. Each
// must be accepted or refused with a code, never crash a validator.
func FuzzKeysMessages(f *testing.F) {
	s := newKeysSetupOn(f, testGenesis())
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	p := s.toPhase(protocol.PhasePropose)
	alpha := protocol.ClusterID("alpha")
	member := protocol.Recipient{Worker: pub(s.m.id), Key: s.m.enc.Public(), Role: protocol.RoleMember, Cluster: alpha}
	late, err := keys.NewEncryption()
	if err != nil {
		f.Fatal(err)
	}
	proposal := protocol.MustMarshal(ptr(proposalFor(f, &p, s.secret)))
	delivery := protocol.MustMarshal(&protocol.KeyDelivery{Epoch: 1, Seal: sealTo(f, 1, member, s.secret)})
	for m := range byte(10) {
		f.Add(fuzzProposal, m, proposal)
		f.Add(fuzzDelivery, m, delivery)
		f.Add(fuzzAnnouncement, m, announcement(s.m, 1, late.Public()))
		f.Add(fuzzAnnouncement, m, announcement(s.m, 2, late.Public()))
	}
	f.Add(fuzzProposal, byte(0), []byte{0xa0})
	f.Add(fuzzDelivery, byte(0), []byte("not cbor"))
	f.Add(fuzzAnnouncement, byte(0), []byte{})
	f.Fuzz(func(t *testing.T, kind, mutation byte, body []byte) {
		var sm protocol.SignedMessage
		switch kind % fuzzKinds {
		case fuzzProposal:
			var ep protocol.EpochProposal
			if protocol.Unmarshal(body, &ep) == nil {
				mutateProposal(&ep, mutation)
				body = protocol.MustMarshal(&ep)
			}
			sm = rawGatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, body)
		case fuzzDelivery:
			var d protocol.KeyDelivery
			if protocol.Unmarshal(body, &d) == nil {
				mutateDelivery(&d, mutation, pub(s.gk.id))
				body = protocol.MustMarshal(&d)
			}
			sm = rawGatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, body)
		default:
			var a protocol.KeyAnnouncement
			if protocol.Unmarshal(body, &a) == nil {
				mutateAnnouncement(&a, mutation, s.m.id)
				body = protocol.MustMarshal(&a)
			}
			sm = workerMsg(s.m.id, 0, protocol.TopicAnnounce, body)
		}
		raw := protocol.SignTx(alice, protocol.Tx{ChainID: testChain, Nonce: s.a.nonce, Fee: protocol.DefaultParams().MinFee,
			Call: protocol.Call{Module: protocol.ModuleMQ, Method: protocol.MethodSubmit, Args: protocol.MustMarshal(&protocol.SubmitArgs{Message: sm})}})
		// Run the transaction as CheckTx would, in a branch that is then
		// dropped, so every input starts from the same state.
		s.ta.app.mu.Lock()
		_, err := s.ta.app.execTx(s.ta.app.check, raw)
		s.ta.app.mu.Unlock()
		if err != nil {
			wantRefusal(t, err)
		}
	})
}

// rawGatekeeperMsg is gatekeeperMsg with a body that is not re-encoded.
func rawGatekeeperMsg(signer ed25519.PrivateKey, seq uint64, kind string, body []byte) protocol.SignedMessage {
	signed := protocol.GatekeeperSigned{ChainID: testChain, Kind: kind, Body: body}
	p := protocol.GatekeeperPayload{Kind: kind, Body: body, Signer: pub(signer), Sig: protocol.Sign(signer, protocol.SigGatekeeper, protocol.MustMarshal(&signed))}
	return protocol.SignMessage(signer, testChain, protocol.Message{Origin: protocol.GatekeeperOrigin(), Topic: protocol.TopicGatekeeper, Seq: seq, Payload: protocol.MustMarshal(&p)})
}

func mutateProposal(ep *protocol.EpochProposal, m byte) {
	switch m % 10 {
	case 1:
		if len(ep.Secrets) > 0 {
			ep.Secrets = ep.Secrets[1:]
		}
	case 2:
		if len(ep.Secrets) > 0 {
			ep.Secrets = append(ep.Secrets, ep.Secrets[0])
		}
	case 3:
		ep.Epoch++
	case 4:
		ep.Epoch = 0
	case 5:
		ep.Clusters = nil
	case 6:
		if len(ep.Clusters) > 0 && len(ep.Clusters[0].Pubkey) > 0 {
			ep.Clusters[0].Pubkey = ep.Clusters[0].Pubkey[:1]
		}
	case 7:
		if len(ep.Secrets) > 0 && len(ep.Clusters) > 0 && len(ep.Clusters[0].Seals) > 0 {
			ep.Secrets[0], ep.Clusters[0].Seals[0] = ep.Clusters[0].Seals[0], ep.Secrets[0]
		}
	case 8:
		if len(ep.Secrets) > 0 {
			ep.Secrets[0].Recipient.Key = nil
		}
	case 9:
		if len(ep.Clusters) > 0 {
			ep.Clusters = append(ep.Clusters, ep.Clusters[0])
		}
	}
}

func mutateDelivery(d *protocol.KeyDelivery, m byte, gatekeeper []byte) {
	r := &d.Seal.Recipient
	switch m % 6 {
	case 1:
		d.Epoch++
	case 2:
		r.Role = protocol.RoleGatekeeper
	case 3:
		r.Cluster = nil
	case 4:
		r.Key = nil
	case 5:
		r.Worker = gatekeeper
	}
}

// mutateAnnouncement changes a and signs it again as worker, so that the
// signature check passes and the module's own checks decide.
func mutateAnnouncement(a *protocol.KeyAnnouncement, m byte, worker ed25519.PrivateKey) {
	switch m % 5 {
	case 1:
		a.Epoch++
	case 2:
		if len(a.Key) > 0 {
			a.Key = a.Key[:len(a.Key)/2]
		}
	case 3:
		a.Replaces = nil
	case 4:
		a.Key = append(a.Key, a.Key...)
	}
	a.Worker = pub(worker)
	body := protocol.AnnouncementBody{ChainID: testChain, Worker: a.Worker, Epoch: a.Epoch, Key: a.Key, Replaces: a.Replaces}
	a.Sig = protocol.Sign(worker, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))
}
