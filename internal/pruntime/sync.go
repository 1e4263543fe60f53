package pruntime

import (
	"bytes"
	"fmt"
	"runtime/debug"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/light"
	"github.com/phala-go/phala/protocol"
)

// Sync verifies and applies consecutive blocks. It stops at the first block
// that fails and returns its error together with what was applied before
// it. Blocks already applied are acknowledged and skipped if they are
// exactly the blocks pRuntime verified (acknowledge).
//
// A panic while a block is applied is contained: the block is rolled back
// whole, the panic is logged with its stack, and the error is
// ErrRuntimeInternal, with the progress made before that block.
func (r *Runtime) Sync(req *protocol.SyncRequest) (*protocol.SyncResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return nil, protocol.Errorf(protocol.ErrNotInitialized, "send the genesis to /v1/init first")
	}
	resp := &protocol.SyncResponse{}
	pre := startPreparing(req.Blocks, r.log)
	defer pre.stop()
	var err error
	for i := range req.Blocks {
		p, perr := pre.next()
		if perr != nil {
			err = perr
		} else {
			b := &req.Blocks[i]
			err = r.contain(fmt.Sprintf("applying block %d", b.Height), func() error { return r.applyLocked(b, p, resp) })
		}
		pre.done(i)
		if err != nil {
			r.m.syncError(err)
			break
		}
	}
	pre.stop()
	resp.SyncedHeight = r.light.Height
	resp.AppHash = r.light.AppHash
	if resp.Applied > 0 {
		r.publishLocked()
	}
	r.m.setHeight(r.light.Height)
	r.m.egressPending(r.egress.Len())
	if resp.Applied > 0 && r.light.Height-r.lastCkpt >= r.cfg.CheckpointEvery {
		if cerr := r.saveCheckpointLocked(); cerr != nil {
			r.log.Error("checkpoint failed", "err", cerr)
		}
	}
	return resp, err
}

// contain runs f, which changes state within r.tx, and turns a panic in it
// into ErrRuntimeInternal after rolling the transaction back, so that what
// f was applying is applied whole or not at all. Caller holds mu.
func (r *Runtime) contain(what string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.tx.Rollback()
			err = internalError(r.log, what, v)
		}
	}()
	return f()
}

// internalError logs a recovered panic with its stack and returns the
// error the caller answers. The answer does not carry the panic's value:
// the log has it, and the relayer needs only to know it was not its input's
// fault that can be named.
func internalError(log interface {
	Error(msg string, args ...any)
}, what string, v any) error {
	msg := fmt.Sprint(v)
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	log.Error("panic contained", "while", what, "panic", msg, "stack", string(debug.Stack()))
	return protocol.Errorf(protocol.ErrRuntimeInternal, "%s: internal error (logged by pRuntime)", what)
}

// applyLocked verifies and applies block b, or acknowledges it if it is
// below the next height. Caller holds mu.
func (r *Runtime) applyLocked(b *protocol.SyncBlock, p *dispatch.Prepared, resp *protocol.SyncResponse) error {
	cur := r.light
	switch {
	case b.Height > cur.Height:
		return protocol.Errorf(protocol.ErrBlockGap, "block %d, next is %d", b.Height, cur.Height)
	case b.Height < cur.Height:
		if err := r.acknowledge(b, p); err != nil {
			return err
		}
		resp.Skipped++
		return nil
	}
	sh, err := light.DecodeSignedHeader(b.SignedHeader)
	if err != nil {
		return err
	}
	next, err := light.DecodeValidatorSet(b.NextValidators)
	if err != nil {
		return err
	}
	verified, err := light.Verify(cur, sh, next)
	if err != nil {
		return err
	}
	if err := r.engine.Apply(dispatch.Block{Height: b.Height, Time: cur.Time}, p, verified.AppHash); err != nil {
		return err
	}
	r.light = verified
	r.applied, r.appliedTime = b.Height, cur.Time
	r.rememberHeader(verified.Height, verified.BlockID.Hash)
	resp.Applied++
	r.m.applied(len(b.Messages.Messages))
	return nil
}

// acknowledge accepts a block that was applied already (a restarted or
// concurrent relayer resends it) only if it is exactly the block pRuntime
// verified: header H+1 hashes to the header pRuntime verified at that
// height, and the commit is to that header; the message list rebuilds the
// app hash of that header; and a next validator set, if sent, is the one
// the header names. Anything else is ErrBlockMismatch. pRuntime remembers
// the last headerMemory header hashes; an older block is
// ErrBlockForgotten, since pRuntime cannot tell whether it is canonical.
// Caller holds mu.
func (r *Runtime) acknowledge(b *protocol.SyncBlock, p *dispatch.Prepared) error {
	want, ok := r.headers[b.Height+1]
	if !ok {
		return protocol.Errorf(protocol.ErrBlockForgotten, "block %d: pRuntime keeps the last %d verified headers, up to %d", b.Height, headerMemory, r.light.Height)
	}
	sh, err := light.DecodeSignedHeader(b.SignedHeader)
	if err != nil {
		return err
	}
	if got := sh.Header.Hash(); !bytes.Equal(got, want) {
		return protocol.Errorf(protocol.ErrBlockMismatch, "block %d: header %d hashes to %X, pRuntime verified %X", b.Height, b.Height+1, got, want)
	}
	if !bytes.Equal(sh.Commit.BlockID.Hash, want) {
		return protocol.Errorf(protocol.ErrBlockMismatch, "block %d: the commit is to block %X, not to header %d %X", b.Height, sh.Commit.BlockID.Hash, b.Height+1, want)
	}
	// The header is the verified one, so its app hash is authentic.
	if !p.Matches(sh.Header.AppHash) {
		return protocol.Errorf(protocol.ErrBlockMismatch, "block %d: state root and %d messages do not rebuild the app hash %X of verified header %d", b.Height, len(b.Messages.Messages), sh.Header.AppHash, b.Height+1)
	}
	if len(b.NextValidators) > 0 {
		next, err := light.DecodeValidatorSet(b.NextValidators)
		if err != nil {
			return err
		}
		if got := next.Hash(); !bytes.Equal(got, sh.Header.NextValidatorsHash) {
			return protocol.Errorf(protocol.ErrBlockMismatch, "block %d: next validator set hashes to %X, verified header %d names %X", b.Height, got, b.Height+1, sh.Header.NextValidatorsHash)
		}
	}
	return nil
}
