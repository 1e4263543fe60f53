package runner_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// identity is a worker's identity key, read from its runtime (tests only).
func identity(t *testing.T, w *clustertest.Worker) ed25519.PrivateKey {
	t.Helper()
	return ed25519.PrivateKey(w.PR.Runtime.SecretsForTest()["identity private key"])
}

// TestStateTransferRefusals drives a transfer by hand (the newcomer has no
// pherry) and shows each way a member refuses to serve and a newcomer
// refuses to install, with its own error; then the genuine transfer is
// installed.
func TestStateTransferRefusals(t *testing.T) {
	e, ws := cluster(t, "member")
	m := ws[0]
	id, _ := e.Instantiate(e.Deploy(clustertest.Mixed(t)), "alpha", nil)
	e.Command(e.User, id, []byte("sa=1"))
	outsider := e.StartWorker("outsider")
	n := e.StartWorker("newcomer")
	n.StopRelay()
	e.Gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: n.Pub()})
	e.WaitFor("the newcomer to wait for a state transfer", func() bool {
		e.SyncToTip(n.PR) // the block with its membership, and the header above it
		return n.Info().NeedsState
	})
	member, self := sdk.NewPRuntime(m.PR.PublicAddr), n.PR.Private()
	if _, err := outsider.PR.Private().StateRequest(e.Ctx); !errors.Is(err, protocol.ErrStateNotNeeded) {
		t.Fatalf("a worker in no cluster asked for a request: %v", err)
	}
	raw, err := self.StateRequest(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	var req protocol.SignedStateRequest
	if err := protocol.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	resign := func(r protocol.StateRequest, key ed25519.PrivateKey) []byte {
		return protocol.MustMarshal(&protocol.SignedStateRequest{Request: r, Sig: protocol.Sign(key, protocol.SigStateRequest, protocol.MustMarshal(&r))})
	}
	nid, oid := identity(t, n), identity(t, outsider)
	otherChain, otherCluster, otherKey, byOutsider := req.Request, req.Request, req.Request, req.Request
	otherChain.ChainID = "another-chain"
	otherCluster.Cluster = protocol.ClusterID("beta")
	stale, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	otherKey.Key = stale.Public()
	byOutsider.Requester, byOutsider.Key = outsider.Pub(), outsider.Info().EncryptionPubkey
	serves := []struct {
		name string
		body []byte
		want *protocol.Error
	}{
		{"malformed request", []byte("junk"), protocol.ErrStateRequest},
		{"signed by another key", resign(req.Request, oid), protocol.ErrStateRequest},
		{"another chain", resign(otherChain, nid), protocol.ErrStateRequest},
		{"another cluster", resign(otherCluster, nid), protocol.ErrStateRequest},
		{"an encryption key the requester does not hold", resign(otherKey, nid), protocol.ErrStateRequest},
		{"a requester outside the cluster", resign(byOutsider, oid), protocol.ErrStateRequest},
	}
	for _, c := range serves {
		t.Run("serve: "+c.name, func(t *testing.T) {
			if _, err := member.ServeState(e.Ctx, c.body); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}

	blob, err := member.ServeState(e.Ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var st protocol.SignedStateTransfer
	if err := protocol.Unmarshal(blob, &st); err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the newcomer to verify the transfer's header", func() bool {
		e.SyncToTip(n.PR)
		return n.Info().SyncedHeight >= st.Transfer.Height+1
	})
	mid := identity(t, m)
	resignT := func(edit func(*protocol.StateTransfer), key ed25519.PrivateKey) []byte {
		tr := st.Transfer
		edit(&tr)
		return protocol.MustMarshal(&protocol.SignedStateTransfer{Transfer: tr, Sig: protocol.Sign(key, protocol.SigSnapshot, protocol.MustMarshal(&tr))})
	}
	applies := []struct {
		name string
		body []byte
		want *protocol.Error
	}{
		{"malformed transfer", []byte("junk"), protocol.ErrStateTransfer},
		{"not signed by its server", resignT(func(*protocol.StateTransfer) {}, oid), protocol.ErrStateTransfer},
		{"another chain", resignT(func(tr *protocol.StateTransfer) { tr.ChainID = "another-chain" }, mid), protocol.ErrStateTransfer},
		{"sealed to another worker", resignT(func(tr *protocol.StateTransfer) { tr.Requester = outsider.Pub() }, mid), protocol.ErrStateTransfer},
		{"answering no request of this boot", resignT(func(tr *protocol.StateTransfer) { tr.Nonce = []byte("another nonce...") }, mid), protocol.ErrStateTransfer},
		{"another cluster's state", resignT(func(tr *protocol.StateTransfer) { tr.Cluster = protocol.ClusterID("beta") }, mid), protocol.ErrStateTransfer},
		{"served by a worker outside the cluster", resignT(func(tr *protocol.StateTransfer) { tr.Server = outsider.Pub() }, oid), protocol.ErrStateTransfer},
		{"a height this worker has not reached", resignT(func(tr *protocol.StateTransfer) { tr.Height += 1000 }, mid), protocol.ErrStateAhead},
		{"a header this worker did not verify", resignT(func(tr *protocol.StateTransfer) { tr.Header = make([]byte, 32) }, mid), protocol.ErrStateTransfer},
		{"a ciphertext that does not open", resignT(func(tr *protocol.StateTransfer) { tr.Sealed[len(tr.Sealed)-1] ^= 1 }, mid), protocol.ErrStateTransfer},
	}
	for _, c := range applies {
		t.Run("apply: "+c.name, func(t *testing.T) {
			if _, err := self.ApplyState(e.Ctx, c.body); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !n.Info().NeedsState {
				t.Fatal("a refused transfer changed the newcomer")
			}
		})
	}
	if got, err := self.ApplyState(e.Ctx, blob); err != nil || got != 1 {
		t.Fatalf("the genuine transfer: %d contracts, %v", got, err)
	}
	if _, err := self.ApplyState(e.Ctx, blob); !errors.Is(err, protocol.ErrStateTransfer) {
		t.Fatalf("the same transfer twice: %v", err)
	}
	if n.Info().NeedsState {
		t.Fatal("still waiting after the transfer")
	}
	n.StartRelay()
	sameState(t, e, m, n)
}
