package protocol_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestEpochInfoEncodesItsRecordInline: EpochInfo embeds EpochRecord, and
// its encoding (what keys/epoch answers, and what pre-existing clients
// decode) is one flat map, byte for byte the one it was when EpochInfo
// spelled the record's fields out itself.
func TestEpochInfoEncodesItsRecordInline(t *testing.T) {
	const flat = "a9646c6f7374f56673657276656481a4636b6579416b64726f6c656a676174656b656570657266776f726b6572410767636c7573746572406763757272656e740367686f6c646572738141076770656e64696e67a96565706f6368046570686173656a61637469766174696e6768636c7573746572738069656d657267656e6379f46a70726f706f73655f6174006a726563697069656e7473806b61637469766174655f617418326b636c75737465725f696473806c7265717565737465645f61740068636c75737465727381a2667075626b657942706b67636c7573746572420102696e6578745f6175746f185a6b676174656b6565706572738141076c6163746976617465645f61741828"
	info := protocol.EpochInfo{
		EpochRecord: protocol.EpochRecord{
			Current: 3, ActivatedAt: 40, Clusters: []protocol.ClusterPubkey{{Cluster: []byte{1, 2}, Pubkey: []byte("pk")}}, Lost: true,
			Pending: &protocol.PendingEpoch{Epoch: 4, Phase: protocol.PhaseActivating, ActivateAt: 50},
		},
		NextAuto: 90, Gatekeepers: [][]byte{{7}}, Holders: [][]byte{{7}},
		Served: []protocol.Recipient{{Worker: []byte{7}, Key: []byte("k"), Role: protocol.RoleGatekeeper}},
	}
	want, _ := hex.DecodeString(flat)
	if got := protocol.MustMarshal(&info); !bytes.Equal(got, want) {
		t.Fatalf("EpochInfo encodes to %x, want the flat map %x", got, want)
	}
	var back protocol.EpochInfo
	if err := protocol.Unmarshal(want, &back); err != nil {
		t.Fatalf("the flat map does not decode: %v", err)
	}
	if back.Current != 3 || back.Pending == nil || back.Pending.ActivateAt != 50 || back.NextAuto != 90 {
		t.Fatalf("decoded %+v", back)
	}
	if got := protocol.MustMarshal(&back); !bytes.Equal(got, want) {
		t.Fatalf("decoded EpochInfo re-encodes to %x, want %x", got, want)
	}
}

// TestCheckSealedForRefusesEveryEpochButALiveCurrentOne: what is sealed
// must name the current epoch, and only while its secret is not lost; each
// refusal has its own code and names the epochs.
func TestCheckSealedForRefusesEveryEpochButALiveCurrentOne(t *testing.T) {
	live := &protocol.EpochRecord{Current: 3}
	lost := &protocol.EpochRecord{Current: 3, Lost: true}
	cases := []struct {
		name  string
		rec   *protocol.EpochRecord
		epoch uint64
		want  *protocol.Error
		msg   string
	}{
		{"before the first epoch", &protocol.EpochRecord{}, 0, protocol.ErrNoEpoch, "no key epoch"},
		{"a retired epoch", live, 2, protocol.ErrRetiredEpoch, "epoch 2 retired; current is 3"},
		{"a future epoch", live, 4, protocol.ErrFutureEpoch, "epoch 4, current is 3"},
		{"a lost epoch", lost, 3, protocol.ErrEpochLost, "epoch 3"},
	}
	for _, c := range cases {
		err := c.rec.CheckSealedFor(c.epoch)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v naming %q", c.name, err, c.want, c.msg)
		}
	}
	if err := live.CheckSealedFor(3); err != nil {
		t.Fatalf("the live current epoch: %v", err)
	}
}
