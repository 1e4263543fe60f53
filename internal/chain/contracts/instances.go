package contracts

import (
	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/protocol"
)

// MaxSalt bounds an instantiation's salt.
const MaxSalt = 64

// checkGas refuses a gas limit outside 1..max_command_gas.
func checkGas(ctx *module.Context, limit uint64) error {
	if limit == 0 || limit > ctx.Params.MaxCommandGas {
		return protocol.Errorf(protocol.ErrBadGasLimit, "gas limit %d outside 1..%d", limit, ctx.Params.MaxCommandGas)
	}
	return nil
}

// checkPayload refuses a message to pRuntimes larger than any message may
// be: what a user seals travels whole in one message.
func checkPayload(ctx *module.Context, payload []byte, what string, size int) error {
	if uint64(len(payload)) > ctx.Params.MaxPayloadBytes {
		return protocol.Errorf(protocol.ErrContractTooLarge, "%s of %d bytes: a %d-byte message, limit %d", what, size, len(payload), ctx.Params.MaxPayloadBytes)
	}
	return nil
}

// instantiate creates an instance of uploaded code in a cluster. Its init
// arguments are sealed to the cluster's key of the current epoch, so the
// cluster must have one; the id binds deployer, code, cluster and salt, so
// the deployer knows it before sending.
func instantiate(ctx *module.Context, a *protocol.InstantiateArgs) error {
	if len(a.Salt) > MaxSalt {
		return protocol.Errorf(protocol.ErrBadSalt, "salt of %d bytes, limit %d", len(a.Salt), MaxSalt)
	}
	if err := checkGas(ctx, a.GasLimit); err != nil {
		return err
	}
	if _, ok := Code(ctx.State, a.CodeHash); !ok {
		return protocol.Errorf(protocol.ErrUnknownCode, "code %x", a.CodeHash)
	}
	if _, ok := keys.Cluster(ctx.State, a.Cluster); !ok {
		return protocol.Errorf(protocol.ErrUnknownCluster, "%x", a.Cluster)
	}
	e := keys.Epoch(ctx.State)
	if err := e.CheckSealedFor(a.Epoch); err != nil {
		return err
	}
	if _, ok := e.ClusterKey(a.Cluster); !ok {
		return protocol.Errorf(protocol.ErrNoContractKey, "cluster %x has no key yet in epoch %d (it gets one at the next rotation)", a.Cluster, e.Current)
	}
	id := protocol.ContractID(ctx.Tx.Signer, a.CodeHash, a.Cluster, a.Salt)
	msg := protocol.MustMarshal(&protocol.ContractInstantiated{
		Contract: id[:], CodeHash: a.CodeHash, Cluster: a.Cluster, Deployer: ctx.Tx.Signer,
		Epoch: a.Epoch, GasLimit: a.GasLimit, InitArgs: a.InitArgs,
	})
	if err := checkPayload(ctx, msg, "init arguments", len(a.InitArgs)); err != nil {
		return err
	}
	if _, ok := Contract(ctx.State, id[:]); ok {
		return protocol.Errorf(protocol.ErrContractExists, "contract %x", id)
	}
	fee := ctx.Params.GasFee(a.GasLimit)
	if err := charge(ctx, fee, "the init's gas"); err != nil {
		return err
	}
	if ctx.Check {
		return nil
	}
	saveContract(ctx.State, &protocol.ContractInfo{
		ID: id[:], CodeHash: a.CodeHash, Cluster: a.Cluster, Deployer: ctx.Tx.Signer, Salt: a.Salt,
		CreatedAt: ctx.Block.Height, Status: protocol.ContractPending,
	}, e.Current)
	return emit(ctx, protocol.TopicInstantiate, msg)
}

// command puts an encrypted command on its contract's topic with the
// contract's next index. It must be sealed to the contract's published key
// of the current epoch: a command for a retired epoch would be sealed to a
// key every worker has erased.
func command(ctx *module.Context, a *protocol.CommandArgs) error {
	c, ok := Contract(ctx.State, a.Contract)
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownContract, "contract %x", a.Contract)
	}
	if c.Status != protocol.ContractActive {
		return protocol.Errorf(protocol.ErrContractNotActive, "contract %x is %s", a.Contract, c.Status)
	}
	e := keys.Epoch(ctx.State)
	if err := e.CheckSealedFor(a.Epoch); err != nil {
		return err
	}
	if _, ok := c.KeyFor(a.Epoch); !ok {
		return protocol.Errorf(protocol.ErrNoContractKey, "contract %x has no key published for epoch %d yet", a.Contract, a.Epoch)
	}
	if err := checkGas(ctx, a.GasLimit); err != nil {
		return err
	}
	cmd := protocol.ContractCommand{
		Contract: c.ID, Index: c.Commands, Epoch: a.Epoch, Sender: ctx.Tx.Signer,
		GasLimit: a.GasLimit, Ciphertext: a.Ciphertext,
	}
	msg := protocol.MustMarshal(&cmd)
	if err := checkPayload(ctx, msg, "ciphertext", len(a.Ciphertext)); err != nil {
		return err
	}
	fee := ctx.Params.GasFee(a.GasLimit)
	if err := charge(ctx, fee, "the command's gas"); err != nil {
		return err
	}
	if ctx.Check {
		return nil
	}
	write(ctx.State, commandKey(c.ID, cmd.Index), &protocol.CommandStatus{
		Contract: c.ID, Index: cmd.Index, Epoch: a.Epoch, Sender: ctx.Tx.Signer, Height: ctx.Block.Height,
	})
	c.Commands++
	saveContract(ctx.State, &c, e.Current)
	return emit(ctx, protocol.ContractCommandTopic(c.ID), msg)
}
