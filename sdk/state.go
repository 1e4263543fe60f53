package sdk

import (
	"context"
	"encoding/hex"

	"github.com/phala-go/phala/protocol"
)

// Send signs call with key, broadcasts it and waits for its inclusion,
// proven (see WaitTx). It signs only verified values: the trust root's
// chain id, the account's nonce and the chain's minimum fee read with
// their proofs, the fee refused above Options.MaxFee. The returned error
// covers refusal and transport; TxResult.Err is the outcome of an
// included call.
func (c *Client) Send(ctx context.Context, key *Key, call protocol.Call) (*TxResult, error) {
	acc, _, err := c.Account(ctx, key.Address())
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

// MinFee is the least fee the chain accepts, which the SDK pays, read with
// its proof. Above the client's Options.MaxFee it is an error
// (protocol.ErrFeeAboveMax): fees are burned, so a fee is never paid
// beyond what the user allowed.
func (c *Client) MinFee(ctx context.Context) (uint64, error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryParams)
	if err != nil {
		return 0, err
	}
	var p protocol.Params
	if err := decode("params", q.value, &p); err != nil {
		return 0, err
	}
	if p.MinFee > c.o.MaxFee {
		return 0, protocol.Errorf(protocol.ErrFeeAboveMax, "the chain's minimum fee is %d (proven at block %d), the most this client pays is %d", p.MinFee, q.height, c.o.MaxFee)
	}
	return p.MinFee, nil
}

// MaxFee is the most the client pays for a transaction.
func (c *Client) MaxFee() uint64 { return c.o.MaxFee }

// decode reads a value a node served (proven or not) into v: an
// undecodable one is protocol.ErrMalformedAnswer.
func decode(what string, raw []byte, v any) error {
	if err := protocol.Unmarshal(raw, v); err != nil {
		return protocol.Errorf(protocol.ErrMalformedAnswer, "%s: %v", what, err)
	}
	return nil
}

// WorkerUnverified reads a worker's latest registry record without a
// proof (for relayers deciding whether to register).
func (c *Client) WorkerUnverified(ctx context.Context, pub []byte) (protocol.WorkerRecord, bool, error) {
	return c.WorkerUnverifiedAt(ctx, pub, 0)
}

// Worker reads a worker's registry record with its proof, at the newest
// verified height.
func (c *Client) Worker(ctx context.Context, pub []byte) (protocol.WorkerRecord, bool, error) {
	var w protocol.WorkerRecord
	q, err := c.verifiedQuery(ctx, protocol.QueryWorker+hex.EncodeToString(pub))
	if err != nil || q.value == nil {
		return w, false, err
	}
	if err := decode("worker", q.value, &w); err != nil {
		return w, false, err
	}
	return w, true, nil
}

// AccountUnverified reads an account without checking its proof, for
// display or for relayers. Never sign with its nonce: a node reporting a
// higher one gets a post-dated transaction it can hold and land later
// (Send uses Account).
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
	err := decode("account", raw, &acc)
	return acc, err
}

// Account reads an account at the newest verified height and verifies its
// proof. It returns the height the value is proven at.
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
	return decodeSeq("next seq", q.value)
}

// NextSeqUnverified reads origin's next sequence number without a proof:
// for relayers, whose worst case is a wasted or refused submission.
func (c *Client) NextSeqUnverified(ctx context.Context, o protocol.Origin) (uint64, error) {
	q, err := c.query(ctx, protocol.QueryNextSeq+o.String(), 0)
	if err != nil {
		return 0, err
	}
	return decodeSeq("next seq", q.value)
}

// GovNonce reads, with its proof, the governance nonce the next action must
// carry: approvals are signed for it, so a node must not choose it.
func (c *Client) GovNonce(ctx context.Context) (uint64, error) {
	q, err := c.verifiedQuery(ctx, protocol.QueryGovNonce)
	if err != nil {
		return 0, err
	}
	return decodeSeq("governance nonce", q.value)
}

func decodeSeq(what string, raw []byte) (uint64, error) {
	var n uint64
	if raw == nil {
		return 0, nil
	}
	err := decode(what, raw, &n)
	return n, err
}
