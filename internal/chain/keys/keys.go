// Package keys owns gatekeepers, clusters, key epochs and rotation (DESIGN
// section 4.3). The chain never sees a secret: it records who the
// gatekeepers are, which workers belong to which cluster, the current epoch
// and its public cluster keys, who has been served which epoch at which
// encryption key, and it drives rotations by emitting what every pRuntime
// must do next. Gatekeepers answer with signed gatekeeper messages, which
// this module checks (signer, membership, epoch, recipients) when mq
// accepts them.
//
// Clusters live here rather than in the contracts module because their
// whole purpose is key distribution: a cluster is the set of workers that
// share a cluster key.
package keys

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Module is the keys module.
type Module struct{}

// New returns the keys module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleKeys }

// State layout, under "keys/":
//
//	gk/<worker>              gatekeeper: holder flag of the current epoch
//	cl/<cluster>             ClusterUpdate (name, sorted members)
//	wc/<worker>              the worker's cluster id
//	epoch                    EpochRecord
//	ann/<worker>             KeyAnnouncement: the worker's next key
//	served/<epoch>/<worker>  Recipient: the key that worker was served at
//	wait/<worker>            height since which it waits to be served
//	late/<worker>            the epoch it announced a key for late (one per epoch)
//	due                      a rotation must start once none is under way
//	recheck                  the frozen recipients may have changed (propose phase)
var (
	prefixGatekeeper = []byte("gk/")
	prefixCluster    = []byte("cl/")
	prefixWorkerCl   = []byte("wc/")
	keyEpoch         = []byte("epoch")
	prefixAnnounce   = []byte("ann/")
	prefixServed     = []byte("served/")
	prefixWait       = []byte("wait/")
	prefixLate       = []byte("late/")
	keyDue           = []byte("due")
	keyRecheck       = []byte("recheck")
)

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleKeys+"/")) }

func join(parts ...[]byte) []byte { return slices.Concat(parts...) }

func u64(n uint64) []byte { return fmt.Appendf(nil, "%020d/", n) }

func read(s store.KV, key []byte, v any) bool {
	raw := kv(s).Get(key)
	if raw == nil {
		return false
	}
	if err := protocol.Unmarshal(raw, v); err != nil {
		store.Fail(fmt.Sprintf("keys: decode %q", key), err)
	}
	return true
}

func write(s store.KV, key []byte, v any) { kv(s).Set(key, protocol.MustMarshal(v)) }

// EpochStateKey is the full store key of the epoch record, for proofs.
func EpochStateKey() []byte { return join([]byte(protocol.ModuleKeys+"/"), keyEpoch) }

func saveEpoch(s store.KV, e *protocol.EpochRecord) { write(s, keyEpoch, e) }

type gatekeeperEntry struct {
	Holder bool `cbor:"holder"` // known to hold the current epoch secret
}

// Gatekeepers returns the gatekeeper set, sorted.
func Gatekeepers(s store.KV) [][]byte {
	var out [][]byte
	kv(s).Iterate(prefixGatekeeper, store.PrefixEnd(prefixGatekeeper), func(k, _ []byte) bool {
		out = append(out, slices.Clone(k[len(prefixGatekeeper):]))
		return true
	})
	return out
}

// IsGatekeeper reports whether worker is a current gatekeeper.
func IsGatekeeper(s store.KV, worker []byte) bool {
	return kv(s).Get(join(prefixGatekeeper, worker)) != nil
}

func setHolder(s store.KV, worker []byte, holder bool) {
	if IsGatekeeper(s, worker) {
		write(s, join(prefixGatekeeper, worker), &gatekeeperEntry{Holder: holder})
	}
}

func holder(s store.KV, worker []byte) bool {
	var e gatekeeperEntry
	return read(s, join(prefixGatekeeper, worker), &e) && e.Holder
}

// Cluster returns a cluster's membership.
func Cluster(s store.KV, id []byte) (protocol.ClusterUpdate, bool) {
	var c protocol.ClusterUpdate
	ok := read(s, join(prefixCluster, id), &c)
	return c, ok
}

// clusters returns every cluster, in id order.
func clusters(s store.KV) []protocol.ClusterUpdate {
	var out []protocol.ClusterUpdate
	kv(s).Iterate(prefixCluster, store.PrefixEnd(prefixCluster), func(_, v []byte) bool {
		var c protocol.ClusterUpdate
		if err := protocol.Unmarshal(v, &c); err != nil {
			store.Fail("keys: decode cluster", err)
		}
		out = append(out, c)
		return true
	})
	return out
}

// workerCluster is the cluster worker belongs to, if any.
func workerCluster(s store.KV, worker []byte) []byte { return kv(s).Get(join(prefixWorkerCl, worker)) }

// activeKey is an active worker's registered encryption key.
func activeKey(s store.KV, worker []byte) ([]byte, bool) {
	rec, ok := registry.Worker(s, worker)
	if !ok || rec.Status != protocol.StatusActive {
		return nil, false
	}
	return rec.EncryptionKey, true
}

// roleOf describes worker's key role: gatekeeper, or member of a cluster.
// A gatekeeper is not also served as a member.
func roleOf(s store.KV, worker []byte) (role string, cluster []byte, ok bool) {
	if IsGatekeeper(s, worker) {
		return protocol.RoleGatekeeper, nil, true
	}
	if c := workerCluster(s, worker); c != nil {
		return protocol.RoleMember, c, true
	}
	return "", nil, false
}

