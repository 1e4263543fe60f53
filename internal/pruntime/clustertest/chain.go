package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// EachMessage calls fn with every message of the chain's blocks below the
// node's tip (whose messages the app may not have committed yet), oldest
// first, with its block's height, until fn returns false: how a test
// checks what landed on chain. The messages are read without proofs.
func EachMessage(t testing.TB, ctx context.Context, c *sdk.Client, fn func(h int64, m *protocol.Message) bool) {
	t.Helper()
	tip, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(1); h < tip; h++ {
		_, msgs, err := c.RawBlockMessages(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if !fn(h, m) {
				return
			}
		}
	}
}

// OnChain reports where b appears in the chain's history below the tip,
// in a transaction or in a message's topic or payload: for a plaintext
// that must never reach the chain.
func OnChain(t testing.TB, ctx context.Context, c *sdk.Client, b []byte) (where string, found bool) {
	t.Helper()
	tip, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(1); h < tip; h++ {
		blk, err := c.RPC().Block(ctx, &h)
		if err != nil {
			t.Fatal(err)
		}
		for i, tx := range blk.Block.Txs {
			if bytes.Contains(tx, b) {
				return fmt.Sprintf("transaction %d of block %d", i, h), true
			}
		}
	}
	EachMessage(t, ctx, c, func(h int64, m *protocol.Message) bool {
		if bytes.Contains(m.Payload, b) || strings.Contains(m.Topic, string(b)) {
			where, found = fmt.Sprintf("message %d on %s in block %d", m.Seq, m.Topic, h), true
		}
		return !found
	})
	return where, found
}
