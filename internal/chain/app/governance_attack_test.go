package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/protocol"
)

// Attacks that would halt or freeze the chain through governance: actions
// that are each valid but together break CometBFT, parameters that leave
// governance unable to act, and a revocation that message-quota pressure
// blocks. Each test drives the real app with real transactions.

// TestTwoUpdatesOfOneValidatorInABlockCannotHaltChain: two
// update_validators actions for the same key land in one block (nonces N
// and N+1). CometBFT refuses duplicate validator updates and halts for
// good; the app merges them per key, last one winning. A key added and
// removed within the block yields no update at all (CometBFT would refuse
// the removal of a validator it never had).
func TestTwoUpdatesOfOneValidatorInABlockCannotHaltChain(t *testing.T) {
	vset := func(t *testing.T) *cmttypes.ValidatorSet {
		return cmttypes.NewValidatorSet([]*cmttypes.Validator{cmttypes.NewValidator(cmted25519.PubKey(pub(val1)), 10)})
	}
	up := func(k ed25519.PrivateKey, power int64) protocol.UpdateValidatorsArgs {
		return protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(k), Power: power}}}
	}
	val3 := key("validator3")
	for _, c := range []struct {
		name    string
		actions []protocol.UpdateValidatorsArgs
		want    map[string]int64 // the validator set CometBFT ends with
	}{
		{"the same key set twice", []protocol.UpdateValidatorsArgs{up(val2, 2), up(val2, 1)}, map[string]int64{string(pub(val1)): 10, string(pub(val2)): 1}},
		{"a key added then removed", []protocol.UpdateValidatorsArgs{up(val2, 2), up(val3, 1), up(val2, 0)}, map[string]int64{string(pub(val1)): 10, string(pub(val3)): 1}},
		{"a genesis validator changed twice", []protocol.UpdateValidatorsArgs{up(val1, 7), up(val2, 1), up(val1, 12)}, map[string]int64{string(pub(val1)): 12, string(pub(val2)): 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ta := newTestApp(t, testGenesis())
			a := newTxBuilder(alice)
			var txs [][]byte
			for i, u := range c.actions {
				txs = append(txs, a.govTx(uint64(i), protocol.ActionUpdateValidators, u, admin1, admin2))
			}
			resp := ta.finalize(txs...)
			for i, r := range resp.TxResults {
				if r.Code != 0 {
					t.Fatalf("action %d: %s", i, r.Log)
				}
			}
			// Apply the block's updates as CometBFT does.
			vs := vset(t)
			var changes []*cmttypes.Validator
			for _, u := range resp.ValidatorUpdates {
				changes = append(changes, cmttypes.NewValidator(cmted25519.PubKey(u.PubKeyBytes), u.Power))
			}
			if err := vs.UpdateWithChangeSet(changes); err != nil {
				t.Fatalf("CometBFT refuses the block's validator updates %v: %v", resp.ValidatorUpdates, err)
			}
			got := map[string]int64{}
			for _, v := range vs.Validators {
				got[string(v.PubKey.Bytes())] = v.VotingPower
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("validator set %v, want %v", got, c.want)
			}
		})
	}
}

