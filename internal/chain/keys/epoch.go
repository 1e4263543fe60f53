package keys

import (
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Accessors for the modules that apply epoch rules to their own encrypted
// traffic (contracts): one read each, unlike Info, which also assembles the
// gatekeeper and served lists.

// Epoch returns the stored epoch record: current epoch, its cluster public
// keys, whether its secret was lost, and the rotation under way. Its
// encoding is the value at EpochStateKey, which clients read with a proof.
func Epoch(s store.KV) protocol.EpochRecord {
	var e protocol.EpochRecord
	read(s, keyEpoch, &e)
	return e
}

// CheckCommandEpoch applies the rule every encrypted command obeys: it is
// sealed to a key of the current epoch, whose secret is not lost. Commands
// of a retired epoch are refused so that, once its keys are erased, nothing
// sealed to them is ever run again.
func CheckCommandEpoch(e *protocol.EpochRecord, epoch uint64) error {
	switch {
	case e.Current == 0:
		return protocol.Errorf(protocol.ErrNoEpoch, "no key epoch has been activated")
	case epoch < e.Current:
		return protocol.Errorf(protocol.ErrRetiredEpoch, "epoch %d retired; current is %d", epoch, e.Current)
	case epoch > e.Current:
		return protocol.Errorf(protocol.ErrFutureEpoch, "epoch %d, current is %d", epoch, e.Current)
	case e.Lost:
		return protocol.Errorf(protocol.ErrEpochLost, "epoch %d", epoch)
	}
	return nil
}

// WorkerCluster returns the cluster worker is a member of, if any.
func WorkerCluster(s store.KV, worker []byte) ([]byte, bool) {
	c := workerCluster(s, worker)
	return c, c != nil
}
