package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// instance is this worker's copy of one of its cluster's contracts. It is
// a value in a transactional table: every change builds a new value (the
// storage tree is persistent; slices are never written in place).
type instance struct {
	Status string      // pending until its init ran here (or arrived by transfer), then active or failed
	Tree   kvtree.Tree // storage, keyed by Seed
	// Seed keys the storage tree's shape (kvtree.Keyed). It derives from
	// the contract key at init, is the same on every member and is never
	// shown to the contract.
	Seed    [32]byte
	NextSeq uint64  // sequence of the next Contract(id) message
	Inbox   []event // events not run yet, in chain order
	// NeedFrom > 0 marks a stale contract: it can only continue from a
	// state transfer of a height ≥ NeedFrom.
	NeedFrom int64
}

// event is an init or a command, as the chain ordered it.
type event struct {
	Height     int64            `cbor:"height"`
	Time       int64            `cbor:"time"` // verified block time, Unix nanoseconds
	Kind       string           `cbor:"kind"` // protocol.ResultInit or ResultCommand
	Index      uint64           `cbor:"index"`
	Epoch      uint64           `cbor:"epoch"`
	Sender     protocol.Address `cbor:"sender"`
	GasLimit   uint64           `cbor:"gas_limit"`
	Ciphertext []byte           `cbor:"ciphertext"`
}

// advance runs the contract's inbox from its head for as long as the keys
// of the events' epochs are at hand.
func (r *Runner) advance(id []byte) error {
	inst, ok := r.contracts.Get(string(id))
	if !ok {
		return nil
	}
	m, _ := r.metas.Get(string(id))
	ran := false
	for inst.NeedFrom == 0 && len(inst.Inbox) > 0 {
		ev := inst.Inbox[0]
		seed, ok := r.cfg.Keyring.ClusterSeed(ev.Epoch, m.Cluster)
		if !ok {
			break // the key may still come; retire decides when it cannot
		}
		if err := r.run(id, &m, &inst, &ev, seed); errors.Is(err, errNoCode) {
			// This pRuntime lacks the code (it resumed from a checkpoint
			// that predates it): it must not answer differently from the
			// members that have it. Wait for a state transfer instead.
			r.log.Error("contract code missing here; waiting for a state transfer", "contract", fmt.Sprintf("%x", id))
			inst.NeedFrom = ev.Height
			break
		} else if err != nil {
			return fmt.Errorf("runner: contract %x %s %d: %w", id, ev.Kind, ev.Index, err)
		}
		inst.Inbox = inst.Inbox[1:]
		ran = true
	}
	if len(inst.Inbox) == 0 {
		inst.Inbox = nil
	}
	r.contracts.Set(string(id), inst)
	if ran && inst.Status == protocol.ContractActive {
		return r.publishKeys([][]byte{id})
	}
	return nil
}