// TestFailedGovernanceActionConsumesItsNonce: an action whose approvals are
// valid but whose handler fails in the block stays public; if its nonce
// were not consumed, anyone could execute the approvals later, when the
// state lets the handler succeed. The nonce moves on; the approvals are
// dead.
func TestFailedGovernanceActionConsumesItsNonce(t *testing.T) {
	ta := newTestApp(t, testGenesis())
	a, b := newTxBuilder(alice), newTxBuilder(bob)
	unknown := bytes.Repeat([]byte{7}, 32)
	// Revoking a measurement not (yet) on the allowlist fails.
	action := protocol.MeasurementArgs{Measurement: unknown}
	raw := a.govTx(0, protocol.ActionRevokeMeasurement, action, admin1, admin2)
	// CheckTx refuses it: admission runs the handler too.
	ck := ta.checkTx(raw)
	wantCode(t, "CheckTx", ck.Codespace, ck.Code, ck.Log, protocol.ErrBadMeasurement)
	before := ta.stateDump()
	r := ta.finalize(raw).TxResults[0]
	wantCode(t, "failing action", r.Codespace, r.Code, r.Log, protocol.ErrBadMeasurement)
	changed := changedKeys(before, ta.stateDump())
	if len(changed) != 2 {
		t.Fatalf("a failed action changed %q; want the fee payer and the governance nonce", changed)
	}
	if n := ta.govNonce(); n != 1 {
		t.Fatalf("governance nonce %d after a failed action, want 1", n)
	}
	// Later the measurement is allowed; the stale approvals cannot be used.
	if r := ta.finalize(a.govTx(1, protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: unknown}, admin1, admin2)).TxResults[0]; r.Code != 0 {
		t.Fatal(r.Log)
	}
	b.nonce = 0
	stale := protocol.ExecuteArgs{Action: protocol.GovAction{Kind: protocol.ActionRevokeMeasurement, Args: protocol.MustMarshal(action)}, GovNonce: 0}
	stale.Approvals = approvals(stale.Action, 0, admin1, admin2)
	r = ta.finalize(b.tx(protocol.ModuleGovernance, protocol.MethodExecute, stale)).TxResults[0]
	wantCode(t, "stale approvals executed later", r.Codespace, r.Code, r.Log, protocol.ErrGovNonce)
}

func approvals(action protocol.GovAction, nonce uint64, signers ...ed25519.PrivateKey) []protocol.Approval {
	proposal := (&protocol.GovProposal{ChainID: testChain, GovNonce: nonce, Action: action}).Bytes()
	var out []protocol.Approval
	for _, s := range signers {
		out = append(out, protocol.Approval{PubKey: pub(s), Sig: protocol.Sign(s, protocol.SigGovernance, proposal)})
	}
	return out
}

func (ta *testApp) govNonce() uint64 {
	ta.t.Helper()
	q := ta.query(protocol.QueryGovNonce, 0)
	var n uint64
	if q.Value != nil {
		if err := protocol.Unmarshal(q.Value, &n); err != nil {
			ta.t.Fatal(err)
		}
	}
	return n
}

// manyAdmins is a genesis whose governance needs the largest possible
// number of approvals, so governance transactions are as large as they get.
func manyAdmins() (*protocol.GenesisState, []ed25519.PrivateKey) {
	g := testGenesis()
	var ks []ed25519.PrivateKey
	g.Governance.Admins = nil
	for i := range protocol.MaxAdmins {
		k := key(fmt.Sprintf("admin %d", i))
		ks = append(ks, k)
		g.Governance.Admins = append(g.Governance.Admins, pub(k))
	}
	g.Governance.Threshold = protocol.MaxAdmins
	return g, ks
}

