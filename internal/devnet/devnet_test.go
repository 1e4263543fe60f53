package devnet

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestDevnetRestartContinues starts the devnet, stops it, and starts it
// again on the same home: the chain continues from its height, both
// pRuntimes resume with the same identities, re-register their new boot
// keys and catch up, and since the gatekeeper's secret died with its
// memory the chain rotates to a new epoch that both hold.
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
	first := d.Worker.Runtime.Info()
	gk := d.Gatekeeper.Runtime.Info()
	if first.Epoch == 0 || !first.HoldsEpochKey || !gk.Gatekeeper || !gk.HoldsEpochKey {
		t.Fatalf("devnet keys not set up: worker epoch %d holds %v; gatekeeper %v holds %v", first.Epoch, first.HoldsEpochKey, gk.Gatekeeper, gk.HoldsEpochKey)
	}
	for _, want := range []string{d.Addr.NodeRPC, d.Addr.WorkerPublic, d.Addr.GatekeeperPublic, d.DevKey.Address().String(), `cluster "default"`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("devnet info lacks %q:\n%s", want, out.String())
		}
	}
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	if cl, ok, err := c.Cluster(ctx, protocol.ClusterID(Cluster)); err != nil || !ok || len(cl.Members) != 1 || !bytes.Equal(cl.Members[0], first.WorkerPubkey) {
		t.Fatalf("cluster %q: %+v %v %v", Cluster, cl, ok, err)
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
	again := d2.Worker.Runtime.Info()
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
	if gk2 := d2.Gatekeeper.Runtime.Info(); !bytes.Equal(gk2.WorkerPubkey, gk.WorkerPubkey) || !gk2.HoldsEpochKey || again.Epoch <= first.Epoch || !again.HoldsEpochKey {
		t.Fatalf("after restart: epoch %d (was %d), worker holds %v, gatekeeper %x holds %v", again.Epoch, first.Epoch, again.HoldsEpochKey, gk2.WorkerPubkey, gk2.HoldsEpochKey)
	}
}
