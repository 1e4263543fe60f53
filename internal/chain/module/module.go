// Package module defines what every chain module plugs into: the call
// context (state, block, signer, outputs), the Module interface, and
// branching, which makes a call atomic.
//
// A call handler follows one shape: decode its arguments, validate, check
// state, then write and emit. The same handler runs in CheckTx (against the
// mempool's view of state) and in FinalizeBlock, so the two can never apply
// different rules.
package module

import (
	"time"

	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Module is a chain module: a named set of transaction methods over its own
// key space (the prefix "<name>/").
type Module interface {
	Name() string
	// Call executes method with its canonical CBOR arguments. It returns a
	// protocol error (errors.Is-comparable) for every rejection.
	Call(ctx *Context, method string, args []byte) error
}

// Block is what a call knows of the block it runs in. In CheckTx it is the
// last committed block.
type Block struct {
	ChainID string
	Height  int64
	Time    time.Time
	// HashAt returns the header hash of a committed height (or of the
	// block being executed), as the chain recorded it.
	HashAt func(height int64) ([]byte, bool)
}

// EndBlocker is a module with work to do after a block's transactions.
type EndBlocker interface {
	EndBlock(ctx *Context) error
}

// TxInfo is the authenticated sender of the transaction being executed.
type TxInfo struct {
	Signer    protocol.Address
	SignerKey []byte // ed25519 public key
	Hash      [32]byte
}

// Output collects what a block produces besides state: the ordered message
// list and validator-set updates.
type Output struct {
	Messages         []protocol.Message
	ValidatorUpdates []protocol.ValidatorUpdate
}

// Context is a call's view of the chain. Its State is a write cache: the
// caller decides whether the call's writes and outputs are kept (Commit) or
// dropped.
type Context struct {
	State  *store.Cache
	Block  Block
	Params protocol.Params
	Check  bool    // CheckTx: admission to the mempool, not execution
	Tx     *TxInfo // nil outside transactions (genesis, block hooks)

	out    Output
	parent *Context
}

// NewContext returns a root context over kv.
func NewContext(kv store.KV, b Block, p protocol.Params, check bool) *Context {
	return &Context{State: store.NewCache(kv), Block: b, Params: p, Check: check}
}

// Branch returns a child context whose writes and outputs reach ctx only if
// Commit is called.
func (ctx *Context) Branch() *Context {
	return &Context{
		State:  store.NewCache(ctx.State),
		Block:  ctx.Block,
		Params: ctx.Params,
		Check:  ctx.Check,
		Tx:     ctx.Tx,
		parent: ctx,
	}
}

// Commit applies a branch's writes and outputs to its parent.
func (ctx *Context) Commit() {
	if ctx.parent == nil {
		panic("module: Commit on a root context; use Flush")
	}
	ctx.State.Write()
	p := ctx.parent
	p.out.Messages = append(p.out.Messages, ctx.out.Messages...)
	p.out.ValidatorUpdates = append(p.out.ValidatorUpdates, ctx.out.ValidatorUpdates...)
	ctx.out = Output{}
}

// Flush writes a root context's state to the store it was made over and
// returns its outputs.
func (ctx *Context) Flush() Output {
	ctx.State.Write()
	out := ctx.out
	ctx.out = Output{}
	return out
}

// MessageCount is the number of messages emitted so far in this block,
// including those of enclosing contexts.
func (ctx *Context) MessageCount() int {
	n := 0
	for c := ctx; c != nil; c = c.parent {
		n += len(c.out.Messages)
	}
	return n
}

// Messages returns the messages this context has emitted (committed
// branches included).
func (ctx *Context) Messages() []protocol.Message { return ctx.out.Messages }

// AppendMessage adds m to the block's message list. Only the mq module calls
// it: it owns sequence numbers and limits.
func (ctx *Context) AppendMessage(m protocol.Message) {
	ctx.out.Messages = append(ctx.out.Messages, m)
}

// AppendValidatorUpdate records a validator-set change for this block.
func (ctx *Context) AppendValidatorUpdate(u protocol.ValidatorUpdate) {
	ctx.out.ValidatorUpdates = append(ctx.out.ValidatorUpdates, u)
}

// DecodeArgs decodes a call's arguments, mapping every failure to
// ErrBadArgs (malformed) or ErrNonCanonical.
func DecodeArgs(method string, raw []byte, v any) error {
	if err := protocol.Unmarshal(raw, v); err != nil {
		if e, ok := protocol.CodeOf(err); ok && e == protocol.ErrNonCanonical {
			return protocol.Errorf(protocol.ErrNonCanonical, "%s args", method)
		}
		return protocol.Errorf(protocol.ErrBadArgs, "%s: %v", method, err)
	}
	return nil
}