// TestParamsAtTheirBoundsCannotFreezeGovernance sets each parameter to each
// of its bounds and then, with the block already full of cheap pushes, sends
// the repair: a set_params back to the defaults, approved by the largest
// threshold there can be. The repair always lands.
func TestParamsAtTheirBoundsCannotFreezeGovernance(t *testing.T) {
	type edit func(p *protocol.Params)
	cases := map[string]edit{
		"min_fee at its maximum":           func(p *protocol.Params) { p.MinFee = protocol.LimitMinFee },
		"min_fee zero":                     func(p *protocol.Params) { p.MinFee = 0 },
		"max_tx_bytes at its minimum":      func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = protocol.MinTxBytes, 1 },
		"max_tx_bytes at its maximum":      func(p *protocol.Params) { p.MaxTxBytes = protocol.LimitTxBytes },
		"max_payload_bytes at its minimum": func(p *protocol.Params) { p.MaxPayloadBytes = 1 },
		"max_payload_bytes at its maximum": func(p *protocol.Params) {
			p.MaxTxBytes, p.MaxPayloadBytes = protocol.LimitTxBytes, protocol.LimitPayloadBytes
		},
		"max_messages_per_block at its minimum":                 func(p *protocol.Params) { p.MaxMessagesPerBlock = 1 },
		"max_messages_per_block at its maximum":                 func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.LimitMessagesPerBlock },
		"rotation_interval at its maximum":                      func(p *protocol.Params) { p.RotationInterval = protocol.LimitBlocks },
		"rotation_interval at its minimum":                      func(p *protocol.Params) { p.RotationInterval = p.AnnounceWindow + p.ActivationDelay + 1 },
		"announce_window and activation_delay at their minimum": func(p *protocol.Params) { p.AnnounceWindow, p.ActivationDelay = 1, 1 },
		"announce_window and activation_delay at their maximum": func(p *protocol.Params) { p.AnnounceWindow, p.ActivationDelay = 10_000, 10_000 },
		"serve_timeout at its minimum":                          func(p *protocol.Params) { p.ServeTimeout = 1 },
		"serve_timeout at its maximum":                          func(p *protocol.Params) { p.ServeTimeout = protocol.LimitBlocks },
		"max_code_bytes at its minimum":                         func(p *protocol.Params) { p.MaxCodeBytes = protocol.MinCodeBytes },
		"code_byte_fee at its maximum":                          func(p *protocol.Params) { p.CodeByteFee = protocol.LimitCodeByteFee },
		"max_command_gas at its minimum":                        func(p *protocol.Params) { p.MaxCommandGas = 1 },
		"max_command_gas at its maximum":                        func(p *protocol.Params) { p.MaxCommandGas = protocol.LimitGas },
		"max_query_gas at its minimum":                          func(p *protocol.Params) { p.MaxQueryGas = 1 },
		"gas_price at its maximum":                              func(p *protocol.Params) { p.GasPrice = protocol.LimitGasPrice },
		"sim turned off":                                        func(p *protocol.Params) { p.AllowSimAttestation = false },
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			g, admins := manyAdmins()
			ta := newTestApp(t, g)
			a, pusher := newTxBuilder(alice), newTxBuilder(bob)
			p := g.Params
			e(&p)
			if err := p.Validate(); err != nil {
				t.Fatalf("the bound itself is refused: %v", err)
			}
			if r := ta.finalize(a.govTx(0, protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}, admins...)).TxResults[0]; r.Code != 0 {
				t.Fatal(r.Log)
			}
			ta.finalize() // the parameters apply from the next block
			a.fee, pusher.fee = max(p.MinFee, 1), max(p.MinFee, 1)
			// The repair restores the defaults (sim stays as it is now).
			back := g.Params
			back.AllowSimAttestation = p.AllowSimAttestation
			var txs [][]byte
			for range min(p.MaxMessagesPerBlock, 3) {
				txs = append(txs, pusher.push("spam", []byte("x")))
			}
			repair := a.govTx(1, protocol.ActionSetParams, protocol.SetParamsArgs{Params: back}, admins...)
			if uint64(len(repair)) > p.MaxTxBytes {
				t.Fatalf("the repair is %d bytes, max_tx_bytes %d", len(repair), p.MaxTxBytes)
			}
			resp := ta.finalize(append(txs, repair)...)
			if r := resp.TxResults[len(txs)]; r.Code != 0 {
				t.Fatalf("repair refused: %s", r.Log)
			}
			ta.finalize()
			a.fee = back.MinFee
			if r := ta.finalize(a.transfer(addr(bob), 1)).TxResults[0]; r.Code != 0 {
				t.Fatalf("after the repair: %s", r.Log)
			}
		})
	}
}

