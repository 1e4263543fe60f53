package pruntime

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/pruntime/query"
	"github.com/phala-go/phala/protocol"
)

// headerMemory is how many verified header hashes are kept for state
// transfers: a transfer older than this must be fetched again.
const headerMemory = 1024

// rememberHeader records a verified header's hash. Caller holds mu.
func (r *Runtime) rememberHeader(height int64, hash []byte) {
	r.headers[height] = slices.Clone(hash)
	delete(r.headers, height-headerMemory)
}

// publishLocked hands queries and state transfers an immutable picture of
// the committed state. Caller holds mu.
func (r *Runtime) publishLocked() {
	v := r.runner.View(r.applied, r.keyring.CommittedCluster())
	r.queries.Publish(&query.Snapshot{View: v, Time: r.appliedTime, Key: r.keyring.EncryptionKey()})
}

// Query answers an encrypted contract query (POST /v1/query). It reads
// only the published state: it never waits for sync.
func (r *Runtime) Query(ctx context.Context, body []byte) ([]byte, error) {
	r.mu.RLock()
	q := r.queries
	r.mu.RUnlock()
	if q == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	return q.Answer(ctx, body)
}

// Contracts lists this worker's contracts and their state roots.
func (r *Runtime) Contracts() ([]protocol.WorkerContract, error) {
	r.mu.RLock()
	q := r.queries
	r.mu.RUnlock()
	if q == nil || q.Published() == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	return q.Published().View.Statuses(), nil
}

// StateRequest produces this worker's signed request for its cluster's
// contract state, for its relayer to take to another member.
func (r *Runtime) StateRequest() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	v := r.queries.Published().View
	if v.Cluster == nil || !v.NeedsState() {
		return nil, protocol.Errorf(protocol.ErrStateNotNeeded, "no contract waits for a state transfer")
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// A few requests may be out at once (several members asked in turn).
	r.transferNonces = append(r.transferNonces, nonce)
	if len(r.transferNonces) > 8 {
		r.transferNonces = r.transferNonces[1:]
	}
	req := protocol.StateRequest{ChainID: r.root.ChainID, Cluster: v.Cluster, Requester: r.identity.Public().(ed25519.PublicKey), Key: r.keyring.EncryptionKey().Public(), Nonce: nonce}
	return protocol.MustMarshal(&protocol.SignedStateRequest{Request: req, Sig: protocol.Sign(r.identity, protocol.SigStateRequest, protocol.MustMarshal(&req))}), nil
}

