package contracts

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// AuthorizeSender implements mq.Authorizer for the Contract origin: a
// contract speaks through the active members of its cluster, and only in
// its own namespace (its results, and the messages it emits). Every member
// computes the same messages; the first copy of each sequence to land is
// canonical, later copies are refused by mq as duplicates.
func (*Module) AuthorizeSender(ctx *module.Context, sm *protocol.SignedMessage) error {
	m := &sm.Message
	id := m.Origin.ID
	c, ok := Contract(ctx.State, id)
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownContract, "message from contract %x", id)
	}
	if wc, ok := keys.WorkerCluster(ctx.State, sm.Signer); !ok || !bytes.Equal(wc, c.Cluster) {
		return protocol.Errorf(protocol.ErrNotClusterWorker, "signer %x is not a member of cluster %x of contract %x", sm.Signer, c.Cluster, id)
	}
	if err := registry.CheckActive(ctx.State, sm.Signer, protocol.ErrNotClusterWorker, protocol.ErrNotClusterWorker); err != nil {
		return fmt.Errorf("member of contract %x's cluster: %w", id, err)
	}
	if m.Topic != protocol.ContractResultTopic(id) && !strings.HasPrefix(m.Topic, protocol.ContractOutputTopic(id, "")) {
		return protocol.Errorf(protocol.ErrBadContractMessage, "topic %q is neither contract %x's result topic nor one of its outputs", m.Topic, id)
	}
	return nil
}

// ObserveMessage implements mq.Observer: it records the results a
// contract's cluster reports and the contract keys members publish.
// Output messages are the contract's own business and pass unread.
func (*Module) ObserveMessage(ctx *module.Context, sm *protocol.SignedMessage) error {
	m := &sm.Message
	switch {
	case m.Origin.Kind == protocol.OriginContract && m.Topic == protocol.ContractResultTopic(m.Origin.ID):
		return result(ctx, m)
	case m.Origin.Kind == protocol.OriginWorker && m.Topic == protocol.TopicContractKeys:
		return publication(ctx, m)
	}
	return nil
}

func knownOutcome(o string) bool {
	switch o {
	case protocol.OutcomeOK, protocol.OutcomeError, protocol.OutcomeOutOfGas, protocol.OutcomeTrap, protocol.OutcomeBadInput:
		return true
	}
	return false
}

// result records an init's or a command's result: exactly one per init
// and per command. A genuine cluster never sends a second one (its members
// agree, and mq lets only one copy of each sequence number land), so a
// second one is refused.
func result(ctx *module.Context, m *protocol.Message) error {
	id := m.Origin.ID
	var r protocol.ContractResult
	if err := protocol.Unmarshal(m.Payload, &r); err != nil {
		return protocol.Errorf(protocol.ErrBadContractMessage, "result of contract %x: %v", id, err)
	}
	if !knownOutcome(r.Outcome) {
		return protocol.Errorf(protocol.ErrBadContractMessage, "result of contract %x: outcome %q", id, r.Outcome)
	}
	c, _ := Contract(ctx.State, id) // AuthorizeSender found it in this same submit
	switch r.Kind {
	case protocol.ResultInit:
		if r.Index != 0 {
			return protocol.Errorf(protocol.ErrBadContractMessage, "init result of contract %x with index %d", id, r.Index)
		}
		if c.Init != nil || c.Status != protocol.ContractPending {
			return protocol.Errorf(protocol.ErrBadContractMessage, "second init result of contract %x (status %s)", id, c.Status)
		}
		c.Init, c.Status = &r, protocol.ContractFailed
		if r.Outcome == protocol.OutcomeOK {
			c.Status = protocol.ContractActive
		}
		saveContract(ctx.State, &c, keys.Epoch(ctx.State).Current)
		return nil
	case protocol.ResultCommand:
		st, ok := Command(ctx.State, id, r.Index)
		if !ok {
			return protocol.Errorf(protocol.ErrBadContractMessage, "result for command %d of contract %x, which has %d commands", r.Index, id, c.Commands)
		}
		if st.Result != nil {
			return protocol.Errorf(protocol.ErrBadContractMessage, "second result for command %d of contract %x", r.Index, id)
		}
		st.Result, st.ResultHeight = &r, ctx.Block.Height
		write(ctx.State, commandKey(id, r.Index), &st)
		return nil
	}
	return protocol.Errorf(protocol.ErrBadContractMessage, "result of contract %x: kind %q", id, r.Kind)
}

