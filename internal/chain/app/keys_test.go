package app

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// keyWorker is a registered worker whose encryption key the test holds.
type keyWorker struct {
	id    ed25519.PrivateKey
	enc   *keys.Encryption
	build string // the sim build it attests
}

func (ta *testApp) registerWithKey(name string) *keyWorker {
	ta.t.Helper()
	return ta.registerWith(name, sim.DefaultBuild)
}

func (ta *testApp) epochInfo() protocol.EpochInfo {
	ta.t.Helper()
	q := ta.query(protocol.QueryEpoch, 0)
	var info protocol.EpochInfo
	if err := protocol.Unmarshal(q.Value, &info); err != nil {
		ta.t.Fatal(err)
	}
	return info
}

// gatekeeperMsg wraps a body as a gatekeeper message signed by signer
// (both the payload and the message).
func gatekeeperMsg(signer ed25519.PrivateKey, seq uint64, kind string, body any) protocol.SignedMessage {
	b := protocol.MustMarshal(body)
	signed := protocol.GatekeeperSigned{ChainID: testChain, Kind: kind, Body: b}
	p := protocol.GatekeeperPayload{Kind: kind, Body: b, Signer: pub(signer), Sig: protocol.Sign(signer, protocol.SigGatekeeper, protocol.MustMarshal(&signed))}
	return protocol.SignMessage(signer, testChain, protocol.Message{Origin: protocol.GatekeeperOrigin(), Topic: protocol.TopicGatekeeper, Seq: seq, Payload: protocol.MustMarshal(&p)})
}

func sealTo(t testing.TB, epoch uint64, r protocol.Recipient, key []byte) protocol.Sealed {
	t.Helper()
	ct, err := protocol.HPKESeal(r.Key, protocol.SealInfo(testChain, epoch, &r), nil, key)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Sealed{Recipient: r, Ciphertext: ct}
}

// proposalFor builds the proposal the pending epoch asks for.
func proposalFor(t testing.TB, p *protocol.PendingEpoch, secret []byte) protocol.EpochProposal {
	t.Helper()
	ep := protocol.EpochProposal{Epoch: p.Epoch}
	for _, r := range p.Recipients {
		if r.Role == protocol.RoleGatekeeper {
			ep.Secrets = append(ep.Secrets, sealTo(t, p.Epoch, r, secret))
		}
	}
	for _, c := range p.ClusterIDs {
		seed := protocol.DeriveSeed(secret, "cluster", c)
		pubkey, _ := protocol.DerivePublicKey(seed)
		set := protocol.ClusterKeySet{Cluster: c, Pubkey: pubkey}
		for _, r := range p.Recipients {
			if r.Role == protocol.RoleMember && bytes.Equal(r.Cluster, c) {
				set.Seals = append(set.Seals, sealTo(t, p.Epoch, r, seed))
			}
		}
		ep.Clusters = append(ep.Clusters, set)
	}
	return ep
}

// keysSetup is a chain with gatekeeper gk, cluster "alpha" with member m,
// and epoch 1 active; the test plays the gatekeeper.
type keysSetup struct {
	ta     *testApp
	a      *txBuilder
	gk, m  *keyWorker
	gkSeq  uint64
	gov    uint64
	secret []byte
}

func (s *keysSetup) govTx(kind string, args any) []byte {
	raw := s.a.govTx(s.gov, kind, args, admin1, admin2)
	s.gov++
	return raw
}

func (s *keysSetup) mustOK(raws ...[]byte) {
	s.ta.t.Helper()
	for i, r := range s.ta.finalize(raws...).TxResults {
		if r.Code != 0 {
			s.ta.t.Fatalf("tx %d: %s", i, r.Log)
		}
	}
}

func (s *keysSetup) submitGK(sm protocol.SignedMessage) []byte { return s.a.submit(sm) }

func newKeysSetup(t *testing.T) *keysSetup { return newKeysSetupOn(t, testGenesis()) }

// newKeysSetupOn is newKeysSetup on a chain started from g.
func newKeysSetupOn(t testing.TB, g *protocol.GenesisState) *keysSetup {
	ta := newTestApp(t, g)
	s := &keysSetup{ta: ta, a: newTxBuilder(alice), secret: bytes.Repeat([]byte{0x5e}, 32)}
	s.gk, s.m = ta.registerWithKey("gk"), ta.registerWithKey("member")
	s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"}))
	s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(s.m.id)}))
	s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(s.gk.id)}))
	s.rotate()
	return s
}

