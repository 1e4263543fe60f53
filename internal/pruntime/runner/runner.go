// Package runner executes the confidential contracts of this worker's
// cluster, in chain order, on verified blocks (DESIGN section 4.4). It
// follows the contracts module's messages (code, instances, commands), keeps
// each contract's storage, an inbox of events it cannot run yet, and the
// contract-origin messages (results, emitted messages) it produced until
// the chain shows them landed; it publishes its cluster's contract keys.
//
// Every member of a cluster computes the same results from the same
// commands, so the messages it signs under the origin Contract(id) are the
// same bytes (up to the signature) as every other member's: the first copy
// of each sequence number to land is canonical.
//
// A command needs its epoch's cluster key. A member that does not hold it
// (restarted, served late) keeps the command in the contract's inbox and
// runs it once the key arrives; if the epoch is retired first, the key is
// gone for good and the contract is stale: it waits for an attested state
// transfer from another member (transfer.go). Keys and seeds never leave
// the keyring; nothing here is secret but the contracts' storage, which is
// only ever written to sealed checkpoints and state transfers encrypted to
// a member.
package runner

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/internal/pruntime/keyring"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// MaxInbox bounds a contract's inbox. A contract whose inbox overflows
// cannot catch up by itself and becomes stale.
const MaxInbox = 10_000

// Config wires a runner.
type Config struct {
	ChainID  string
	Identity ed25519.PrivateKey
	Engine   *contract.Engine
	Keyring  *keyring.Keyring
	Dispatch *dispatch.Engine
	Egress   *egress.Queue
	Logger   *slog.Logger
	// Debug routes contracts' debug output to Logger (the sim TEE only).
	Debug bool
	// Observe, if set, is told of every result this worker computes, with
	// the epoch of the event's key. It is called while a block is applied,
	// also for blocks that are then rolled back.
	Observe func(id []byte, epoch uint64, r *protocol.ContractResult)
}

// Runner runs the cluster's contracts.
type Runner struct {
	cfg Config
	pub []byte
	log *slog.Logger

	codes     *state.Map[string, protocol.CodeUploaded] // by code hash
	metas     *state.Map[string, meta]                  // every instance on chain, by id
	contracts *state.Map[string, instance]              // this cluster's instances, by id
	outbox    *state.Map[string, []byte]                // outboxKey(id, seq) -> canonical SignedMessage
	published *state.Map[string, bool]                  // pubKey(id, epoch): a key landed or is on its way

	// compiled holds a compiler per code hash. Compiling is a pure
	// function of the code, so it needs no transaction. The map is used
	// with the runtime's lock held; the compilers are safe anywhere.
	compiled map[string]*lazyCode
}

// meta is what every pRuntime knows of an instance: enough to join its
// cluster later.
type meta struct {
	Code     []byte           `cbor:"code"`
	Cluster  []byte           `cbor:"cluster"`
	Deployer protocol.Address `cbor:"deployer"`
	Status   string           `cbor:"status"` // as the landed init result says
}

// New returns a runner whose changes belong to tx.
func New(tx *state.Tx, c Config) *Runner {
	return &Runner{
		cfg: c, pub: c.Identity.Public().(ed25519.PublicKey), log: c.Logger,
		codes:     state.NewMap[string, protocol.CodeUploaded](tx),
		metas:     state.NewMap[string, meta](tx),
		contracts: state.NewMap[string, instance](tx),
		outbox:    state.NewMap[string, []byte](tx),
		published: state.NewMap[string, bool](tx),
		compiled:  map[string]*lazyCode{},
	}
}

func outboxKey(id []byte, seq uint64) string { return fmt.Sprintf("%s%020d", outboxPrefix(id), seq) }

func outboxPrefix(id []byte) string { return fmt.Sprintf("%x/", id) }

func pubKey(id []byte, epoch uint64) string { return fmt.Sprintf("%x/%020d", id, epoch) }

// keyEpoch reads the number after the contract id of an outboxKey or pubKey.
func keyEpoch(k string) uint64 {
	_, n, _ := strings.Cut(k, "/")
	e, _ := strconv.ParseUint(n, 10, 64)
	return e
}

func isCommandTopic(t string) bool {
	return strings.HasPrefix(t, protocol.ModuleTopic(protocol.ModuleContracts, "")) && strings.HasSuffix(t, "/command")
}

