package sdk_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/lyingnode"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// The attacks of a lying node on the SDK (review 2026-12-chain-sdk,
// findings 2, 3 and 9), each through a liar proxy in front of a real node.

// TestLyingNodeCannotProveStateWithValidatorsOfItsOwn: a node switches
// the client over to a chain of the same id that its operator runs alone.
// The SDK took the validator set from whichever node it asked, so that
// chain's state (any balance, any cluster key) was "proven". Now every
// header is verified from the trust root pinned at first use.
func TestLyingNodeCannotProveStateWithValidatorsOfItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	fake, fakeKeys := lyingnode.Impostor(t, ctx, tn.Options)
	l := lyingnode.New(t, tn.RPCAddr(0))
	c, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Account(ctx, tn.Keys.Dev[0].Address()); err != nil {
		t.Fatal(err)
	}
	lyingnode.WaitHeight(t, ctx, fake, c.Trust().Height()+2) // the impostor must lead, or the client would not look at it
	l.Set(fake)
	lure := fakeKeys.Dev[0].Address()
	acc, _, err := c.Account(ctx, lure)
	if !errors.Is(err, protocol.ErrUntrustedHeader) {
		t.Fatalf("the impostor's state was accepted: balance %d, %v", acc.Balance, err)
	}
	// A client resuming from the saved root refuses the impostor too,
	// asked directly.
	c2, err := sdk.DialOptions(ctx, fake, sdk.Options{Trust: c.Trust()})
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, err := c2.Account(ctx, lure); !errors.Is(err, protocol.ErrUntrustedHeader) {
		t.Fatalf("the impostor's state was accepted from a saved root: balance %d, %v", acc.Balance, err)
	}
	// And so does one told the genesis to expect.
	if _, err := sdk.DialOptions(ctx, fake, sdk.Options{GenesisHash: c.Trust().GenesisHash}); !errors.Is(err, protocol.ErrTrustMismatch) {
		t.Fatalf("dialing the impostor with the real genesis hash: %v", err)
	}
}

// TestLyingNodeCannotAnswerFromBeforeARevocationOrARotation: every version
// of the state is kept, so a node can answer a proven read with a genuine
// proof from an old height: a revoked worker's record from while it was
// active, the epoch record from before a rotation. The SDK now asks for
// the state its newest verified header proves and refuses any other, never
// goes below a height it verified, and refuses a node whose newest header
// is too old or below the caller's minimum.
func TestLyingNodeCannotAnswerFromBeforeARevocationOrARotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	n := &network{t: t, ctx: ctx, c: c, dev: tn.Keys.Dev[0], admin: tn.Keys.Admin}
	allowSim := sdk.VerifyOptions{AllowSim: true}
	w, gk := n.register("worker"), n.register("gk")
	before, err := c.Height(ctx) // the worker is active, no epoch yet
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyWorker(ctx, pubOf(w), allowSim); err != nil {
		t.Fatal(err)
	}
	n.gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pubOf(gk)})
	n.propose(gk, make([]byte, 32))
	n.gov(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement})
	if _, err := c.VerifyWorker(ctx, pubOf(w), allowSim); !errors.Is(err, sdk.ErrWorkerNotTrusted) {
		t.Fatalf("the honest node shows the revoked worker: %v", err)
	}
	after, err := c.VerifiedTip(ctx)
	if err != nil {
		t.Fatal(err)
	}

	l := lyingnode.New(t, tn.RPCAddr(0))
	lc, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := lc.Account(ctx, n.dev.Address()); err != nil { // the client sees the tip once
		t.Fatal(err)
	}
	l.Set("", lyingnode.AtHeight(before, 0)...)
	if rec, err := lc.VerifyWorker(ctx, pubOf(w), allowSim); !errors.Is(err, protocol.ErrStaleAnswer) {
		t.Fatalf("a revoked worker shown active from block %d: %+v, %v", before, rec, err)
	}
	if rec, err := lc.EpochRecord(ctx); !errors.Is(err, protocol.ErrStaleAnswer) {
		t.Fatalf("the epoch record from before the rotation: %+v, %v", rec, err)
	}

	// The node also claims an old tip. A client resuming from a root saved
	// after the revocation never goes below it.
	l.Set("", lyingnode.AtHeight(before, before+1)...)
	resumed, err := sdk.DialOptions(ctx, l.URL(), sdk.Options{Trust: c.Trust()})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := resumed.VerifyWorker(ctx, pubOf(w), allowSim); !errors.Is(err, protocol.ErrStaleAnswer) {
		t.Fatalf("a client resumed at %d shown the worker active: %+v, %v", after, rec, err)
	}
	// A new client with a minimum height waits for it, and gives up.
	fresh, err := sdk.DialOptions(ctx, l.URL(), sdk.Options{MinHeight: after})
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	if rec, err := fresh.VerifyWorker(short, pubOf(w), allowSim); !errors.Is(err, protocol.ErrBelowMinHeight) {
		t.Fatalf("a client with minimum height %d shown the worker active: %+v, %v", after, rec, err)
	}
	// A new client without one refuses a tip older than its bound (its
	// clock is set to just past it).
	old, err := c.VerifiedHeader(ctx, before+1)
	if err != nil {
		t.Fatal(err)
	}
	late := old.Time.Add(sdk.DefaultMaxHeaderAge + time.Second)
	clocked, err := sdk.DialOptions(ctx, l.URL(), sdk.Options{Now: func() time.Time { return late }})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := clocked.VerifyWorker(ctx, pubOf(w), allowSim); !errors.Is(err, protocol.ErrStaleHeader) {
		t.Fatalf("a tip %s old accepted: %+v, %v", sdk.DefaultMaxHeaderAge, rec, err)
	}
}

