package pruntime_test

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// node is a pRuntime served over loopback, as the relayer sees it.
type node struct {
	t       testing.TB
	dir     string
	rt      *pruntime.Runtime
	ls      *api.Listeners
	private *sdk.PRuntime
	public  *sdk.PRuntime
}

type options struct {
	every  int64
	pinned []byte
}

func startNode(t testing.TB, dir string, o options) *node {
	t.Helper()
	provider, err := sim.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.every == 0 {
		o.every = 5
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: o.every, CheckpointKeep: 3, PinnedGenesisHash: o.pinned})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := api.New(rt, logging.Discard(), nil).Listen("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dir: dir, rt: rt, ls: ls, private: sdk.NewPRuntime(ls.PrivateAddr), public: sdk.NewPRuntime(ls.PublicAddr)}
	t.Cleanup(func() { n.stop(false) })
	return n
}

// stop shuts the listeners down; clean also writes the shutdown checkpoint.
// Without it, the runtime is abandoned as a crash would leave it.
func (n *node) stop(clean bool) {
	if n.ls == nil {
		return
	}
	n.ls.Shutdown(context.Background())
	n.ls = nil
	if clean {
		if err := n.rt.Close(); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *node) pub() ed25519.PublicKey { return n.rt.IdentityForTest() }

func (n *node) info() *protocol.Info {
	n.t.Helper()
	info, err := n.public.Info(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return info
}

func (n *node) init(genesis []byte) {
	n.t.Helper()
	if _, err := n.private.Init(context.Background(), genesis); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) sync(blocks ...protocol.SyncBlock) (*protocol.SyncResponse, error) {
	return n.private.Sync(context.Background(), &protocol.SyncRequest{Blocks: blocks})
}

func (n *node) mustSync(blocks ...protocol.SyncBlock) {
	n.t.Helper()
	if _, err := n.sync(blocks...); err != nil {
		n.t.Fatal(err)
	}
}

// observable is everything a refused input must leave unchanged.
type observable struct {
	height  int64
	appHash string
	egress  []string
	next    uint64
	files   map[string]string
}

func (n *node) observe() observable {
	n.t.Helper()
	info := n.info()
	o := observable{height: info.SyncedHeight, appHash: string(info.AppHash), next: info.EgressNextSeq, files: map[string]string{}}
	msgs, _, err := n.private.Egress(context.Background(), -1)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, m := range msgs {
		o.egress = append(o.egress, string(protocol.MustMarshal(&m)))
	}
	filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			o.files[p] = string(b)
		}
		return nil
	})
	return o
}

func (o observable) equal(p observable) bool {
	if o.height != p.height || o.appHash != p.appHash || o.next != p.next || len(o.egress) != len(p.egress) || len(o.files) != len(p.files) {
		return false
	}
	for i := range o.egress {
		if o.egress[i] != p.egress[i] {
			return false
		}
	}
	for k, v := range o.files {
		if p.files[k] != v {
			return false
		}
	}
	return true
}