// ServeState answers another member's state request (POST /v1/state, on
// the public API): the cluster's contract state, sealed to the
// requester's current encryption key and signed, if the verified chain
// says the requester is an active member of this worker's cluster with
// that key.
//
// Building a transfer costs the whole cluster state, and anyone can post a
// request (a genuine one, replayed): one transfer is built at a time, and
// a request meanwhile is refused with ErrStateUnavailable.
func (r *Runtime) ServeState(body []byte) ([]byte, error) {
	sr, err := decodeStateRequest(body)
	if err != nil {
		return nil, err
	}
	req := &sr.Request
	if !r.serving.CompareAndSwap(false, true) {
		return nil, protocol.Errorf(protocol.ErrStateUnavailable, "another state transfer is being served; retry")
	}
	defer r.serving.Store(false)
	r.mu.RLock()
	if r.root == nil {
		r.mu.RUnlock()
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	chainID, snap, header := r.root.ChainID, r.queries.Published(), r.headers[r.applied+1]
	registered := r.workers.Registered(req.Requester, req.Key)
	member := r.keyring.IsMember(req.Cluster, req.Requester)
	r.mu.RUnlock()
	v := snap.View
	switch {
	case req.ChainID != chainID:
		return nil, protocol.Errorf(protocol.ErrStateRequest, "request for chain %q", req.ChainID)
	case !v.InCluster(req.Cluster):
		return nil, protocol.Errorf(protocol.ErrStateRequest, "this worker is not in cluster %x", req.Cluster)
	case !registered:
		return nil, protocol.Errorf(protocol.ErrStateRequest, "requester %x is not an active worker with that encryption key", req.Requester)
	case !member:
		return nil, protocol.Errorf(protocol.ErrStateRequest, "requester %x is not a member of cluster %x", req.Requester, req.Cluster)
	case header == nil:
		return nil, protocol.Errorf(protocol.ErrStateUnavailable, "no verified header above block %d yet", v.Height)
	}
	plain, err := v.ClusterState()
	if err != nil {
		return nil, err
	}
	if len(plain) > protocol.MaxStateTransfer-maxTransferOverhead {
		return nil, protocol.Errorf(protocol.ErrStateUnavailable, "the cluster's state is %d bytes, more than a transfer holds", len(plain))
	}
	sealed, err := protocol.HPKESeal(req.Key, protocol.StateInfo(chainID, req.Cluster, req.Requester, v.Height), nil, plain)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrStateRequest, "seal to the requester's key: %v", err)
	}
	t := protocol.StateTransfer{
		ChainID: chainID, Cluster: req.Cluster, Server: r.identity.Public().(ed25519.PublicKey), Requester: req.Requester,
		Key: req.Key, Nonce: req.Nonce, Height: v.Height, Header: header, Sealed: sealed,
	}
	r.log.Info("serving a state transfer", "requester", fmt.Sprintf("%x", req.Requester), "height", v.Height, "contracts", len(v.Contracts))
	return protocol.MustMarshal(&protocol.SignedStateTransfer{Transfer: t, Sig: protocol.Sign(r.identity, protocol.SigSnapshot, protocol.MustMarshal(&t))}), nil
}

// ApplyState installs a state transfer (POST /v1/state/apply): it must be
// signed by an active member of this worker's cluster, answer one of its
// outstanding requests, be sealed to its current key, and name a block
// whose header this worker verified. A transfer of a block this worker has
// not reached yet is refused with ErrStateAhead: sync, then apply again.
func (r *Runtime) ApplyState(body []byte) (int, error) {
	st, err := decodeStateTransfer(body)
	if err != nil {
		return 0, err
	}
	t := &st.Transfer
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return 0, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	me, key := r.identity.Public().(ed25519.PublicKey), r.keyring.EncryptionKey()
	cluster := r.keyring.CommittedCluster()
	switch {
	case t.ChainID != r.root.ChainID:
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "transfer for chain %q", t.ChainID)
	case !bytes.Equal(t.Requester, me) || !bytes.Equal(t.Key, key.Public()):
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "sealed to %x at another key, not to this worker's current key", t.Requester)
	case !slices.ContainsFunc(r.transferNonces, func(n []byte) bool { return bytes.Equal(n, t.Nonce) }):
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "answers no request of this boot")
	case cluster == nil || !bytes.Equal(t.Cluster, cluster):
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "state of cluster %x, this worker is in %x", t.Cluster, cluster)
	case bytes.Equal(t.Server, me) || !r.keyring.IsMember(cluster, t.Server):
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "server %x is not another member of cluster %x", t.Server, cluster)
	case !r.workerActive(t.Server):
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "server %x is not an active worker", t.Server)
	case t.Height+1 > r.light.Height:
		return 0, protocol.Errorf(protocol.ErrStateAhead, "state after block %d, this worker has applied %d", t.Height, r.applied)
	}
	if h, ok := r.headers[t.Height+1]; !ok || !bytes.Equal(h, t.Header) {
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "header %d %X is not the one this worker verified", t.Height+1, t.Header)
	}
	plain, err := protocol.HPKEOpen(key.Private(), protocol.StateInfo(t.ChainID, t.Cluster, t.Requester, t.Height), nil, t.Sealed)
	if err != nil {
		return 0, protocol.Errorf(protocol.ErrStateTransfer, "does not open: %v", err)
	}
	var n int
	err = r.contain("installing a state transfer", func() (err error) {
		n, err = r.runner.Install(t.Height, plain)
		return err
	})
	if err != nil {
		r.tx.Rollback()
		return 0, err
	}
	r.tx.Commit()
	r.transferNonces = nil
	r.publishLocked()
	r.log.Info("installed a state transfer", "server", fmt.Sprintf("%x", t.Server), "height", t.Height, "contracts", n)
	if err := r.saveCheckpointLocked(); err != nil {
		r.log.Error("checkpoint after a state transfer failed", "err", err)
	}
	return n, nil
}

