package sdk

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/phala-go/phala/protocol"
)

// Epoch reads the chain's key epochs: current epoch, cluster public keys,
// pending rotation, gatekeepers and who holds what. It is assembled from
// several records and read without a proof.
func (c *Client) Epoch(ctx context.Context) (*protocol.EpochInfo, error) {
	q, err := c.query(ctx, protocol.QueryEpoch, 0)
	if err != nil {
		return nil, err
	}
	var info protocol.EpochInfo
	if err := decode("epoch", q.value, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Cluster reads a cluster's name and membership by id (see
// protocol.ClusterID), without a proof. ok is false when no such cluster
// exists.
func (c *Client) Cluster(ctx context.Context, id []byte) (cluster protocol.ClusterUpdate, ok bool, err error) {
	q, err := c.query(ctx, protocol.QueryCluster+hex.EncodeToString(id), 0)
	if errors.Is(err, protocol.ErrUnknownCluster) {
		return cluster, false, nil
	}
	if err != nil {
		return cluster, false, err
	}
	if err := decode(fmt.Sprintf("cluster %x", id), q.value, &cluster); err != nil {
		return cluster, false, err
	}
	return cluster, true, nil
}

// WorkerCluster reads, with its proof, the id of the cluster a worker is a
// member of; ok is false when the chain proves it is in none.
func (c *Client) WorkerCluster(ctx context.Context, worker []byte) (cluster []byte, ok bool, err error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryWorkerCluster+hex.EncodeToString(worker))
	if err != nil || q.value == nil {
		return nil, false, err
	}
	return q.value, true, nil
}

// VerifyMember is VerifyWorker for a worker about to be sent a contract's
// query: it also proves that the worker is a member of cluster, the
// contract's, now (protocol.ErrOutsideCluster otherwise). A worker of
// another cluster, or a removed member, would read the query's input in
// the clear and could sign any answer it liked.
func (c *Client) VerifyMember(ctx context.Context, cluster, worker []byte, o VerifyOptions) (*protocol.WorkerRecord, error) {
	in, ok, err := c.WorkerCluster(ctx, worker)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, protocol.Errorf(protocol.ErrOutsideCluster, "worker %x is in no cluster; the contract's is %x", worker, cluster)
	case !bytes.Equal(in, cluster):
		return nil, protocol.Errorf(protocol.ErrOutsideCluster, "worker %x is in cluster %x; the contract's is %x", worker, in, cluster)
	}
	return c.VerifyWorker(ctx, worker, o)
}
