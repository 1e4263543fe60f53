// Package keyring is pRuntime's side of key distribution and rotation
// (DESIGN section 4.3). It follows the keys module's events on verified
// blocks, holds this worker's encryption keys, the epoch secrets (as a
// gatekeeper) and cluster keys (as a member), answers rotations and
// hand-overs as a gatekeeper, announces fresh keys as a member, and hands
// the contract runner the cluster seeds it needs (ClusterSeed, OnSeed).
//
// Secrets live only in the tables marked secret below: they are never part
// of a checkpoint, never logged, and erased when their epoch is retired. A
// pRuntime that restarts has none of them; it re-registers with a fresh
// encryption key and is served again.
package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// Keyring is a worker's keys and its part in distribution.
type Keyring struct {
	chainID  string
	identity ed25519.PrivateKey
	pub      []byte
	out      *egress.Queue
	engine   *dispatch.Engine
	log      *slog.Logger
	onSeed   func(epoch uint64, cluster []byte) error

	// Public view, checkpointed.
	gatekeepers *state.Map[string, bool]
	clusters    *state.Map[string, protocol.ClusterUpdate]
	epoch       *state.Cell[EpochView]

	// Secret: never checkpointed.
	enc        *state.Cell[*keys.Encryption]        // the current encryption key
	next       *state.Map[uint64, *keys.Encryption] // keys announced for an epoch
	secrets    *state.Map[uint64, []byte]           // epoch secrets (gatekeeper)
	seeds      *state.Map[string, []byte]           // cluster seeds, by epoch and cluster (member)
	candidates *state.Map[uint64, []byte]           // secrets this gatekeeper proposed, until one lands
	outbox     *state.Map[string, outboxEntry]      // gatekeeper messages not yet landed, by logical id
	gkNext     *state.Cell[uint64]                  // next gatekeeper sequence this pRuntime may use
}

// EpochView is what the keyring knows of the epochs.
type EpochView struct {
	Current  uint64                   `cbor:"current"`
	Clusters []protocol.ClusterPubkey `cbor:"clusters"`
	Lost     uint64                   `cbor:"lost"` // an epoch whose secret was lost
	Pending  uint64                   `cbor:"pending"`
}

type outboxEntry struct {
	seq      uint64
	epoch    uint64
	proposal bool   // an epoch proposal (else a delivery)
	worker   []byte // delivery recipient
	key      []byte // delivery recipient's key
	payload  []byte // canonical GatekeeperPayload
	signed   []byte // canonical SignedMessage
}

// Config wires a keyring.
type Config struct {
	ChainID  string
	Identity ed25519.PrivateKey
	BootKey  *keys.Encryption // this boot's encryption key
	Egress   *egress.Queue
	Engine   *dispatch.Engine
	Logger   *slog.Logger
	// OnSeed, if set, is told within the block whenever this member comes
	// to hold a cluster seed (from a landed proposal or a delivery), so
	// that work waiting for that epoch's keys can proceed.
	OnSeed func(epoch uint64, cluster []byte) error
}

// New returns a keyring whose changes belong to tx.
func New(tx *state.Tx, c Config) *Keyring {
	return &Keyring{
		chainID: c.ChainID, identity: c.Identity, pub: c.Identity.Public().(ed25519.PublicKey),
		out: c.Egress, engine: c.Engine, log: c.Logger, onSeed: c.OnSeed,
		gatekeepers: state.NewMap[string, bool](tx),
		clusters:    state.NewMap[string, protocol.ClusterUpdate](tx),
		epoch:       state.NewCell(tx, EpochView{}),
		enc:         state.NewCell(tx, c.BootKey),
		next:        state.NewMap[uint64, *keys.Encryption](tx),
		secrets:     state.NewMap[uint64, []byte](tx),
		seeds:       state.NewMap[string, []byte](tx),
		candidates:  state.NewMap[uint64, []byte](tx),
		outbox:      state.NewMap[string, outboxEntry](tx),
		gkNext:      state.NewCell(tx, uint64(0)),
	}
}

// EncryptionKey is the current encryption key (committed).
func (k *Keyring) EncryptionKey() *keys.Encryption { return k.enc.Committed() }

// View is the committed epoch view.
func (k *Keyring) View() EpochView { return k.epoch.Committed() }

