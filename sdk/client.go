package sdk

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// Client talks to a phala node over CometBFT RPC.
//
// Reads with proofs (Account, NextSeq, BlockMessages) are checked against
// the app hash in the next block's header, whose commit is checked against
// the validator set the node reports for that height. That defends against
// a node that serves wrong state, but not against one that also lies about
// the validator set: pin the expected validators with TrustValidators when
// talking to a node you do not run.
type Client struct {
	rpc     *RPC
	chainID string
	// trusted, if set, is the validator-set hash every verified header must
	// carry.
	trusted []byte
	// poll is the interval at which waits re-check the chain.
	poll time.Duration
}

// Dial connects to a node's RPC address (tcp://host:port or http://...).
func Dial(ctx context.Context, addr string) (*Client, error) {
	rpc, err := NewRPC(addr)
	if err != nil {
		return nil, err
	}
	st, err := rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdk: status of %s: %w", addr, err)
	}
	return &Client{rpc: rpc, chainID: st.NodeInfo.Network, poll: 50 * time.Millisecond}, nil
}

// RPCTimeout bounds every RPC request, so that a node that stops answering
// is noticed instead of hanging its clients.
const RPCTimeout = 30 * time.Second

// RPC is a CometBFT RPC client whose requests time out after RPCTimeout
// and whose kept-alive connections can be dropped after a failure (a node
// restarted behind the same address must not be reached through a
// connection to its former self).
type RPC struct {
	*rpchttp.HTTP
	transport *http.Transport
}

// NewRPC returns an RPC client of addr (tcp:// or http://).
func NewRPC(addr string) (*RPC, error) {
	addr = strings.Replace(addr, "tcp://", "http://", 1)
	hc, err := jsonrpcclient.DefaultHTTPClient(addr)
	if err != nil {
		return nil, fmt.Errorf("sdk: rpc %s: %w", addr, err)
	}
	hc.Timeout = RPCTimeout
	t, _ := hc.Transport.(*http.Transport)
	hc.Transport = shapeChecker{hc.Transport}
	rpc, err := rpchttp.NewWithClient(addr, hc)
	if err != nil {
		return nil, fmt.Errorf("sdk: rpc %s: %w", addr, err)
	}
	return &RPC{HTTP: rpc, transport: t}, nil
}

// Reset drops idle connections; the next request dials afresh.
func (r *RPC) Reset() {
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
}

// ChainID is the chain the node serves.
func (c *Client) ChainID() string { return c.chainID }

// RPC exposes the underlying CometBFT client, for what the SDK does not wrap.
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc.HTTP }

// Reset drops kept-alive connections after a failure.
func (c *Client) Reset() { c.rpc.Reset() }

// TrustValidators pins the hash of the validator set expected to sign the
// headers the client verifies against.
func (c *Client) TrustValidators(hash []byte) { c.trusted = append([]byte(nil), hash...) }

