package keys

import (
	"bytes"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/protocol"
)

// AuthorizeSender implements mq.Authorizer for the Gatekeeper origin: the
// signer must be a current, active gatekeeper. A removed gatekeeper is
// powerless from the transaction after its removal.
func (*Module) AuthorizeSender(ctx *module.Context, sm *protocol.SignedMessage) error {
	if !IsGatekeeper(ctx.State, sm.Signer) {
		return protocol.Errorf(protocol.ErrNotGatekeeper, "signer %x", sm.Signer)
	}
	return registry.CheckActive(ctx.State, sm.Signer, protocol.ErrNotGatekeeper, protocol.ErrNotGatekeeper)
}

// ObserveMessage implements mq.Observer: it reads gatekeeper messages and
// key announcements, and refuses those that are invalid.
func (*Module) ObserveMessage(ctx *module.Context, sm *protocol.SignedMessage) error {
	m := &sm.Message
	switch {
	case m.Origin.Kind == protocol.OriginGatekeeper:
		if m.Topic != protocol.TopicGatekeeper {
			return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "topic %q", m.Topic)
		}
		return gatekeeperMessage(ctx, sm)
	case m.Origin.Kind == protocol.OriginWorker && m.Topic == protocol.TopicAnnounce:
		return announcement(ctx, m)
	}
	return nil
}

func gatekeeperMessage(ctx *module.Context, sm *protocol.SignedMessage) error {
	var p protocol.GatekeeperPayload
	if err := protocol.Unmarshal(sm.Message.Payload, &p); err != nil {
		return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "payload: %v", err)
	}
	if !bytes.Equal(p.Signer, sm.Signer) || !p.Verify(ctx.Block.ChainID) {
		return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "payload not signed by the message's gatekeeper")
	}
	switch p.Kind {
	case protocol.GatekeeperProposal:
		var ep protocol.EpochProposal
		if err := protocol.Unmarshal(p.Body, &ep); err != nil {
			return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "proposal: %v", err)
		}
		return proposal(ctx, &ep)
	case protocol.GatekeeperDelivery:
		var d protocol.KeyDelivery
		if err := protocol.Unmarshal(p.Body, &d); err != nil {
			return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "delivery: %v", err)
		}
		return delivery(ctx, &d)
	}
	return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "kind %q", p.Kind)
}

// epochCheck refuses a message for an epoch other than want.
func epochCheck(got, want uint64) error {
	switch {
	case got < want:
		return protocol.Errorf(protocol.ErrStaleEpoch, "epoch %d, expected %d", got, want)
	case got > want:
		return protocol.Errorf(protocol.ErrFutureEpoch, "epoch %d, expected %d", got, want)
	}
	return nil
}

