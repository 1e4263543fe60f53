package pherry

import (
	"context"
	"errors"

	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// syncTo feeds pRuntime blocks from..tip-1 (block H is proven by header H+1,
// so tip-1 is the last block that can be proven). The next batch is fetched
// while the current one is fed. It returns pRuntime's synced height.
func (r *Relayer) syncTo(ctx context.Context, from, tip int64) (int64, error) {
	if from >= tip {
		return from, nil
	}
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		blocks []protocol.SyncBlock
		err    error
	}
	batches := make(chan batch, 1)
	go func() {
		defer close(batches)
		for h := from; h < tip; h += int64(r.cfg.Batch) {
			end := min(h+int64(r.cfg.Batch)-1, tip-1)
			bs, err := r.fetch.Blocks(fetchCtx, h, end)
			select {
			case batches <- batch{bs, err}:
			case <-fetchCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stop := func() {
		cancel()
		for range batches { // wait for the fetcher to finish
		}
	}
	synced := from
	for b := range batches {
		if b.err != nil {
			stop()
			return synced, &transient{nodeErrKind(b.err), b.err}
		}
		resp, err := r.pr.Sync(ctx, &protocol.SyncRequest{Blocks: b.blocks})
		if err != nil {
			stop()
			var re *sdk.RuntimeError
			if errors.As(err, &re) {
				if re.Sync != nil {
					r.prog.observe(re.Sync.SyncedHeight, tip)
				}
				return synced, err
			}
			return synced, &transient{"pruntime_unreachable", err}
		}
		synced = resp.SyncedHeight
		r.m.blocks.Add(float64(resp.Applied))
		r.prog.observe(synced, tip)
	}
	return synced, nil
}

// nodeErrKind classifies a failure to read from the node: an answer that
// cannot be what was asked (a lying or broken node), or no answer.
func nodeErrKind(err error) string {
	if errors.Is(err, fetch.ErrAnswer) || errors.Is(err, sdk.ErrRPCShape) {
		return "node_malformed"
	}
	return "node_unreachable"
}
