package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/merkle"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/protocol"
)

func TestTransferChargesFeeAndAdvancesNonce(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	resp := ta.finalize(a.transfer(addr(bob), 250), a.transfer(addr(bob), 50))
	for i, r := range resp.TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: %s", i, r.Log)
		}
	}
	fee := protocol.DefaultParams().MinFee
	if got := ta.account(addr(alice)); got.Balance != 1_000_000_000-300-2*fee || got.Nonce != 2 {
		t.Fatalf("alice = %+v", got)
	}
	if got := ta.account(addr(bob)); got.Balance != 1_000_000_000+300 || got.Nonce != 0 {
		t.Fatalf("bob = %+v", got)
	}
}

func TestCheckTxTracksMempoolNoncesAndSequences(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.registerWorker(worker)
	a, b := newTxBuilder(alice), newTxBuilder(bob)
	// Two transactions of one account in a row are both admitted.
	for i, raw := range [][]byte{a.transfer(addr(bob), 1), a.transfer(addr(bob), 1)} {
		if r := ta.checkTx(raw); r.Code != 0 {
			t.Fatalf("tx %d: %s", i, r.Log)
		}
	}
	// Two relayers submitting the same worker message: the second copy is
	// refused as a duplicate by CheckTx, before it costs anything.
	sm := workerMsg(worker, 0, "echo", nil)
	if r := ta.checkTx(a.submit(sm)); r.Code != 0 {
		t.Fatalf("first copy: %s", r.Log)
	}
	r := ta.checkTx(b.submit(sm))
	wantCode(t, "second copy", r.Codespace, r.Code, r.Log, protocol.ErrDuplicateSeq)
}

func TestPushAssignsSequencesAndRecordsMessages(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.registerWorker(worker)
	a, b := newTxBuilder(alice), newTxBuilder(bob)
	resp := ta.finalize(a.push("chat", []byte("one")), b.push("chat", []byte("x")), a.push("chat", []byte("two")),
		a.submit(workerMsg(worker, 0, "echo", []byte("w0"))))
	for i, r := range resp.TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: %s", i, r.Log)
		}
	}
	q := ta.query(protocol.QueryMessages+fmt.Sprint(ta.app.LastHeight()), 0)
	if q.Code != 0 {
		t.Fatal(q.Log)
	}
	bm, msgs, err := protocol.DecodeBlockMessages(q.Value)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		origin  protocol.Origin
		seq     uint64
		payload string
	}{
		{protocol.AccountOrigin(addr(alice)), 0, "one"},
		{protocol.AccountOrigin(addr(bob)), 0, "x"},
		{protocol.AccountOrigin(addr(alice)), 1, "two"},
		{protocol.WorkerOrigin(pub(worker)), 0, "w0"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		m := msgs[i]
		if m.Origin.String() != w.origin.String() || m.Seq != w.seq || string(m.Payload) != w.payload {
			t.Fatalf("message %d = %s seq %d %q, want %s seq %d %q", i, m.Origin, m.Seq, m.Payload, w.origin, w.seq, w.payload)
		}
	}
	// The message list and state root rebuild the app hash with nothing but
	// CometBFT's merkle package.
	got := merkle.HashFromByteSlices([][]byte{bm.StateRoot, merkle.HashFromByteSlices(bm.Messages)})
	if !bytes.Equal(got, resp.AppHash) {
		t.Fatalf("recomputed app hash %X, FinalizeBlock returned %X", got, resp.AppHash)
	}
	// next_seq reflects the accepted worker message.
	seqResp := ta.query(protocol.QueryNextSeq+protocol.WorkerOrigin(pub(worker)).String(), 0)
	var next uint64
	mustUnmarshal(t, seqResp.Value, &next)
	if next != 1 {
		t.Fatalf("next seq %d, want 1", next)
	}
}

func TestQueriesProveStateAgainstAppHash(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a := newTxBuilder(alice)
	ta.finalize(a.transfer(addr(bob), 7), a.push("t", []byte("p")))
	ta.finalize(a.transfer(addr(bob), 8))
	for _, h := range []int64{1, 2} {
		for _, path := range []string{
			protocol.QueryAccount + addr(alice).String(),
			protocol.QueryAccount + addr(key("nobody")).String(), // absent: non-membership proof
			protocol.QueryNextSeq + protocol.AccountOrigin(addr(alice)).String(),
			protocol.QueryNextSeq + protocol.WorkerOrigin(pub(worker)).String(),
		} {
			r := ta.query(path, h)
			if r.Code != 0 || r.Height != h {
				t.Fatalf("%s at %d: code %d height %d: %s", path, h, r.Code, r.Height, r.Log)
			}
			if err := protocol.VerifyState(r.Key, r.Value, r.ProofOps, ta.appHashes[h]); err != nil {
				t.Fatalf("%s at %d: %v", path, h, err)
			}
			// The same proof does not verify against another block's app hash
			// or with another value.
			if err := protocol.VerifyState(r.Key, r.Value, r.ProofOps, ta.appHashes[3-h]); err == nil {
				t.Fatalf("%s at %d verified against block %d", path, h, 3-h)
			}
			if err := protocol.VerifyState(r.Key, []byte("forged"), r.ProofOps, ta.appHashes[h]); err == nil {
				t.Fatalf("%s at %d verified a forged value", path, h)
			}
		}
	}
}

