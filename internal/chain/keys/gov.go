package keys

import (
	"bytes"
	"slices"

	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/protocol"
)

// GovActions are the governance actions of the keys module.
func (m *Module) GovActions() map[string]governance.ActionHandler {
	return map[string]governance.ActionHandler{
		protocol.ActionAddGatekeeper:           addGatekeeper,
		protocol.ActionRemoveGatekeeper:        removeGatekeeper,
		protocol.ActionCreateCluster:           createCluster,
		protocol.ActionAddWorkerToCluster:      addToCluster,
		protocol.ActionRemoveWorkerFromCluster: removeFromCluster,
		protocol.ActionRotate:                  rotate,
	}
}

func announceGatekeepers(ctx *module.Context) error {
	return emit(ctx, protocol.TopicGatekeepers, &protocol.GatekeeperSet{Gatekeepers: Gatekeepers(ctx.State)})
}

// addGatekeeper makes a registered worker a gatekeeper. The first one
// starts epoch 1; later ones are handed the current epoch secret.
func addGatekeeper(ctx *module.Context, raw []byte) error {
	var a protocol.WorkerArgs
	if err := module.DecodeArgs(protocol.ActionAddGatekeeper, raw, &a); err != nil {
		return err
	}
	if err := registry.CheckActive(ctx.State, a.Worker, protocol.ErrNotRegisteredWorker, protocol.ErrNotRegisteredWorker); err != nil {
		return err
	}
	if IsGatekeeper(ctx.State, a.Worker) {
		return protocol.Errorf(protocol.ErrAlreadyGatekeeper, "%x", a.Worker)
	}
	if workerCluster(ctx.State, a.Worker) != nil {
		return protocol.Errorf(protocol.ErrClusterMembership, "worker %x is in a cluster; remove it first", a.Worker)
	}
	first := len(Gatekeepers(ctx.State)) == 0
	write(ctx.State, join(prefixGatekeeper, a.Worker), &gatekeeperEntry{})
	if err := announceGatekeepers(ctx); err != nil {
		return err
	}
	e := Epoch(ctx.State)
	if err := refreeze(ctx, &e); err != nil {
		return err
	}
	switch {
	case first && e.Pending == nil:
		return requestRotation(ctx, &e, e.Current > 0 && e.Lost)
	case e.Current > 0 && !e.Lost:
		return serve(ctx, e.Current, a.Worker)
	}
	return nil
}

// removeGatekeeper takes a worker's gatekeeper power away at once: its
// messages are refused from the next transaction on, and no epoch whose
// proposal lands from now on is sealed to it. It keeps what it was served
// until a rotation retires it (one follows by itself only if it was sealed
// the pending epoch).
func removeGatekeeper(ctx *module.Context, raw []byte) error {
	var a protocol.WorkerArgs
	if err := module.DecodeArgs(protocol.ActionRemoveGatekeeper, raw, &a); err != nil {
		return err
	}
	if !IsGatekeeper(ctx.State, a.Worker) {
		return protocol.Errorf(protocol.ErrNotAGatekeeper, "%x", a.Worker)
	}
	if len(Gatekeepers(ctx.State)) == 1 {
		return protocol.Errorf(protocol.ErrLastGatekeeper, "%x", a.Worker)
	}
	kv(ctx.State).Delete(join(prefixGatekeeper, a.Worker))
	if err := announceGatekeepers(ctx); err != nil {
		return err
	}
	return left(ctx, a.Worker)
}

// left follows a worker out of its key role: if the pending epoch was
// already sealed to it, another rotation is due; if the gatekeepers are
// proposing, they are asked again without it.
func left(ctx *module.Context, worker []byte) error {
	e := Epoch(ctx.State)
	leaving(ctx.State, &e, worker)
	return refreeze(ctx, &e)
}

func announceCluster(ctx *module.Context, c *protocol.ClusterUpdate) error {
	write(ctx.State, join(prefixCluster, c.Cluster), c)
	return emit(ctx, protocol.TopicClusters, c)
}

