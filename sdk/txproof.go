package sdk

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// WaitTx waits until the transaction with hash is included in a block and
// proves it: the block's transactions, which include it, hash to the
// verified header's data hash, and the block's results hash to the
// results hash of the verified header after it, which commits to the
// transaction's result code (so WaitTx returns one block after the
// inclusion). The code's space and log and the events (TxResult.Messages)
// are as the node reports them: verify messages with BlockMessages.
func (c *Client) WaitTx(ctx context.Context, hash []byte) (*TxResult, error) {
	for {
		res, err := c.rpc.Tx(ctx, hash, false)
		if err == nil {
			return c.proveTx(ctx, hash, res.Height)
		}
		if !strings.Contains(err.Error(), "not found") {
			return nil, fmt.Errorf("sdk: tx %X: %w", hash, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sdk: waiting for tx %X: %w", hash, ctx.Err())
		case <-time.After(c.poll):
		}
	}
}

// proveTx proves that the transaction with hash is in block h and reads
// its result (see WaitTx).
func (c *Client) proveTx(ctx context.Context, hash []byte, h int64) (*TxResult, error) {
	if h < 1 {
		return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "tx %X: included at height %d", hash, h)
	}
	hdr, err := c.VerifiedHeader(ctx, h)
	if err != nil {
		return nil, err
	}
	next, err := c.VerifiedHeader(ctx, h+1)
	if err != nil {
		return nil, err
	}
	blk, err := c.rpc.Block(ctx, &h)
	if err != nil {
		return nil, fmt.Errorf("sdk: block %d: %w", h, err)
	}
	if blk.Block == nil {
		return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "block %d: empty", h)
	}
	txs := blk.Block.Txs
	if got := txs.Hash(); !bytes.Equal(got, hdr.DataHash) {
		return nil, protocol.Errorf(protocol.ErrUnprovenTx, "block %d: transactions hash to %X, its header says %X", h, got, hdr.DataHash)
	}
	index := -1
	for i, tx := range txs {
		if bytes.Equal(tx.Hash(), hash) {
			index = i
			break
		}
	}
	if index < 0 {
		return nil, protocol.Errorf(protocol.ErrUnprovenTx, "block %d does not contain tx %X", h, hash)
	}
	br, err := c.rpc.BlockResults(ctx, &h)
	if err != nil {
		return nil, fmt.Errorf("sdk: results of block %d: %w", h, err)
	}
	if len(br.TxResults) != len(txs) {
		return nil, protocol.Errorf(protocol.ErrUnprovenTx, "block %d: %d results for %d transactions", h, len(br.TxResults), len(txs))
	}
	for i, r := range br.TxResults {
		if r == nil {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "block %d: result %d missing", h, i)
		}
	}
	if got := types.NewResults(br.TxResults).Hash(); !bytes.Equal(got, next.LastResultsHash) {
		return nil, protocol.Errorf(protocol.ErrUnprovenTx, "block %d: results hash to %X, header %d says %X", h, got, h+1, next.LastResultsHash)
	}
	return txResult(hash, h, br.TxResults[index]), nil
}

func txResult(hash []byte, h int64, r *abci.ExecTxResult) *TxResult {
	out := &TxResult{Hash: hash, Height: h}
	if r.Code != 0 {
		out.Err = protocol.FromWire(r.Codespace, r.Code, r.Log)
	}
	for _, ev := range r.Events {
		if ev.Type != "message" {
			continue
		}
		var m EmittedMessage
		for _, a := range ev.Attributes {
			switch a.Key {
			case "origin":
				m.Origin = a.Value
			case "topic":
				m.Topic = a.Value
			case "seq":
				m.Seq, _ = strconv.ParseUint(a.Value, 10, 64)
			}
		}
		out.Messages = append(out.Messages, m)
	}
	return out
}