// Height returns the latest committed height.
func (c *Client) Height(ctx context.Context) (int64, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// TxResult is the outcome of an included transaction.
type TxResult struct {
	Hash   []byte
	Height int64
	// Err is the transaction's protocol error (errors.Is-comparable), nil
	// on success. A failed transaction still paid its fee.
	Err error
	// Messages lists the (origin, topic, seq) of each message it emitted,
	// from the node's events (informational; verify with BlockMessages).
	Messages []EmittedMessage
}

// EmittedMessage identifies a message a transaction emitted.
type EmittedMessage struct {
	Origin string
	Topic  string
	Seq    uint64
}

// Broadcast submits a raw transaction and returns its hash once the node's
// mempool admitted it. A refusal returns the protocol error.
func (c *Client) Broadcast(ctx context.Context, raw []byte) ([]byte, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
	if err != nil {
		if perr := checkTxError(err); perr != nil {
			return nil, perr
		}
		return nil, fmt.Errorf("sdk: broadcast: %w", err)
	}
	if res.Code != 0 {
		return nil, protocol.FromWire(res.Codespace, res.Code, res.Log)
	}
	return res.Hash, nil
}

// CometBFT v1 reports a CheckTx refusal as an RPC error whose text carries
// the application's code, log and codespace.
var invalidTxRE = regexp.MustCompile(`is invalid: code=(\d+), data=[0-9A-Fa-f]*, log='(.*)', codespace='([^']*)'`)

// checkTxError recovers the protocol error from a CheckTx refusal, or
// returns nil if err is something else (transport, node state).
func checkTxError(err error) error {
	m := invalidTxRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	code, perr := strconv.ParseUint(m[1], 10, 32)
	if perr != nil {
		return nil
	}
	return protocol.FromWire(m[3], uint32(code), m[2])
}

// WaitTx waits until the transaction with hash is included in a block.
func (c *Client) WaitTx(ctx context.Context, hash []byte) (*TxResult, error) {
	for {
		res, err := c.rpc.Tx(ctx, hash, false)
		if err == nil {
			return txResult(res), nil
		}
		if !strings.Contains(err.Error(), "not found") {
			return nil, fmt.Errorf("sdk: tx %X: %w", hash, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sdk: waiting for tx %X: %w", hash, ctx.Err())
		case <-time.After(c.poll):
		}
	}
}

func txResult(res *ctypes.ResultTx) *TxResult {
	out := &TxResult{Hash: res.Hash, Height: res.Height}
	if res.TxResult.Code != 0 {
		out.Err = protocol.FromWire(res.TxResult.Codespace, res.TxResult.Code, res.TxResult.Log)
	}
	for _, ev := range res.TxResult.Events {
		if ev.Type != "message" {
			continue
		}
		var m EmittedMessage
		for _, a := range ev.Attributes {
			switch a.Key {
			case "origin":
				m.Origin = a.Value
			case "topic":
				m.Topic = a.Value
			case "seq":
				m.Seq, _ = strconv.ParseUint(a.Value, 10, 64)
			}
		}
		out.Messages = append(out.Messages, m)
	}
	return out
}

// Send signs call with key (fetching the account's nonce from the chain),
// broadcasts it and waits for its inclusion. The returned error covers
// refusal and transport; TxResult.Err is the outcome of an included call.
func (c *Client) Send(ctx context.Context, key *Key, call protocol.Call) (*TxResult, error) {
	acc, err := c.AccountUnverified(ctx, key.Address())
	if err != nil {
		return nil, err
	}
	fee, err := c.MinFee(ctx)
	if err != nil {
		return nil, err
	}
	raw := protocol.SignTx(key.Private, protocol.Tx{ChainID: c.chainID, Nonce: acc.Nonce, Fee: fee, Call: call})
	hash, err := c.Broadcast(ctx, raw)
	if err != nil {
		return nil, err
	}
	return c.WaitTx(ctx, hash)
}

// MinFee is the least fee the chain accepts, which the SDK pays. It is read
// without a proof: a lying node can only make the transaction fail.
func (c *Client) MinFee(ctx context.Context) (uint64, error) {
	q, err := c.query(ctx, protocol.QueryParams, 0)
	if err != nil {
		return 0, err
	}
	var p protocol.Params
	if err := protocol.Unmarshal(q.value, &p); err != nil {
		return 0, fmt.Errorf("sdk: params: %w", err)
	}
	return p.MinFee, nil
}

// WorkerUnverified reads a worker's latest registry record without a
// proof (for relayers deciding whether to register).
func (c *Client) WorkerUnverified(ctx context.Context, pub []byte) (protocol.WorkerRecord, bool, error) {
	return c.WorkerUnverifiedAt(ctx, pub, 0)
}

// Worker reads a worker's registry record with its proof.
func (c *Client) Worker(ctx context.Context, pub []byte) (protocol.WorkerRecord, bool, error) {
	var w protocol.WorkerRecord
	q, err := c.verifiedQuery(ctx, protocol.QueryWorker+hex.EncodeToString(pub))
	if err != nil || q.value == nil {
		return w, false, err
	}
	if err := protocol.Unmarshal(q.value, &w); err != nil {
		return w, false, fmt.Errorf("sdk: worker: %w", err)
	}
	return w, true, nil
}

// query runs an ABCI query and maps an application error to its protocol
// error.
func (c *Client) query(ctx context.Context, path string, height int64) (*queryAnswer, error) {
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, fmt.Errorf("sdk: query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, protocol.FromWire(r.Codespace, r.Code, r.Log)
	}
	return &queryAnswer{value: r.Value, height: r.Height, ops: r.ProofOps}, nil
}

// AccountUnverified reads an account without checking its proof: for the
// caller's own nonce, where a lie only makes the next transaction fail.
func (c *Client) AccountUnverified(ctx context.Context, a protocol.Address) (protocol.Account, error) {
	q, err := c.query(ctx, protocol.QueryAccount+a.String(), 0)
	if err != nil {
		return protocol.Account{}, err
	}
	return decodeAccount(q.value)
}

func decodeAccount(raw []byte) (protocol.Account, error) {
	var acc protocol.Account
	if raw == nil {
		return acc, nil
	}
	if err := protocol.Unmarshal(raw, &acc); err != nil {
		return acc, fmt.Errorf("sdk: account: %w", err)
	}
	return acc, nil
}

// Account reads an account at the latest height and verifies its proof. It
// returns the height the value is proven at.
func (c *Client) Account(ctx context.Context, a protocol.Address) (protocol.Account, int64, error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryAccount+a.String())
	if err != nil {
		return protocol.Account{}, 0, err
	}
	acc, err := decodeAccount(q.value)
	return acc, q.height, err
}

// NextSeq reads, with proof, the sequence number origin's next message must
// carry.
func (c *Client) NextSeq(ctx context.Context, o protocol.Origin) (uint64, error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryNextSeq+o.String())
	if err != nil {
		return 0, err
	}
	return decodeSeq(q.value)
}

// NextSeqUnverified reads origin's next sequence number without a proof:
// for relayers, whose worst case is a wasted or refused submission.
func (c *Client) NextSeqUnverified(ctx context.Context, o protocol.Origin) (uint64, error) {
	q, err := c.query(ctx, protocol.QueryNextSeq+o.String(), 0)
	if err != nil {
		return 0, err
	}
	return decodeSeq(q.value)
}

