// Package governance owns the admin threshold set at genesis, the chain
// parameters, the validator set, and the execution of governance actions.
// Other modules register the action kinds they implement (measurement
// allowlists, rotation triggers...); governance only checks that enough
// admins approved them.
package governance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// ActionHandler executes one kind of governance action. It runs only after
// the approvals were checked.
type ActionHandler func(ctx *module.Context, args []byte) error

// Module is the governance module.
type Module struct {
	actions map[string]ActionHandler
}

// New returns the governance module with its built-in actions (parameters
// and validator updates) and those of other modules.
func New(extra map[string]ActionHandler) (*Module, error) {
	m := &Module{actions: map[string]ActionHandler{
		protocol.ActionSetParams:        setParams,
		protocol.ActionUpdateValidators: updateValidators,
	}}
	for kind, h := range extra {
		if _, dup := m.actions[kind]; dup {
			return nil, fmt.Errorf("governance: action %q registered twice", kind)
		}
		m.actions[kind] = h
	}
	return m, nil
}

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleGovernance }

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleGovernance+"/")) }

var (
	keyAdmins = []byte("admins")
	keyNonce  = []byte("nonce")
	keyParams = []byte("params")
	prefixVal = []byte("v/")
)

type admins struct {
	Keys      [][]byte `cbor:"keys"`
	Threshold uint32   `cbor:"threshold"`
}

func read(s store.KV, key []byte, v any) bool {
	raw := kv(s).Get(key)
	if raw == nil {
		return false
	}
	if err := protocol.Unmarshal(raw, v); err != nil {
		store.Fail(fmt.Sprintf("governance: decode %s", key), err)
	}
	return true
}

// Params returns the chain parameters in force.
func Params(s store.KV) protocol.Params {
	var p protocol.Params
	if !read(s, keyParams, &p) {
		store.Fail("governance: params", fmt.Errorf("missing"))
	}
	return p
}

// ParamsStateKey is the full store key of the parameters, for proofs.
func ParamsStateKey() []byte { return append([]byte(protocol.ModuleGovernance+"/"), keyParams...) }

// NonceStateKey is the full store key of the governance nonce, for proofs.
func NonceStateKey() []byte { return append([]byte(protocol.ModuleGovernance+"/"), keyNonce...) }

// Nonce returns the nonce the next governance action must carry.
func Nonce(s store.KV) uint64 {
	var n uint64
	read(s, keyNonce, &n)
	return n
}

// InitGenesis stores the admins, parameters and genesis validators.
func (m *Module) InitGenesis(ctx *module.Context, g *protocol.GenesisState, validators []protocol.ValidatorUpdate) error {
	keys := make([][]byte, len(g.Governance.Admins))
	for i, k := range g.Governance.Admins {
		keys[i] = k
	}
	kv(ctx.State).Set(keyAdmins, protocol.MustMarshal(&admins{Keys: keys, Threshold: g.Governance.Threshold}))
	kv(ctx.State).Set(keyParams, protocol.MustMarshal(&g.Params))
	for _, v := range validators {
		kv(ctx.State).Set(append(slices.Clone(prefixVal), v.PubKey...), protocol.MustMarshal(v.Power))
	}
	return nil
}

// Call implements module.Module.
func (m *Module) Call(ctx *module.Context, method string, args []byte) error {
	if method != protocol.MethodExecute {
		return protocol.Errorf(protocol.ErrUnknownMethod, "governance.%s", method)
	}
	var a protocol.ExecuteArgs
	if err := module.DecodeArgs(method, args, &a); err != nil {
		return err
	}
	if want := Nonce(ctx.State); a.GovNonce != want {
		return protocol.Errorf(protocol.ErrGovNonce, "gov_nonce %d, want %d", a.GovNonce, want)
	}
	handler, ok := m.actions[a.Action.Kind]
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownAction, "%q", a.Action.Kind)
	}
	if err := checkApprovals(ctx, &a); err != nil {
		return err
	}
	// The action runs with the chain's authority, not the submitter's: its
	// context has no sender, so the messages it emits do not count against
	// the per-block quota that transactions share. Cheap transactions
	// ahead of it in the block can never crowd it out.
	actx := ctx.Branch()
	actx.Tx = nil
	if err := handler(actx, a.Action.Args); err != nil {
		return &actionFailed{kind: a.Action.Kind, nonce: a.GovNonce, err: err}
	}
	actx.Commit()
	setNonce(ctx.State, a.GovNonce+1)
	return nil
}

func setNonce(s store.KV, n uint64) { kv(s).Set(keyNonce, protocol.MustMarshal(n)) }

// actionFailed is an approved action whose handler refused it. Its
// approvals are public once the transaction is in a block, so its nonce is
// consumed all the same (KeepOnFailure): nobody can execute them later,
// when the state would let the handler succeed.
type actionFailed struct {
	kind  string
	nonce uint64
	err   error
}

func (e *actionFailed) Error() string {
	return fmt.Sprintf("%v (action %s failed; gov_nonce %d is consumed)", e.err, e.kind, e.nonce)
}

func (e *actionFailed) Unwrap() error { return e.err }

