package sdk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/phala-go/phala/protocol"
)

// The chain half of confidential contracts: reading code, instances and
// command statuses with proofs; uploading, instantiating and sending
// encrypted commands; waiting for results and opening their replies.
//
// Everything sealed here is sealed to a key read with a proof (the epoch
// record for cluster keys, the contract record for contract keys), so a
// node cannot substitute a key of its own and read a user's plaintext.

// EpochRecord reads the chain's key epochs with a proof: the current
// epoch, its cluster public keys, and the rotation under way. Unlike Epoch
// it leaves out the gatekeeper and served lists, which have no single
// proof.
func (c *Client) EpochRecord(ctx context.Context) (*protocol.EpochRecord, error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryContractEpoch)
	if err != nil {
		return nil, err
	}
	var rec protocol.EpochRecord
	if q.value == nil {
		return &rec, nil // no epoch yet
	}
	if err := decode("epoch record", q.value, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// proven reads one record with its proof into v; ok is false when the
// chain proves it absent.
func (c *Client) proven(ctx context.Context, path string, v any) (ok bool, err error) {
	q, err := c.verifiedQuery(ctx, path)
	if err != nil || q.value == nil {
		return false, err
	}
	if err := decode(path, q.value, v); err != nil {
		return false, err
	}
	return true, nil
}

// Code reads the record of uploaded code by its hash, with its proof.
func (c *Client) Code(ctx context.Context, hash []byte) (protocol.CodeInfo, bool, error) {
	var info protocol.CodeInfo
	ok, err := c.proven(ctx, protocol.QueryCode+hex.EncodeToString(hash), &info)
	return info, ok, err
}

// Contract reads a contract's record (status, init result, published
// keys, command count), with its proof.
func (c *Client) Contract(ctx context.Context, id []byte) (protocol.ContractInfo, bool, error) {
	var info protocol.ContractInfo
	ok, err := c.proven(ctx, protocol.QueryContract+hex.EncodeToString(id), &info)
	return info, ok, err
}

// CommandStatus reads the status of a contract's command index (and its
// result, once landed), with its proof.
func (c *Client) CommandStatus(ctx context.Context, id []byte, index uint64) (protocol.CommandStatus, bool, error) {
	var st protocol.CommandStatus
	ok, err := c.proven(ctx, commandPath(id, index), &st)
	return st, ok, err
}

// CommandStatusUnverified reads a command's status without checking its
// proof: for a sender timing its own command, where a lie only misstates
// when it landed and CommandStatus (one block later, with the proof)
// tells the truth.
func (c *Client) CommandStatusUnverified(ctx context.Context, id []byte, index uint64) (protocol.CommandStatus, bool, error) {
	var st protocol.CommandStatus
	q, err := c.query(ctx, commandPath(id, index), 0)
	if err != nil || q.value == nil {
		return st, false, err
	}
	if err := decode(fmt.Sprintf("command %d of contract %x", index, id), q.value, &st); err != nil {
		return st, false, err
	}
	return st, true, nil
}

func commandPath(id []byte, index uint64) string {
	return protocol.QueryCommand + hex.EncodeToString(id) + "/" + strconv.FormatUint(index, 10)
}

// send sends call and turns a failed inclusion into an error, so that
// callers of the contract helpers check one value.
func (c *Client) send(ctx context.Context, key *Key, call protocol.Call, err error) (*TxResult, error) {
	if err != nil {
		return nil, err
	}
	res, err := c.Send(ctx, key, call)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return res, fmt.Errorf("sdk: %s.%s in block %d: %w", call.Module, call.Method, res.Height, res.Err)
	}
	return res, nil
}

