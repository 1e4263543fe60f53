package runner

import (
	"bytes"
	"fmt"

	"github.com/phala-go/phala/protocol"
)

// Snapshot is the runner's checkpoint form. It holds the cluster's
// contract storage, which is confidential: it is only ever written inside
// a sealed checkpoint. It holds no key: contract keys derive from cluster
// seeds, which the keyring never checkpoints.
type Snapshot struct {
	Codes     []protocol.CodeUploaded `cbor:"codes"`
	Metas     []metaEntry             `cbor:"metas"`
	Contracts []instanceEntry         `cbor:"contracts"`
	Outbox    []outboxEntry           `cbor:"outbox"`
	Published []string                `cbor:"published"`
}

type metaEntry struct {
	ID   []byte `cbor:"id"`
	Meta meta   `cbor:"meta"`
}

type instanceEntry struct {
	ID       []byte  `cbor:"id"`
	Status   string  `cbor:"status"`
	Seed     []byte  `cbor:"seed"`
	Storage  []byte  `cbor:"storage"` // storageOf
	NextSeq  uint64  `cbor:"next_seq"`
	Inbox    []event `cbor:"inbox"`
	NeedFrom int64   `cbor:"need_from"`
}

type outboxEntry struct {
	Key string `cbor:"key"`
	Msg []byte `cbor:"msg"`
}

// Snapshot returns the committed state.
func (r *Runner) Snapshot() Snapshot {
	var s Snapshot
	for _, h := range r.codes.CommittedKeys() {
		c, _ := r.codes.CommittedGet(h)
		s.Codes = append(s.Codes, c)
	}
	for _, id := range r.metas.CommittedKeys() {
		m, _ := r.metas.CommittedGet(id)
		s.Metas = append(s.Metas, metaEntry{ID: []byte(id), Meta: m})
	}
	for _, id := range r.contracts.CommittedKeys() {
		inst, _ := r.contracts.CommittedGet(id)
		s.Contracts = append(s.Contracts, instanceEntry{ID: []byte(id), Status: inst.Status, Seed: inst.Seed[:], Storage: storageOf(inst.Tree), NextSeq: inst.NextSeq, Inbox: inst.Inbox, NeedFrom: inst.NeedFrom})
	}
	for _, k := range r.outbox.CommittedKeys() {
		v, _ := r.outbox.CommittedGet(k)
		s.Outbox = append(s.Outbox, outboxEntry{Key: k, Msg: v})
	}
	s.Published = r.published.CommittedKeys()
	return s
}

// Load restores the committed state from a checkpoint.
func (r *Runner) Load(s Snapshot) error {
	codes := map[string]protocol.CodeUploaded{}
	for _, c := range s.Codes {
		codes[string(c.Hash)] = c
	}
	metas := map[string]meta{}
	for _, m := range s.Metas {
		metas[string(m.ID)] = m.Meta
	}
	insts := map[string]instance{}
	for _, e := range s.Contracts {
		t, err := treeOf(e.Seed, e.Storage)
		if err != nil {
			return fmt.Errorf("runner: contract %x: %w", e.ID, err)
		}
		insts[string(e.ID)] = instance{Status: e.Status, Seed: [32]byte(e.Seed), Tree: t, NextSeq: e.NextSeq, Inbox: e.Inbox, NeedFrom: e.NeedFrom}
	}
	outbox := map[string][]byte{}
	for _, e := range s.Outbox {
		outbox[e.Key] = e.Msg
	}
	published := map[string]bool{}
	for _, k := range s.Published {
		published[k] = true
	}
	r.codes.Load(codes)
	r.metas.Load(metas)
	r.contracts.Load(insts)
	r.outbox.Load(outbox)
	r.published.Load(published)
	return nil
}

// clusterState is the plaintext of a state transfer: the storage and
// progress of every contract of the cluster, and the messages the serving
// member produced that have not landed yet (so that they land even if it
// stops).
type clusterState struct {
	Contracts []transferred `cbor:"contracts"`
}

type transferred struct {
	ID      []byte   `cbor:"id"`
	Status  string   `cbor:"status"`
	Seed    []byte   `cbor:"seed"`
	Storage []byte   `cbor:"storage"` // storageOf
	NextSeq uint64   `cbor:"next_seq"`
	Outbox  [][]byte `cbor:"outbox"`
}