// TestParamsThatWouldFreezeGovernanceAreRefused: the values that used to be
// accepted and left governance unable to act again.
func TestParamsThatWouldFreezeGovernanceAreRefused(t *testing.T) {
	for name, e := range map[string]func(p *protocol.Params){
		"min_fee no one can pay":                 func(p *protocol.Params) { p.MinFee = math.MaxUint64 },
		"min_fee above its limit":                func(p *protocol.Params) { p.MinFee = protocol.LimitMinFee + 1 },
		"max_tx_bytes below the largest repair":  func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = 1024, 1 },
		"max_tx_bytes just below the floor":      func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = protocol.MinTxBytes-1, 1 },
		"max_messages_per_block above its limit": func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.LimitMessagesPerBlock + 1 },
		"serve_timeout above its limit":          func(p *protocol.Params) { p.ServeTimeout = protocol.LimitBlocks + 1 },
		"rotation_interval above its limit":      func(p *protocol.Params) { p.RotationInterval = protocol.LimitBlocks + 1 },
	} {
		t.Run(name, func(t *testing.T) {
			ta := newTestApp(t, testGenesis())
			a := newTxBuilder(alice)
			p := protocol.DefaultParams()
			p.AllowSimAttestation = true
			e(&p)
			r := ta.finalize(a.govTx(0, protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}, admin1, admin2)).TxResults[0]
			wantCode(t, name, r.Codespace, r.Code, r.Log, protocol.ErrBadParams)
		})
	}
}

// TestMeasurementRevocationCannotBeBlocked: the holder of a broken build
// registers more workers than a block may carry messages, and fills the
// revoking block with cheap pushes ahead of the revocation. The revocation
// still lands; the chain refuses the workers' messages at once, in the same
// block; their records are retired at the end of blocks, at most
// registry.RetireBatch per block, outside the message quota.
func TestMeasurementRevocationCannotBeBlocked(t *testing.T) {
	n := registry.RetireBatch + 5
	ta := newTestApp(t, testGenesis())
	a, pusher := newTxBuilder(alice), newTxBuilder(bob)
	ta.finalize()
	var ws []ed25519.PrivateKey
	var regs [][]byte
	for i := range n {
		k := key(fmt.Sprintf("broken %d", i))
		ws = append(ws, k)
		regs = append(regs, a.register(simAttestation(t, k, []byte("k"), 1, buildB)))
	}
	for _, r := range ta.finalize(regs...).TxResults {
		if r.Code != 0 {
			t.Fatal(r.Log)
		}
	}
	const quota = 4
	p := testGenesis().Params
	p.MaxMessagesPerBlock = quota
	ta.finalize(a.govTx(0, protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}, admin1, admin2))
	ta.finalize()

	var txs [][]byte
	for range quota {
		txs = append(txs, pusher.push("spam", nil))
	}
	txs = append(txs, a.govTx(1, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: measurementB}, admin1, admin2))
	txs = append(txs, a.submit(workerMsg(ws[n-1], 0, "out", nil)))
	resp := ta.finalize(txs...)
	if r := resp.TxResults[quota]; r.Code != 0 {
		t.Fatalf("revocation behind a full block: %s", r.Log)
	}
	r := resp.TxResults[quota+1]
	wantCode(t, "egress in the revoking block", r.Codespace, r.Code, r.Log, protocol.ErrSenderExpired)
	// The revocation is provable from the revoking block on, before every
	// record has been rewritten.
	var entry protocol.MeasurementEntry
	if err := protocol.Unmarshal(ta.proven(protocol.QueryMeasurement+hex.EncodeToString(measurementB)), &entry); err != nil || !entry.Revoked {
		t.Fatalf("proven allowlist entry %+v, %v", entry, err)
	}

	retired := 0
	for blocks := 0; retired < n; blocks++ {
		if blocks > 0 {
			ta.finalize()
		}
		if blocks > 2 {
			t.Fatalf("%d of %d workers retired after %d blocks", retired, n, blocks)
		}
		got := 0
		for _, ev := range ta.events() {
			if ev.Kind == protocol.WorkerRevoked {
				got++
			}
		}
		if got > registry.RetireBatch {
			t.Fatalf("%d retirements in one block, batch %d", got, registry.RetireBatch)
		}
		retired += got
	}
	for _, k := range ws {
		if rec := ta.worker(pub(k)); rec.Status != protocol.StatusRevoked {
			t.Fatalf("worker %x is %s", pub(k), rec.Status)
		}
	}
}