// IsGatekeeper reports whether this worker is a gatekeeper (committed view).
func (k *Keyring) IsGatekeeper() bool {
	_, ok := k.gatekeepers.CommittedGet(string(k.pub))
	return ok
}

// HoldsCurrent reports whether the worker holds the current epoch's key
// (secret or cluster seed).
func (k *Keyring) HoldsCurrent() bool {
	cur := k.epoch.Committed().Current
	if _, ok := k.secrets.CommittedGet(cur); ok {
		return true
	}
	for _, id := range k.seeds.CommittedKeys() {
		if e, _, ok := splitSeedKey(id); ok && e == cur {
			return true
		}
	}
	return false
}

// Wants implements dispatch.Subscriber.
func (k *Keyring) Wants(m *protocol.Message) bool {
	switch m.Topic {
	case protocol.TopicGatekeepers, protocol.TopicClusters, protocol.TopicRotation, protocol.TopicServe:
		return m.Origin.Kind == protocol.OriginModule && string(m.Origin.ID) == protocol.ModuleKeys
	case protocol.TopicWorker:
		return m.Origin.Kind == protocol.OriginModule && string(m.Origin.ID) == protocol.ModuleRegistry
	case protocol.TopicGatekeeper:
		return m.Origin.Kind == protocol.OriginGatekeeper
	}
	return false
}

// Deliver implements dispatch.Subscriber.
func (k *Keyring) Deliver(b dispatch.Block, m *protocol.Message) error {
	switch m.Topic {
	case protocol.TopicGatekeepers:
		var set protocol.GatekeeperSet
		if err := protocol.Unmarshal(m.Payload, &set); err != nil {
			return err
		}
		for _, g := range k.gatekeepers.Keys() {
			k.gatekeepers.Delete(g)
		}
		for _, g := range set.Gatekeepers {
			k.gatekeepers.Set(string(g), true)
		}
		return nil
	case protocol.TopicClusters:
		var c protocol.ClusterUpdate
		if err := protocol.Unmarshal(m.Payload, &c); err != nil {
			return err
		}
		k.clusters.Set(string(c.Cluster), c)
		return nil
	case protocol.TopicRotation:
		var ev protocol.RotationEvent
		if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
			return err
		}
		return k.rotation(&ev)
	case protocol.TopicServe:
		var ev protocol.ServeEvent
		if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
			return err
		}
		return k.serve(&ev)
	case protocol.TopicGatekeeper:
		return k.gatekeeperMessage(m)
	case protocol.TopicWorker:
		var ev protocol.WorkerEvent
		if err := protocol.Unmarshal(m.Payload, &ev); err != nil {
			return err
		}
		switch {
		case ev.Kind == protocol.WorkerExpired || ev.Kind == protocol.WorkerRevoked:
			// Deliveries to it would be refused and block the ones behind.
			k.drop(func(e outboxEntry) bool { return bytes.Equal(e.worker, ev.Worker.Pubkey) })
		case ev.Kind == protocol.WorkerRegistered && bytes.Equal(ev.Worker.Pubkey, k.pub):
			k.adopt(ev.Worker.EncryptionKey)
		}
		return nil
	}
	return nil
}

// myCluster is the cluster this worker belongs to (current view).
func (k *Keyring) myCluster() []byte {
	for _, id := range k.clusters.Keys() {
		c, _ := k.clusters.Get(id)
		for _, w := range c.Members {
			if bytes.Equal(w, k.pub) {
				return c.Cluster
			}
		}
	}
	return nil
}

func (k *Keyring) isGatekeeper() bool {
	_, ok := k.gatekeepers.Get(string(k.pub))
	return ok
}

// rotation follows a rotation's phases.
func (k *Keyring) rotation(ev *protocol.RotationEvent) error {
	v := k.epoch.Get()
	switch ev.Phase {
	case protocol.PhaseAnnounce:
		v.Pending = ev.Epoch
		if ev.Lost > 0 {
			v.Lost = ev.Lost
			k.drop(func(e outboxEntry) bool { return e.epoch <= ev.Lost })
		}
		k.epoch.Set(v)
		if !k.isGatekeeper() && k.myCluster() == nil {
			return nil
		}
		return k.announce(ev.Epoch)
	case protocol.PhasePropose:
		return k.propose(ev)
	case protocol.PhaseActivated:
		return k.activate(ev)
	}
	return nil
}