// TestLyingNodeCannotMakeTheSDKBurnABalanceInFees: a node reported
// min_fee equal to the user's balance, and the SDK signed a transaction
// that burns it all. The fee is now proven, and capped by the caller.
func TestLyingNodeCannotMakeTheSDKBurnABalanceInFees(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	victim := tn.Keys.Dev[1]
	acc, _, err := c.Account(ctx, victim.Address())
	if err != nil {
		t.Fatal(err)
	}
	l := lyingnode.New(t, tn.RPCAddr(0))
	l.Set("", nil, lyingnode.Forge(protocol.QueryParams, func(p *protocol.Params) { p.MinFee = acc.Balance - 1 }))
	lc, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: tn.Keys.Dev[2].Address(), Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := lc.Send(ctx, victim, transfer)
	if !errors.Is(err, protocol.ErrProof) {
		t.Errorf("a forged minimum fee was paid: %+v, %v", res, err)
	}
	if _, sent := l.Calls("broadcast_tx_sync"); len(sent) != 0 {
		t.Errorf("signed and broadcast %d transactions with the forged fee", len(sent))
	}
	if now, _, err := c.Account(ctx, victim.Address()); err != nil || now.Balance != acc.Balance {
		t.Fatalf("balance %d, was %d: %v", now.Balance, acc.Balance, err)
	}

	// A proven fee above the caller's maximum is refused, not paid.
	p := protocol.DefaultParams()
	p.MinFee = 5_000
	if _, err := c.Govern(ctx, tn.Keys.Dev[0], protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}, tn.Keys.Admin); err != nil {
		t.Fatal(err)
	}
	capped, err := sdk.DialOptions(ctx, tn.RPCAddr(0), sdk.Options{MaxFee: 4_999})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capped.Send(ctx, victim, transfer); !errors.Is(err, protocol.ErrFeeAboveMax) {
		t.Fatalf("a fee above the maximum: %v", err)
	}
	if now, _, err := c.Account(ctx, victim.Address()); err != nil || now.Balance != acc.Balance {
		t.Fatalf("balance %d, was %d: %v", now.Balance, acc.Balance, err)
	}
}

// TestLyingNodeCannotGetAPostDatedTransactionSigned: a node reported a
// nonce ahead of the account's, and the SDK signed a transaction the node
// could hold and land after the user retried elsewhere: twice the
// transfer. The nonce is now proven.
func TestLyingNodeCannotGetAPostDatedTransactionSigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	victim := tn.Keys.Dev[1]
	l := lyingnode.New(t, tn.RPCAddr(0))
	l.Set("", nil, lyingnode.Forge(protocol.QueryAccount+victim.Address().String(), func(a *protocol.Account) { a.Nonce += 5 }))
	lc, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: tn.Keys.Dev[2].Address(), Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lc.Send(ctx, victim, transfer)
	for _, raw := range func() [][]byte { _, s := l.Calls("broadcast_tx_sync"); return s }() {
		if tx, derr := protocol.DecodeTx(raw, 1<<20); derr == nil {
			t.Errorf("signed a transaction with nonce %d", tx.Nonce)
		}
	}
	if !errors.Is(err, protocol.ErrProof) {
		t.Fatalf("a forged nonce: %v", err)
	}
}