// Wants implements dispatch.Subscriber.
func (r *Runner) Wants(m *protocol.Message) bool {
	switch m.Origin.Kind {
	case protocol.OriginModule:
		switch string(m.Origin.ID) {
		case protocol.ModuleContracts:
			return true
		case protocol.ModuleKeys:
			return m.Topic == protocol.TopicClusters || m.Topic == protocol.TopicRotation
		}
	case protocol.OriginContract:
		return true
	case protocol.OriginWorker:
		return m.Topic == protocol.TopicContractKeys
	}
	return false
}

// Deliver implements dispatch.Subscriber. The keyring is subscribed before
// the runner, so keys and memberships it learns from a message are in
// place when the runner sees the same message.
func (r *Runner) Deliver(b dispatch.Block, m *protocol.Message) error {
	switch m.Origin.Kind {
	case protocol.OriginContract:
		return r.landed(m)
	case protocol.OriginWorker:
		return r.keysLanded(m)
	}
	if string(m.Origin.ID) == protocol.ModuleKeys {
		switch m.Topic {
		case protocol.TopicClusters:
			var c protocol.ClusterUpdate
			if err := protocol.Unmarshal(m.Payload, &c); err != nil {
				return err
			}
			return r.membership(b, &c)
		case protocol.TopicRotation:
			var ev protocol.RotationEvent
			if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
				return err
			}
			if ev.Phase == protocol.PhaseActivated {
				r.retire(ev.Epoch)
			}
		}
		return nil
	}
	switch {
	case m.Topic == protocol.TopicCode:
		var c protocol.CodeUploaded
		if err := protocol.Unmarshal(m.Payload, &c); err != nil {
			return err
		}
		r.codes.Set(string(c.Hash), c)
		return nil
	case m.Topic == protocol.TopicInstantiate:
		var in protocol.ContractInstantiated
		if err := protocol.Unmarshal(m.Payload, &in); err != nil {
			return err
		}
		return r.instantiated(b, &in)
	}
	if !isCommandTopic(m.Topic) {
		return nil // a topic of the module this pRuntime has no use for
	}
	var c protocol.ContractCommand
	if err := protocol.Unmarshal(m.Payload, &c); err != nil {
		return err
	}
	if m.Topic != protocol.ContractCommandTopic(c.Contract) {
		return fmt.Errorf("runner: command for %x on topic %q", c.Contract, m.Topic)
	}
	return r.command(b, &c)
}

// instantiated records a new instance; in this worker's cluster it queues
// its init.
func (r *Runner) instantiated(b dispatch.Block, in *protocol.ContractInstantiated) error {
	r.metas.Set(string(in.Contract), meta{Code: in.CodeHash, Cluster: in.Cluster, Deployer: in.Deployer, Status: protocol.ContractPending})
	if !bytes.Equal(r.cfg.Keyring.Cluster(), in.Cluster) {
		return nil
	}
	inst := instance{Status: protocol.ContractPending}
	inst.Inbox = []event{{Height: b.Height, Time: b.Time.UnixNano(), Kind: protocol.ResultInit, Epoch: in.Epoch, Sender: in.Deployer, GasLimit: in.GasLimit, Ciphertext: in.InitArgs}}
	r.contracts.Set(string(in.Contract), inst)
	return r.advance(in.Contract)
}

// command queues a command of one of this cluster's contracts and runs
// what can run.
func (r *Runner) command(b dispatch.Block, c *protocol.ContractCommand) error {
	inst, ok := r.contracts.Get(string(c.Contract))
	if !ok {
		return nil // another cluster's contract
	}
	if len(inst.Inbox) >= MaxInbox {
		inst.NeedFrom = max(inst.NeedFrom, b.Height)
		inst.Inbox = nil
		r.log.Warn("contract inbox overflowed; waiting for a state transfer", "contract", fmt.Sprintf("%x", c.Contract), "height", b.Height)
		r.contracts.Set(string(c.Contract), inst)
		return nil
	}
	inst.Inbox = append(slices.Clip(inst.Inbox), event{
		Height: b.Height, Time: b.Time.UnixNano(), Kind: protocol.ResultCommand, Index: c.Index,
		Epoch: c.Epoch, Sender: c.Sender, GasLimit: c.GasLimit, Ciphertext: c.Ciphertext,
	})
	r.contracts.Set(string(c.Contract), inst)
	return r.advance(c.Contract)
}