// announce generates a fresh encryption key for epoch and announces it,
// signed by the identity key, naming the key it replaces (this boot's
// current key; the chain ignores the announcement unless that is the
// registered key).
func (k *Keyring) announce(epoch uint64) error {
	e, err := keys.NewEncryption()
	if err != nil {
		return err
	}
	k.next.Set(epoch, e)
	replaces := protocol.KeyHash(k.enc.Get().Public())
	body := protocol.AnnouncementBody{ChainID: k.chainID, Worker: k.pub, Epoch: epoch, Key: e.Public(), Replaces: replaces}
	a := protocol.KeyAnnouncement{Worker: k.pub, Epoch: epoch, Key: e.Public(), Replaces: replaces, Sig: protocol.Sign(k.identity, protocol.SigKeyAnnounce, protocol.MustMarshal(&body))}
	return k.out.Emit(protocol.TopicAnnounce, protocol.MustMarshal(&a))
}

// adopt makes an announced key the encryption key once the chain registered
// it (at the activation of the rotation it was announced for, or when it
// was served at it late), dropping the key it replaces. An announced key
// the chain never adopted (the announcement was withheld, or landed after
// the window) stays unused: the chain keeps sealing to the registered key.
func (k *Keyring) adopt(registered []byte) {
	for _, e := range k.next.Keys() {
		if n, _ := k.next.Get(e); bytes.Equal(n.Public(), registered) {
			k.enc.Set(n)
			k.next.Delete(e)
			return
		}
	}
}

// privateFor finds the private key this worker holds for a public key it
// was sealed to: its current key or one it announced.
func (k *Keyring) privateFor(pub []byte) (*keys.Encryption, bool) {
	if cur := k.enc.Get(); cur != nil && bytes.Equal(cur.Public(), pub) {
		return cur, true
	}
	for _, e := range k.next.Keys() {
		n, _ := k.next.Get(e)
		if bytes.Equal(n.Public(), pub) {
			return n, true
		}
	}
	return nil, false
}

// open decrypts a sealed key addressed to this worker, if it is.
func (k *Keyring) open(epoch uint64, s *protocol.Sealed) ([]byte, bool) {
	if !bytes.Equal(s.Recipient.Worker, k.pub) {
		return nil, false
	}
	priv, ok := k.privateFor(s.Recipient.Key)
	if !ok {
		return nil, false // sealed to a key of an earlier boot: gone for good
	}
	pt, err := protocol.HPKEOpen(priv.Private(), protocol.SealInfo(k.chainID, epoch, &s.Recipient), nil, s.Ciphertext)
	if err != nil || len(pt) != 32 {
		k.log.Warn("a key sealed to this worker does not open", "epoch", epoch)
		return nil, false
	}
	return pt, true
}

// activate makes an epoch current: the previous epoch's keys are erased.
// This worker's previous encryption key was dropped already if the chain
// adopted the key it announced (the registry event comes first, in the same
// block); a key announced for this epoch that the chain did not adopt is
// kept until the next activation, in case the announcement lands late and
// is served at it, and keys announced for earlier epochs are erased.
func (k *Keyring) activate(ev *protocol.RotationEvent) error {
	v := k.epoch.Get()
	prev := v.Current
	v.Current, v.Clusters, v.Pending = ev.Epoch, ev.Clusters, 0
	if v.Lost != 0 && v.Lost < ev.Epoch {
		v.Lost = 0
	}
	k.epoch.Set(v)
	for _, e := range k.next.Keys() {
		if e < ev.Epoch {
			k.next.Delete(e)
		}
	}
	for _, e := range k.secrets.Keys() {
		if e < ev.Epoch {
			k.secrets.Delete(e)
		}
	}
	for _, id := range k.seeds.Keys() {
		if e, _, ok := splitSeedKey(id); ok && e < ev.Epoch {
			k.seeds.Delete(id)
		}
	}
	k.drop(func(e outboxEntry) bool { return e.epoch < ev.Epoch })
	if prev != 0 {
		k.log.Info("key epoch activated; previous epoch erased", "epoch", ev.Epoch, "previous", prev)
	}
	return nil
}

func seedKey(epoch uint64, cluster []byte) string { return fmt.Sprintf("%020d/%x", epoch, cluster) }

func splitSeedKey(s string) (uint64, []byte, bool) {
	var e uint64
	var c string
	if _, err := fmt.Sscanf(s, "%020d/%s", &e, &c); err != nil {
		return 0, nil, false
	}
	b, err := hex.DecodeString(c)
	return e, b, err == nil
}