// recipients lists every active gatekeeper and cluster member, sealed to
// the key it announced for epoch if it did, else its registered key.
// Gatekeepers come first, then members by cluster; each group sorted.
func recipients(s store.KV, epoch uint64) []protocol.Recipient {
	var out []protocol.Recipient
	add := func(worker []byte, role string, cluster []byte) {
		key, ok := activeKey(s, worker)
		if !ok {
			return
		}
		var ann protocol.KeyAnnouncement
		if read(s, join(prefixAnnounce, worker), &ann) && ann.Epoch == epoch {
			key = ann.Key
		}
		out = append(out, protocol.Recipient{Worker: worker, Key: key, Role: role, Cluster: cluster})
	}
	for _, gk := range Gatekeepers(s) {
		add(gk, protocol.RoleGatekeeper, nil)
	}
	for _, c := range clusters(s) {
		for _, w := range c.Members {
			if !IsGatekeeper(s, w) {
				add(w, protocol.RoleMember, c.Cluster)
			}
		}
	}
	return out
}

func served(s store.KV, epoch uint64, worker []byte) (protocol.Recipient, bool) {
	var r protocol.Recipient
	ok := read(s, join(prefixServed, u64(epoch), worker), &r)
	return r, ok
}

// servedAtKey reports whether worker was served epoch at the key it is
// registered with now: anything sealed to an earlier key of it died with
// that key (a restart), so it holds nothing of the epoch.
func servedAtKey(s store.KV, epoch uint64, worker []byte) bool {
	r, ok := served(s, epoch, worker)
	key, active := activeKey(s, worker)
	return ok && active && bytes.Equal(r.Key, key)
}

func markServed(s store.KV, epoch uint64, r protocol.Recipient) {
	write(s, join(prefixServed, u64(epoch), r.Worker), &r)
	kv(s).Delete(join(prefixWait, r.Worker))
}

// waiting records that worker waits for keys since height (if not
// already waiting).
func waiting(s store.KV, worker []byte, height int64) {
	if kv(s).Get(join(prefixWait, worker)) == nil {
		write(s, join(prefixWait, worker), height)
	}
}

// longestWait is the height since which the longest-waiting recipient has
// waited, if any waits.
func longestWait(s store.KV) (int64, bool) {
	since, found := int64(0), false
	kv(s).Iterate(prefixWait, store.PrefixEnd(prefixWait), func(_, v []byte) bool {
		var h int64
		if err := protocol.Unmarshal(v, &h); err != nil {
			store.Fail("keys: decode wait", err)
		}
		if !found || h < since {
			since, found = h, true
		}
		return true
	})
	return since, found
}

func clearWaits(s store.KV) { deleteAll(s, prefixWait) }

// deleteAll deletes every record under prefix.
func deleteAll(s store.KV, prefix []byte) {
	var ks [][]byte
	kv(s).Iterate(prefix, store.PrefixEnd(prefix), func(k, _ []byte) bool {
		ks = append(ks, slices.Clone(k))
		return true
	})
	for _, k := range ks {
		kv(s).Delete(k)
	}
}

// sameRecipients reports whether two recipient lists are equal, in order.
func sameRecipients(a, b []protocol.Recipient) bool {
	return slices.EqualFunc(a, b, func(x, y protocol.Recipient) bool { return sameRecipient(&x, &y) })
}

func sameRecipient(a, b *protocol.Recipient) bool {
	return bytes.Equal(a.Worker, b.Worker) && bytes.Equal(a.Key, b.Key) && a.Role == b.Role && bytes.Equal(a.Cluster, b.Cluster)
}

func emit(ctx *module.Context, topic string, v any) error {
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleKeys), topic, protocol.MustMarshal(v))
}

// Info assembles the public EpochInfo (query keys/epoch).
func Info(s store.KV, params protocol.Params) protocol.EpochInfo {
	e := Epoch(s)
	info := protocol.EpochInfo{EpochRecord: e, Gatekeepers: Gatekeepers(s), RotationDue: kv(s).Get(keyDue) != nil}
	if params.RotationInterval > 0 && e.Current > 0 && e.Pending == nil {
		info.NextAuto = e.ActivatedAt + int64(params.RotationInterval)
	}
	for _, gk := range info.Gatekeepers {
		if holder(s, gk) {
			info.Holders = append(info.Holders, gk)
		}
	}
	if e.Current > 0 {
		prefix := join(prefixServed, u64(e.Current))
		kv(s).Iterate(prefix, store.PrefixEnd(prefix), func(_, v []byte) bool {
			var r protocol.Recipient
			if err := protocol.Unmarshal(v, &r); err != nil {
				store.Fail("keys: decode served", err)
			}
			info.Served = append(info.Served, r)
			return true
		})
	}
	return info
}

// Call implements module.Module: the keys module has no transaction
// methods; governance drives it (GovActions) and gatekeepers and members
// speak through signed messages (ObserveMessage).
func (m *Module) Call(ctx *module.Context, method string, args []byte) error {
	return protocol.Errorf(protocol.ErrUnknownMethod, "keys.%s", method)
}
