package app

import (
	"context"
	"fmt"
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/phala-go/phala/internal/chain/accounts"
	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// CheckTx implements abci.Application: it runs the transaction exactly as
// FinalizeBlock would, against the mempool's view of state, and keeps its
// effects there only if it succeeds. Sequence numbers and nonces thus count
// the transactions already admitted, so a second relayer's copy of a message
// is refused as a duplicate before it costs anyone anything.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (resp *abci.CheckTxResponse, _ error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer recoverInto(func(err error) { resp = checkTxResponse(err) })
	if a.check == nil {
		return checkTxResponse(protocol.Errorf(protocol.ErrInternal, "chain not initialised")), nil
	}
	txCtx, err := a.execTx(a.check, req.Tx)
	if err == nil {
		txCtx.Commit()
	}
	return checkTxResponse(err), nil
}

// FinalizeBlock implements abci.Application. A transaction whose envelope
// is invalid (encoding, signature, chain id, nonce, fee) changes nothing; one
// whose call fails is charged its fee and nonce and changes nothing else.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.Height != a.height+1 {
		return nil, fmt.Errorf("app: finalize block %d after %d", req.Height, a.height)
	}
	tree := store.Tree{T: a.tree}
	ctx := module.NewContext(tree, a.block(req.Height, req.Time, req.Hash), governance.Params(tree), false)
	validatorsBefore := governance.Validators(tree)

	results := make([]*abci.ExecTxResult, len(req.Txs))
	outcomes := make([]string, len(req.Txs))
	for i, raw := range req.Txs {
		before := ctx.MessageCount()
		txCtx, err := a.execTx(ctx, raw)
		if txCtx != nil {
			txCtx.Commit() // the fee and nonce, and the call's effects if err == nil
		}
		results[i] = execTxResult(err, ctx.Messages()[before:])
		outcomes[i] = outcome(results[i])
	}
	for _, m := range a.endBlockers {
		// Module bookkeeping cannot fail for a reason a transaction caused;
		// an error here is a bug and halts the node rather than diverge.
		if err := m.EndBlock(ctx); err != nil {
			return nil, fmt.Errorf("app: end block %d: %w", req.Height, err)
		}
	}
	out := ctx.Flush()
	a.metrics.block(req.Height, outcomes, len(out.Messages))

	rec := newBlockRecord(req.Height, req.Time, a.tree.WorkingHash(), out.Messages)
	rec.BlockHash = req.Hash
	a.pending = rec
	return &abci.FinalizeBlockResponse{
		TxResults:        results,
		ValidatorUpdates: validatorUpdates(validatorsBefore, out.ValidatorUpdates),
		AppHash:          rec.appHash(),
	}, nil
}

// execTx runs one transaction in a branch of parent. It returns the branch
// (nil if the envelope was refused before anything could be charged) and
// the transaction's error. If the call failed, the branch holds only the
// fee and nonce.
func (a *App) execTx(parent *module.Context, raw []byte) (*module.Context, error) {
	tx, err := protocol.DecodeTx(raw, int(parent.Params.MaxTxBytes))
	if err != nil {
		return nil, err
	}
	if tx.ChainID != a.chainID {
		return nil, protocol.Errorf(protocol.ErrWrongChainID, "%q, want %q", tx.ChainID, a.chainID)
	}
	if err := tx.VerifySignature(); err != nil {
		return nil, err
	}
	txCtx := parent.Branch()
	txCtx.Tx = &module.TxInfo{Signer: tx.Address, SignerKey: tx.Signer, Hash: tx.Hash}
	if err := accounts.Authorize(txCtx, tx); err != nil {
		return nil, err
	}
	mod, ok := a.modules[tx.Call.Module]
	if !ok {
		return txCtx, protocol.Errorf(protocol.ErrUnknownModule, "%q", tx.Call.Module)
	}
	callCtx := txCtx.Branch()
	if err := call(mod, callCtx, tx.Call.Method, tx.Call.Args); err != nil {
		if k, ok := mod.(failureKeeper); ok {
			k.KeepOnFailure(txCtx, err)
		}
		return txCtx, err
	}
	callCtx.Commit()
	return txCtx, nil
}

