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

// WorkerCluster returns the cluster worker is a member of, if any.
func WorkerCluster(s store.KV, worker []byte) ([]byte, bool) {
	c := workerCluster(s, worker)
	return c, c != nil
}