// KeepOnFailure is called with the transaction's context (fee and nonce
// charged) when a governance call failed: an approved action whose handler
// failed still consumes its governance nonce. A refusal before the
// approvals were checked consumes nothing.
func (*Module) KeepOnFailure(ctx *module.Context, err error) {
	var f *actionFailed
	if errors.As(err, &f) {
		setNonce(ctx.State, f.nonce+1)
	}
}

func checkApprovals(ctx *module.Context, a *protocol.ExecuteArgs) error {
	var ad admins
	read(ctx.State, keyAdmins, &ad)
	proposal := (&protocol.GovProposal{ChainID: ctx.Block.ChainID, GovNonce: a.GovNonce, Action: a.Action}).Bytes()
	seen := make([][]byte, 0, len(a.Approvals))
	for i, ap := range a.Approvals {
		if !slices.ContainsFunc(ad.Keys, func(k []byte) bool { return bytes.Equal(k, ap.PubKey) }) {
			return protocol.Errorf(protocol.ErrNotAdmin, "approval %d: key %x", i, ap.PubKey)
		}
		if slices.ContainsFunc(seen, func(k []byte) bool { return bytes.Equal(k, ap.PubKey) }) {
			return protocol.Errorf(protocol.ErrDuplicateApproval, "approval %d: key %x", i, ap.PubKey)
		}
		if !protocol.Verify(ap.PubKey, protocol.SigGovernance, proposal, ap.Sig) {
			return protocol.Errorf(protocol.ErrBadApproval, "approval %d: key %x", i, ap.PubKey)
		}
		seen = append(seen, ap.PubKey)
	}
	if len(seen) < int(ad.Threshold) {
		return protocol.Errorf(protocol.ErrNotEnoughApprovals, "%d approvals, threshold %d", len(seen), ad.Threshold)
	}
	return nil
}

// Topics on which governance announces its decisions.
var (
	TopicParams     = protocol.ModuleTopic(protocol.ModuleGovernance, "params")
	TopicValidators = protocol.ModuleTopic(protocol.ModuleGovernance, "validators")
)

func setParams(ctx *module.Context, raw []byte) error {
	var a protocol.SetParamsArgs
	if err := module.DecodeArgs(protocol.ActionSetParams, raw, &a); err != nil {
		return err
	}
	if err := a.Params.Validate(); err != nil {
		return err
	}
	if a.Params.AllowSimAttestation && !Params(ctx.State).AllowSimAttestation {
		return protocol.Errorf(protocol.ErrSimForbidden, "set_params may not turn allow_sim_attestation on")
	}
	enc := protocol.MustMarshal(&a.Params)
	kv(ctx.State).Set(keyParams, enc)
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleGovernance), TopicParams, enc)
}

func updateValidators(ctx *module.Context, raw []byte) error {
	var a protocol.UpdateValidatorsArgs
	if err := module.DecodeArgs(protocol.ActionUpdateValidators, raw, &a); err != nil {
		return err
	}
	if len(a.Updates) == 0 {
		return protocol.Errorf(protocol.ErrBadValidatorUpdate, "no updates")
	}
	s := kv(ctx.State)
	for i, u := range a.Updates {
		if len(u.PubKey) != 32 {
			return protocol.Errorf(protocol.ErrBadValidatorUpdate, "update %d: ed25519 key has %d bytes", i, len(u.PubKey))
		}
		if u.Power < 0 || u.Power > maxPower {
			return protocol.Errorf(protocol.ErrBadValidatorUpdate, "update %d: power %d outside 0..%d", i, u.Power, maxPower)
		}
		for _, prev := range a.Updates[:i] {
			if bytes.Equal(prev.PubKey, u.PubKey) {
				return protocol.Errorf(protocol.ErrBadValidatorUpdate, "update %d: key %x listed twice", i, u.PubKey)
			}
		}
		k := append(slices.Clone(prefixVal), u.PubKey...)
		if u.Power == 0 {
			if s.Get(k) == nil {
				return protocol.Errorf(protocol.ErrBadValidatorUpdate, "update %d: %x is not a validator", i, u.PubKey)
			}
			s.Delete(k)
		} else {
			s.Set(k, protocol.MustMarshal(u.Power))
		}
		ctx.AppendValidatorUpdate(u)
	}
	if len(Validators(ctx.State)) == 0 {
		return protocol.Errorf(protocol.ErrBadValidatorUpdate, "the update would remove every validator")
	}
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleGovernance), TopicValidators, protocol.MustMarshal(&a))
}

// maxPower keeps the total voting power far below CometBFT's limit
// (MaxInt64/8) even with many validators.
const maxPower = 1 << 40

// Validators returns the current validator set as the chain tracks it.
func Validators(s store.KV) []protocol.ValidatorUpdate {
	var out []protocol.ValidatorUpdate
	kv(s).Iterate(prefixVal, store.PrefixEnd(prefixVal), func(k, v []byte) bool {
		var p int64
		if err := protocol.Unmarshal(v, &p); err != nil {
			store.Fail("governance: decode power", err)
		}
		out = append(out, protocol.ValidatorUpdate{PubKey: slices.Clone(k[len(prefixVal):]), Power: p})
		return true
	})
	return out
}
