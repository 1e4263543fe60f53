package keyring

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/phala-go/phala/protocol"
)

// Gatekeepers act on the same verified chain, so they emit the same logical
// messages in the same order under the one Gatekeeper origin. Each message
// has a logical id; the first copy of a sequence number to land is
// canonical, and a gatekeeper drops its own copy of a message whose logical
// id landed. A pending message whose sequence number was taken by another
// logical message is renumbered, so nothing is lost.
//
// A gatekeeper proposes epochs (any gatekeeper among the recipients: the
// secret is fresh) but delivers keys only while it holds the epoch secret,
// so a restarted gatekeeper stays silent until it is served again.

// proposalID names a proposal by epoch, recipients and clusters: a proposal
// asked for again with other recipients or clusters is another message.
func proposalID(epoch uint64, rs []protocol.Recipient, clusters [][]byte) string {
	sum := sha256.Sum256(protocol.MustMarshal(&struct {
		R []protocol.Recipient `cbor:"r"`
		C [][]byte             `cbor:"c"`
	}{rs, clusters}))
	return fmt.Sprintf("proposal/%d/%s", epoch, hex.EncodeToString(sum[:8]))
}

func deliveryID(epoch uint64, r *protocol.Recipient) string {
	key := sha256.Sum256(r.Key)
	return fmt.Sprintf("delivery/%d/%x/%x/%s", epoch, r.Worker, key[:8], r.Role)
}

// logicalID is the id of a landed gatekeeper message.
func logicalID(p *protocol.GatekeeperPayload) (string, *protocol.EpochProposal, *protocol.KeyDelivery, error) {
	switch p.Kind {
	case protocol.GatekeeperProposal:
		var ep protocol.EpochProposal
		if err := protocol.Unmarshal(p.Body, &ep); err != nil {
			return "", nil, nil, err
		}
		var rs []protocol.Recipient
		var cs [][]byte
		for _, s := range ep.Secrets {
			rs = append(rs, s.Recipient)
		}
		for _, c := range ep.Clusters {
			cs = append(cs, c.Cluster)
			for _, s := range c.Seals {
				rs = append(rs, s.Recipient)
			}
		}
		return proposalID(ep.Epoch, rs, cs), &ep, nil, nil
	case protocol.GatekeeperDelivery:
		var d protocol.KeyDelivery
		if err := protocol.Unmarshal(p.Body, &d); err != nil {
			return "", nil, nil, err
		}
		return deliveryID(d.Epoch, &d.Seal.Recipient), nil, &d, nil
	}
	return "", nil, nil, fmt.Errorf("kind %q", p.Kind)
}

// emit queues a gatekeeper message under the next free sequence number.
// entry carries what the message is about (epoch, recipient), so that it
// can be dropped when it becomes moot.
func (k *Keyring) emit(id, kind string, body []byte, entry outboxEntry) {
	if _, ok := k.outbox.Get(id); ok {
		return
	}
	signed := protocol.GatekeeperSigned{ChainID: k.chainID, Kind: kind, Body: body}
	p := protocol.GatekeeperPayload{Kind: kind, Body: body, Signer: k.pub, Sig: protocol.Sign(k.identity, protocol.SigGatekeeper, protocol.MustMarshal(&signed))}
	entry.payload = protocol.MustMarshal(&p)
	entry.seq = max(k.gkNext.Get(), k.engine.PendingNextSeq(protocol.GatekeeperOrigin()))
	k.sign(id, entry)
}

// sign (re)signs an outbox entry under its sequence number.
func (k *Keyring) sign(id string, e outboxEntry) {
	sm := protocol.SignMessage(k.identity, k.chainID, protocol.Message{Origin: protocol.GatekeeperOrigin(), Topic: protocol.TopicGatekeeper, Seq: e.seq, Payload: e.payload})
	e.signed = protocol.MustMarshal(&sm)
	k.outbox.Set(id, e)
	k.gkNext.Set(max(k.gkNext.Get(), e.seq+1))
}

// drop removes the pending messages that became moot (a retired or lost
// epoch, a recipient whose key changed): the chain would refuse them, and a
// refused message would hold back every one behind it.
func (k *Keyring) drop(moot func(outboxEntry) bool) {
	changed := false
	for _, id := range k.outbox.Keys() {
		if e, _ := k.outbox.Get(id); moot(e) {
			k.outbox.Delete(id)
			changed = true
		}
	}
	if changed {
		k.renumber()
	}
}