func createCluster(ctx *module.Context, raw []byte) error {
	var a protocol.ClusterArgs
	if err := module.DecodeArgs(protocol.ActionCreateCluster, raw, &a); err != nil {
		return err
	}
	if len(a.Name) == 0 || len(a.Name) > 64 {
		return protocol.Errorf(protocol.ErrClusterMembership, "cluster name of %d bytes", len(a.Name))
	}
	id := protocol.ClusterID(a.Name)
	if _, ok := Cluster(ctx.State, id); ok {
		return protocol.Errorf(protocol.ErrClusterMembership, "cluster %q exists", a.Name)
	}
	if err := announceCluster(ctx, &protocol.ClusterUpdate{Cluster: id, Name: a.Name, Members: [][]byte{}}); err != nil {
		return err
	}
	// A cluster created after the epoch began has no key in it yet: rotate
	// to give it one. (Cluster keys are only published in proposals; a
	// rotation being proposed is asked again with it.)
	e := Epoch(ctx.State)
	if e.Current > 0 && e.Pending == nil {
		return requestRotation(ctx, &e, false)
	}
	return refreeze(ctx, &e)
}

// addToCluster puts a registered worker in a cluster (one cluster per
// worker) and has the gatekeepers hand it the cluster's key.
func addToCluster(ctx *module.Context, raw []byte) error {
	var a protocol.ClusterArgs
	if err := module.DecodeArgs(protocol.ActionAddWorkerToCluster, raw, &a); err != nil {
		return err
	}
	c, ok := Cluster(ctx.State, protocol.ClusterID(a.Name))
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownCluster, "%q", a.Name)
	}
	if err := registry.CheckActive(ctx.State, a.Worker, protocol.ErrNotRegisteredWorker, protocol.ErrNotRegisteredWorker); err != nil {
		return err
	}
	if workerCluster(ctx.State, a.Worker) != nil || IsGatekeeper(ctx.State, a.Worker) {
		return protocol.Errorf(protocol.ErrClusterMembership, "worker %x is already a gatekeeper or in a cluster", a.Worker)
	}
	c.Members = append(c.Members, a.Worker)
	slices.SortFunc(c.Members, bytes.Compare)
	kv(ctx.State).Set(join(prefixWorkerCl, a.Worker), c.Cluster)
	if err := announceCluster(ctx, &c); err != nil {
		return err
	}
	e := Epoch(ctx.State)
	if err := refreeze(ctx, &e); err != nil {
		return err
	}
	if _, has := e.ClusterKey(c.Cluster); e.Current > 0 && !e.Lost && has {
		return serve(ctx, e.Current, a.Worker)
	}
	return nil
}

func removeFromCluster(ctx *module.Context, raw []byte) error {
	var a protocol.ClusterArgs
	if err := module.DecodeArgs(protocol.ActionRemoveWorkerFromCluster, raw, &a); err != nil {
		return err
	}
	c, ok := Cluster(ctx.State, protocol.ClusterID(a.Name))
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownCluster, "%q", a.Name)
	}
	i := slices.IndexFunc(c.Members, func(w []byte) bool { return bytes.Equal(w, a.Worker) })
	if i < 0 {
		return protocol.Errorf(protocol.ErrClusterMembership, "worker %x is not in %q", a.Worker, a.Name)
	}
	c.Members = slices.Delete(c.Members, i, i+1)
	kv(ctx.State).Delete(join(prefixWorkerCl, a.Worker))
	if err := announceCluster(ctx, &c); err != nil {
		return err
	}
	return left(ctx, a.Worker)
}

// rotate asks for a rotation now (governance). While an epoch activates
// (its proposal landed, sealed to whoever was a recipient then), it asks
// for another one right after activation. While a rotation is announcing
// or proposing, it is refused: that rotation already leaves out every
// worker that is gone when its proposal lands.
func rotate(ctx *module.Context, raw []byte) error {
	var a protocol.RotateArgs
	if err := module.DecodeArgs(protocol.ActionRotate, raw, &a); err != nil {
		return err
	}
	e := Epoch(ctx.State)
	switch {
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseActivating:
		rotationDue(ctx.State, &e)
		return nil
	case e.Pending != nil:
		return protocol.Errorf(protocol.ErrRotationPending, "epoch %d is in phase %s; it will be sealed only to the gatekeepers and members current when its proposal lands", e.Pending.Epoch, e.Pending.Phase)
	}
	if len(Gatekeepers(ctx.State)) == 0 {
		return protocol.Errorf(protocol.ErrNoGatekeepers, "add a gatekeeper first")
	}
	return requestRotation(ctx, &e, false)
}
