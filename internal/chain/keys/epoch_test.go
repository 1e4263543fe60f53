package keys

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestEpochRecordEncodesLikeTheStoredRecord pins protocol.EpochRecord to
// the module's own epochState: clients decode the stored bytes (served with
// a proof) into the public type, so the two must encode alike, field for
// field.
func TestEpochRecordEncodesLikeTheStoredRecord(t *testing.T) {
	e := epochState{
		Current:     3,
		ActivatedAt: 40,
		Clusters:    []protocol.ClusterPubkey{{Cluster: bytes.Repeat([]byte{1}, 32), Pubkey: []byte("pk")}},
		Lost:        true,
		Pending:     &protocol.PendingEpoch{Epoch: 4, Phase: protocol.PhaseActivating, ActivateAt: 50},
	}
	stored := protocol.MustMarshal(&e)
	var rec protocol.EpochRecord
	if err := protocol.Unmarshal(stored, &rec); err != nil {
		t.Fatalf("stored epoch record does not decode as protocol.EpochRecord: %v", err)
	}
	if got := protocol.MustMarshal(&rec); !bytes.Equal(got, stored) {
		t.Fatalf("EpochRecord re-encodes to %x, stored %x", got, stored)
	}
}