// UploadCode gzip-compresses a WebAssembly module, uploads it from key's
// account (paying the per-byte code fee) and returns its code hash. Code
// the chain already has is refused with protocol.ErrCodeExists; its hash
// is returned all the same.
func (c *Client) UploadCode(ctx context.Context, key *Key, wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(wasm); err != nil {
		return nil, fmt.Errorf("sdk: compress code: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("sdk: compress code: %w", err)
	}
	hash := protocol.CodeHash(wasm)
	call, err := protocol.NewCall(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: buf.Bytes(), Compression: protocol.CompressionGzip})
	_, err = c.send(ctx, key, call, err)
	return hash[:], err
}

// SealInitArgs prepares an instantiation by deployer of code in cluster:
// it computes the contract's id and seals initArgs to the cluster's key of
// the record's current epoch (info ContractInitInfo, the deployer's
// address as aad). It returns the arguments, the id and the reply secret
// that opens the init result's reply.
func SealInitArgs(chainID string, rec *protocol.EpochRecord, deployer protocol.Address, codeHash, cluster, salt, initArgs []byte, gasLimit uint64) (args protocol.InstantiateArgs, id, secret []byte, err error) {
	if err := usableEpoch(rec); err != nil {
		return args, nil, nil, err
	}
	pub, ok := rec.ClusterKey(cluster)
	if !ok {
		return args, nil, nil, protocol.Errorf(protocol.ErrNoContractKey, "cluster %x has no key yet in epoch %d", cluster, rec.Current)
	}
	cid := protocol.ContractID(deployer, codeHash, cluster, salt)
	sealed, secret, err := protocol.HPKESealExport(pub, protocol.ContractInitInfo(chainID, cid[:], cluster, rec.Current), deployer[:], initArgs)
	if err != nil {
		return args, nil, nil, fmt.Errorf("sdk: seal init arguments: %w", err)
	}
	args = protocol.InstantiateArgs{CodeHash: codeHash, Cluster: cluster, Salt: salt, Epoch: rec.Current, GasLimit: gasLimit, InitArgs: sealed}
	return args, cid[:], secret, nil
}

// SealContractCommand seals plaintext from sender to the contract's key
// of the record's current epoch (info ContractCommandInfo, the sender's
// address as aad). It returns the command's arguments and the reply secret
// that opens its result's reply.
func SealContractCommand(chainID string, rec *protocol.EpochRecord, contract *protocol.ContractInfo, sender protocol.Address, plaintext []byte, gasLimit uint64) (protocol.CommandArgs, []byte, error) {
	if err := usableEpoch(rec); err != nil {
		return protocol.CommandArgs{}, nil, err
	}
	if contract.Status != protocol.ContractActive {
		return protocol.CommandArgs{}, nil, protocol.Errorf(protocol.ErrContractNotActive, "contract %x is %s", contract.ID, contract.Status)
	}
	pub, ok := contract.KeyFor(rec.Current)
	if !ok {
		return protocol.CommandArgs{}, nil, protocol.Errorf(protocol.ErrNoContractKey, "contract %x has no key published for epoch %d yet", contract.ID, rec.Current)
	}
	ct, secret, err := protocol.HPKESealExport(pub, protocol.ContractCommandInfo(chainID, contract.ID, rec.Current), sender[:], plaintext)
	if err != nil {
		return protocol.CommandArgs{}, nil, fmt.Errorf("sdk: seal command: %w", err)
	}
	return protocol.CommandArgs{Contract: contract.ID, Epoch: rec.Current, GasLimit: gasLimit, Ciphertext: ct}, secret, nil
}

// SignContractCommand seals plaintext from key to the contract's key of
// the record's current epoch (see SealContractCommand) and signs the
// transaction that sends it, with nonce and fee. It is for senders that
// keep several commands in flight from one account, or time their
// broadcast, which SendContractCommand's nonce lookup and wait cannot; the
// caller broadcasts raw (Client.Broadcast) and finds the result with
// secret.
func SignContractCommand(chainID string, rec *protocol.EpochRecord, contract *protocol.ContractInfo, key *Key, nonce, fee uint64, plaintext []byte, gasLimit uint64) (raw, secret []byte, err error) {
	args, secret, err := SealContractCommand(chainID, rec, contract, key.Address(), plaintext, gasLimit)
	if err != nil {
		return nil, nil, err
	}
	call, err := protocol.NewCall(protocol.ModuleContracts, protocol.MethodCommand, args)
	if err != nil {
		return nil, nil, err
	}
	return protocol.SignTx(key.Private, protocol.Tx{ChainID: chainID, Nonce: nonce, Fee: fee, Call: call}), secret, nil
}

