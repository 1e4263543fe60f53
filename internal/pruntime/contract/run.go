package contract

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/protocol"
)

// Entry is the entry point a call runs.
type Entry uint8

// Entry points.
const (
	EntryInit Entry = iota + 1
	EntryCommand
	EntryQuery
)

// String names the entry point, for errors and logs.
func (e Entry) String() string {
	switch e {
	case EntryInit:
		return "init"
	case EntryCommand:
		return "command"
	case EntryQuery:
		return "query"
	}
	return fmt.Sprintf("entry(%d)", uint8(e))
}

// Store is the contract's storage as the caller provides it (a
// transactional overlay: on a non-ok outcome the caller discards the
// writes). The slices Run passes are views of guest memory, valid only
// during the method: a Store copies what it keeps (kvtree does). The
// slices it returns are copied into guest memory and never modified.
type Store interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
	Delete(key []byte)
	Next(after, prefix []byte) ([]byte, bool) // smallest key with prefix that is > after
}

// Call is one execution of an entry point.
type Call struct {
	Entry    Entry
	Input    []byte
	Contract [32]byte
	Caller   protocol.Address
	Height   int64
	Time     time.Time
	Seed     [32]byte // randomness seed, derived by the caller from the contract key, the block and the call
	GasLimit uint64
	Store    Store
	Debug    bool // route debug_log and fd 1/2 to Config.Log (pRuntime sets it only on the sim TEE)
}

// Emitted is a message the contract emitted, on topic
// protocol.ContractOutputTopic(contract, Suffix).
type Emitted struct {
	Suffix  string
	Payload []byte
}

// Result is the outcome of a call. Every field is a deterministic function
// of the code, the Call and the Store's contents, in both engine modes.
type Result struct {
	Outcome string // protocol.OutcomeOK, OutcomeError, OutcomeOutOfGas or OutcomeTrap
	Reason  string // deterministic text for traps and out-of-gas (docs/contracts.md "Determinism"), empty when ok/error
	Output  []byte // the output (ok) or the error text (error)
	GasUsed uint64
	Emitted []Emitted // only when ok
}

// Run executes one call. Contract faults (traps, out of gas, bad host-call
// arguments, limits) are Results, never errors; the error is only for
// host-side failures (context cancelled, engine closed, internal bug).
//
// Init and command calls run in a fresh instance whose _initialize runs
// inside the call's gas. Queries run in a warm instance the same
// contract left (initialised with Config.QueryInitGas, not charged), are
// read-only, and may run concurrently.
func (e *Engine) Run(ctx context.Context, code *Code, c *Call) (*Result, error) {
	if code == nil || c == nil || c.Store == nil {
		return nil, errors.New("contract: Run needs a code, a call and a store")
	}
	if c.Entry < EntryInit || c.Entry > EntryQuery {
		return nil, fmt.Errorf("contract: unknown entry %d", c.Entry)
	}
	if e.isClosed() {
		return nil, ErrClosed
	}
	s := &callState{call: c, readOnly: c.Entry == EntryQuery}
	if c.Debug {
		s.log = e.log
	}
	ctx = withState(ctx, s)
	if c.Entry == EntryQuery {
		return e.runQuery(ctx, code, s)
	}
	if code.instanceGas > c.GasLimit { // refused before the engine does any work
		return &Result{Outcome: protocol.OutcomeOutOfGas, Reason: ReasonOutOfGas, GasUsed: c.GasLimit}, nil
	}
	in, err := e.instantiate(ctx, code)
	if err != nil {
		return nil, e.hostError(ctx, err)
	}
	defer in.close(ctx)
	s.inst = in
	in.reset(c.GasLimit, code.instanceGas)
	if err := in.start(ctx); err != nil {
		return e.fault(ctx, s, err)
	}
	return e.finish(ctx, s, in.entry(c.Entry))
}

