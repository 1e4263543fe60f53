package query_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// tokenCluster is a chain with a gatekeeper and one member of cluster
// "alpha" running the example token, after alice (Users[0]) sent bob
// (Users[1]) 250 of her 1,000: bob holds 250, alice 750. It returns the
// member and the contract id.
func tokenCluster(t testing.TB) (*clustertest.Env, *clustertest.Worker, []byte, *clustertest.Outcome) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	w := e.StartWorker("member")
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w.Pub()})
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, gk, w)
	alice, bob := e.Users[0], e.Users[1]
	id, _ := e.Instantiate(e.Deploy(clustertest.Example(t, "token")), "alpha", []byte(`{"supply": 1000}`))
	out := e.Command(alice, id, fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": 250}}`, bob.Address()))
	if out.Result.Outcome != protocol.OutcomeOK || string(out.Reply) != `{"balance":750}` {
		t.Fatalf("transfer: %+v, reply %q", out.Result, out.Reply)
	}
	return e, w, id, out
}

// resign is what a relayer or host on the path to the worker does to a
// victim's query: it keeps the header, nonce and ciphertext, and puts its
// own key and signature in place of the victim's.
func resign(t *testing.T, body []byte, key *sdk.Key) []byte {
	t.Helper()
	var req protocol.QueryRequest
	if err := protocol.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	req.Query.Signer = key.Public()
	req.Sig = protocol.Sign(key.Private, protocol.SigQuery, req.SigningBytes())
	return protocol.MustMarshal(&req)
}

// TestRelayerCannotReadOrRedirectAVictimsQuery: whoever carries bob's
// query to the worker (its host, a relayer, a proxy) re-signs it with its
// own account key (alice's: 750 tokens) and posts that copy before bob's
// own. The worker must refuse the copy — it is bound to bob — so that
// there is no second reply to the same ciphertext: none that bob's SDK
// could be shown instead of his own (the attacker-chosen caller's
// balance), and none to XOR with bob's (the same key and nonce would make
// ct_bob ⊕ ct_copy = pt_bob ⊕ pt_copy, and the attacker knows pt_copy by
// asking the same question itself). Bob's own query is still answered.
func TestRelayerCannotReadOrRedirectAVictimsQuery(t *testing.T) {
	e, w, id, out := tokenCluster(t)
	alice, bob := e.Users[0], e.Users[1]
	pr := sdk.NewPRuntime(w.PR.PublicAddr)
	info := w.Info()
	h := protocol.QueryHeader{ChainID: e.C.ChainID(), Contract: id, Worker: w.Pub(), Expiry: info.ContractsHeight + 50, MinHeight: out.Height, GasLimit: 10_000_000}
	input := []byte(`{"balance": {}}`)

	// The attacker learns the plaintext of the copy's reply by asking
	// the same question under its own key.
	own, err := sdk.PrepareQuery(alice, h, info.EncryptionPubkey, input)
	if err != nil {
		t.Fatal(err)
	}
	ownRaw, err := pr.QueryRaw(e.Ctx, own.Body)
	if err != nil {
		t.Fatal(err)
	}
	ownAns, err := own.Open(ownRaw)
	if err != nil || string(ownAns.Output) != `{"balance":750}` {
		t.Fatalf("alice's own query: %+v %v", ownAns, err)
	}

	victim, err := sdk.PrepareQuery(bob, h, info.EncryptionPubkey, input)
	if err != nil {
		t.Fatal(err)
	}
	copyRaw, copyErr := pr.QueryRaw(e.Ctx, resign(t, victim.Body, alice))
	bobRaw, err := pr.QueryRaw(e.Ctx, victim.Body)
	if err != nil {
		t.Fatalf("bob's own query, after the attacker's copy: %v", err)
	}
	bobAns, err := victim.Open(bobRaw)
	if err != nil || string(bobAns.Output) != `{"balance":250}` {
		t.Fatalf("bob's answer: %+v %v", bobAns, err)
	}
	if copyErr == nil {
		if swapped, err := victim.Open(copyRaw); err == nil {
			t.Errorf("bob's SDK accepted the answer to the attacker's copy as his own: %s", swapped.Output)
		}
		if pt, ok := xorRecover(t, bobRaw, copyRaw, ownAns); ok {
			t.Errorf("the attacker recovered bob's reply from the two answers: %q", pt)
		}
		t.Fatal("the worker answered a re-signed copy of bob's query")
	}
	if !errors.Is(copyErr, protocol.ErrQueryDecrypt) {
		t.Fatalf("the re-signed copy: got %v, want %v", copyErr, protocol.ErrQueryDecrypt)
	}
}