// membership follows cluster changes: joining a cluster makes its existing
// contracts stale (their state comes by state transfer); leaving it drops
// them and what was produced for them.
func (r *Runner) membership(b dispatch.Block, c *protocol.ClusterUpdate) error {
	member := slices.ContainsFunc(c.Members, func(w []byte) bool { return bytes.Equal(w, r.pub) })
	for _, id := range r.metas.Keys() {
		m, _ := r.metas.Get(id)
		if !bytes.Equal(m.Cluster, c.Cluster) {
			continue
		}
		_, have := r.contracts.Get(id)
		switch {
		case member && !have && m.Status != protocol.ContractFailed:
			r.contracts.Set(id, instance{Status: m.Status, NeedFrom: b.Height})
		case !member && have:
			r.contracts.Delete(id)
			r.dropOutbox([]byte(id))
		}
	}
	return nil
}

func (r *Runner) dropOutbox(id []byte) {
	prefix := outboxPrefix(id)
	for _, k := range r.outbox.Keys() {
		if strings.HasPrefix(k, prefix) {
			r.outbox.Delete(k)
		}
	}
}

// retire runs at an epoch's activation (after the keyring erased the
// previous epoch's keys): a contract still holding events of a retired
// epoch can never run them and becomes stale.
func (r *Runner) retire(epoch uint64) {
	for _, id := range r.contracts.Keys() {
		inst, _ := r.contracts.Get(id)
		var last int64
		for _, ev := range inst.Inbox {
			if ev.Epoch < epoch {
				last = ev.Height
			}
		}
		if last > 0 && inst.NeedFrom < last {
			inst.NeedFrom = last
			r.log.Warn("contract events of a retired epoch were never run here; waiting for a state transfer", "contract", fmt.Sprintf("%x", id), "epoch", epoch)
			r.contracts.Set(id, inst)
		}
	}
	for _, k := range r.published.Keys() {
		if keyEpoch(k) < epoch {
			r.published.Delete(k)
		}
	}
}

// landed follows a contract-origin message on chain: this worker's copy
// leaves the outbox, and a landed init result settles the instance's
// status for every pRuntime.
func (r *Runner) landed(m *protocol.Message) error {
	id := m.Origin.ID
	key := outboxKey(id, m.Seq)
	if mine, ok := r.outbox.Get(key); ok {
		r.outbox.Delete(key)
		var sm protocol.SignedMessage
		if err := protocol.Unmarshal(mine, &sm); err == nil && !bytes.Equal(sm.Message.Payload, m.Payload) {
			// Members of a cluster must compute identical messages.
			r.log.Error("a member's message differs from this worker's: contract execution diverged", "contract", fmt.Sprintf("%x", id), "seq", m.Seq, "topic", m.Topic)
		}
	}
	if m.Topic != protocol.ContractResultTopic(id) {
		return nil
	}
	var res protocol.ContractResult
	if err := protocol.Unmarshal(m.Payload, &res); err != nil || res.Kind != protocol.ResultInit {
		return nil
	}
	if mt, ok := r.metas.Get(string(id)); ok && mt.Status == protocol.ContractPending {
		mt.Status = protocol.ContractFailed
		if res.Outcome == protocol.OutcomeOK {
			mt.Status = protocol.ContractActive
		}
		r.metas.Set(string(id), mt)
	}
	return nil
}

// keysLanded notes contract keys published on chain (by any member), so
// that they are not published again.
func (r *Runner) keysLanded(m *protocol.Message) error {
	var ks protocol.ContractKeys
	if err := protocol.Unmarshal(m.Payload, &ks); err != nil {
		return nil
	}
	for _, k := range ks.Keys {
		if _, ok := r.contracts.Get(string(k.Contract)); ok {
			r.published.Set(pubKey(k.Contract, k.Epoch), true)
		}
	}
	return nil
}

// Outbox returns the pending contract-origin messages (committed), as
// canonical SignedMessages in (contract, sequence) order.
func (r *Runner) Outbox() [][]byte {
	var out [][]byte
	for _, k := range r.outbox.CommittedKeys() {
		v, _ := r.outbox.CommittedGet(k)
		out = append(out, v)
	}
	return out
}
