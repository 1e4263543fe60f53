package app

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/protocol"
)

// TestContractKeysFollowRotation: during a rotation a member publishes the
// next epoch's contract key once the proposal has landed; at activation the
// retired key disappears from the record, commands sealed for the retired
// epoch are refused, and commands for the new one are accepted.
func TestContractKeysFollowRotation(t *testing.T) {
	s := newContractsSetup(t)
	key1 := contractPub(t, s.secret, s.id)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	secret2 := bytes.Repeat([]byte{0x77}, 32)
	s.rotateTo(2, secret2, func() {
		s.mustOK(s.publish(s.m.id, 2, s.id))
		c := s.ta.contract(s.id)
		if len(c.Keys) != 2 || c.Keys[0].Epoch != 1 || !bytes.Equal(c.Keys[0].Pubkey, key1) || c.Keys[1].Epoch != 2 {
			t.Fatalf("keys while epoch 2 is activating: %+v", c.Keys)
		}
		raw, _ := s.commandTx(s.a, s.id, 2, []byte("too early"))
		r := s.ta.finalize(raw).TxResults[0]
		wantCode(t, "command for the epoch not yet active", r.Codespace, r.Code, r.Log, protocol.ErrFutureEpoch)
	})
	c := s.ta.contract(s.id)
	if len(c.Keys) != 1 || c.Keys[0].Epoch != 2 || !bytes.Equal(c.Keys[0].Pubkey, contractPub(t, secret2, s.id)) {
		t.Fatalf("keys after activation %+v; want only epoch 2's", c.Keys)
	}
	for k := range s.ta.stateDump() {
		if rest, ok := strings.CutPrefix(k, "contracts/ke/"); ok && binary.BigEndian.Uint64([]byte(rest[:8])) < 2 {
			t.Fatalf("index entry of a retired key left behind: %q", k)
		}
	}

	// The old epoch's command is refused; nothing but the fee changes.
	raw, _ := s.commandTx(s.a, s.id, 1, []byte("stale"))
	before := s.ta.stateDump()
	r := s.ta.finalize(raw).TxResults[0]
	wantCode(t, "command for the retired epoch", r.Codespace, r.Code, r.Log, protocol.ErrRetiredEpoch)
	s.ta.onlyFeeAndNonce(t, before, addr(alice))

	raw, _ = s.commandTx(s.a, s.id, 2, []byte("fresh"))
	s.mustOK(raw)
	if st := s.ta.commandStatus(s.id, 1); st.Epoch != 2 || st.Index != 1 {
		t.Fatalf("command of the new epoch %+v", st)
	}
	// Command 0, sent in epoch 1, may still report its result.
	s.mustOK(s.report(s.m.id, s.id, protocol.ContractResult{Kind: protocol.ResultCommand, Index: 0, Outcome: protocol.OutcomeBadInput}))
}

// TestRetiredKeysPrunedInBoundedBatches: a rotation rewrites at most
// PruneBatch contract records per block, so its cost is spread over blocks
// however many contracts exist; every record is clean in the end.
func TestRetiredKeysPrunedInBoundedBatches(t *testing.T) {
	s := newContractsSetup(t)
	n := contracts.PruneBatch + 20
	var txs [][]byte
	var ids [][]byte
	for i := range n {
		a, _ := s.instantiateArgs(alice, fmt.Appendf(nil, "bulk %d", i), nil)
		txs = append(txs, s.instantiate(s.a, a))
		id := protocol.ContractID(addr(alice), s.hash, alpha, a.Salt)
		ids = append(ids, id[:])
	}
	s.mustOK(txs...)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), protocol.MaxKeysPerPublication)]
		ids = ids[len(batch):]
		s.mustOK(s.publish(s.m.id, 1, batch...))
	}
	withOldKeys := func() int {
		count := 0
		prefix := string(contracts.ContractStateKey(nil))
		for k, v := range s.ta.stateDump() {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			var c protocol.ContractInfo
			mustUnmarshal(t, []byte(v), &c)
			if _, ok := c.KeyFor(1); ok {
				count++
			}
		}
		return count
	}
	if got := withOldKeys(); got != n+1 {
		t.Fatalf("%d contracts hold an epoch-1 key, want %d", got, n+1)
	}
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	s.rotateTo(2, bytes.Repeat([]byte{0x78}, 32), nil)
	if got := withOldKeys(); got != n+1-contracts.PruneBatch {
		t.Fatalf("after the activation block %d records keep the retired key, want %d", got, n+1-contracts.PruneBatch)
	}
	s.ta.finalize()
	if got := withOldKeys(); got != 0 {
		t.Fatalf("a block later %d records keep the retired key", got)
	}
}

// TestContractQueriesRejectMalformedPaths: contract queries name 32-byte
// hex ids and decimal indexes.
func TestContractQueriesRejectMalformedPaths(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.finalize()
	for _, path := range []string{
		protocol.QueryCode + "zz",
		protocol.QueryCode + strings.Repeat("ab", 31),
		protocol.QueryContract + strings.Repeat("AB", 32) + "00",
		protocol.QueryCommand + strings.Repeat("ab", 32),
		protocol.QueryCommand + strings.Repeat("ab", 32) + "/-1",
		protocol.QueryCommand + "xyz/1",
	} {
		q := ta.query(path, 0)
		wantCode(t, path, q.Codespace, q.Code, q.Log, protocol.ErrBadQuery)
	}
	// An absent record is answered with a proof of its absence.
	if raw := ta.proven(protocol.QueryContract + strings.Repeat("ab", 32)); raw != nil {
		t.Fatalf("unknown contract answered %x", raw)
	}
}

// TestContractEpochQueryIsProven: the epoch record clients seal to comes
// with a proof and agrees with the assembled keys/epoch view.
func TestContractEpochQueryIsProven(t *testing.T) {
	s := newContractChain(t)
	raw := s.ta.proven(protocol.QueryContractEpoch)
	var rec protocol.EpochRecord
	mustUnmarshal(t, raw, &rec)
	info := s.epoch()
	key, ok := rec.ClusterKey(alpha)
	if rec.Current != 1 || info.Current != 1 || !ok || !bytes.Equal(key, info.Clusters[0].Pubkey) {
		t.Fatalf("proven epoch record %+v, keys/epoch %+v", rec, info)
	}
}