func TestQueryRejections(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	ta.finalize()
	cases := []struct {
		path   string
		height int64
		want   *protocol.Error
	}{
		{"bank/balance", 0, protocol.ErrUnknownQueryPath},
		{protocol.QueryAccount + "zz", 0, protocol.ErrBadAddress},
		{protocol.QueryNextSeq + "robot:00", 0, protocol.ErrBadOrigin},
		{protocol.QueryNextSeq + "worker:0011", 0, protocol.ErrBadOrigin},
		{protocol.QueryMessages + "-1", 0, protocol.ErrBadQuery},
		{protocol.QueryMessages + "x", 0, protocol.ErrBadQuery},
		{protocol.QueryMessages + "9", 0, protocol.ErrHeightUnavailable},
		{protocol.QueryAccount + addr(alice).String(), 9, protocol.ErrHeightUnavailable},
	}
	for _, c := range cases {
		r := ta.query(c.path, c.height)
		wantCode(t, c.path, r.Codespace, r.Code, r.Log, c.want)
	}
}

func TestGovernance(t *testing.T) {
	newParams := protocol.DefaultParams()
	newParams.MinFee = 2_000
	setParams := protocol.SetParamsArgs{Params: newParams}
	t.Run("threshold of admins sets params", func(t *testing.T) {
		ta := newTestApp(t, testGenesis())
		a := newTxBuilder(alice)
		resp := ta.finalize(a.govTx(0, protocol.ActionSetParams, setParams, admin1, admin3))
		if resp.TxResults[0].Code != 0 {
			t.Fatal(resp.TxResults[0].Log)
		}
		// The new fee applies from the next block.
		ta.finalize()
		r := ta.checkTx(a.transfer(addr(bob), 1))
		wantCode(t, "old fee", r.Codespace, r.Code, r.Log, protocol.ErrFeeTooLow)
		bm := ta.query(protocol.QueryMessages+"1", 0)
		_, msgs, err := protocol.DecodeBlockMessages(bm.Value)
		if err != nil || len(msgs) != 1 || msgs[0].Topic != governance.TopicParams {
			t.Fatalf("governance emitted %v, %v", msgs, err)
		}
	})
	t.Run("validator update reaches CometBFT", func(t *testing.T) {
		ta := newTestApp(t, testGenesis())
		a := newTxBuilder(alice)
		up := protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val2), Power: 5}}}
		resp := ta.finalize(a.govTx(0, protocol.ActionUpdateValidators, up, admin1, admin2))
		if resp.TxResults[0].Code != 0 {
			t.Fatal(resp.TxResults[0].Log)
		}
		if len(resp.ValidatorUpdates) != 1 || !bytes.Equal(resp.ValidatorUpdates[0].PubKeyBytes, pub(val2)) || resp.ValidatorUpdates[0].Power != 5 {
			t.Fatalf("validator updates %v", resp.ValidatorUpdates)
		}
	})

	cases := []struct {
		name string
		tx   func(a *txBuilder) []byte
		want *protocol.Error
	}{
		{"one approval below threshold", func(a *txBuilder) []byte {
			return a.govTx(0, protocol.ActionSetParams, setParams, admin1)
		}, protocol.ErrNotEnoughApprovals},
		{"approval by a non-admin", func(a *txBuilder) []byte {
			return a.govTx(0, protocol.ActionSetParams, setParams, admin1, bob)
		}, protocol.ErrNotAdmin},
		{"the same admin twice", func(a *txBuilder) []byte {
			return a.govTx(0, protocol.ActionSetParams, setParams, admin1, admin1)
		}, protocol.ErrDuplicateApproval},
		{"approval signed for another nonce", func(a *txBuilder) []byte {
			raw := a.govTx(0, protocol.ActionSetParams, setParams, admin1, admin2)
			return resignApprovalsWithNonce(t, raw, a, 7)
		}, protocol.ErrBadApproval},
		{"replayed governance nonce", func(a *txBuilder) []byte {
			return a.govTx(1, protocol.ActionSetParams, setParams, admin1, admin2)
		}, protocol.ErrGovNonce},
		{"unknown action", func(a *txBuilder) []byte {
			return a.govTx(0, "mint", map[string]int{"x": 1}, admin1, admin2)
		}, protocol.ErrUnknownAction},
		{"invalid params", func(a *txBuilder) []byte {
			bad := newParams
			bad.MaxTxBytes = 10
			return a.govTx(0, protocol.ActionSetParams, protocol.SetParamsArgs{Params: bad}, admin1, admin2)
		}, protocol.ErrBadParams},
		{"turning sim attestation on after genesis", func(a *txBuilder) []byte {
			on := newParams
			on.AllowSimAttestation = true
			return a.govTx(0, protocol.ActionSetParams, protocol.SetParamsArgs{Params: on}, admin1, admin2)
		}, protocol.ErrSimForbidden},
		{"removing every validator", func(a *txBuilder) []byte {
			up := protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val1), Power: 0}}}
			return a.govTx(0, protocol.ActionUpdateValidators, up, admin1, admin2)
		}, protocol.ErrBadValidatorUpdate},
		{"removing a non-validator", func(a *txBuilder) []byte {
			up := protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val2), Power: 0}}}
			return a.govTx(0, protocol.ActionUpdateValidators, up, admin1, admin2)
		}, protocol.ErrBadValidatorUpdate},
		{"negative power", func(a *txBuilder) []byte {
			up := protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val2), Power: -1}}}
			return a.govTx(0, protocol.ActionUpdateValidators, up, admin1, admin2)
		}, protocol.ErrBadValidatorUpdate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := testGenesis()
			if c.want == protocol.ErrSimForbidden {
				g.Params.AllowSimAttestation = false
			}
			ta := newTestApp(t, g)
			a := newTxBuilder(alice)
			if c.want == protocol.ErrGovNonce {
				if r := ta.finalize(a.govTx(0, protocol.ActionSetParams, setParams, admin1, admin2)); r.TxResults[0].Code != 0 {
					t.Fatal(r.TxResults[0].Log)
				}
				a.fee = newParams.MinFee
				ta.finalize()
				// Replay nonce 0 instead of using 1.
				raw := a.govTx(0, protocol.ActionSetParams, setParams, admin1, admin2)
				r := ta.finalize(raw).TxResults[0]
				wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
				return
			}
			before := ta.stateDump()
			r := ta.finalize(c.tx(a)).TxResults[0]
			wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
			changed := changedKeys(before, ta.stateDump())
			wantOnlyCharged(t, changed)
			// An approved action whose handler failed consumes its nonce;
			// a refusal before the approvals were checked does not.
			approved := c.want == protocol.ErrBadParams || c.want == protocol.ErrSimForbidden || c.want == protocol.ErrBadValidatorUpdate
			if consumed := slices.Contains(changed, "governance/nonce"); consumed != approved {
				t.Fatalf("governance nonce consumed: %v, want %v", consumed, approved)
			}
		})
	}
}

