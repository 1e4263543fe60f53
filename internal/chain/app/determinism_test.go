package app

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestDeterminismAcrossInstances feeds four independent application
// instances the same 120 blocks of mixed transactions (transfers, pushes,
// worker messages, failing calls, refused envelopes, governance and a
// validator-set change) and requires identical app hashes at every height.
func TestDeterminismAcrossInstances(t *testing.T) {
	const blocks = 120
	apps := make([]*testApp, 4)
	for i := range apps {
		apps[i] = newTestApp(t, testGenesis())
		apps[i].registerWorker(worker)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	users := []ed25519.PrivateKey{alice, bob, poor, key("carol"), key("dave")}
	builders := make([]*txBuilder, len(users))
	for i, u := range users {
		builders[i] = newTxBuilder(u)
	}
	workerSeq := uint64(0)
	failures, successes := 0, 0
	for h := int64(3); h <= blocks+2; h++ {
		var txs [][]byte
		for range rng.IntN(12) {
			b := builders[rng.IntN(len(builders))]
			switch rng.IntN(8) {
			case 0, 1, 2:
				to := users[rng.IntN(len(users))]
				txs = append(txs, b.transfer(addr(to), uint64(rng.IntN(5_000_000))))
			case 3:
				txs = append(txs, b.push(fmt.Sprintf("topic/%d", rng.IntN(3)), []byte(fmt.Sprint(rng.Int()))))
			case 4:
				// Sometimes a duplicate or a gap.
				seq := workerSeq
				if rng.IntN(4) == 0 {
					seq = uint64(rng.IntN(int(workerSeq) + 2))
				}
				txs = append(txs, b.submit(workerMsg(worker, seq, "out", []byte{byte(seq)})))
				if seq == workerSeq {
					workerSeq++
				}
			case 5:
				txs = append(txs, b.push("bad topic", nil)) // fails in the call
			case 6:
				b.nonce += 3 // refused envelope; restore the nonce afterwards
				txs = append(txs, b.transfer(addr(alice), 1))
				b.nonce -= 4
			case 7:
				txs = append(txs, []byte{0xff, 0x00}) // garbage
			}
		}
		if h == 42 {
			up := protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val2), Power: 7}}}
			txs = append(txs, builders[0].govTx(0, protocol.ActionUpdateValidators, up, admin2, admin3))
		}
		var first []byte
		for i, ta := range apps {
			resp := ta.finalize(txs...)
			if i == 0 {
				first = resp.AppHash
				for _, r := range resp.TxResults {
					if r.Code == 0 {
						successes++
					} else {
						failures++
					}
				}
				if h == 42 && len(resp.ValidatorUpdates) != 1 {
					t.Fatalf("block 42: validator updates %v", resp.ValidatorUpdates)
				}
				continue
			}
			if !bytes.Equal(resp.AppHash, first) {
				t.Fatalf("height %d: instance %d app hash %X, instance 0 %X", h, i, resp.AppHash, first)
			}
		}
		// A refused envelope does not advance the builder's nonce on chain;
		// resynchronise builders with the chain.
		for _, b := range builders {
			b.nonce = apps[0].account(addr(b.key)).Nonce
		}
	}
	if successes < 100 || failures < 50 {
		t.Fatalf("workload too one-sided: %d successes, %d failures", successes, failures)
	}
}
