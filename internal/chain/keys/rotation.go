package keys

import (
	"bytes"
	"slices"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// requestRotation opens a rotation to epoch Current+1: members have
// AnnounceWindow blocks to announce fresh encryption keys, then the
// gatekeepers are asked for a proposal. emergency marks a rotation forced
// by the loss of the current secret. A rotation that was due is now under
// way.
func requestRotation(ctx *module.Context, e *protocol.EpochRecord, emergency bool) error {
	kv(ctx.State).Delete(keyDue)
	next := e.Current + 1
	e.Pending = &protocol.PendingEpoch{
		Epoch:       next,
		Phase:       protocol.PhaseAnnounce,
		Emergency:   emergency,
		RequestedAt: ctx.Block.Height,
		ProposeAt:   ctx.Block.Height + int64(ctx.Params.AnnounceWindow),
	}
	saveEpoch(ctx.State, e)
	ev := protocol.RotationEvent{Epoch: next, Phase: protocol.PhaseAnnounce, Emergency: emergency, Deadline: e.Pending.ProposeAt}
	if e.Lost {
		ev.Lost = e.Current
	}
	return emit(ctx, protocol.TopicRotation, &ev)
}

// rotationDue records that a rotation must retire keys a worker that
// should not have them may hold (it was revoked, or it left after the
// proposal of the pending epoch landed): one starts at the end of this
// block if none is under way, or at the activation of the one whose
// proposal landed. A rotation still announcing or proposing needs nothing:
// its proposal is sealed only to the recipients current when it lands.
func rotationDue(s store.KV, e *protocol.EpochRecord) {
	switch {
	case e.Pending == nil && e.Current == 0:
		return // nothing was ever sealed
	case e.Pending != nil && e.Pending.Phase != protocol.PhaseActivating:
		return
	}
	kv(s).Set(keyDue, store.Mark())
}

// leaving is told that worker stopped being a gatekeeper or member, or
// stopped being active: if it is a recipient of the pending epoch whose
// proposal landed, it holds that epoch, and another rotation is due.
func leaving(s store.KV, e *protocol.EpochRecord, worker []byte) {
	if p := e.Pending; p != nil && p.Phase == protocol.PhaseActivating {
		if _, ok := served(s, p.Epoch, worker); ok {
			rotationDue(s, e)
		}
	}
}

// askForProposal freezes the recipients of the pending epoch (announced
// keys where announced) and asks the gatekeepers to propose.
func askForProposal(ctx *module.Context, e *protocol.EpochRecord) error {
	kv(ctx.State).Delete(keyRecheck)
	p := e.Pending
	p.Phase = protocol.PhasePropose
	p.Recipients = recipients(ctx.State, p.Epoch)
	p.ClusterIDs = clusterIDs(ctx.State)
	saveEpoch(ctx.State, e)
	return emit(ctx, protocol.TopicRotation, &protocol.RotationEvent{Epoch: p.Epoch, Phase: protocol.PhasePropose, Emergency: p.Emergency, Recipients: p.Recipients, ClusterIDs: p.ClusterIDs})
}

func clusterIDs(s store.KV) [][]byte {
	var ids [][]byte
	for _, c := range clusters(s) {
		ids = append(ids, c.Cluster)
	}
	return ids
}

// frozenIsCurrent reports whether the recipients and clusters frozen for
// the pending epoch are still exactly who the chain would seal it to now:
// the same gatekeepers and members, each still active, in the same
// cluster, at the key it holds now.
func frozenIsCurrent(s store.KV, p *protocol.PendingEpoch) bool {
	return sameRecipients(p.Recipients, recipients(s, p.Epoch)) &&
		slices.EqualFunc(p.ClusterIDs, clusterIDs(s), bytes.Equal)
}

// refreeze asks for the pending epoch's proposal again if the recipients
// frozen for it changed: a worker left, joined, moved, restarted or was
// retired while the gatekeepers were proposing. The gatekeepers drop their
// earlier proposal and seal to the new recipients. Governance actions and
// registry changes call it at once; gatekeeper messages and announcements
// that may change a recipient's key mark the freeze for a re-check at the
// end of the block (recheck), which proposal refuses to land before.
func refreeze(ctx *module.Context, e *protocol.EpochRecord) error {
	if p := e.Pending; p == nil || p.Phase != protocol.PhasePropose || frozenIsCurrent(ctx.State, p) {
		return nil
	}
	return askForProposal(ctx, e)
}

// EndBlock moves rotations along: automatic triggers, the end of the
// announce window, a re-freeze of recipients that changed, activation, and
// the detection of a lost secret.
func (*Module) EndBlock(ctx *module.Context) error {
	e := Epoch(ctx.State)
	h := ctx.Block.Height
	since, someoneWaits := longestWait(ctx.State)
	switch {
	case e.Pending == nil && e.Current > 0 && !e.Lost && !anyHolder(ctx.State),
		e.Pending == nil && e.Current > 0 && !e.Lost && someoneWaits && h-since >= int64(ctx.Params.ServeTimeout) && len(activeGatekeepers(ctx.State)) > 0:
		// Nobody holds the current secret any more (every gatekeeper
		// restarted), or nobody answers those waiting for it: it is lost.
		e.Lost = true
		clearWaits(ctx.State)
		return requestRotation(ctx, &e, true)
	case e.Pending == nil && kv(ctx.State).Get(keyDue) != nil:
		return requestRotation(ctx, &e, false)
	case e.Pending == nil && e.Current > 0 && ctx.Params.RotationInterval > 0 && h >= e.ActivatedAt+int64(ctx.Params.RotationInterval):
		return requestRotation(ctx, &e, false)
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseAnnounce && h >= e.Pending.ProposeAt:
		if len(activeGatekeepers(ctx.State)) == 0 {
			return nil // wait for a gatekeeper to come back
		}
		return askForProposal(ctx, &e)
	case e.Pending != nil && e.Pending.Phase == protocol.PhasePropose && kv(ctx.State).Get(keyRecheck) != nil:
		kv(ctx.State).Delete(keyRecheck)
		return refreeze(ctx, &e)
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseActivating && h >= e.Pending.ActivateAt:
		return activate(ctx, &e)
	}
	return nil
}

func activeGatekeepers(s store.KV) [][]byte {
	var out [][]byte
	for _, gk := range Gatekeepers(s) {
		if _, ok := activeKey(s, gk); ok {
			out = append(out, gk)
		}
	}
	return out
}

func anyHolder(s store.KV) bool {
	for _, gk := range activeGatekeepers(s) {
		if holder(s, gk) {
			return true
		}
	}
	return len(Gatekeepers(s)) == 0 // no gatekeepers: nothing to lose yet
}

// activate makes the pending epoch current. Every pRuntime then erases the
// previous epoch's keys and its previous encryption key. Recipients that
// were not served at the key they hold now (they joined, moved or
// restarted after the freeze, or missed the window) are served now, at
// their current key.
func activate(ctx *module.Context, e *protocol.EpochRecord) error {
	p := e.Pending
	old := e.Current
	e.Current, e.ActivatedAt, e.Clusters, e.Lost, e.Pending = p.Epoch, ctx.Block.Height, p.Clusters, false, nil
	saveEpoch(ctx.State, e)
	// Announced keys that were sealed to become the members' registered
	// keys; the boot keys they replace are erased by the pRuntimes.
	for _, r := range p.Recipients {
		var ann protocol.KeyAnnouncement
		if read(ctx.State, join(prefixAnnounce, r.Worker), &ann) && ann.Epoch == p.Epoch && bytes.Equal(ann.Key, r.Key) {
			kv(ctx.State).Delete(join(prefixAnnounce, r.Worker))
			if err := registry.SetEncryptionKey(ctx, &ann); err != nil {
				return err
			}
		}
	}
	for _, gk := range Gatekeepers(ctx.State) {
		setHolder(ctx.State, gk, servedAtKey(ctx.State, e.Current, gk))
	}
	if old > 0 {
		deleteAll(ctx.State, join(prefixServed, u64(old)))
	}
	if err := emit(ctx, protocol.TopicRotation, &protocol.RotationEvent{Epoch: e.Current, Phase: protocol.PhaseActivated, Clusters: e.Clusters}); err != nil {
		return err
	}
	var unserved []protocol.Recipient
	for _, r := range recipients(ctx.State, e.Current) {
		prev, wasServed := served(ctx.State, e.Current, r.Worker)
		if _, has := e.ClusterKey(r.Cluster); !(wasServed && sameRecipient(&prev, &r)) && (r.Role == protocol.RoleGatekeeper || has) {
			unserved = append(unserved, r)
		}
	}
	clearWaits(ctx.State)
	deleteAll(ctx.State, prefixLate)
	if len(unserved) > 0 {
		for _, r := range unserved {
			waiting(ctx.State, r.Worker, ctx.Block.Height)
		}
		if err := emit(ctx, protocol.TopicServe, &protocol.ServeEvent{Epoch: e.Current, Recipients: unserved}); err != nil {
			return err
		}
	}
	// A recipient left after the proposal landed (or governance asked), or
	// a cluster was created while this epoch was being proposed and has no
	// key in it: rotate again.
	if kv(ctx.State).Get(keyDue) != nil {
		return requestRotation(ctx, e, false)
	}
	for _, c := range clusters(ctx.State) {
		if _, has := e.ClusterKey(c.Cluster); !has {
			return requestRotation(ctx, e, false)
		}
	}
	return nil
}

// serve asks the gatekeepers to hand worker the keys of epoch at its
// current key.
func serve(ctx *module.Context, epoch uint64, worker []byte) error {
	for _, r := range recipients(ctx.State, 0) {
		if bytes.Equal(r.Worker, worker) {
			waiting(ctx.State, worker, ctx.Block.Height)
			return emit(ctx, protocol.TopicServe, &protocol.ServeEvent{Epoch: epoch, Recipients: []protocol.Recipient{r}})
		}
	}
	return nil
}

// recheck marks the recipients frozen for a rotation being proposed for a
// re-check at the end of the block: a late announcement or delivery may
// have changed a recipient's key.
func recheck(s store.KV, e *protocol.EpochRecord) {
	if e.Pending != nil && e.Pending.Phase == protocol.PhasePropose {
		kv(s).Set(keyRecheck, store.Mark())
	}
}

// holdsKeys reports whether worker may hold keys of the current or pending
// epoch: it has a key role, or it was served one of them (a worker removed
// from its role keeps what it was served).
func holdsKeys(s store.KV, e *protocol.EpochRecord, worker []byte) bool {
	if _, _, ok := roleOf(s, worker); ok {
		return true
	}
	if _, ok := served(s, e.Current, worker); ok && e.Current > 0 {
		return true
	}
	if e.Pending != nil {
		_, ok := served(s, e.Pending.Epoch, worker)
		return ok
	}
	return false
}

// KeyChanged is the registry's hook: a worker registered a new boot's key,
// or stopped being active (expired, revoked). Whatever it held is gone for
// the chain's bookkeeping: a gatekeeper is no longer a holder, it is served
// nothing of the current or pending epoch, and a rotation being proposed
// is asked again without its old key. An active gatekeeper or member is
// served again at its new key. A revoked worker is presumed broken: a
// rotation retires whatever it may hold.
func KeyChanged(ctx *module.Context, rec *protocol.WorkerRecord) error {
	e := Epoch(ctx.State)
	if rec.Status == protocol.StatusRevoked && holdsKeys(ctx.State, &e, rec.Pubkey) {
		rotationDue(ctx.State, &e)
	}
	if _, _, ok := roleOf(ctx.State, rec.Pubkey); !ok {
		return nil
	}
	if rec.Status != protocol.StatusActive {
		leaving(ctx.State, &e, rec.Pubkey)
	}
	setHolder(ctx.State, rec.Pubkey, false)
	if e.Current > 0 {
		kv(ctx.State).Delete(join(prefixServed, u64(e.Current), rec.Pubkey))
	}
	if e.Pending != nil {
		// Sealed to the pending epoch at a key it no longer holds: it is
		// served again at activation.
		kv(ctx.State).Delete(join(prefixServed, u64(e.Pending.Epoch), rec.Pubkey))
	}
	kv(ctx.State).Delete(join(prefixAnnounce, rec.Pubkey))
	kv(ctx.State).Delete(join(prefixWait, rec.Pubkey))
	if err := refreeze(ctx, &e); err != nil {
		return err
	}
	if rec.Status != protocol.StatusActive {
		return nil
	}
	if e.Current > 0 && !e.Lost {
		role, cluster, _ := roleOf(ctx.State, rec.Pubkey)
		if _, has := e.ClusterKey(cluster); role == protocol.RoleGatekeeper || has {
			return serve(ctx, e.Current, rec.Pubkey)
		}
	}
	return nil
}