// proposal accepts the first proposal for the pending epoch, if it seals
// the secret to exactly the gatekeepers and each cluster's key to exactly
// its members, at the keys the chain asked for, and if those are still
// who the chain would seal the epoch to: a worker that left, moved, was
// retired or restarted since the freeze is never sealed the next epoch.
func proposal(ctx *module.Context, ep *protocol.EpochProposal) error {
	e := Epoch(ctx.State)
	if e.Pending == nil || e.Pending.Phase != protocol.PhasePropose {
		want := e.Current + 1
		if e.Pending != nil && e.Pending.Phase == protocol.PhaseActivating {
			want = e.Pending.Epoch + 1 // the pending epoch already has its proposal
		}
		if err := epochCheck(ep.Epoch, want); err != nil {
			return err
		}
		return protocol.Errorf(protocol.ErrFutureEpoch, "epoch %d: no proposal has been asked for yet", ep.Epoch)
	}
	p := e.Pending
	if err := epochCheck(ep.Epoch, p.Epoch); err != nil {
		return err
	}
	if !frozenIsCurrent(ctx.State, p) {
		// Asked again at the end of this block (recheck).
		return protocol.Errorf(protocol.ErrRecipientsChanged, "epoch %d: the gatekeepers, members or their keys changed since the proposal was asked for", p.Epoch)
	}
	var gks, members []protocol.Recipient
	for _, r := range p.Recipients {
		if r.Role == protocol.RoleGatekeeper {
			gks = append(gks, r)
		} else {
			members = append(members, r)
		}
	}
	if len(ep.Secrets) != len(gks) {
		return protocol.Errorf(protocol.ErrWrongRecipient, "%d secrets for %d gatekeepers", len(ep.Secrets), len(gks))
	}
	for i := range gks {
		if !sameRecipient(&ep.Secrets[i].Recipient, &gks[i]) {
			return protocol.Errorf(protocol.ErrWrongRecipient, "secret %d sealed to %x, expected %x", i, ep.Secrets[i].Recipient.Worker, gks[i].Worker)
		}
	}
	if len(ep.Clusters) != len(p.ClusterIDs) {
		return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "%d cluster keys for %d clusters", len(ep.Clusters), len(p.ClusterIDs))
	}
	var pubs []protocol.ClusterPubkey
	next := 0
	for i, id := range p.ClusterIDs {
		set := &ep.Clusters[i]
		if !bytes.Equal(set.Cluster, id) || len(set.Pubkey) != 1216 {
			return protocol.Errorf(protocol.ErrBadGatekeeperMsg, "cluster key %d", i)
		}
		for j := range set.Seals {
			r := &set.Seals[j].Recipient
			if !bytes.Equal(r.Cluster, id) {
				return protocol.Errorf(protocol.ErrNotClusterMember, "key of cluster %x sealed for cluster %x", id, r.Cluster)
			}
			if next >= len(members) || !sameRecipient(r, &members[next]) {
				return protocol.Errorf(protocol.ErrWrongRecipient, "cluster %x seal %d to %x", id, j, r.Worker)
			}
			next++
		}
		pubs = append(pubs, protocol.ClusterPubkey{Cluster: id, Pubkey: set.Pubkey})
	}
	if next != len(members) {
		return protocol.Errorf(protocol.ErrWrongRecipient, "%d member seals for %d members", next, len(members))
	}
	for _, r := range p.Recipients {
		markServed(ctx.State, p.Epoch, r)
	}
	p.Clusters, p.Phase, p.ActivateAt = pubs, protocol.PhaseActivating, ctx.Block.Height+int64(ctx.Params.ActivationDelay)
	saveEpoch(ctx.State, &e)
	return nil
}

// delivery accepts a key handed to one recipient for the current epoch,
// at the key the chain knows it holds (its registered key, or the key it
// announced late).
func delivery(ctx *module.Context, d *protocol.KeyDelivery) error {
	e := Epoch(ctx.State)
	if err := epochCheck(d.Epoch, e.Current); err != nil {
		return err
	}
	if e.Lost {
		return protocol.Errorf(protocol.ErrEpochLost, "epoch %d", d.Epoch)
	}
	r := d.Seal.Recipient
	role, cluster, ok := roleOf(ctx.State, r.Worker)
	if !ok {
		return protocol.Errorf(protocol.ErrWrongRecipient, "worker %x is neither a gatekeeper nor a cluster member", r.Worker)
	}
	if r.Role != role {
		return protocol.Errorf(protocol.ErrWrongRecipient, "worker %x is a %s, not a %s", r.Worker, role, r.Role)
	}
	if role == protocol.RoleMember && !bytes.Equal(r.Cluster, cluster) {
		return protocol.Errorf(protocol.ErrNotClusterMember, "worker %x is in cluster %x, not %x", r.Worker, cluster, r.Cluster)
	}
	key, ok := activeKey(ctx.State, r.Worker)
	if !ok {
		return protocol.Errorf(protocol.ErrWrongRecipient, "worker %x is not active", r.Worker)
	}
	var ann protocol.KeyAnnouncement
	late := read(ctx.State, join(prefixAnnounce, r.Worker), &ann) && ann.Epoch == e.Current && bytes.Equal(ann.Key, r.Key)
	if !bytes.Equal(r.Key, key) && !late {
		return protocol.Errorf(protocol.ErrWrongRecipient, "sealed to a key worker %x does not hold", r.Worker)
	}
	if prev, ok := served(ctx.State, e.Current, r.Worker); ok && sameRecipient(&prev, &r) {
		// Another gatekeeper's copy landed first: this one is redundant.
		return protocol.Errorf(protocol.ErrAlreadyServed, "worker %x already holds epoch %d at this key", r.Worker, e.Current)
	}
	markServed(ctx.State, e.Current, r)
	if role == protocol.RoleGatekeeper {
		setHolder(ctx.State, r.Worker, true)
	}
	if late {
		kv(ctx.State).Delete(join(prefixAnnounce, r.Worker))
		recheck(ctx.State, &e)
		return registry.SetEncryptionKey(ctx, &ann)
	}
	return nil
}