// resignApprovalsWithNonce keeps the transaction's gov_nonce but replaces its
// approvals with signatures over another nonce.
func resignApprovalsWithNonce(t *testing.T, raw []byte, b *txBuilder, nonce uint64) []byte {
	t.Helper()
	tx, err := protocol.DecodeTx(raw, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var args protocol.ExecuteArgs
	mustUnmarshal(t, tx.Call.Args, &args)
	proposal := (&protocol.GovProposal{ChainID: testChain, GovNonce: nonce, Action: args.Action}).Bytes()
	for i, k := range []ed25519.PrivateKey{admin1, admin2} {
		args.Approvals[i].Sig = protocol.Sign(k, protocol.SigGovernance, proposal)
	}
	b.nonce--
	return b.tx(protocol.ModuleGovernance, protocol.MethodExecute, args)
}

// TestRestartOnDiskKeepsState closes the app and opens it again on the same
// database: Info reports the same height and app hash, and blocks continue.
func TestRestartOnDiskKeepsState(t *testing.T) {
	dir := t.TempDir()
	db, err := dbm.NewGoLevelDB("app", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAppOnDB(t, testGenesis(), db)
	a := newTxBuilder(alice)
	ta.finalize(a.transfer(addr(bob), 5))
	ta.finalize(a.push("t", nil))
	if err := ta.app.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = dbm.NewGoLevelDB("app", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	again := newTestAppOnDB(t, nil, db)
	defer again.app.Close()
	info, err := again.app.Info(context.Background(), &abci.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight != 2 || !bytes.Equal(info.LastBlockAppHash, ta.appHashes[2]) {
		t.Fatalf("after restart: height %d hash %s, want 2 %s", info.LastBlockHeight, hex.EncodeToString(info.LastBlockAppHash), hex.EncodeToString(ta.appHashes[2]))
	}
	again.now = ta.now
	if r := again.finalize(a.transfer(addr(bob), 5)).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	if got := again.account(addr(bob)).Balance; got != 1_000_000_010 {
		t.Fatalf("bob balance %d after restart", got)
	}
}
