// Package contracts owns contract code, instances and their encrypted
// commands on the chain (DESIGN section 4.4, docs/contracts.md "Chain
// side"). It validates and announces uploaded modules, records instances
// and the public keys their clusters publish for each epoch, orders
// commands on each contract's topic with a per-contract index, and records
// the results a contract's cluster reports. It never sees a plaintext, and it never
// refuses a well-formed key publication of a worker for reasons of chain
// state: a refused worker message would block that worker's sequence.
package contracts

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/phala-go/phala/internal/chain/accounts"
	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Module is the contracts module.
type Module struct{}

// New returns the contracts module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleContracts }

// State layout, under "contracts/":
//
//	code/<hash>                CodeInfo
//	c/<id>                     ContractInfo
//	cmd/<id>/<index u64 BE>    CommandStatus
//	ke/<epoch u64 BE>/<id>     index: contract id has a key recorded for epoch
var (
	prefixCode     = []byte("code/")
	prefixContract = []byte("c/")
	prefixCommand  = []byte("cmd/")
	prefixKeyEpoch = []byte("ke/")
)

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleContracts+"/")) }

func join(parts ...[]byte) []byte { return slices.Concat(parts...) }

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func commandKey(id []byte, index uint64) []byte {
	return join(prefixCommand, id, []byte("/"), u64(index))
}

func keyEpochKey(epoch uint64, id []byte) []byte {
	return join(prefixKeyEpoch, u64(epoch), []byte("/"), id)
}

func full(key []byte) []byte { return join([]byte(protocol.ModuleContracts+"/"), key) }

// CodeStateKey is the full store key of a code record, for proofs.
func CodeStateKey(hash []byte) []byte { return full(join(prefixCode, hash)) }

// ContractStateKey is the full store key of a contract record, for proofs.
func ContractStateKey(id []byte) []byte { return full(join(prefixContract, id)) }

// CommandStateKey is the full store key of a command's status, for proofs.
func CommandStateKey(id []byte, index uint64) []byte { return full(commandKey(id, index)) }

func read(s store.KV, key []byte, v any) bool {
	raw := kv(s).Get(key)
	if raw == nil {
		return false
	}
	if err := protocol.Unmarshal(raw, v); err != nil {
		store.Fail(fmt.Sprintf("contracts: decode %q", key), err)
	}
	return true
}

func write(s store.KV, key []byte, v any) { kv(s).Set(key, protocol.MustMarshal(v)) }

// Code returns the record of uploaded code.
func Code(s store.KV, hash []byte) (protocol.CodeInfo, bool) {
	var c protocol.CodeInfo
	ok := read(s, join(prefixCode, hash), &c)
	return c, ok
}

// Contract returns an instance's record.
func Contract(s store.KV, id []byte) (protocol.ContractInfo, bool) {
	var c protocol.ContractInfo
	ok := read(s, join(prefixContract, id), &c)
	return c, ok
}

// Command returns a command's status.
func Command(s store.KV, id []byte, index uint64) (protocol.CommandStatus, bool) {
	var c protocol.CommandStatus
	ok := read(s, commandKey(id, index), &c)
	return c, ok
}

// saveContract writes an instance's record, keeping only the keys of the
// current epoch (current) and later ones: retired keys are useless
// (commands for their epoch are refused) and must not mislead a client
// into sealing to one. Callers pass the epoch they already read.
func saveContract(s store.KV, c *protocol.ContractInfo, current uint64) {
	c.Keys = slices.DeleteFunc(c.Keys, func(k protocol.ContractPubkey) bool { return k.Epoch < current })
	write(s, join(prefixContract, c.ID), c)
}

// Call implements module.Module.
func (*Module) Call(ctx *module.Context, method string, args []byte) error {
	switch method {
	case protocol.MethodUploadCode:
		var a protocol.UploadCodeArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return uploadCode(ctx, &a)
	case protocol.MethodInstantiate:
		var a protocol.InstantiateArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return instantiate(ctx, &a)
	case protocol.MethodCommand:
		var a protocol.CommandArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return command(ctx, &a)
	}
	return protocol.Errorf(protocol.ErrUnknownMethod, "contracts.%s", method)
}

// charge takes amount (what pays for) from the transaction's signer, out
// of circulation. It runs before CheckTx stops, so the mempool's view of
// the balance counts every admitted call's charge: of two pending calls the
// balance covers only one of, the second is refused at admission rather
// than failing in the block and losing its fee.
func charge(ctx *module.Context, amount uint64, what string) error {
	if amount == 0 {
		return nil
	}
	if err := accounts.Burn(ctx.State, ctx.Tx.Signer, amount); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func emit(ctx *module.Context, topic string, payload []byte) error {
	return mq.Emit(ctx, protocol.ModuleOrigin(protocol.ModuleContracts), topic, payload)
}

// PruneBatch bounds how many contract records one block rewrites to drop
// retired keys, so that a rotation costs the blocks after it a bounded
// amount of work however many contracts exist.
const PruneBatch = 256

// EndBlock drops the keys of retired epochs from the records of the
// contracts that have them, PruneBatch records per block, oldest epoch
// first. Commands for those epochs are refused from the activation on
// whether or not the record was rewritten yet.
func (*Module) EndBlock(ctx *module.Context) error {
	current := keys.Epoch(ctx.State).Current
	var stale [][]byte
	kv(ctx.State).Iterate(prefixKeyEpoch, keyEpochKey(current, nil), func(k, _ []byte) bool {
		stale = append(stale, slices.Clone(k))
		return len(stale) < PruneBatch
	})
	for _, k := range stale {
		id := k[len(prefixKeyEpoch)+8+1:]
		if c, ok := Contract(ctx.State, id); ok && slices.ContainsFunc(c.Keys, func(p protocol.ContractPubkey) bool { return p.Epoch < current }) {
			saveContract(ctx.State, &c, current)
		}
		kv(ctx.State).Delete(k)
	}
	return nil
}