// ClusterSeed returns the seed of cluster's key in epoch, as the block
// being applied sees it: derived from the epoch secret (a gatekeeper) or
// delivered (a member). It is a secret: callers derive keys from it and
// keep nothing.
func (k *Keyring) ClusterSeed(epoch uint64, cluster []byte) ([]byte, bool) {
	return k.clusterSeed(epoch, cluster)
}

// Cluster is the cluster this worker belongs to, as the block being
// applied sees it (nil: none).
func (k *Keyring) Cluster() []byte { return k.myCluster() }

// CommittedCluster is the cluster this worker belongs to (committed view).
func (k *Keyring) CommittedCluster() []byte {
	for _, id := range k.clusters.CommittedKeys() {
		c, _ := k.clusters.CommittedGet(id)
		if slices.ContainsFunc(c.Members, func(w []byte) bool { return bytes.Equal(w, k.pub) }) {
			return c.Cluster
		}
	}
	return nil
}

// IsMember reports whether worker belongs to cluster (committed view).
func (k *Keyring) IsMember(cluster, worker []byte) bool {
	c, ok := k.clusters.CommittedGet(string(cluster))
	return ok && slices.ContainsFunc(c.Members, func(w []byte) bool { return bytes.Equal(w, worker) })
}

// Epoch is the epoch view as the block being applied sees it.
func (k *Keyring) Epoch() EpochView { return k.epoch.Get() }

func (k *Keyring) clusterSeed(epoch uint64, cluster []byte) ([]byte, bool) {
	if s, ok := k.seeds.Get(seedKey(epoch, cluster)); ok {
		return s, true
	}
	if secret, ok := k.secrets.Get(epoch); ok {
		return protocol.DeriveSeed(secret, "cluster", cluster), true
	}
	return nil, false
}

// newSecret draws a fresh epoch secret.
func newSecret() ([]byte, error) {
	s := make([]byte, 32)
	_, err := rand.Read(s)
	return s, err
}

// Snapshot is the keyring's checkpoint form: the public view only. No key,
// secret or seed is ever in it.
type Snapshot struct {
	Gatekeepers [][]byte                 `cbor:"gatekeepers"`
	Clusters    []protocol.ClusterUpdate `cbor:"clusters"`
	Epoch       EpochView                `cbor:"epoch"`
}

// Snapshot returns the committed public view.
func (k *Keyring) Snapshot() Snapshot {
	var s Snapshot
	for _, g := range k.gatekeepers.CommittedKeys() {
		s.Gatekeepers = append(s.Gatekeepers, []byte(g))
	}
	for _, id := range k.clusters.CommittedKeys() {
		c, _ := k.clusters.CommittedGet(id)
		s.Clusters = append(s.Clusters, c)
	}
	s.Epoch = k.epoch.Committed()
	return s
}

// Load restores the public view from a checkpoint.
func (k *Keyring) Load(s Snapshot) {
	gks := map[string]bool{}
	for _, g := range s.Gatekeepers {
		gks[string(g)] = true
	}
	k.gatekeepers.Load(gks)
	cls := map[string]protocol.ClusterUpdate{}
	for _, c := range s.Clusters {
		cls[string(c.Cluster)] = c
	}
	k.clusters.Load(cls)
	k.epoch.Load(s.Epoch)
}

// SecretsForTest returns every secret the keyring holds, so tests can prove
// none reaches the disk.
func (k *Keyring) SecretsForTest() map[string][]byte {
	out := map[string][]byte{}
	add := func(name string, e *keys.Encryption) {
		if b, err := e.Private().Bytes(); err == nil {
			out[name] = b
		}
	}
	add("encryption private key", k.enc.Committed())
	for _, e := range k.next.CommittedKeys() {
		n, _ := k.next.CommittedGet(e)
		add(fmt.Sprintf("announced key %d", e), n)
	}
	for _, e := range k.secrets.CommittedKeys() {
		s, _ := k.secrets.CommittedGet(e)
		out[fmt.Sprintf("epoch secret %d", e)] = s
	}
	for _, id := range k.seeds.CommittedKeys() {
		s, _ := k.seeds.CommittedGet(id)
		out["cluster seed "+id] = s
	}
	return out
}
