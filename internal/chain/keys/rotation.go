package keys

import (
	"bytes"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// requestRotation opens a rotation to epoch Current+1: members have
// AnnounceWindow blocks to announce fresh encryption keys, then the
// gatekeepers are asked for a proposal. emergency marks a rotation forced
// by the loss of the current secret.
func requestRotation(ctx *module.Context, e *protocol.EpochRecord, emergency bool) error {
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

// askForProposal freezes the recipients of the pending epoch (announced
// keys where announced) and asks the gatekeepers to propose. It is asked
// again whenever the recipients change before a proposal lands (a
// gatekeeper came back, a member restarted).
func askForProposal(ctx *module.Context, e *protocol.EpochRecord) error {
	p := e.Pending
	p.Phase = protocol.PhasePropose
	p.Recipients = recipients(ctx.State, p.Epoch)
	p.ClusterIDs = nil
	for _, c := range clusters(ctx.State) {
		p.ClusterIDs = append(p.ClusterIDs, c.Cluster)
	}
	saveEpoch(ctx.State, e)
	return emit(ctx, protocol.TopicRotation, &protocol.RotationEvent{Epoch: p.Epoch, Phase: protocol.PhasePropose, Emergency: p.Emergency, Recipients: p.Recipients, ClusterIDs: p.ClusterIDs})
}

// EndBlock moves rotations along: automatic triggers, the end of the
// announce window, activation, and the detection of a lost secret.
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
	case e.Pending == nil && e.Current > 0 && ctx.Params.RotationInterval > 0 && h >= e.ActivatedAt+int64(ctx.Params.RotationInterval):
		return requestRotation(ctx, &e, false)
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseAnnounce && h >= e.Pending.ProposeAt:
		if len(activeGatekeepers(ctx.State)) == 0 {
			return nil // wait for a gatekeeper to come back
		}
		return askForProposal(ctx, &e)
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
// previous epoch's keys and its previous encryption key. Members that were
// not served (they missed the window) are served now, at their current
// key.
func activate(ctx *module.Context, e *protocol.EpochRecord) error {
	p := e.Pending
	old := e.Current
	e.Current, e.ActivatedAt, e.Clusters, e.Lost, e.Pending = p.Epoch, ctx.Block.Height, p.Clusters, false, nil
	saveEpoch(ctx.State, e)
	for _, gk := range Gatekeepers(ctx.State) {
		_, ok := served(ctx.State, e.Current, gk)
		setHolder(ctx.State, gk, ok)
	}
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
	if old > 0 {
		prefix := join(prefixServed, u64(old))
		var stale [][]byte
		kv(ctx.State).Iterate(prefix, store.PrefixEnd(prefix), func(k, _ []byte) bool {
			stale = append(stale, append([]byte(nil), k...))
			return true
		})
		for _, k := range stale {
			kv(ctx.State).Delete(k)
		}
	}
	if err := emit(ctx, protocol.TopicRotation, &protocol.RotationEvent{Epoch: e.Current, Phase: protocol.PhaseActivated, Clusters: e.Clusters}); err != nil {
		return err
	}
	var unserved []protocol.Recipient
	for _, r := range recipients(ctx.State, e.Current) {
		_, wasServed := served(ctx.State, e.Current, r.Worker)
		if _, has := e.ClusterKey(r.Cluster); !wasServed && (r.Role == protocol.RoleGatekeeper || has) {
			unserved = append(unserved, r)
		}
	}
	clearWaits(ctx.State)
	if len(unserved) > 0 {
		for _, r := range unserved {
			waiting(ctx.State, r.Worker, ctx.Block.Height)
		}
		if err := emit(ctx, protocol.TopicServe, &protocol.ServeEvent{Epoch: e.Current, Recipients: unserved}); err != nil {
			return err
		}
	}
	// A cluster created while this epoch was being proposed has no key in
	// it: rotate again so that it gets one.
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

// KeyChanged is the registry's hook: a worker registered a new boot's key,
// or stopped being active. Whatever it held is gone; a gatekeeper is no
// longer a holder, and an active gatekeeper or member is served again.
func KeyChanged(ctx *module.Context, rec *protocol.WorkerRecord) error {
	if _, _, ok := roleOf(ctx.State, rec.Pubkey); !ok {
		return nil
	}
	e := Epoch(ctx.State)
	setHolder(ctx.State, rec.Pubkey, false)
	if e.Current > 0 {
		kv(ctx.State).Delete(join(prefixServed, u64(e.Current), rec.Pubkey))
	}
	kv(ctx.State).Delete(join(prefixAnnounce, rec.Pubkey))
	kv(ctx.State).Delete(join(prefixWait, rec.Pubkey))
	if rec.Status != protocol.StatusActive {
		return nil
	}
	if e.Pending != nil && e.Pending.Phase == protocol.PhasePropose {
		// The frozen recipients name a key this worker no longer holds.
		if err := askForProposal(ctx, &e); err != nil {
			return err
		}
	}
	if e.Current > 0 && !e.Lost {
		role, cluster, _ := roleOf(ctx.State, rec.Pubkey)
		if _, has := e.ClusterKey(cluster); role == protocol.RoleGatekeeper || has {
			return serve(ctx, e.Current, rec.Pubkey)
		}
	}
	return nil
}