// maxTransferOverhead bounds what a state transfer adds to the state it
// carries: the HPKE encapsulation and tag, the envelope, the signature.
const maxTransferOverhead = 64 << 10

// decodeStateRequest is the one decoder of a state request (POST
// /v1/state): canonical, well-formed fields, signed by its requester.
func decodeStateRequest(body []byte) (*protocol.SignedStateRequest, error) {
	var sr protocol.SignedStateRequest
	if err := protocol.Unmarshal(body, &sr); err != nil {
		return nil, protocol.Errorf(protocol.ErrStateRequest, "%v", err)
	}
	req := &sr.Request
	switch {
	case len(req.Cluster) != 32:
		return nil, protocol.Errorf(protocol.ErrStateRequest, "cluster id of %d bytes", len(req.Cluster))
	case len(req.Nonce) < protocol.QueryNonceMin || len(req.Nonce) > protocol.QueryNonceMax:
		return nil, protocol.Errorf(protocol.ErrStateRequest, "nonce of %d bytes, want %d..%d", len(req.Nonce), protocol.QueryNonceMin, protocol.QueryNonceMax)
	case !sr.Verify():
		return nil, protocol.Errorf(protocol.ErrStateRequest, "not signed by requester %x", req.Requester)
	}
	if _, err := protocol.HPKEPublicKey(req.Key); err != nil {
		return nil, protocol.Errorf(protocol.ErrStateRequest, "encryption key: %v", err)
	}
	return &sr, nil
}

// decodeStateTransfer is the one decoder of a state transfer (POST
// /v1/state/apply): canonical, well-formed fields, signed by its server.
func decodeStateTransfer(body []byte) (*protocol.SignedStateTransfer, error) {
	var st protocol.SignedStateTransfer
	if err := protocol.Unmarshal(body, &st); err != nil {
		return nil, protocol.Errorf(protocol.ErrStateTransfer, "%v", err)
	}
	t := &st.Transfer
	switch {
	case t.Height < 1:
		return nil, protocol.Errorf(protocol.ErrStateTransfer, "height %d", t.Height)
	case len(t.Header) != 32:
		return nil, protocol.Errorf(protocol.ErrStateTransfer, "header hash of %d bytes", len(t.Header))
	case !st.Verify():
		return nil, protocol.Errorf(protocol.ErrStateTransfer, "not signed by server %x", t.Server)
	}
	return &st, nil
}

// workerActive reports whether the verified registry view holds worker as
// active. Caller holds mu.
func (r *Runtime) workerActive(worker []byte) bool {
	w, ok := r.workers.Get(worker)
	return ok && w.Status == protocol.StatusActive
}

// SignEndpoint signs this worker's public API URL for the registry
// (update_endpoint), numbered by the synced height so that a later update
// always supersedes an earlier one.
func (r *Runtime) SignEndpoint(url string) (*protocol.UpdateEndpointArgs, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.root == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "no chain")
	}
	u := protocol.EndpointUpdate{ChainID: r.root.ChainID, Worker: r.identity.Public().(ed25519.PublicKey), URL: url, Seq: uint64(r.light.Height)}
	return &protocol.UpdateEndpointArgs{Update: u, Sig: protocol.Sign(r.identity, protocol.SigEndpoint, protocol.MustMarshal(&u))}, nil
}
