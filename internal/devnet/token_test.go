package devnet

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestDevnetRunsAConfidentialToken deploys the example token on the
// devnet, moves it by encrypted commands and reads balances by encrypted
// queries to the devnet's worker: each account reads its own balance,
// another account's is refused by the contract, and no plaintext — of a
// command, of a reply — appears anywhere on chain. After a restart of the
// whole devnet (a new key epoch) the token keeps its balances and takes
// new commands.
func TestDevnetRunsAConfidentialToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	wasm := clustertest.Example(t, "token")
	o := DefaultOptions()
	o.Home = t.TempDir()
	o.BasePort = nodetest.FreePortBase(t, 1)
	o.BlockTime = 100 * time.Millisecond
	d, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Stop() }()
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	alice := d.DevKey
	bob, err := sdk.GenerateKey("bob")
	if err != nil {
		t.Fatal(err)
	}

	code, err := c.UploadCode(ctx, alice, wasm)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := c.Instantiate(ctx, alice, code, protocol.ClusterID(Cluster), []byte("token"), []byte(`{"supply": 1000000}`), 100_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if res, reply, err := c.WaitInit(ctx, id, secret); err != nil || res.Outcome != protocol.OutcomeOK || string(reply) != `{"balance":1000000}` {
		t.Fatalf("init: %+v %q %v", res, reply, err)
	}
	if err := c.WaitContractKey(ctx, id); err != nil {
		t.Fatal(err)
	}

	var lastHeight int64
	for i, amount := range []uint64{424242, 1} {
		plain := fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": %d}}`, bob.Address(), amount)
		index, res, secret, err := c.SendContractCommand(ctx, alice, id, plain, 100_000_000)
		if err != nil || index != uint64(i) {
			t.Fatalf("transfer %d: index %d, %v", i, index, err)
		}
		r, reply, err := c.WaitResult(ctx, id, index, secret)
		if err != nil || r.Outcome != protocol.OutcomeOK {
			t.Fatalf("transfer %d: %+v %v", i, r, err)
		}
		if i == 0 && string(reply) != `{"balance":575758}` {
			t.Fatalf("the sender's balance after the transfer: %q", reply)
		}
		lastHeight = res.Height
	}

	worker := d.Worker.Runtime.Info().WorkerPubkey
	query := func(key *sdk.Key, input string) *sdk.QueryResult {
		t.Helper()
		q, err := c.QueryContract(ctx, key, id, []byte(input), sdk.QueryOptions{MinHeight: lastHeight, Verify: sdk.VerifyOptions{AllowSim: true}})
		if err != nil {
			t.Fatalf("query %s: %v", input, err)
		}
		if !bytes.Equal(q.Worker, worker) || q.Height < lastHeight {
			t.Fatalf("answered by %x at %d, want the devnet's worker at %d or later", q.Worker, q.Height, lastHeight)
		}
		return q
	}
	if q := query(bob, `{"balance": {}}`); q.Outcome != protocol.OutcomeOK || string(q.Output) != `{"balance":424243}` {
		t.Fatalf("bob's balance: %+v", q)
	}
	if q := query(alice, `{"balance": {}}`); q.Outcome != protocol.OutcomeOK || string(q.Output) != `{"balance":575757}` {
		t.Fatalf("alice's balance: %+v", q)
	}
	if q := query(bob, fmt.Sprintf(`{"balance_of": {"owner": "%s"}}`, alice.Address())); q.Outcome != protocol.OutcomeError || !bytes.Contains(q.Output, []byte("only to their owner")) {
		t.Fatalf("bob reading alice's balance: %+v", q)
	}

	// Nothing confidential on chain: not the commands, not the replies.
	for _, secret := range []string{`"transfer"`, bob.Address().String(), "424242", "575758", `"balance"`} {
		if where, ok := clustertest.OnChain(t, ctx, c, []byte(secret)); ok {
			t.Fatalf("%q appears on chain, in %s", secret, where)
		}
	}

	// Stop everything and start again: the state is in the worker's
	// checkpoint, the keys come from the new epoch.
	epoch := d.Worker.Runtime.Info().Epoch
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	d, err = Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if d.Worker.Runtime.Info().Epoch <= epoch {
		t.Fatalf("epoch %d after the restart, was %d", d.Worker.Runtime.Info().Epoch, epoch)
	}
	if c, err = sdk.Dial(ctx, d.Addr.NodeRPC); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitContractKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	index, res, secret, err := c.SendContractCommand(ctx, alice, id, fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": 2}}`, bob.Address()), 100_000_000)
	if err != nil || index != 2 {
		t.Fatalf("transfer after the restart: index %d, %v", index, err)
	}
	if r, reply, err := c.WaitResult(ctx, id, index, secret); err != nil || r.Outcome != protocol.OutcomeOK || string(reply) != `{"balance":575755}` {
		t.Fatalf("transfer after the restart: %+v %q %v", r, reply, err)
	}
	lastHeight = res.Height
	if q := query(bob, `{"balance": {}}`); string(q.Output) != `{"balance":424245}` {
		t.Fatalf("bob's balance after the restart: %+v", q)
	}
}