// wantOnlyCharged fails unless a refused transaction changed the payer's
// account (its fee and nonce) and nothing else but, for an approved
// governance action whose handler failed, the governance nonce it consumed.
func wantOnlyCharged(t *testing.T, changed []string) {
	t.Helper()
	rest := slices.DeleteFunc(slices.Clone(changed), func(k string) bool { return k == "governance/nonce" })
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "accounts/") {
		t.Fatalf("refused transaction changed %q", changed)
	}
}

// FuzzGovernanceActions reaches every action handler with arbitrary
// arguments behind valid approvals (the approvals are signed over whatever
// the fuzzer made, as admins would sign a hostile proposal they were
// tricked into): each is refused with a code, never a panic, and what is
// accepted leaves parameters that pass their own bounds and a validator set
// that is not empty.
func FuzzGovernanceActions(f *testing.F) {
	kinds := []string{protocol.ActionSetParams, protocol.ActionUpdateValidators, protocol.ActionAllowMeasurement,
		protocol.ActionRevokeMeasurement, protocol.ActionSetAttestationPolicy, protocol.ActionAddGatekeeper,
		protocol.ActionRemoveGatekeeper, protocol.ActionCreateCluster, protocol.ActionAddWorkerToCluster,
		protocol.ActionRemoveWorkerFromCluster, protocol.ActionRotate}
	p := testGenesis().Params
	seeds := []any{
		protocol.SetParamsArgs{Params: p},
		protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub(val2), Power: 5}, {PubKey: pub(val1), Power: 0}}},
		protocol.MeasurementArgs{Measurement: measurementB, Note: "b"},
		protocol.MeasurementArgs{Measurement: measurementB},
		protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: math.MaxInt64}},
		protocol.WorkerArgs{Worker: pub(worker)},
		protocol.WorkerArgs{Worker: pub(worker)},
		protocol.ClusterArgs{Name: "alpha"},
		protocol.ClusterArgs{Name: "alpha", Worker: pub(worker)},
		protocol.ClusterArgs{Name: "alpha", Worker: pub(worker)},
		protocol.RotateArgs{},
	}
	for i, s := range seeds {
		f.Add(uint8(i), protocol.MustMarshal(s))
	}
	ta := newTestApp(f, testGenesis())
	ta.registerWorker(worker)
	f.Fuzz(func(t *testing.T, kind uint8, args []byte) {
		if cbor.Wellformed(args) != nil {
			return // not a CBOR item: ExecuteArgs itself would not decode (FuzzUnmarshalExecuteArgs)
		}
		action := protocol.GovAction{Kind: kinds[int(kind)%len(kinds)], Args: args}
		ex := protocol.ExecuteArgs{Action: action, GovNonce: 0, Approvals: approvals(action, 0, admin1, admin2)}
		call, err := protocol.NewCall(protocol.ModuleGovernance, protocol.MethodExecute, ex)
		if err != nil {
			return
		}
		raw := protocol.SignTx(alice, protocol.Tx{ChainID: testChain, Nonce: 0, Fee: protocol.DefaultParams().MinFee, Call: call})
		ta.app.mu.Lock()
		defer ta.app.mu.Unlock()
		txCtx, err := ta.app.execTx(ta.app.check, raw)
		if err != nil {
			wantRefusal(t, err)
			return
		}
		if err := governance.Params(txCtx.State).Validate(); err != nil {
			t.Fatalf("accepted parameters out of bounds: %v", err)
		}
		if len(governance.Validators(txCtx.State)) == 0 {
			t.Fatal("accepted an empty validator set")
		}
	})
}
