package node_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/merkle"
	"golang.org/x/sync/errgroup"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestSingleValidatorNode starts a real node in-process, includes
// transactions broadcast over RPC, checks that every block's message list
// recomputes the app hash in the next header using only CometBFT's merkle
// package, then restarts the node on the same home in the same process.
func TestSingleValidatorNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	dev := tn.Keys.Dev[0]
	other, _ := sdk.GenerateKey("other")

	call, _ := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: other.Address(), Amount: 12345})
	r, err := c.Send(ctx, dev, call)
	if err != nil || r.Err != nil {
		t.Fatalf("transfer: %v %v", err, r)
	}
	for i := range 3 {
		call, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: "chat", Payload: []byte{byte(i)}})
		r, err := c.Send(ctx, dev, call)
		if err != nil || r.Err != nil {
			t.Fatalf("push %d: %v %v", i, err, r)
		}
		if len(r.Messages) != 1 || r.Messages[0].Seq != uint64(i) {
			t.Fatalf("push %d emitted %+v", i, r.Messages)
		}
	}
	// A refused transaction comes back with its protocol error.
	bad := protocol.SignTx(dev.Private, protocol.Tx{ChainID: "wrong", Fee: 1000, Call: call})
	if _, err := c.Broadcast(ctx, bad); !errorsIs(err, protocol.ErrWrongChainID) {
		t.Fatalf("wrong chain id: %v", err)
	}

	acc, h, err := c.Account(ctx, other.Address())
	if err != nil || acc.Balance != 12345 {
		t.Fatalf("verified account at %d: %+v %v", h, acc, err)
	}

	// Every height's message list rebuilds the app hash of the next header.
	last, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgCount := 0
	for height := int64(0); height < last; height++ {
		q, err := c.RPC().ABCIQuery(ctx, fmt.Sprintf("mq/messages/%d", height), nil)
		if err != nil || q.Response.Code != 0 {
			t.Fatalf("messages %d: %v %s", height, err, q.Response.Log)
		}
		var bm protocol.BlockMessages
		if err := protocol.Unmarshal(q.Response.Value, &bm); err != nil {
			t.Fatal(err)
		}
		next := height + 1
		com, err := c.RPC().Commit(ctx, &next)
		if err != nil {
			t.Fatal(err)
		}
		want := merkle.HashFromByteSlices([][]byte{bm.StateRoot, merkle.HashFromByteSlices(bm.Messages)})
		if !bytes.Equal(want, com.AppHash) {
			t.Fatalf("height %d: recomputed app hash %X, header %d has %X", height, want, next, com.AppHash)
		}
		msgCount += len(bm.Messages)
	}
	if msgCount != 3 {
		t.Fatalf("%d messages over %d blocks, want 3", msgCount, last)
	}

	// Restart on the same home in the same process: the chain continues
	// and state is intact.
	tn.StopNode(0)
	tn.StartNode(0)
	c2 := tn.Client(ctx, 0)
	tn.WaitHeight(ctx, 0, last+3)
	acc, _, err = c2.Account(ctx, other.Address())
	if err != nil || acc.Balance != 12345 {
		t.Fatalf("after restart: %+v %v", acc, err)
	}
	call, _ = protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: "chat", Payload: []byte("after")})
	r, err = c2.Send(ctx, dev, call)
	if err != nil || r.Err != nil || r.Messages[0].Seq != 3 {
		t.Fatalf("push after restart: %v %+v", err, r)
	}
}

// TestFourValidatorTestnet runs the homes `testnet` writes: with one of four
// validators stopped the chain keeps producing blocks, and the restarted
// validator catches up.
func TestFourValidatorTestnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 4, 100*time.Millisecond)
	c0 := tn.Client(ctx, 0)
	tn.WaitHeight(ctx, 0, 3)

	tn.StopNode(3)
	h, _ := c0.Height(ctx)
	tn.WaitHeight(ctx, 0, h+5)

	tn.StartNode(3)
	target, _ := c0.Height(ctx)
	tn.WaitHeight(ctx, 3, target+2)
}

func errorsIs(err error, target *protocol.Error) bool {
	e, ok := protocol.CodeOf(err)
	return ok && e.Is(target)
}

// TestNodeStopsCleanlyWhileIndexingBlocksFullOfTransactions stops and
// restarts a node in the same process, each time just as a block full of
// transactions was committed, which is when CometBFT's tx IndexerService
// writes the block's transactions to the tx-index database from a
// goroutine that Stop does not wait for. Stop must leave nothing that can
// still write to the databases it closed (pebble panics on a closed
// database, which kills the process: a node crashing on Ctrl-C).
func TestNodeStopsCleanlyWhileIndexingBlocksFullOfTransactions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 50*time.Millisecond)
	senders := tn.Keys.Dev
	to, _ := sdk.GenerateKey("to")
	const restarts, perSender = 20, 40
	indexed := 0
	for round := range restarts {
		c := tn.Client(ctx, 0)
		// A block proposed before the restart may still be committed now:
		// read the senders' nonces once it has been.
		h, err := c.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tn.WaitHeight(ctx, 0, h+2)
		var g errgroup.Group
		for _, k := range senders {
			g.Go(func() error {
				acc, err := c.AccountUnverified(ctx, k.Address())
				if err != nil {
					return err
				}
				for i := range perSender {
					call, _ := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: to.Address(), Amount: uint64(round + 1)})
					raw := protocol.SignTx(k.Private, protocol.Tx{ChainID: c.ChainID(), Nonce: acc.Nonce + uint64(i), Fee: protocol.DefaultParams().MinFee, Call: call})
					if _, err := c.Broadcast(ctx, raw); err != nil {
						return fmt.Errorf("round %d, transaction %d of %s: %w", round, i, k.Address(), err)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		// Stop as soon as a block with transactions is committed: its
		// transactions are being indexed now.
		for {
			st, err := c.RPC().Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := st.SyncInfo.LatestBlockHeight
			b, err := c.RPC().Block(ctx, &h)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Block.Txs) > 0 {
				indexed += len(b.Block.Txs)
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: no block with transactions", round)
			}
		}
		tn.StopNode(0)
		tn.StartNode(0)
	}
	c := tn.Client(ctx, 0)
	h, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tn.WaitHeight(ctx, 0, h+2)
	t.Logf("%d restarts, each right after a block of transactions (%d in those blocks)", restarts, indexed)
}
