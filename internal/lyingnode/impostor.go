package lyingnode

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/sdk"
)

// Impostor starts a one-validator chain with the same chain id as of, but
// its own genesis and validators: a node an attacker runs.
func Impostor(t testing.TB, ctx context.Context, of home.Options) (string, *home.Result) {
	t.Helper()
	o := of
	o.Validators = 1
	o.BasePort = nodetest.FreePortBase(t, 1)
	homes := []string{filepath.Join(t.TempDir(), "impostor")}
	res, err := home.Write(homes, o)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(ctx, node.Options{Home: homes[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	WaitHeight(t, ctx, o.RPCAddr(0), 2)
	return o.RPCAddr(0), res
}

// WaitHeight waits until the node at addr is at height h.
func WaitHeight(t testing.TB, ctx context.Context, addr string, h int64) {
	t.Helper()
	for {
		c, err := sdk.NewRPC(addr)
		if err == nil {
			if st, err := c.Status(ctx); err == nil && st.SyncInfo.LatestBlockHeight >= h {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
