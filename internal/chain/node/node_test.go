package node

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/merkle"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// freeBase finds a base port such that base+10*i+{0,1,2} are free for n
// validators.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20_000 + 10*rand.IntN(3_000)
		ok := true
		for i := 0; i < n && ok; i++ {
			for j := range 3 {
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+10*i+j))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func writeHomes(t *testing.T, n int) ([]string, *home.Result, home.Options) {
	t.Helper()
	o := home.DefaultOptions("phala-nodetest")
	o.Validators = n
	o.BlockTime = 100 * time.Millisecond
	o.BasePort = freeBase(t, n)
	dir := t.TempDir()
	homes := make([]string, n)
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
	}
	res, err := home.Write(homes, o)
	if err != nil {
		t.Fatal(err)
	}
	return homes, res, o
}

func start(t *testing.T, h string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Options{Home: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

func dial(t *testing.T, ctx context.Context, n *Node) *sdk.Client {
	t.Helper()
	var lastErr error
	for range 100 {
		c, err := sdk.Dial(ctx, n.RPCAddr())
		if err == nil {
			return c
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dial %s: %v", n.RPCAddr(), lastErr)
	return nil
}

func waitHeight(t *testing.T, ctx context.Context, c *sdk.Client, h int64) {
	t.Helper()
	for {
		cur, err := c.Height(ctx)
		if err == nil && cur >= h {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for height %d (at %d, err %v): %v", h, cur, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSingleValidatorNode starts a real node in-process, includes
// transactions broadcast over RPC, checks that every block's message list
// recomputes the app hash in the next header using only CometBFT's merkle
// package, then restarts the node on the same home in the same process.
func TestSingleValidatorNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	homes, res, _ := writeHomes(t, 1)
	n := start(t, homes[0])
	c := dial(t, ctx, n)
	dev := res.Dev[0]
	other, _ := sdk.GenerateKey("other")
	waitHeight(t, ctx, c, 1)

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
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	n2 := start(t, homes[0])
	c2 := dial(t, ctx, n2)
	waitHeight(t, ctx, c2, last+3)
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
	homes, _, _ := writeHomes(t, 4)
	nodes := make([]*Node, 4)
	for i, h := range homes {
		nodes[i] = start(t, h)
	}
	c0 := dial(t, ctx, nodes[0])
	waitHeight(t, ctx, c0, 3)

	if err := nodes[3].Stop(); err != nil {
		t.Fatal(err)
	}
	h, _ := c0.Height(ctx)
	waitHeight(t, ctx, c0, h+5)

	nodes[3] = start(t, homes[3])
	c3 := dial(t, ctx, nodes[3])
	target, _ := c0.Height(ctx)
	waitHeight(t, ctx, c3, target+2)
}

func errorsIs(err error, target *protocol.Error) bool {
	e, ok := protocol.CodeOf(err)
	return ok && e.Is(target)
}