// WaitContractKey waits until a command can be sealed to the contract:
// the chain's current epoch is usable (not lost) and the contract's key
// for it is published, as SealContractCommand requires. Members publish a
// contract's key after its instantiation and after every rotation, so a
// command sent right then would be refused. Both records are read with
// their proofs, at the client's poll interval. A contract that does not
// exist, or whose init failed, never gets a key: that is an error.
func (c *Client) WaitContractKey(ctx context.Context, id []byte) error {
	for {
		rec, err := c.EpochRecord(ctx)
		if err != nil {
			return err
		}
		info, found, err := c.Contract(ctx, id)
		if err != nil {
			return err
		}
		ready, err := contractKeyReady(rec, &info, found, id)
		if err != nil || ready {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sdk: waiting for contract %x's key of epoch %d: %w", id, rec.Current, ctx.Err())
		case <-time.After(c.poll):
		}
	}
}

// contractKeyReady is WaitContractKey's test of one reading.
func contractKeyReady(rec *protocol.EpochRecord, info *protocol.ContractInfo, found bool, id []byte) (bool, error) {
	switch {
	case !found:
		return false, protocol.Errorf(protocol.ErrUnknownContract, "contract %x", id)
	case info.Status == protocol.ContractFailed:
		return false, protocol.Errorf(protocol.ErrContractNotActive, "contract %x is %s: its init failed, it will have no key", id, info.Status)
	case info.Status != protocol.ContractActive, usableEpoch(rec) != nil:
		return false, nil // init not landed yet; no epoch yet, or a lost one being replaced
	}
	_, ok := info.KeyFor(rec.Current)
	return ok, nil
}

// usableEpoch refuses to seal anything to an epoch the chain would refuse.
func usableEpoch(rec *protocol.EpochRecord) error {
	switch {
	case rec.Current == 0:
		return protocol.Errorf(protocol.ErrNoEpoch, "no key epoch has been activated")
	case rec.Lost:
		return protocol.Errorf(protocol.ErrEpochLost, "epoch %d; wait for the emergency rotation", rec.Current)
	}
	return nil
}

// Instantiate creates an instance of code in cluster (an id: see
// protocol.ClusterID for a name) from key's account, with initArgs sealed
// to the cluster's verified key of the current epoch and gasLimit prepaid.
// It returns the contract id and the reply secret of its init result (see
// WaitInit).
func (c *Client) Instantiate(ctx context.Context, key *Key, codeHash, cluster, salt, initArgs []byte, gasLimit uint64) (contract, secret []byte, err error) {
	rec, err := c.EpochRecord(ctx)
	if err != nil {
		return nil, nil, err
	}
	args, id, secret, err := SealInitArgs(c.chainID, rec, key.Address(), codeHash, cluster, salt, initArgs, gasLimit)
	if err != nil {
		return nil, nil, err
	}
	call, err := protocol.NewCall(protocol.ModuleContracts, protocol.MethodInstantiate, args)
	if _, err := c.send(ctx, key, call, err); err != nil {
		return nil, nil, err
	}
	return id, secret, nil
}