// xorRecover is the two-time-pad attack on two answers sealed under the
// same key and nonce: it XORs their sealed replies with the plaintext the
// attacker knows for one of them, and reports whether the result is the
// other's plaintext (a QueryReply that decodes with bob's output).
func xorRecover(t *testing.T, victimRaw, copyRaw []byte, known *sdk.QueryResult) ([]byte, bool) {
	t.Helper()
	var v, c protocol.QueryResponse
	if protocol.Unmarshal(victimRaw, &v) != nil || protocol.Unmarshal(copyRaw, &c) != nil {
		return nil, false
	}
	pt := protocol.MustMarshal(&known.QueryReply)
	if len(v.Answer.Reply) != len(c.Answer.Reply) || len(v.Answer.Reply) < len(pt) {
		return nil, false
	}
	out := make([]byte, len(pt))
	for i := range out {
		out[i] = v.Answer.Reply[i] ^ c.Answer.Reply[i] ^ pt[i]
	}
	var r protocol.QueryReply
	if protocol.Unmarshal(out, &r) != nil {
		return out, bytes.Contains(out, []byte(`{"balance":250}`))
	}
	return out, string(r.Output) == `{"balance":250}`
}

// TestStaleWorkerCannotAnswerADefaultQuery: the host of a member keeps it
// from the chain's news — one member's relay is stopped, so it lags; the
// other is restarted from its checkpoint with the gatekeeper kept from
// serving it, so its contract waits for keys while it syncs on — and bob
// asks it with the SDK's defaults (no minimum height). Neither may answer
// from a state far behind the chain: the SDK asks for the tip minus
// protocol.QueryMaxLag, the lagging worker refuses (query/9), and the
// waiting one refuses even a request with no minimum (query/16). An
// up-to-date member answers the same query.
func TestStaleWorkerCannotAnswerADefaultQuery(t *testing.T) {
	e := clustertest.New(t, func(p *protocol.Params) { p.ServeTimeout = 1_000_000 })
	gk := e.StartWorker("gatekeeper")
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	var ms []*clustertest.Worker
	for _, name := range []string{"live", "lagging", "waiting"} {
		w := e.StartWorker(name)
		e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w.Pub()})
		ms = append(ms, w)
	}
	live, lagging, waiting := ms[0], ms[1], ms[2]
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, append([]*clustertest.Worker{gk}, ms...)...)
	alice, bob := e.Users[0], e.Users[1]
	id, _ := e.Instantiate(e.Deploy(clustertest.Example(t, "token")), "alpha", []byte(`{"supply": 1000}`))
	send := func(n int) *clustertest.Outcome {
		out := e.Command(alice, id, fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": %d}}`, bob.Address(), n))
		if out.Result.Outcome != protocol.OutcomeOK {
			t.Fatalf("transfer: %+v", out.Result)
		}
		return out
	}
	first := send(250)
	e.WaitFor("every member to run the first transfer", func() bool {
		for _, w := range ms {
			if w.Info().ContractsHeight < first.Height {
				return false
			}
		}
		return true
	})

	lagging.StopRelay()
	gk.StopRelay()
	waiting.Stop()
	waiting.Restart()
	e.WaitFor("the restarted member to register again", func() bool { return waiting.Info().Registered })
	second := send(100)
	stale := lagging.Info().ContractsHeight
	e.WaitFor("the chain to move well past the lagging member", func() bool {
		tip, err := e.C.Height(e.Ctx)
		return err == nil && tip > stale+2*protocol.QueryMaxLag &&
			waiting.Info().SyncedHeight > second.Height+2*protocol.QueryMaxLag
	})
	opts := func(w *clustertest.Worker) sdk.QueryOptions {
		return sdk.QueryOptions{Worker: w.Pub(), Verify: sdk.VerifyOptions{AllowSim: true}}
	}
	input := []byte(`{"balance": {}}`)

	q, err := e.C.QueryContract(e.Ctx, bob, id, input, opts(live))
	if err != nil || string(q.Output) != `{"balance":350}` {
		t.Fatalf("the live member: %+v %v", q, err)
	}
	if q, err := e.C.QueryContract(e.Ctx, bob, id, input, opts(lagging)); err == nil {
		t.Errorf("the SDK accepted the lagging member's answer from block %d (%s), the second transfer is in block %d", q.Height, q.Output, second.Height)
	} else if !errors.Is(err, protocol.ErrQueryBehind) {
		t.Errorf("the lagging member: got %v, want %v", err, protocol.ErrQueryBehind)
	}
	if q, err := e.C.QueryContract(e.Ctx, bob, id, input, opts(waiting)); err == nil {
		t.Errorf("the SDK accepted the waiting member's answer from block %d (%s), the second transfer is in block %d", q.Height, q.Output, second.Height)
	}
	info := waiting.Info()
	h := protocol.QueryHeader{ChainID: e.C.ChainID(), Contract: id, Worker: waiting.Pub(), Expiry: info.SyncedHeight + 50, GasLimit: 10_000_000}
	p, err := sdk.PrepareQuery(bob, h, info.EncryptionPubkey, input)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := sdk.NewPRuntime(waiting.PR.PublicAddr).QueryRaw(e.Ctx, p.Body); err == nil {
		a, _ := p.Open(raw)
		t.Fatalf("a member whose contract waits for keys answered a query with no minimum height: %+v", a)
	} else if !errors.Is(err, protocol.ErrQueryStale) {
		t.Fatalf("the waiting member, no minimum height: got %v, want %v", err, protocol.ErrQueryStale)
	}
}