// publication records the contract keys a cluster member publishes for an
// epoch: the first key for each (contract, epoch) wins. A malformed
// publication is refused; a well-formed one is never refused for what the
// chain knows, only partly ignored (a key for an unknown contract, another
// cluster's contract, an epoch that is neither current nor about to be, or
// one already recorded). A refusal would block every later message of the
// worker, and a member removed from its cluster may have one in flight.
func publication(ctx *module.Context, m *protocol.Message) error {
	worker := m.Origin.ID
	var p protocol.ContractKeys
	if err := protocol.Unmarshal(m.Payload, &p); err != nil {
		return protocol.Errorf(protocol.ErrBadContractMessage, "key publication of worker %x: %v", worker, err)
	}
	if len(p.Keys) > protocol.MaxKeysPerPublication {
		return protocol.Errorf(protocol.ErrBadContractMessage, "key publication of worker %x: %d keys, limit %d", worker, len(p.Keys), protocol.MaxKeysPerPublication)
	}
	for i, k := range p.Keys {
		if k.Epoch != p.Epoch {
			return protocol.Errorf(protocol.ErrBadContractMessage, "key publication of worker %x for epoch %d: key %d names epoch %d", worker, p.Epoch, i, k.Epoch)
		}
		if _, err := protocol.HPKEPublicKey(k.Pubkey); err != nil {
			return protocol.Errorf(protocol.ErrBadContractMessage, "key publication of worker %x: key %d: %v", worker, i, err)
		}
	}
	// The worker is active (the registry authorized its origin); only its
	// cluster, the same for every key, remains to be read.
	e := keys.Epoch(ctx.State)
	cluster, ok := keys.WorkerCluster(ctx.State, worker)
	if !ok || !publishable(&e, p.Epoch, cluster) {
		return nil
	}
	for _, k := range p.Keys {
		c, ok := Contract(ctx.State, k.Contract)
		if !ok || c.Status == protocol.ContractFailed || !bytes.Equal(c.Cluster, cluster) {
			continue
		}
		if _, has := c.KeyFor(p.Epoch); has {
			continue
		}
		c.Keys = append(c.Keys, protocol.ContractPubkey{Contract: c.ID, Epoch: p.Epoch, Pubkey: k.Pubkey})
		slices.SortFunc(c.Keys, func(a, b protocol.ContractPubkey) int { return cmp.Compare(a.Epoch, b.Epoch) })
		saveContract(ctx.State, &c, e.Current)
		kv(ctx.State).Set(keyEpochKey(p.Epoch, c.ID), store.Mark())
	}
	return nil
}

// publishable reports whether members of cluster may publish contract
// keys for epoch: the current epoch (unless its secret was lost), or the
// pending one once its proposal has landed (members hold its cluster keys
// then, and commands need its contract keys the moment it activates); and
// only if the cluster has a key in that epoch.
func publishable(e *protocol.EpochRecord, epoch uint64, cluster []byte) bool {
	switch {
	case e.Current > 0 && epoch == e.Current && !e.Lost:
		_, ok := e.ClusterKey(cluster)
		return ok
	case e.Pending != nil && e.Pending.Phase == protocol.PhaseActivating && epoch == e.Pending.Epoch:
		next := protocol.EpochRecord{Current: epoch, Clusters: e.Pending.Clusters} // the record once it activates
		_, ok := next.ClusterKey(cluster)
		return ok
	}
	return false
}
