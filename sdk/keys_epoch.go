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

// SealCommand encrypts a command for cluster under its key of the epoch in
// info, with the sender's address as authenticated data.
func SealCommand(chainID string, info *protocol.EpochInfo, cluster []byte, sender protocol.Address, plaintext []byte) (protocol.ClusterCommandArgs, error) {
	for _, cp := range info.Clusters {
		if bytes.Equal(cp.Cluster, cluster) {
			ct, err := protocol.HPKESeal(cp.Pubkey, protocol.CommandInfo(chainID, cluster, info.Current), sender[:], plaintext)
			if err != nil {
				return protocol.ClusterCommandArgs{}, err
			}
			return protocol.ClusterCommandArgs{Cluster: cluster, Epoch: info.Current, Ciphertext: ct}, nil
		}
	}
	return protocol.ClusterCommandArgs{}, fmt.Errorf("sdk: cluster %x has no key in epoch %d", cluster, info.Current)
}

// SendCommand encrypts plaintext to cluster's current key and sends it from
// key's account, waiting for inclusion.
func (c *Client) SendCommand(ctx context.Context, key *Key, cluster, plaintext []byte) (*TxResult, uint64, error) {
	info, err := c.Epoch(ctx)
	if err != nil {
		return nil, 0, err
	}
	args, err := SealCommand(c.chainID, info, cluster, key.Address(), plaintext)
	if err != nil {
		return nil, 0, err
	}
	call, err := protocol.NewCall(protocol.ModuleKeys, protocol.MethodClusterCommand, args)
	if err != nil {
		return nil, 0, err
	}
	res, err := c.Send(ctx, key, call)
	return res, args.Epoch, err
}