// SendContractCommand seals plaintext to the contract's verified key of the
// current epoch and sends it from key's account with gasLimit prepaid. It
// returns the index the chain gave the command (read from the block's
// verified message list), the transaction's result and the reply secret
// of its result (see WaitResult).
func (c *Client) SendContractCommand(ctx context.Context, key *Key, contract, plaintext []byte, gasLimit uint64) (uint64, *TxResult, []byte, error) {
	rec, err := c.EpochRecord(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	info, ok, err := c.Contract(ctx, contract)
	if err != nil {
		return 0, nil, nil, err
	}
	if !ok {
		return 0, nil, nil, protocol.Errorf(protocol.ErrUnknownContract, "contract %x", contract)
	}
	args, secret, err := SealContractCommand(c.chainID, rec, &info, key.Address(), plaintext, gasLimit)
	if err != nil {
		return 0, nil, nil, err
	}
	call, err := protocol.NewCall(protocol.ModuleContracts, protocol.MethodCommand, args)
	res, err := c.send(ctx, key, call, err)
	if err != nil {
		return 0, res, nil, err
	}
	index, err := c.commandIndex(ctx, res, &args)
	return index, res, secret, err
}

// commandIndex finds the index of the command args sent in res among the
// verified messages of its block: the message on the contract's topic
// that the transaction emitted, carrying its ciphertext.
func (c *Client) commandIndex(ctx context.Context, res *TxResult, args *protocol.CommandArgs) (uint64, error) {
	topic := protocol.ContractCommandTopic(args.Contract)
	origin := protocol.ModuleOrigin(protocol.ModuleContracts)
	_, msgs, err := c.BlockMessages(ctx, res.Height)
	if err != nil {
		return 0, err
	}
	for _, em := range res.Messages {
		if em.Topic != topic {
			continue
		}
		for _, m := range msgs {
			if m.Topic != topic || m.Seq != em.Seq || !bytes.Equal(m.Origin.Key(), origin.Key()) {
				continue
			}
			var cmd protocol.ContractCommand
			if err := decode(fmt.Sprintf("command message in block %d", res.Height), m.Payload, &cmd); err != nil {
				return 0, err
			}
			if bytes.Equal(cmd.Ciphertext, args.Ciphertext) {
				return cmd.Index, nil
			}
		}
	}
	return 0, fmt.Errorf("sdk: block %d has no command message of transaction %X", res.Height, res.Hash)
}

// WaitResult waits until the result of a contract's command lands and
// returns it with its reply opened by secret (nil when the result carries
// no reply, e.g. the command did not open under the contract's key).
func (c *Client) WaitResult(ctx context.Context, contract []byte, index uint64, secret []byte) (*protocol.ContractResult, []byte, error) {
	return c.waitFor(ctx, secret, protocol.ReplyAAD(contract, protocol.ResultCommand, index), func() (*protocol.ContractResult, error) {
		st, ok, err := c.CommandStatus(ctx, contract, index)
		if err == nil && !ok {
			err = fmt.Errorf("sdk: contract %x has no command %d", contract, index)
		}
		return st.Result, err
	})
}

// WaitInit waits until a contract's init result lands and returns it with
// its reply opened by secret (the one Instantiate returned).
func (c *Client) WaitInit(ctx context.Context, contract, secret []byte) (*protocol.ContractResult, []byte, error) {
	return c.waitFor(ctx, secret, protocol.ReplyAAD(contract, protocol.ResultInit, 0), func() (*protocol.ContractResult, error) {
		info, ok, err := c.Contract(ctx, contract)
		if err == nil && !ok {
			err = protocol.Errorf(protocol.ErrUnknownContract, "contract %x", contract)
		}
		return info.Init, err
	})
}

// waitFor polls read until it returns a result, then opens its reply.
func (c *Client) waitFor(ctx context.Context, secret, aad []byte, read func() (*protocol.ContractResult, error)) (*protocol.ContractResult, []byte, error) {
	for {
		r, err := read()
		if err != nil {
			return nil, nil, err
		}
		if r != nil {
			if len(r.Reply) == 0 {
				return r, nil, nil
			}
			reply, err := protocol.OpenReply(secret, aad, r.Reply)
			if err != nil {
				return r, nil, fmt.Errorf("sdk: %w", err)
			}
			return r, reply, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("sdk: waiting for a contract result: %w", ctx.Err())
		case <-time.After(c.poll):
		}
	}
}