func (e *Engine) runQuery(ctx context.Context, code *Code, s *callState) (*Result, error) {
	in := e.idle.get(s.call.Contract, code)
	if in == nil {
		if code.instanceGas > e.cfg.QueryInitGas {
			return &Result{Outcome: protocol.OutcomeOutOfGas, Reason: ReasonOutOfGas}, nil // 0 gas: the new instance's budget is not the query's
		}
		var err error
		if in, err = e.instantiate(ctx, code); err != nil {
			return nil, e.hostError(ctx, err)
		}
		s.inst = in
		in.reset(e.cfg.QueryInitGas, code.instanceGas)
		if err := in.start(ctx); err != nil {
			in.close(ctx)
			res, herr := e.fault(ctx, s, err)
			if res != nil {
				res.GasUsed = 0 // the budget of a new query instance is not the query's
			}
			return res, herr
		}
	}
	s.inst = in
	in.reset(s.call.GasLimit, 0)
	res, err := e.finish(ctx, s, in.entry(EntryQuery))
	if err == nil && (res.Outcome == protocol.OutcomeOK || res.Outcome == protocol.OutcomeError) {
		s.inst = nil
		e.idle.put(ctx, s.call.Contract, code, in)
	} else {
		in.close(ctx) // a trap may leave the instance in any state
	}
	return res, err
}

// finish calls the entry point and turns what happened into a Result.
func (e *Engine) finish(ctx context.Context, s *callState, fn api.Function) (*Result, error) {
	ret, err := fn.Call(ctx, uint64(len(s.call.Input)))
	if err != nil {
		return e.fault(ctx, s, err)
	}
	gas, out := s.inst.used(s.call.GasLimit)
	if out { // the engine's last check: the final segment may have overrun
		return &Result{Outcome: protocol.OutcomeOutOfGas, Reason: ReasonOutOfGas, GasUsed: gas}, nil
	}
	if int32(ret[0]) != 0 {
		return &Result{Outcome: protocol.OutcomeError, Output: s.output, GasUsed: gas}, nil
	}
	return &Result{Outcome: protocol.OutcomeOK, Output: s.output, GasUsed: gas, Emitted: s.emitted}, nil
}

// fault classifies an error from a guest call. The instrumentation's
// globals decide first (they are the same in every engine mode), then the
// host's own traps, then wazero's runtime errors, by kind only.
func (e *Engine) fault(ctx context.Context, s *callState, err error) (*Result, error) {
	if ctx.Err() != nil || e.isClosed() {
		return nil, e.hostError(ctx, err)
	}
	in := s.inst
	gas, out := in.used(s.call.GasLimit)
	res := &Result{Outcome: protocol.OutcomeTrap, GasUsed: gas}
	var t *trap
	switch {
	case out:
		res.Outcome, res.Reason = protocol.OutcomeOutOfGas, ReasonOutOfGas
	case in.memFailed():
		res.Reason = ReasonMemoryLimit
	case in.depthExceeded():
		res.Reason = ReasonCallDepth
	case errors.As(err, &t):
		res.Reason = t.reason
	default:
		reason, ok := engineTrap(err)
		if !ok {
			return nil, fmt.Errorf("contract: unclassified engine error: %w", err)
		}
		if reason == ReasonCallDepth {
			e.log.Warn("engine stack limit reached before the call depth limit", "contract", fmt.Sprintf("%x", s.call.Contract[:8]))
		}
		res.Reason = reason
	}
	return res, nil
}

// wazeroTraps maps the messages of wazero's runtime errors (its
// internal/wasmruntime values, which both engines raise) to the ABI's
// reasons. "invalid table access" covers both an index outside the table
// and a null element.
var wazeroTraps = map[string]string{
	"unreachable":                   ReasonUnreachable,
	"out of bounds memory access":   ReasonOutOfBounds,
	"integer divide by zero":        ReasonDivideByZero,
	"integer overflow":              ReasonIntegerOverflow,
	"invalid conversion to integer": ReasonBadConversion,
	"indirect call type mismatch":   ReasonIndirectType,
	"invalid table access":          ReasonUndefinedTable,
	"stack overflow":                ReasonCallDepth, // the meter's depth limit normally fires first
}

// engineTrap finds the wazero runtime error inside err: wazero wraps it
// with its stack trace, so it is one of the errors in the chain whose whole
// message is the error's name.
func engineTrap(err error) (string, bool) {
	for ; err != nil; err = errors.Unwrap(err) {
		if r, ok := wazeroTraps[err.Error()]; ok {
			return r, true
		}
	}
	return "", false
}

func (e *Engine) hostError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("contract: call interrupted: %w", ctx.Err())
	case e.isClosed():
		return ErrClosed
	}
	return err
}
