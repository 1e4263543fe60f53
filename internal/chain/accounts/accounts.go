// Package accounts owns ed25519 accounts: balances, nonces, fees and
// transfers. It never decides what a transaction may do beyond paying for
// itself and moving funds.
package accounts

import (
	"math"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Module is the accounts module.
type Module struct{}

// New returns the accounts module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleAccounts }

// StateKey is the full store key of an account, for proofs.
func StateKey(a protocol.Address) []byte {
	return append([]byte(protocol.ModuleAccounts+"/a/"), a[:]...)
}

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleAccounts+"/")) }

func key(a protocol.Address) []byte { return append([]byte("a/"), a[:]...) }

// Get returns a's account; an unknown account is empty.
func Get(s store.KV, a protocol.Address) protocol.Account {
	var acc protocol.Account
	raw := kv(s).Get(key(a))
	if raw == nil {
		return acc
	}
	if err := protocol.Unmarshal(raw, &acc); err != nil {
		store.Fail("accounts: decode "+a.String(), err)
	}
	return acc
}

func set(s store.KV, a protocol.Address, acc protocol.Account) {
	if acc == (protocol.Account{}) {
		kv(s).Delete(key(a))
		return
	}
	kv(s).Set(key(a), protocol.MustMarshal(&acc))
}

// Credit adds amount to a's balance (genesis funding, transfers).
func Credit(s store.KV, a protocol.Address, amount uint64) error {
	acc := Get(s, a)
	if acc.Balance > math.MaxUint64-amount {
		return protocol.Errorf(protocol.ErrBadAmount, "balance of %s would overflow", a)
	}
	acc.Balance += amount
	set(s, a, acc)
	return nil
}

// Burn takes amount out of a's balance and out of circulation (charges
// beyond the fee: code bytes, prepaid contract gas).
func Burn(s store.KV, a protocol.Address, amount uint64) error {
	acc := Get(s, a)
	if acc.Balance < amount {
		return protocol.Errorf(protocol.ErrInsufficientBalance, "account %s: balance %d, needs %d", a, acc.Balance, amount)
	}
	acc.Balance -= amount
	set(s, a, acc)
	return nil
}

// Authorize checks the transaction's nonce and that the signer can pay its
// fee, then charges the fee and advances the nonce. This is the only part of
// a transaction that persists when its call fails. The fee is burned.
func Authorize(ctx *module.Context, tx *protocol.DecodedTx) error {
	if tx.Fee < ctx.Params.MinFee {
		return protocol.Errorf(protocol.ErrFeeTooLow, "fee %d, minimum %d", tx.Fee, ctx.Params.MinFee)
	}
	acc := Get(ctx.State, tx.Address)
	if tx.Nonce != acc.Nonce {
		return protocol.Errorf(protocol.ErrWrongNonce, "account %s: nonce %d, want %d", tx.Address, tx.Nonce, acc.Nonce)
	}
	if acc.Balance < tx.Fee {
		return protocol.Errorf(protocol.ErrInsufficientFunds, "account %s: balance %d, fee %d", tx.Address, acc.Balance, tx.Fee)
	}
	acc.Balance -= tx.Fee
	acc.Nonce++
	set(ctx.State, tx.Address, acc)
	return nil
}

// Call implements module.Module.
func (m *Module) Call(ctx *module.Context, method string, args []byte) error {
	switch method {
	case protocol.MethodTransfer:
		var a protocol.TransferArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return transfer(ctx, ctx.Tx.Signer, a.To, a.Amount)
	}
	return protocol.Errorf(protocol.ErrUnknownMethod, "accounts.%s", method)
}

func transfer(ctx *module.Context, from, to protocol.Address, amount uint64) error {
	if amount == 0 {
		return protocol.Errorf(protocol.ErrBadAmount, "transfer of zero")
	}
	src := Get(ctx.State, from)
	if src.Balance < amount {
		return protocol.Errorf(protocol.ErrInsufficientBalance, "account %s: balance %d, transfer %d", from, src.Balance, amount)
	}
	src.Balance -= amount
	set(ctx.State, from, src)
	return Credit(ctx.State, to, amount)
}

// InitGenesis funds the genesis accounts.
func (m *Module) InitGenesis(ctx *module.Context, g *protocol.GenesisState) error {
	for _, a := range g.Accounts {
		if err := Credit(ctx.State, a.Address, a.Balance); err != nil {
			return err
		}
	}
	return nil
}
