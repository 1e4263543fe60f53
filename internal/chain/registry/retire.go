package registry

import (
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// Retirement: a worker stops being active when its attestation expires,
// when governance revokes its measurement, or when governance turns sim
// attestation off while it attested with sim. Revocations take effect at
// once through the status in force; the records follow at the end of
// blocks, in bounded batches.

// RetireBatch bounds how many workers the end of a block retires for a
// revoked measurement or for sim attestation turned off. A revocation
// takes effect at once (Worker reports the status in force); the records
// follow in batches, so a revocation costs a bounded amount per block
// however many workers the measurement has.
const RetireBatch = 256

// statusInForce is rec's status once pending retirements are counted.
func statusInForce(s store.KV, rec *protocol.WorkerRecord) string {
	if rec.Status != protocol.StatusActive {
		return rec.Status
	}
	var entry protocol.MeasurementEntry
	if read(s, join(prefixMeas, rec.Measurement), &entry) && entry.Revoked {
		return protocol.StatusRevoked
	}
	if rec.AttestationKind == sim.Kind && !governance.Params(s).AllowSimAttestation {
		return protocol.StatusRevoked
	}
	return rec.Status
}

// end retires a worker: expired or revoked.
func (m *Module) end(ctx *module.Context, rec *protocol.WorkerRecord, status, event string) error {
	unindex(ctx, rec)
	rec.Status, rec.ExpiresAt = status, 0
	write(ctx.State, join(prefixWorker, rec.Pubkey), rec)
	if err := emit(ctx, event, rec); err != nil {
		return err
	}
	if m.hook != nil {
		return m.hook(ctx, rec)
	}
	return nil
}

// EndBlock expires the workers whose attestation is older than the policy
// allows, then retires at most RetireBatch workers whose measurement was
// revoked or who attested with sim on a chain that no longer allows it.
// Its messages are outside the per-block quota (no transaction caused
// them), bounded by the expiries due and by the batch.
func (m *Module) EndBlock(ctx *module.Context) error {
	var due [][]byte
	upTo := store.PrefixEnd(join(prefixExpiry, heightKey(ctx.Block.Height)))
	kv(ctx.State).Iterate(prefixExpiry, upTo, func(k, _ []byte) bool {
		due = append(due, slices.Clone(k[len(prefixExpiry)+8:]))
		return true
	})
	for _, pub := range due {
		if err := m.retire(ctx, pub, protocol.StatusExpired, protocol.WorkerExpired); err != nil {
			return err
		}
	}
	return m.retireBatch(ctx)
}

// retire ends an active worker's record: with status (expired), or as
// revoked if that is its status in force, which no expiry may turn into a
// status that can register again.
func (m *Module) retire(ctx *module.Context, pub []byte, status, event string) error {
	rec, ok := Worker(ctx.State, pub)
	if !ok {
		store.Fail("registry: index", fmt.Errorf("no worker %x", pub))
	}
	if rec.Status == protocol.StatusRevoked {
		status, event = protocol.StatusRevoked, protocol.WorkerRevoked
	}
	return m.end(ctx, &rec, status, event)
}

// retireBatch retires up to RetireBatch workers of revoked measurements
// (in measurement order, then key order), then sim workers if sim is no
// longer allowed. A revoked measurement leaves the queue once a batch finds
// none of its workers left.
func (m *Module) retireBatch(ctx *module.Context) error {
	var queue [][]byte
	kv(ctx.State).Iterate(prefixRetire, store.PrefixEnd(prefixRetire), func(k, _ []byte) bool {
		queue = append(queue, slices.Clone(k[len(prefixRetire):]))
		return true
	})
	var batch [][]byte
	seen := map[string]bool{}
	collect := func(prefix []byte) (exhausted bool) {
		exhausted = true
		kv(ctx.State).Iterate(prefix, store.PrefixEnd(prefix), func(k, _ []byte) bool {
			if len(batch) == RetireBatch {
				exhausted = false
				return false
			}
			pub := slices.Clone(k[len(prefix):])
			if !seen[string(pub)] {
				seen[string(pub)] = true
				batch = append(batch, pub)
			}
			return true
		})
		return exhausted
	}
	for _, meas := range queue {
		if len(batch) == RetireBatch {
			break
		}
		if collect(join(prefixByMeas, meas)) {
			kv(ctx.State).Delete(join(prefixRetire, meas))
		}
	}
	if len(batch) < RetireBatch && !governance.Params(ctx.State).AllowSimAttestation {
		collect(prefixSim)
	}
	for _, pub := range batch {
		if err := m.retire(ctx, pub, protocol.StatusRevoked, protocol.WorkerRevoked); err != nil {
			return err
		}
	}
	return nil
}