// ClusterState encodes the view's contracts for a state transfer. Only a
// member whose every contract is live and caught up can serve.
func (v *View) ClusterState() ([]byte, error) {
	var s clusterState
	for _, st := range v.Statuses() {
		c := v.Contracts[string(st.ID)]
		if !c.Live || c.Height != v.Height {
			return nil, protocol.Errorf(protocol.ErrStateUnavailable, "contract %x is catching up here (state at %d, view at %d, live %v)", c.ID, c.Height, v.Height, c.Live)
		}
		s.Contracts = append(s.Contracts, transferred{ID: c.ID, Status: c.Status, Seed: c.Seed[:], Storage: storageOf(c.Tree), NextSeq: c.NextSeq, Outbox: c.Outbox})
	}
	return protocol.Marshal(&s)
}

// Install applies a state transfer's plaintext, as of block height, to
// the contracts waiting for one, within the block transaction of the
// caller (which verified who sent it and that height is on its chain). It
// returns how many contracts it brought back.
func (r *Runner) Install(height int64, plain []byte) (int, error) {
	var s clusterState
	if err := protocol.Unmarshal(plain, &s); err != nil {
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "content: %v", err)
	}
	if err := s.check(); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range s.Contracts {
		inst, ok := r.contracts.Get(string(c.ID))
		if !ok || inst.NeedFrom == 0 {
			continue // not this cluster's, or live here
		}
		if height < inst.NeedFrom {
			return 0, protocol.Errorf(protocol.ErrStateTransfer, "contract %x needs state of height %d or later, got %d", c.ID, inst.NeedFrom, height)
		}
		t, err := treeOf(c.Seed, c.Storage)
		if err != nil {
			return 0, protocol.Errorf(protocol.ErrStateTransfer, "contract %x: %v", c.ID, err)
		}
		inst.Tree, inst.Seed, inst.Status, inst.NextSeq, inst.NeedFrom = t, [32]byte(c.Seed), c.Status, c.NextSeq, 0
		var rest []event
		for _, ev := range inst.Inbox {
			if ev.Height > height {
				rest = append(rest, ev)
			}
		}
		inst.Inbox = rest
		r.contracts.Set(string(c.ID), inst)
		origin := protocol.ContractOrigin(c.ID)
		for _, raw := range c.Outbox {
			var sm protocol.SignedMessage
			if err := protocol.Unmarshal(raw, &sm); err != nil || !bytes.Equal(sm.Message.Origin.Key(), origin.Key()) || sm.Message.Seq >= c.NextSeq {
				return 0, protocol.Errorf(protocol.ErrStateTransfer, "contract %x: a pending message that is not the contract's", c.ID)
			}
			if sm.Message.Seq >= r.cfg.Dispatch.PendingNextSeq(origin) {
				r.outbox.Set(outboxKey(c.ID, sm.Message.Seq), raw)
			}
		}
		if err := r.advance(c.ID); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, protocol.Errorf(protocol.ErrStateNotNeeded, "the transfer holds no contract this worker waits for")
	}
	return n, nil
}

// check refuses a transfer's content that no member's view encodes: a
// contract id that is not 32 bytes or appears twice, an unknown status,
// a storage seed that is not 32 bytes.
func (s *clusterState) check() error {
	seen := make(map[string]bool, len(s.Contracts))
	for i, c := range s.Contracts {
		switch {
		case len(c.ID) != 32:
			return protocol.Errorf(protocol.ErrStateTransfer, "contract %d: id of %d bytes", i, len(c.ID))
		case seen[string(c.ID)]:
			return protocol.Errorf(protocol.ErrStateTransfer, "contract %x appears twice", c.ID)
		case c.Status != protocol.ContractPending && c.Status != protocol.ContractActive && c.Status != protocol.ContractFailed:
			return protocol.Errorf(protocol.ErrStateTransfer, "contract %x: status %q", c.ID, c.Status)
		case len(c.Seed) != 32:
			return protocol.Errorf(protocol.ErrStateTransfer, "contract %x: storage seed of %d bytes", c.ID, len(c.Seed))
		}
		seen[string(c.ID)] = true
	}
	return nil
}