// rotate drives a requested rotation to activation, proposing as gk.
func (s *keysSetup) rotate() {
	s.ta.t.Helper()
	info := s.ta.epochInfo()
	for info.Pending == nil || info.Pending.Phase != protocol.PhasePropose {
		s.ta.finalize()
		info = s.ta.epochInfo()
	}
	ep := proposalFor(s.ta.t, info.Pending, s.secret)
	s.mustOK(s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, &ep)))
	s.gkSeq++
	want := info.Pending.Epoch
	for s.ta.epochInfo().Current != want {
		s.ta.finalize()
	}
}

func TestKeysLifecycleOnChain(t *testing.T) {
	s := newKeysSetup(t)
	info := s.ta.epochInfo()
	if info.Current != 1 || len(info.Clusters) != 1 || len(info.Holders) != 1 || len(info.Served) != 2 {
		t.Fatalf("after epoch 1: %+v", info)
	}
	// Governance rotates: a new epoch with a new cluster key; the old
	// epoch's served records are gone.
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	s.secret = bytes.Repeat([]byte{0x6f}, 32)
	s.rotate()
	next := s.ta.epochInfo()
	if next.Current != 2 || len(next.Clusters) != 1 || bytes.Equal(next.Clusters[0].Pubkey, info.Clusters[0].Pubkey) || len(next.Served) != 2 {
		t.Fatalf("after the rotation: %+v", next)
	}
}