// run executes one event and queues its result (and emitted messages).
func (r *Runner) run(id []byte, m *meta, inst *instance, ev *event, clusterSeed []byte) error {
	res := protocol.ContractResult{Kind: ev.Kind, Index: ev.Index}
	contractSeed := protocol.ContractSeed(clusterSeed, id)
	var emitted []contract.Emitted
	switch {
	case inst.Status == protocol.ContractFailed:
		// The chain refuses commands to a failed instance; nothing can come.
		return nil
	case ev.Kind == protocol.ResultCommand && inst.Status != protocol.ContractActive:
		// The chain takes commands only for an instance whose init
		// succeeded, and a member runs events in order, so this does not
		// happen. Were it to, halting sync would stop the worker for good:
		// skip, and let the other members answer.
		r.log.Error("a command reached an instance whose init did not run here", "contract", fmt.Sprintf("%x", id), "index", ev.Index, "status", inst.Status)
		return nil
	}
	if ev.Kind == protocol.ResultInit {
		inst.Seed = [32]byte(protocol.DeriveSeed(contractSeed, "storage", nil))
		inst.Tree = kvtree.Keyed(inst.Seed)
	}
	input, secret, entry, err := r.open(id, m, ev, clusterSeed, contractSeed)
	if err != nil {
		res.Outcome, res.Reason = protocol.OutcomeBadInput, "the ciphertext does not open under the contract's key"
	} else {
		out, err := r.execute(id, m, inst, ev, entry, input, contractSeed)
		if err != nil {
			return err
		}
		res.Outcome, res.Reason, res.GasUsed = out.Outcome, out.Reason, out.GasUsed
		if out.Outcome == protocol.OutcomeOK || out.Outcome == protocol.OutcomeError {
			res.Reply = protocol.SealReply(secret, protocol.ReplyAAD(id, ev.Kind, ev.Index), out.Output)
		}
		if out.Outcome == protocol.OutcomeOK {
			emitted = out.Emitted
		}
	}
	if ev.Kind == protocol.ResultInit {
		inst.Status = protocol.ContractFailed
		if res.Outcome == protocol.OutcomeOK {
			inst.Status = protocol.ContractActive
		}
	}
	root := inst.Tree.Root()
	res.StateRoot, res.Emitted = root[:], uint32(len(emitted))
	r.emit(id, inst, protocol.ContractResultTopic(id), protocol.MustMarshal(&res))
	for _, e := range emitted {
		r.emit(id, inst, protocol.ContractOutputTopic(id, e.Suffix), e.Payload)
	}
	if r.cfg.Observe != nil {
		r.cfg.Observe(id, ev.Epoch, &res)
	}
	return nil
}

// open decrypts an event's input: init arguments are sealed to the
// cluster's key, commands to the contract's.
func (r *Runner) open(id []byte, m *meta, ev *event, clusterSeed, contractSeed []byte) (input, secret []byte, entry contract.Entry, err error) {
	seed, info, entry := contractSeed, protocol.ContractCommandInfo(r.cfg.ChainID, id, ev.Epoch), contract.EntryCommand
	if ev.Kind == protocol.ResultInit {
		seed, info, entry = clusterSeed, protocol.ContractInitInfo(r.cfg.ChainID, id, m.Cluster, ev.Epoch), contract.EntryInit
	}
	priv, err := protocol.DeriveKeyPair(seed)
	if err != nil {
		return nil, nil, 0, err
	}
	input, secret, err = protocol.HPKEOpenExport(priv, info, ev.Sender[:], ev.Ciphertext)
	return input, secret, entry, err
}

// execute runs the handler in the engine against an overlay of the
// contract's storage, keeping the writes only if it succeeded.
func (r *Runner) execute(id []byte, m *meta, inst *instance, ev *event, entry contract.Entry, input, contractSeed []byte) (*contract.Result, error) {
	code, err := r.code(m.Code)
	if err != nil {
		if _, ok := protocol.CodeOf(err); !ok {
			return nil, err
		}
		// The chain validated this code with the same rules, so this does
		// not happen; if it does, every member fails the same way.
		return &contract.Result{Outcome: protocol.OutcomeTrap, Reason: "invalid module"}, nil
	}
	overlay := kvtree.NewOverlay(inst.Tree)
	call := &contract.Call{
		Entry: entry, Input: input, Caller: ev.Sender, Height: ev.Height, Time: timeOf(ev.Time),
		GasLimit: ev.GasLimit, Store: overlay, Debug: r.cfg.Debug,
		Seed: [32]byte(protocol.DeriveSeed(contractSeed, "random", fmt.Appendf(nil, "%s/%d/%d", ev.Kind, ev.Index, ev.Height))),
	}
	copy(call.Contract[:], id)
	// Commands never run against a deadline: every member must finish the
	// same work. Gas bounds it.
	out, err := r.cfg.Engine.Run(context.Background(), code, call)
	if err != nil {
		return nil, err
	}
	if out.Outcome == protocol.OutcomeOK {
		inst.Tree = overlay.Tree()
	}
	return out, nil
}

