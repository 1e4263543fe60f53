package runner

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cometbft/cometbft/crypto/merkle"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/protocol"
)

// View is an immutable picture of the cluster's contracts after a block.
// Readers that must never wait for sync (queries, state transfers) use the
// latest one while sync builds the next: storage trees are persistent, so
// a view costs one small struct per contract.
type View struct {
	// Height is the last block applied.
	Height    int64
	Cluster   []byte
	Contracts map[string]*ContractView
	// Root commits to every contract's state (see Root).
	Root []byte
}

// ContractView is one contract in a View.
type ContractView struct {
	ID      []byte
	code    *lazyCode
	Status  string
	Seed    [32]byte // keys Tree's shape; secret, handed only to members
	Tree    kvtree.Tree
	NextSeq uint64
	// Height is the last block whose events the storage reflects: the
	// view's height, or less while the contract waits for keys.
	Height int64
	// Live is false while the contract waits for a state transfer.
	Live bool
	// Waiting is true while events wait in its inbox for their epoch's
	// key: the storage is then that of Height, behind the view's.
	Waiting bool
	Outbox  [][]byte // its pending messages (canonical SignedMessages)
}

// View builds the view of the committed state after block height. Call it
// with the runtime's lock held, between blocks.
func (r *Runner) View(height int64, cluster []byte) *View {
	v := &View{Height: height, Cluster: cluster, Contracts: map[string]*ContractView{}}
	for _, id := range r.contracts.CommittedKeys() {
		inst, _ := r.contracts.CommittedGet(id)
		m, _ := r.metas.CommittedGet(id)
		cv := &ContractView{ID: []byte(id), Status: inst.Status, Seed: inst.Seed, Tree: inst.Tree, NextSeq: inst.NextSeq, Height: height, Live: inst.NeedFrom == 0}
		if len(inst.Inbox) > 0 {
			cv.Height, cv.Waiting = inst.Inbox[0].Height-1, cv.Live
		}
		cv.code, _ = r.lazy(m.Code)
		prefix := outboxPrefix([]byte(id))
		for _, k := range r.outbox.CommittedKeys() {
			if strings.HasPrefix(k, prefix) {
				msg, _ := r.outbox.CommittedGet(k)
				cv.Outbox = append(cv.Outbox, msg)
			}
		}
		v.Contracts[id] = cv
	}
	v.Root = v.root()
	return v
}

// root is the Merkle root (CometBFT's merkle.HashFromByteSlices) of the
// contracts sorted by id, each leaf SHA-256(id ‖ storage root ‖ next
// sequence ‖ live). Two members agree on it exactly when they agree on
// every contract's storage and progress.
func (v *View) root() []byte {
	var leaves [][]byte
	for _, id := range slices.Sorted(maps.Keys(v.Contracts)) {
		c := v.Contracts[id]
		r := c.Tree.Root()
		h := sha256.New()
		h.Write(c.ID)
		h.Write(r[:])
		h.Write(protocol.MustMarshal(c.NextSeq))
		if c.Live {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
		leaves = append(leaves, h.Sum(nil))
	}
	return merkle.HashFromByteSlices(leaves)
}

// Code returns the contract's compiled module, compiling it on first use.
func (c *ContractView) Code() (*contract.Code, error) {
	if c.code == nil {
		return nil, fmt.Errorf("runner: contract %x has no code", c.ID)
	}
	return c.code.get()
}

// Contract returns a contract of the view.
func (v *View) Contract(id []byte) (*ContractView, bool) {
	c, ok := v.Contracts[string(id)]
	return c, ok
}

// InCluster reports whether the view's cluster is cluster.
func (v *View) InCluster(cluster []byte) bool {
	return v.Cluster != nil && bytes.Equal(v.Cluster, cluster)
}

// Statuses lists the view's contracts in id order.
func (v *View) Statuses() []protocol.WorkerContract {
	var out []protocol.WorkerContract
	for _, id := range slices.Sorted(maps.Keys(v.Contracts)) {
		c := v.Contracts[id]
		root := c.Tree.Root()
		out = append(out, protocol.WorkerContract{ID: c.ID, Status: c.Status, StateRoot: root[:], Height: c.Height, Live: c.Live, WaitingForKeys: c.Waiting, NextSeq: c.NextSeq, Pending: len(c.Outbox)})
	}
	return out
}

// NeedsState reports whether any contract waits for a state transfer.
func (v *View) NeedsState() bool {
	for _, c := range v.Contracts {
		if !c.Live {
			return true
		}
	}
	return false
}