// announcement records a member's fresh key: for the rotation under way
// when it announces in time, or, when it missed the window, for the
// current epoch, which the gatekeepers then deliver to it.
func announcement(ctx *module.Context, m *protocol.Message) error {
	var a protocol.KeyAnnouncement
	if err := protocol.Unmarshal(m.Payload, &a); err != nil {
		return protocol.Errorf(protocol.ErrBadAnnouncement, "payload: %v", err)
	}
	if !bytes.Equal(a.Worker, m.Origin.ID) || !a.Verify(ctx.Block.ChainID) {
		return protocol.Errorf(protocol.ErrBadAnnouncement, "announcement for %x in a message of %x", a.Worker, m.Origin.ID)
	}
	if _, err := protocol.HPKEPublicKey(a.Key); err != nil {
		return protocol.Errorf(protocol.ErrBadAnnouncement, "%v", err)
	}
	role, cluster, ok := roleOf(ctx.State, a.Worker)
	if !ok {
		return protocol.Errorf(protocol.ErrBadAnnouncement, "worker %x is neither a gatekeeper nor a cluster member", a.Worker)
	}
	if key, _ := activeKey(ctx.State, a.Worker); !bytes.Equal(a.Replaces, protocol.KeyHash(key)) {
		// Made by an earlier boot (its key died with it) or before this
		// boot's key was registered: nobody holds a key the chain could
		// trust it replaces. Accepted, so that the worker's later messages
		// are not held back, and ignored.
		return nil
	}
	e := Epoch(ctx.State)
	switch {
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseAnnounce && a.Epoch == e.Pending.Epoch:
		write(ctx.State, join(prefixAnnounce, a.Worker), &a)
		return nil
	case e.Current > 0 && a.Epoch == e.Current:
		// Missed the window: serve the current epoch at the announced key.
		// Once per worker and epoch: a worker that re-announced every block
		// would have every delivery sealed to a superseded key refused, and
		// its wait would end in a lost epoch for every cluster.
		var prev uint64
		if read(ctx.State, join(prefixLate, a.Worker), &prev) && prev == e.Current {
			return protocol.Errorf(protocol.ErrAlreadyAnnounced, "worker %x already announced a key for epoch %d", a.Worker, e.Current)
		}
		write(ctx.State, join(prefixLate, a.Worker), e.Current)
		write(ctx.State, join(prefixAnnounce, a.Worker), &a)
		recheck(ctx.State, &e) // it may replace an announcement for the rotation being proposed
		if _, has := e.ClusterKey(cluster); e.Lost || (role == protocol.RoleMember && !has) {
			return nil
		}
		r := protocol.Recipient{Worker: a.Worker, Key: a.Key, Role: role, Cluster: cluster}
		waiting(ctx.State, a.Worker, ctx.Block.Height)
		return emit(ctx, protocol.TopicServe, &protocol.ServeEvent{Epoch: e.Current, Recipients: []protocol.Recipient{r}})
	case e.Pending != nil && a.Epoch == e.Pending.Epoch:
		return nil // the window closed: the member will announce for the epoch once current
	}
	want := e.Current
	if e.Pending != nil {
		want = e.Pending.Epoch
	}
	return epochCheck(a.Epoch, want)
}
