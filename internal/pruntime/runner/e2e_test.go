package runner_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// cluster is a chain with a gatekeeper and the given members of cluster
// "alpha", in epoch 1.
func cluster(t *testing.T, members ...string) (*clustertest.Env, []*clustertest.Worker) {
	e := clustertest.New(t, nil)
	gk := e.StartWorker("gatekeeper")
	var ws []*clustertest.Worker
	e.Gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	for _, name := range members {
		w := e.StartWorker(name)
		e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: w.Pub()})
		ws = append(ws, w)
	}
	e.Gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: gk.Pub()})
	e.WaitEpoch(1, append([]*clustertest.Worker{gk}, ws...)...)
	return e, ws
}

// TestQueriesAnswerOnlyFreshSignedRequests deploys the token, moves some
// of it by command, reads balances by encrypted query, and shows every way
// a worker refuses a query, each with its own error and without answering.
func TestQueriesAnswerOnlyFreshSignedRequests(t *testing.T) {
	e, ws := cluster(t, "member")
	w := ws[0]
	alice, bob := e.Users[0], e.Users[1]
	id, _ := e.Instantiate(e.Deploy(clustertest.Example(t, "token")), "alpha", []byte(`{"supply": 1000}`))
	out := e.Command(alice, id, fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": 250}}`, bob.Address()))
	if out.Result.Outcome != protocol.OutcomeOK || string(out.Reply) != `{"balance":750}` {
		t.Fatalf("transfer: %+v, reply %q", out.Result, out.Reply)
	}

	q, err := e.Query(w, bob, id, []byte(`{"balance": {}}`), out.Height)
	if err != nil || q.Outcome != protocol.OutcomeOK || string(q.Output) != `{"balance":250}` || q.Height < out.Height || !bytes.Equal(q.Worker, w.Pub()) {
		t.Fatalf("bob's balance: %+v %v", q, err)
	}
	q, err = e.Query(w, bob, id, fmt.Appendf(nil, `{"balance_of": {"owner": "%s"}}`, alice.Address()), 0)
	if err != nil || q.Outcome != protocol.OutcomeError || !bytes.Contains(q.Output, []byte("only to their owner")) {
		t.Fatalf("bob reading alice's balance: %+v %v", q, err)
	}

	info := w.Info()
	height := info.ContractsHeight
	pr := sdk.NewPRuntime(w.PR.PublicAddr)
	header := func() protocol.QueryHeader {
		return protocol.QueryHeader{ChainID: e.C.ChainID(), Contract: id, Worker: w.Pub(), Expiry: height + 50, GasLimit: 10_000_000}
	}
	prepare := func(key *sdk.Key, h protocol.QueryHeader, ek []byte) *sdk.PreparedQuery {
		t.Helper()
		p, err := sdk.PrepareQuery(key, h, ek, []byte(`{"balance": {}}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ask := func(body []byte) error {
		_, err := pr.QueryRaw(e.Ctx, body)
		return err
	}
	ek := info.EncryptionPubkey

	// A well-formed request is answered once; the same bytes again are a
	// replay.
	fresh := prepare(bob, header(), ek)
	raw, err := pr.QueryRaw(e.Ctx, fresh.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ans, err := fresh.Open(raw); err != nil || string(ans.Output) != `{"balance":250}` {
		t.Fatalf("prepared query: %+v %v", ans, err)
	}
	if err := ask(fresh.Body); !errors.Is(err, protocol.ErrQueryReplay) {
		t.Fatalf("replayed query: %v", err)
	}

	expired, ahead, behind, otherWorker, noGas, muchGas, shortNonce, otherChain := header(), header(), header(), header(), header(), header(), header(), header()
	expired.Expiry = height - 1
	ahead.Expiry = height + protocol.MaxQueryWindow + 10
	behind.MinHeight = height + 1000
	otherWorker.Worker = bytes.Repeat([]byte{7}, 32)
	noGas.GasLimit = 0
	muchGas.GasLimit = protocol.DefaultParams().MaxQueryGas + 1
	shortNonce.Nonce = []byte("short")
	otherChain.ChainID = "another-chain"
	unknown := header()
	unknown.Contract = bytes.Repeat([]byte{9}, 32)

	forged := prepare(bob, header(), ek)
	var req protocol.QueryRequest
	if err := protocol.Unmarshal(forged.Body, &req); err != nil {
		t.Fatal(err)
	}
	req.Sig = protocol.Sign(alice.Private, protocol.SigQuery, req.SigningBytes()) // bob's request signed with alice's key
	signedByAnother := protocol.MustMarshal(&req)
	retargeted := req
	if err := protocol.Unmarshal(prepare(bob, header(), ek).Body, &retargeted); err != nil {
		t.Fatal(err)
	}
	retargeted.Query.Contract = unknown.Contract // signature and aad bind the original contract
	garbled := prepare(bob, header(), ek)
	var g protocol.QueryRequest
	protocol.Unmarshal(garbled.Body, &g)
	g.Ciphertext = append(g.Ciphertext[:len(g.Ciphertext)-1], g.Ciphertext[len(g.Ciphertext)-1]^1)
	g.Sig = protocol.Sign(bob.Private, protocol.SigQuery, g.SigningBytes()) // validly signed, but does not open

	otherKey, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		body []byte
		want *protocol.Error
	}{
		{"malformed envelope", []byte("not cbor at all"), protocol.ErrQueryMalformed},
		{"truncated envelope", fresh.Body[:len(fresh.Body)/2], protocol.ErrQueryMalformed},
		{"nonce too short", prepare(bob, shortNonce, ek).Body, protocol.ErrQueryMalformed},
		{"another chain", prepare(bob, otherChain, ek).Body, protocol.ErrQueryMalformed},
		{"signed by another key", signedByAnother, protocol.ErrQuerySignature},
		{"contract changed after signing", protocol.MustMarshal(&retargeted), protocol.ErrQuerySignature},
		{"expired", prepare(bob, expired, ek).Body, protocol.ErrQueryExpired},
		{"expiry too far ahead", prepare(bob, ahead, ek).Body, protocol.ErrQueryExpired},
		{"minimum height above the worker's", prepare(bob, behind, ek).Body, protocol.ErrQueryBehind},
		{"a contract this worker does not run", prepare(bob, unknown, ek).Body, protocol.ErrQueryUnknownContract},
		{"meant for another worker", prepare(bob, otherWorker, ek).Body, protocol.ErrQueryWrongKey},
		{"sealed to another key", prepare(bob, header(), otherKey.Public()).Body, protocol.ErrQueryWrongKey},
		{"no gas", prepare(bob, noGas, ek).Body, protocol.ErrQueryGas},
		{"more gas than allowed", prepare(bob, muchGas, ek).Body, protocol.ErrQueryGas},
		{"ciphertext that does not open", protocol.MustMarshal(&g), protocol.ErrQueryDecrypt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ask(c.body); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