// TestLyingNodeCannotHarvestGovernanceApprovals: the governance nonce and
// the chain id came from the node, so it could collect admin approvals
// for a future nonce, or for another chain the admins also govern, and
// replay them later. Both are now proven (the chain id by the trust root).
func TestLyingNodeCannotHarvestGovernanceApprovals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	l := lyingnode.New(t, tn.RPCAddr(0))
	l.Set("", nil, lyingnode.Forge(protocol.QueryGovNonce, func(n *uint64) { *n += 7 }))
	lc, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	allow := protocol.MeasurementArgs{Measurement: make([]byte, 32), Note: "x"}
	_, err = lc.Govern(ctx, tn.Keys.Dev[0], protocol.ActionAllowMeasurement, allow, tn.Keys.Admin)
	if _, sent := l.Calls("broadcast_tx_sync"); len(sent) != 0 {
		t.Errorf("approvals for a forged governance nonce were signed and broadcast (%d)", len(sent))
	}
	if !errors.Is(err, protocol.ErrProof) {
		t.Fatalf("a forged governance nonce: %v", err)
	}

	l.Set("", lyingnode.ClaimChain("phala-mainnet"))
	lc, err = sdk.Dial(ctx, l.URL())
	if err == nil {
		_, err = lc.Govern(ctx, tn.Keys.Dev[0], protocol.ActionAllowMeasurement, allow, tn.Keys.Admin)
		t.Errorf("a client of %q would sign approvals for chain %q", tn.Options.ChainID, lc.ChainID())
	}
	if !errors.Is(err, protocol.ErrTrustMismatch) {
		t.Fatalf("a node claiming another chain: %v", err)
	}
}

// TestLyingNodeCannotRouteAQueryOutsideTheContractsCluster: the cluster's
// member list was read without a proof and never compared with the
// contract's cluster, so a node could list a worker of another cluster
// (its operator's), which then read the query's input and signed any
// answer. The SDK now proves each candidate's membership first.
func TestLyingNodeCannotRouteAQueryOutsideTheContractsCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	n := &network{t: t, ctx: ctx, c: c, dev: tn.Keys.Dev[0], admin: tn.Keys.Admin}
	gk, member, outsider := n.register("gk"), n.register("member"), n.register("outsider")
	n.gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	n.gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"})
	n.gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pubOf(member)})
	n.gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "beta", Worker: pubOf(outsider)})
	n.gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pubOf(gk)})
	n.propose(gk, make([]byte, 32))
	hash, err := c.UploadCode(ctx, n.dev, wasmtest.NewContract(1).Encode())
	if err != nil {
		t.Fatal(err)
	}
	alpha := protocol.ClusterID("alpha")
	id, _, err := c.Instantiate(ctx, n.dev, hash, alpha, nil, nil, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	// The outsider serves queries, and counts what reaches it.
	var reached atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer endpoint.Close()
	u := protocol.EndpointUpdate{ChainID: c.ChainID(), Worker: pubOf(outsider), URL: endpoint.URL, Seq: 1}
	n.send(protocol.NewCall(protocol.ModuleRegistry, protocol.MethodUpdateEndpoint, protocol.UpdateEndpointArgs{Update: u, Sig: protocol.Sign(outsider, protocol.SigEndpoint, protocol.MustMarshal(&u))}))

	l := lyingnode.New(t, tn.RPCAddr(0))
	l.Set("", lyingnode.Forge(protocol.QueryCluster+hex.EncodeToString(alpha), func(cl *protocol.ClusterUpdate) {
		cl.Members = [][]byte{pubOf(outsider)}
	}))
	lc, err := sdk.Dial(ctx, l.URL())
	if err != nil {
		t.Fatal(err)
	}
	o := sdk.QueryOptions{Verify: sdk.VerifyOptions{AllowSim: true}}
	if _, err := lc.QueryContract(ctx, n.dev, id, []byte("secret input"), o); !errors.Is(err, protocol.ErrOutsideCluster) {
		t.Errorf("a worker of another cluster listed as a member: %v", err)
	}
	o.Worker = pubOf(outsider)
	if _, err := lc.QueryContract(ctx, n.dev, id, []byte("secret input"), o); !errors.Is(err, protocol.ErrOutsideCluster) {
		t.Errorf("a worker of another cluster asked by name: %v", err)
	}
	if k := reached.Load(); k != 0 {
		t.Fatalf("the outsider received %d queries", k)
	}
	// The member's membership is proven.
	if cl, ok, err := lc.WorkerCluster(ctx, pubOf(member)); err != nil || !ok || !bytes.Equal(cl, alpha) {
		t.Fatalf("the member's cluster: %x %v %v", cl, ok, err)
	}
}