func decodeSeq(raw []byte) (uint64, error) {
	var n uint64
	if raw == nil {
		return 0, nil
	}
	if err := protocol.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("sdk: next seq: %w", err)
	}
	return n, nil
}

type queryAnswer struct {
	value  []byte
	height int64
	ops    *cmtcrypto.ProofOps
}

// verifiedQuery answers a proven path, its proof checked against the key
// the protocol assigns the path: the key the node names is not trusted, or
// it could answer with another record's proof.
func (c *Client) verifiedQuery(ctx context.Context, path string) (*queryAnswer, error) {
	key, err := protocol.StateKey(path)
	if err != nil {
		return nil, fmt.Errorf("sdk: %s: %w", path, err)
	}
	q, err := c.query(ctx, path, 0)
	if err != nil {
		return nil, err
	}
	appHash, err := c.VerifiedAppHash(ctx, q.height)
	if err != nil {
		return nil, err
	}
	if err := protocol.VerifyState(key, q.value, q.ops, appHash); err != nil {
		return nil, fmt.Errorf("sdk: %s at %d: %w", path, q.height, err)
	}
	return q, nil
}

// BlockMessages returns block h's message list, verified against the app
// hash in header h+1.
func (c *Client) BlockMessages(ctx context.Context, h int64) (*protocol.BlockMessages, []*protocol.Message, error) {
	bm, msgs, err := c.RawBlockMessages(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	appHash, err := c.VerifiedAppHash(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	if got := bm.AppHash(); !bytes.Equal(got, appHash) {
		return nil, nil, protocol.Errorf(protocol.ErrProof, "block %d: messages give app hash %X, header %d says %X", h, got, h+1, appHash)
	}
	return bm, msgs, nil
}

// RawBlockMessages returns block h's message list as the node serves it,
// decoded but not verified.
func (c *Client) RawBlockMessages(ctx context.Context, h int64) (*protocol.BlockMessages, []*protocol.Message, error) {
	q, err := c.query(ctx, protocol.QueryMessages+strconv.FormatInt(h, 10), 0)
	if err != nil {
		return nil, nil, err
	}
	return protocol.DecodeBlockMessages(q.value)
}

// VerifiedAppHash returns the app hash of block h, read from header h+1
// after checking that header's commit against its validator set. It waits
// for block h+1 if it does not exist yet.
func (c *Client) VerifiedAppHash(ctx context.Context, h int64) ([]byte, error) {
	sh, err := c.VerifiedHeader(ctx, h+1)
	if err != nil {
		return nil, err
	}
	return sh.AppHash, nil
}

// VerifiedHeader returns header h with its commit, checked against the
// validator set the node reports for h (and the pinned validator-set hash,
// if any). It waits for block h if it does not exist yet.
func (c *Client) VerifiedHeader(ctx context.Context, h int64) (*types.SignedHeader, error) {
	for {
		cur, err := c.Height(ctx)
		if err != nil {
			return nil, err
		}
		if cur >= h {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.poll):
		}
	}
	com, err := c.rpc.Commit(ctx, &h)
	if err != nil {
		return nil, fmt.Errorf("sdk: commit %d: %w", h, err)
	}
	vals, err := ValidatorSet(ctx, c.rpc.HTTP, h)
	if err != nil {
		return nil, err
	}
	sh := com.SignedHeader
	if err := sh.ValidateBasic(c.chainID); err != nil {
		return nil, protocol.Errorf(protocol.ErrProof, "header %d: %v", h, err)
	}
	if !bytes.Equal(vals.Hash(), sh.ValidatorsHash) {
		return nil, protocol.Errorf(protocol.ErrProof, "header %d: validator set hash mismatch", h)
	}
	if c.trusted != nil && !bytes.Equal(c.trusted, sh.ValidatorsHash) {
		return nil, protocol.Errorf(protocol.ErrProof, "header %d: signed by validators %X, trusted %X", h, sh.ValidatorsHash, c.trusted)
	}
	if err := vals.VerifyCommitLight(c.chainID, sh.Commit.BlockID, h, sh.Commit); err != nil {
		return nil, protocol.Errorf(protocol.ErrProof, "header %d: commit: %v", h, err)
	}
	return &sh, nil
}

// ValidatorSet fetches the complete validator set of height h from a node.
func ValidatorSet(ctx context.Context, rpc rpcclient.SignClient, h int64) (*types.ValidatorSet, error) {
	var all []*types.Validator
	perPage := 100
	for page := 1; ; page++ {
		p := page
		res, err := rpc.Validators(ctx, &h, &p, &perPage)
		if err != nil {
			return nil, fmt.Errorf("sdk: validators %d: %w", h, err)
		}
		all = append(all, res.Validators...)
		if len(all) >= res.Total || len(res.Validators) == 0 {
			break
		}
	}
	vs := types.NewValidatorSet(all)
	if vs.IsNilOrEmpty() {
		return nil, errors.New("sdk: empty validator set")
	}
	return vs, nil
}