func TestKeysRejections(t *testing.T) {
	other := key("not a gatekeeper")
	cases := []struct {
		name string
		tx   func(s *keysSetup) []byte
		want *protocol.Error
	}{
		{"gatekeeper message signed by a non-gatekeeper", func(s *keysSetup) []byte {
			return s.submitGK(gatekeeperMsg(other, s.gkSeq, protocol.GatekeeperDelivery, &protocol.KeyDelivery{Epoch: 1}))
		}, protocol.ErrNotGatekeeper},
		{"gatekeeper message from a removed gatekeeper", func(s *keysSetup) []byte {
			g2 := s.ta.registerWithKey("gk2")
			s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(g2.id)}))
			s.mustOK(s.govTx(protocol.ActionRemoveGatekeeper, protocol.WorkerArgs{Worker: pub(s.gk.id)}))
			r := protocol.Recipient{Worker: pub(g2.id), Key: g2.enc.Public(), Role: protocol.RoleGatekeeper}
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, &protocol.KeyDelivery{Epoch: 1, Seal: sealTo(s.ta.t, 1, r, s.secret)}))
		}, protocol.ErrNotGatekeeper},
		{"key addressed to another worker's key", func(s *keysSetup) []byte {
			r := protocol.Recipient{Worker: pub(s.m.id), Key: s.gk.enc.Public(), Role: protocol.RoleMember, Cluster: protocol.ClusterID("alpha")}
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, &protocol.KeyDelivery{Epoch: 1, Seal: sealTo(s.ta.t, 1, r, s.secret)}))
		}, protocol.ErrWrongRecipient},
		{"key for a cluster the worker is not in", func(s *keysSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"}))
			r := protocol.Recipient{Worker: pub(s.m.id), Key: s.m.enc.Public(), Role: protocol.RoleMember, Cluster: protocol.ClusterID("beta")}
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, &protocol.KeyDelivery{Epoch: 1, Seal: sealTo(s.ta.t, 1, r, s.secret)}))
		}, protocol.ErrNotClusterMember},
		{"rotation for a stale epoch", func(s *keysSetup) []byte {
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, &protocol.EpochProposal{Epoch: 1}))
		}, protocol.ErrStaleEpoch},
		{"rotation for a future epoch", func(s *keysSetup) []byte {
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, &protocol.EpochProposal{Epoch: 5}))
		}, protocol.ErrFutureEpoch},
		{"proposal sealed to the wrong recipients", func(s *keysSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			for s.ta.epochInfo().Pending.Phase != protocol.PhasePropose {
				s.ta.finalize()
			}
			p := *s.ta.epochInfo().Pending
			p.Recipients = p.Recipients[:1] // leaves the member out
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, ptr(proposalFor(s.ta.t, &p, s.secret))))
		}, protocol.ErrWrongRecipient},
		{"key delivered twice", func(s *keysSetup) []byte {
			r := protocol.Recipient{Worker: pub(s.m.id), Key: s.m.enc.Public(), Role: protocol.RoleMember, Cluster: protocol.ClusterID("alpha")}
			return s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperDelivery, &protocol.KeyDelivery{Epoch: 1, Seal: sealTo(s.ta.t, 1, r, s.secret)}))
		}, protocol.ErrAlreadyServed},
		{"key announcement not signed by the worker's identity", func(s *keysSetup) []byte {
			body := protocol.AnnouncementBody{ChainID: testChain, Worker: pub(s.m.id), Epoch: 1, Key: s.m.enc.Public()}
			a := protocol.KeyAnnouncement{Worker: pub(s.m.id), Epoch: 1, Key: s.m.enc.Public(), Sig: protocol.Sign(other, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
			return s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, protocol.MustMarshal(&a)))
		}, protocol.ErrBadAnnouncement},
		{"key announcement for another worker", func(s *keysSetup) []byte {
			body := protocol.AnnouncementBody{ChainID: testChain, Worker: pub(s.gk.id), Epoch: 1, Key: s.m.enc.Public()}
			a := protocol.KeyAnnouncement{Worker: pub(s.gk.id), Epoch: 1, Key: s.m.enc.Public(), Sig: protocol.Sign(s.gk.id, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
			return s.a.submit(workerMsg(s.m.id, 0, protocol.TopicAnnounce, protocol.MustMarshal(&a)))
		}, protocol.ErrBadAnnouncement},
		{"removing the last gatekeeper", func(s *keysSetup) []byte {
			return s.govTx(protocol.ActionRemoveGatekeeper, protocol.WorkerArgs{Worker: pub(s.gk.id)})
		}, protocol.ErrLastGatekeeper},
		{"an unregistered worker as gatekeeper", func(s *keysSetup) []byte {
			return s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(other)})
		}, protocol.ErrNotRegisteredWorker},
		{"the same gatekeeper twice", func(s *keysSetup) []byte {
			return s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(s.gk.id)})
		}, protocol.ErrAlreadyGatekeeper},
		{"a worker in two clusters", func(s *keysSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "gamma"}))
			return s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "gamma", Worker: pub(s.m.id)})
		}, protocol.ErrClusterMembership},
		{"rotating while a rotation is under way", func(s *keysSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			return s.govTx(protocol.ActionRotate, protocol.RotateArgs{})
		}, protocol.ErrRotationPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newKeysSetup(t)
			raw := c.tx(s)
			before := s.ta.stateDump()
			r := s.ta.finalize(raw).TxResults[0]
			wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
			wantOnlyCharged(t, changedKeys(before, s.ta.stateDump()))
		})
	}
}

// TestKeysRotateRefusedWithoutGatekeepers: before the first gatekeeper
// nobody could propose an epoch, so governance cannot ask for a rotation
// (adding the gatekeeper starts epoch 1 instead); the refusal changes
// nothing but the payer's fee and nonce. (A devnet always has a gatekeeper,
// so the CLI test cannot reach this.)
func TestKeysRotateRefusedWithoutGatekeepers(t *testing.T) {
	s := &keysSetup{ta: newTestApp(t, testGenesis()), a: newTxBuilder(alice)}
	s.m = s.ta.registerWithKey("member")
	s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"}))
	s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(s.m.id)}))
	raw := s.govTx(protocol.ActionRotate, protocol.RotateArgs{})
	before := s.ta.stateDump()
	r := s.ta.finalize(raw).TxResults[0]
	wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, protocol.ErrNoGatekeepers)
	wantOnlyCharged(t, changedKeys(before, s.ta.stateDump()))
	if info := s.ta.epochInfo(); info.Current != 0 || info.Pending != nil || len(info.Gatekeepers) != 0 {
		t.Fatalf("epoch after the refused rotation: %+v", info)
	}
}

func ptr[T any](v T) *T { return &v }