// emit signs a Contract(id) message under the contract's next sequence
// number and queues it, unless a member's copy already landed.
func (r *Runner) emit(id []byte, inst *instance, topic string, payload []byte) {
	seq := inst.NextSeq
	inst.NextSeq++
	if seq < r.cfg.Dispatch.PendingNextSeq(protocol.ContractOrigin(id)) {
		return
	}
	sm := protocol.SignMessage(r.cfg.Identity, r.cfg.ChainID, protocol.Message{Origin: protocol.ContractOrigin(id), Topic: topic, Seq: seq, Payload: payload})
	r.outbox.Set(outboxKey(id, seq), protocol.MustMarshal(&sm))
}

// errNoCode: a code this pRuntime never saw uploaded.
var errNoCode = errors.New("runner: code never seen uploaded")

// code returns a compiled module.
func (r *Runner) code(hash []byte) (*contract.Code, error) {
	l, err := r.lazy(hash)
	if err != nil {
		return nil, err
	}
	return l.get()
}

// lazy returns the module's compiler, made once per code hash.
func (r *Runner) lazy(hash []byte) (*lazyCode, error) {
	if l, ok := r.compiled[string(hash)]; ok {
		return l, nil
	}
	up, ok := r.codes.Get(string(hash))
	if !ok {
		up, ok = r.codes.CommittedGet(string(hash))
	}
	if !ok {
		return nil, fmt.Errorf("%w: %x", errNoCode, hash)
	}
	l := &lazyCode{engine: r.cfg.Engine, up: up}
	r.compiled[string(hash)] = l
	return l, nil
}

// lazyCode compiles a module on first use, once, for whichever goroutine
// needs it first: sync running an event, or a query. A worker that never
// runs a code (a replay, a worker outside its cluster) never pays for it.
type lazyCode struct {
	once   sync.Once
	engine *contract.Engine
	up     protocol.CodeUploaded
	code   *contract.Code
	err    error
}

func (l *lazyCode) get() (*contract.Code, error) {
	l.once.Do(func() {
		wasm, err := protocol.DecompressCode(l.up.Compression, l.up.Code, abi.MaxCodeBytes)
		if err != nil {
			l.err = err
			return
		}
		l.code, l.err = l.engine.Compile(context.Background(), wasm)
	})
	return l.code, l.err
}

// publishKeys publishes the public keys of the given contracts for every
// epoch (current, and a pending one) whose cluster seed this member holds,
// unless already published.
func (r *Runner) publishKeys(ids [][]byte) error {
	v := r.cfg.Keyring.Epoch()
	for _, epoch := range []uint64{v.Current, v.Pending} {
		if epoch == 0 {
			continue
		}
		var keys []protocol.ContractPubkey
		for _, id := range ids {
			m, _ := r.metas.Get(string(id))
			if _, done := r.published.Get(pubKey(id, epoch)); done {
				continue
			}
			seed, ok := r.cfg.Keyring.ClusterSeed(epoch, m.Cluster)
			if !ok {
				continue
			}
			pk, err := protocol.DerivePublicKey(protocol.ContractSeed(seed, id))
			if err != nil {
				return err
			}
			keys = append(keys, protocol.ContractPubkey{Contract: id, Epoch: epoch, Pubkey: pk})
			r.published.Set(pubKey(id, epoch), true)
		}
		for batch := range slices.Chunk(keys, protocol.MaxKeysPerPublication) {
			if err := r.cfg.Egress.Emit(protocol.TopicContractKeys, protocol.MustMarshal(&protocol.ContractKeys{Epoch: epoch, Keys: batch})); err != nil {
				return err
			}
		}
	}
	return nil
}

func timeOf(nanos int64) time.Time { return time.Unix(0, nanos).UTC() }

// OnSeed is the keyring's hook: this member now holds the cluster seed of
// epoch. It publishes its contracts' keys for the epoch and runs what
// waited for it.
func (r *Runner) OnSeed(epoch uint64, cluster []byte) error {
	var active [][]byte
	for _, id := range r.contracts.Keys() {
		inst, _ := r.contracts.Get(id)
		if inst.Status == protocol.ContractActive {
			active = append(active, []byte(id))
		}
	}
	if err := r.publishKeys(active); err != nil {
		return err
	}
	for _, id := range r.contracts.Keys() {
		if err := r.advance([]byte(id)); err != nil {
			return err
		}
	}
	return nil
}