// failureKeeper is a module that keeps some bookkeeping of a failed call
// beside the fee and nonce: governance consumes the nonce of an approved
// action whose handler failed, so that its public approvals die with it.
type failureKeeper interface {
	KeepOnFailure(ctx *module.Context, err error)
}

// call runs a module method. A panic in it (a bug, or a library choking on
// hostile input) fails the transaction on every node alike instead of
// halting them; storage failures still halt.
func call(mod module.Module, ctx *module.Context, method string, args []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(*store.Failure); ok {
				panic(f)
			}
			err = protocol.Errorf(protocol.ErrInternal, "%s.%s panicked: %v", mod.Name(), method, r)
		}
	}()
	return mod.Call(ctx, method, args)
}

// recoverInto turns a storage failure into an internal error for callers
// that must not crash the node (CheckTx, Query). Other panics propagate.
func recoverInto(set func(error)) {
	if r := recover(); r != nil {
		f, ok := r.(*store.Failure)
		if !ok {
			panic(r)
		}
		set(protocol.Errorf(protocol.ErrInternal, "%v", f))
	}
}

func wireError(err error) (space string, code uint32, log string) {
	if err == nil {
		return "", abci.CodeTypeOK, ""
	}
	e, ok := protocol.CodeOf(err)
	if !ok {
		e = protocol.ErrInternal
	}
	return e.Space, e.Code, err.Error()
}

func checkTxResponse(err error) *abci.CheckTxResponse {
	space, code, log := wireError(err)
	return &abci.CheckTxResponse{Codespace: space, Code: code, Log: log}
}

// Event attributes describing each message a transaction emitted. Events are
// not part of the app hash; clients use them only to find their messages,
// never to trust them.
const (
	EventMessage = "message"
	AttrOrigin   = "origin"
	AttrTopic    = "topic"
	AttrSeq      = "seq"
)

func execTxResult(err error, msgs []protocol.Message) *abci.ExecTxResult {
	space, code, log := wireError(err)
	res := &abci.ExecTxResult{Codespace: space, Code: code, Log: log}
	for _, m := range msgs {
		res.Events = append(res.Events, abci.Event{Type: EventMessage, Attributes: []abci.EventAttribute{
			{Key: AttrOrigin, Value: m.Origin.String(), Index: true},
			{Key: AttrTopic, Value: m.Topic, Index: true},
			{Key: AttrSeq, Value: strconv.FormatUint(m.Seq, 10), Index: true},
		}})
	}
	return res
}

func outcome(r *abci.ExecTxResult) string {
	if r.Code == abci.CodeTypeOK {
		return "ok"
	}
	return r.Codespace + "/" + strconv.FormatUint(uint64(r.Code), 10)
}

// validatorUpdates merges a block's validator updates into one per key,
// the last one winning, in the order keys were first updated: CometBFT
// refuses a block's updates that name a key twice, and that refusal halts
// the chain for good (it comes after the block is committed). A key that
// was not a validator before the block and is removed by its last update
// is dropped: CometBFT would refuse to remove a validator it never had.
func validatorUpdates(before, us []protocol.ValidatorUpdate) []abci.ValidatorUpdate {
	if len(us) == 0 {
		return nil
	}
	last := make(map[string]int64, len(us))
	var order []string
	for _, u := range us {
		k := string(u.PubKey)
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = u.Power
	}
	was := make(map[string]bool, len(before))
	for _, v := range before {
		was[string(v.PubKey)] = true
	}
	out := make([]abci.ValidatorUpdate, 0, len(order))
	for _, k := range order {
		if last[k] == 0 && !was[k] {
			continue
		}
		out = append(out, abci.ValidatorUpdate{PubKeyType: "ed25519", PubKeyBytes: []byte(k), Power: last[k]})
	}
	return out
}
