package sdk

import (
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
	if err := protocol.Unmarshal(q.value, &info); err != nil {
		return nil, fmt.Errorf("sdk: epoch: %w", err)
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
	if err := protocol.Unmarshal(q.value, &cluster); err != nil {
		return cluster, false, fmt.Errorf("sdk: cluster %x: %w", id, err)
	}
	return cluster, true, nil
}