// renumber gives the pending messages consecutive sequence numbers from the
// chain's next one, in their current order. Every gatekeeper sees the same
// landings and drops, so they number the same logical messages alike.
func (k *Keyring) renumber() {
	ids := k.outbox.Keys()
	slices.SortFunc(ids, func(a, b string) int {
		ea, _ := k.outbox.Get(a)
		eb, _ := k.outbox.Get(b)
		return cmp.Compare(ea.seq, eb.seq)
	})
	next := k.engine.PendingNextSeq(protocol.GatekeeperOrigin())
	k.gkNext.Set(next)
	for _, id := range ids {
		e, _ := k.outbox.Get(id)
		if e.seq != next {
			e.seq = next
			k.sign(id, e)
		}
		next++
	}
	k.gkNext.Set(next)
}

// Outbox returns the pending gatekeeper messages (committed), in sequence
// order, as canonical SignedMessages.
func (k *Keyring) Outbox() [][]byte {
	var es []outboxEntry
	for _, id := range k.outbox.CommittedKeys() {
		e, _ := k.outbox.CommittedGet(id)
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b outboxEntry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([][]byte, len(es))
	for i, e := range es {
		out[i] = e.signed
	}
	return out
}

// propose answers a request for the pending epoch's proposal: a fresh
// secret sealed to every gatekeeper, and each cluster's derived key sealed
// to its members.
func (k *Keyring) propose(ev *protocol.RotationEvent) error {
	v := k.epoch.Get()
	v.Pending = ev.Epoch
	k.epoch.Set(v)
	if !k.isGatekeeper() || !slices.ContainsFunc(ev.Recipients, func(r protocol.Recipient) bool {
		return r.Role == protocol.RoleGatekeeper && bytes.Equal(r.Worker, k.pub)
	}) {
		return nil
	}
	id := proposalID(ev.Epoch, ev.Recipients, ev.ClusterIDs)
	if _, ok := k.outbox.Get(id); ok {
		return nil // asked again for the same: the queued proposal stands
	}
	// Asked again with other recipients: the earlier proposal would be
	// refused. Dropping it renumbers what follows, so that the new one
	// takes its sequence number instead of leaving a gap that would hold
	// every gatekeeper message back.
	k.drop(func(e outboxEntry) bool { return e.proposal && e.epoch == ev.Epoch })
	secret, err := newSecret()
	if err != nil {
		return err
	}
	ep := protocol.EpochProposal{Epoch: ev.Epoch}
	for i := range ev.Recipients {
		r := &ev.Recipients[i]
		if r.Role != protocol.RoleGatekeeper {
			continue
		}
		s, err := k.seal(ev.Epoch, r, secret)
		if err != nil {
			return err
		}
		ep.Secrets = append(ep.Secrets, s)
	}
	for _, cluster := range ev.ClusterIDs {
		seed := protocol.DeriveSeed(secret, "cluster", cluster)
		pub, err := protocol.DerivePublicKey(seed)
		if err != nil {
			return err
		}
		set := protocol.ClusterKeySet{Cluster: cluster, Pubkey: pub}
		for i := range ev.Recipients {
			r := &ev.Recipients[i]
			if r.Role == protocol.RoleMember && bytes.Equal(r.Cluster, cluster) {
				s, err := k.seal(ev.Epoch, r, seed)
				if err != nil {
					return err
				}
				set.Seals = append(set.Seals, s)
			}
		}
		ep.Clusters = append(ep.Clusters, set)
	}
	k.emit(id, protocol.GatekeeperProposal, protocol.MustMarshal(&ep), outboxEntry{epoch: ev.Epoch, proposal: true})
	k.candidates.Set(ev.Epoch, secret)
	return nil
}

func (k *Keyring) seal(epoch uint64, r *protocol.Recipient, key []byte) (protocol.Sealed, error) {
	ct, err := protocol.HPKESeal(r.Key, protocol.SealInfo(k.chainID, epoch, r), nil, key)
	if err != nil {
		return protocol.Sealed{}, fmt.Errorf("keyring: seal to %x: %w", r.Worker, err)
	}
	return protocol.Sealed{Recipient: *r, Ciphertext: ct}, nil
}

// serve hands the epoch's keys to the recipients, if this gatekeeper holds
// the epoch secret.
func (k *Keyring) serve(ev *protocol.ServeEvent) error {
	secret, ok := k.secrets.Get(ev.Epoch)
	if !k.isGatekeeper() || !ok {
		return nil
	}
	for i := range ev.Recipients {
		r := &ev.Recipients[i]
		// A delivery to this worker's previous key is moot now.
		k.drop(func(e outboxEntry) bool {
			return e.epoch == ev.Epoch && bytes.Equal(e.worker, r.Worker) && !bytes.Equal(e.key, r.Key)
		})
		key := secret
		if r.Role == protocol.RoleMember {
			key = protocol.DeriveSeed(secret, "cluster", r.Cluster)
		}
		s, err := k.seal(ev.Epoch, r, key)
		if err != nil {
			return err
		}
		k.emit(deliveryID(ev.Epoch, r), protocol.GatekeeperDelivery, protocol.MustMarshal(&protocol.KeyDelivery{Epoch: ev.Epoch, Seal: s}),
			outboxEntry{epoch: ev.Epoch, worker: r.Worker, key: r.Key})
	}
	return nil
}

// gatekeeperMessage reads a landed gatekeeper message: it checks who signed
// it, keeps the outbox consistent, and takes the keys sealed to this
// worker.
func (k *Keyring) gatekeeperMessage(m *protocol.Message) error {
	var p protocol.GatekeeperPayload
	if err := protocol.Unmarshal(m.Payload, &p); err != nil {
		return k.refuse(m, err)
	}
	if _, ok := k.gatekeepers.Get(string(p.Signer)); !ok {
		return k.refuse(m, protocol.Errorf(protocol.ErrNotGatekeeper, "signer %x", p.Signer))
	}
	if !p.Verify(k.chainID) {
		return k.refuse(m, protocol.Errorf(protocol.ErrBadGatekeeperMsg, "signature of %x", p.Signer))
	}
	id, ep, d, err := logicalID(&p)
	if err != nil {
		return k.refuse(m, err)
	}
	mine, wasMine := k.outbox.Get(id)
	k.outbox.Delete(id)
	k.renumber()
	switch {
	case ep != nil:
		return k.landedProposal(ep, wasMine && bytes.Equal(mine.payload, m.Payload))
	case d != nil:
		if secret, ok := k.open(d.Epoch, &d.Seal); ok {
			return k.store(d.Epoch, &d.Seal.Recipient, secret)
		}
	}
	return nil
}

// refuse ignores a gatekeeper message this pRuntime cannot accept. The
// chain checked the same things, so this only happens if the views
// diverge; halting would not help, ignoring cannot leak anything.
func (k *Keyring) refuse(m *protocol.Message, err error) error {
	k.log.Error("ignoring a gatekeeper message", "seq", m.Seq, "err", err)
	return nil
}

// landedProposal takes the canonical proposal of an epoch: this worker's
// sealed secret or cluster seed, checked against the published cluster
// keys. A gatekeeper whose own proposal won keeps its candidate secret;
// otherwise candidates are dropped (only the canonical secret counts).
func (k *Keyring) landedProposal(ep *protocol.EpochProposal, mine bool) error {
	candidate, had := k.candidates.Get(ep.Epoch)
	k.candidates.Delete(ep.Epoch)
	if mine && had {
		k.secrets.Set(ep.Epoch, candidate)
	}
	for i := range ep.Secrets {
		if secret, ok := k.open(ep.Epoch, &ep.Secrets[i]); ok {
			k.secrets.Set(ep.Epoch, secret)
		}
	}
	if secret, ok := k.secrets.Get(ep.Epoch); ok {
		for _, c := range ep.Clusters {
			if pub, err := protocol.DerivePublicKey(protocol.DeriveSeed(secret, "cluster", c.Cluster)); err != nil || !bytes.Equal(pub, c.Pubkey) {
				k.log.Error("proposal publishes a cluster key that does not derive from its secret", "epoch", ep.Epoch, "cluster", fmt.Sprintf("%x", c.Cluster))
			}
		}
	}
	for _, c := range ep.Clusters {
		for i := range c.Seals {
			if seed, ok := k.open(ep.Epoch, &c.Seals[i]); ok {
				if pub, err := protocol.DerivePublicKey(seed); err != nil || !bytes.Equal(pub, c.Pubkey) {
					k.log.Error("sealed cluster key does not match the published one", "epoch", ep.Epoch)
					continue
				}
				k.seeds.Set(seedKey(ep.Epoch, c.Cluster), seed)
				if err := k.seeded(ep.Epoch, c.Cluster); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// store keeps a delivered key: the epoch secret of a gatekeeper, or a
// member's cluster seed.
func (k *Keyring) store(epoch uint64, r *protocol.Recipient, key []byte) error {
	if r.Role == protocol.RoleGatekeeper {
		k.secrets.Set(epoch, key)
		return nil
	}
	k.seeds.Set(seedKey(epoch, r.Cluster), key)
	return k.seeded(epoch, r.Cluster)
}

// seeded tells the OnSeed hook that a member now holds a cluster seed.
func (k *Keyring) seeded(epoch uint64, cluster []byte) error {
	if k.onSeed == nil {
		return nil
	}
	return k.onSeed(epoch, cluster)
}
