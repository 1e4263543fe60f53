// Package fetch reads from a phala node everything pRuntime needs to verify
// and apply blocks: headers with commits, validator sets when they change,
// and message lists, in JSON-RPC batches through CometBFT's rpc/client/http.
// It trusts nothing it fetches; pRuntime verifies it all.
package fetch

import (
	"context"
	"fmt"
	"strconv"

	cmtjson "github.com/cometbft/cometbft/libs/json"

	"golang.org/x/sync/errgroup"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// DefaultBatchLimit is CometBFT's default max_request_batch_size: the most
// requests one JSON-RPC batch may carry on a node with default settings.
const DefaultBatchLimit = 10

// parallel bounds the JSON-RPC batches in flight at once.
const parallel = 4

// Fetcher reads sync data from one node.
type Fetcher struct {
	rpc   *sdk.RPC
	limit int
}

// New returns a fetcher over an RPC client whose node accepts batches of up
// to batchLimit requests (0: DefaultBatchLimit).
func New(rpc *sdk.RPC, batchLimit int) *Fetcher {
	if batchLimit < 2 {
		batchLimit = DefaultBatchLimit
	}
	return &Fetcher{rpc: rpc, limit: batchLimit}
}

// Dial connects to a node's RPC address.
func Dial(addr string, batchLimit int) (*Fetcher, error) {
	rpc, err := sdk.NewRPC(addr)
	if err != nil {
		return nil, err
	}
	return New(rpc, batchLimit), nil
}

// RPC returns the underlying client.
func (f *Fetcher) RPC() *sdk.RPC { return f.rpc }

// Height returns the node's latest block height.
func (f *Fetcher) Height(ctx context.Context) (int64, error) {
	st, err := f.rpc.Status(ctx)
	if err != nil {
		return 0, err
	}
	if h := st.SyncInfo.LatestBlockHeight; h < 0 {
		return 0, fmt.Errorf("%w: latest height %d", ErrAnswer, h)
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// Genesis returns the chain's genesis document as JSON, for pRuntime's
// /v1/init.
func (f *Fetcher) Genesis(ctx context.Context) ([]byte, error) {
	g, err := f.rpc.Genesis(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch: genesis: %w", err)
	}
	if g.Genesis == nil {
		return nil, fmt.Errorf("%w: no genesis document", ErrAnswer)
	}
	return cmtjson.Marshal(g.Genesis)
}

// Blocks returns the sync data of blocks from..to (inclusive): for each H,
// header H+1 and its commit, block H's messages, and the next validator set
// where header H+1 changes it. Header to+1 must exist. The range is split
// into JSON-RPC batches within the node's limit, several in flight at once.
func (f *Fetcher) Blocks(ctx context.Context, from, to int64) ([]protocol.SyncBlock, error) {
	if from < 0 || to < from || to-from >= protocol.MaxSyncBlocks {
		return nil, fmt.Errorf("fetch: bad range %d..%d", from, to)
	}
	out := make([]protocol.SyncBlock, to-from+1)
	per := int64(f.limit / 2) // two requests per block
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for start := from; start <= to; start += per {
		end := min(start+per-1, to)
		g.Go(func() error { return f.batch(gctx, start, end, out[start-from:end-from+1]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// batch fetches blocks from..to in one JSON-RPC batch into out.
func (f *Fetcher) batch(ctx context.Context, from, to int64, out []protocol.SyncBlock) error {
	n := int(to - from + 1)
	batch := f.rpc.NewBatch()
	for i := range n {
		h := from + int64(i) + 1
		if _, err := batch.Commit(ctx, &h); err != nil {
			return err
		}
		if _, err := batch.ABCIQuery(ctx, protocol.QueryMessages+strconv.FormatInt(h-1, 10), nil); err != nil {
			return err
		}
	}
	results, err := batch.Send(ctx)
	if err != nil {
		return fmt.Errorf("fetch: blocks %d..%d: %w", from, to, err)
	}
	changes, err := decodeBatch(from, results, out)
	if err != nil {
		return err
	}
	for _, i := range changes {
		if out[i].NextValidators, err = f.validators(ctx, from+int64(i)+2); err != nil {
			return err
		}
	}
	return nil
}
