package devnet

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/sdk"
)

// TestDevnetRestartContinues starts the devnet, stops it, and starts it
// again on the same home: the chain continues from its height, pRuntime
// resumes with the same worker identity, re-registers its new boot key and
// catches up.
func TestDevnetRestartContinues(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := DefaultOptions()
	o.Home = t.TempDir()
	o.BasePort = nodetest.FreePortBase(t, 1)
	o.BlockTime = 100 * time.Millisecond
	d, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := d.PrintInfo(ctx, &out); err != nil {
		t.Fatal(err)
	}
	first := d.Runtime.Info()
	for _, want := range []string{d.Addr.NodeRPC, d.Addr.PRuntimePublic, d.DevKey.Address().String(), "registered"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("devnet info lacks %q:\n%s", want, out.String())
		}
	}
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	stoppedAt, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	d2, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer d2.Stop()
	again := d2.Runtime.Info()
	c2, err := sdk.Dial(ctx, d2.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c2.Height(ctx)
	if err != nil || h <= stoppedAt {
		t.Fatalf("chain at %d after restart, was %d (%v)", h, stoppedAt, err)
	}
	if !bytes.Equal(again.WorkerPubkey, first.WorkerPubkey) || bytes.Equal(again.EncryptionPubkey, first.EncryptionPubkey) {
		t.Fatal("after restart the worker must keep its identity and have a new encryption key")
	}
	if !again.Registered || again.SyncedHeight < first.SyncedHeight {
		t.Fatalf("pRuntime after restart: registered %v, synced %d (was %d)", again.Registered, again.SyncedHeight, first.SyncedHeight)
	}
}
