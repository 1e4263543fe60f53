package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/phala-go/phala/protocol"
)

// QueryOptions tune a contract query.
type QueryOptions struct {
	// GasLimit bounds the query's execution (default 10,000,000).
	GasLimit uint64
	// MinHeight is the least block the answer's state must include: pass
	// the height a command of yours landed at to be sure to see its effect.
	// A worker behind it refuses (ErrQueryBehind) rather than answer stale.
	// The request asks for at least the chain's tip minus MaxLag in any
	// case.
	MinHeight int64
	// MaxLag is how many blocks behind the chain's tip the answer's state
	// may be (default protocol.QueryMaxLag); a negative value accepts any
	// height from MinHeight on.
	MaxLag int64
	// Window is how many blocks the request stays valid (default 100).
	Window int64
	// Worker pins the worker to ask (its identity key); by default the
	// first verified member of the contract's cluster with an endpoint.
	Worker []byte
	// Verify is what the caller accepts of the worker (its attestation is
	// re-verified before anything is encrypted to it).
	Verify VerifyOptions
}

// QueryResult is a worker's verified, decrypted answer.
type QueryResult struct {
	protocol.QueryReply
	// Height is the last block of the state the answer was computed from.
	Height int64
	// Worker is the identity key of the worker that signed the answer.
	Worker []byte
}

// PreparedQuery is a sealed, signed query and what its caller needs to
// read the answer.
type PreparedQuery struct {
	Body    []byte // canonical protocol.QueryRequest
	Header  protocol.QueryHeader
	Request []byte // SHA-256 of the signing bytes: the answer names it
	secret  []byte
}

// PrepareQuery seals input to the worker's encryption key (ek) and signs
// the query with key, which it names as the header's signer.
func PrepareQuery(key *Key, h protocol.QueryHeader, ek, input []byte) (*PreparedQuery, error) {
	sum := sha256.Sum256(ek)
	h.WorkerEK = sum[:]
	h.Signer = key.Public()
	if len(h.Nonce) == 0 {
		h.Nonce = make([]byte, 16)
		if _, err := rand.Read(h.Nonce); err != nil {
			return nil, err
		}
	}
	ct, secret, err := protocol.HPKESealExport(ek, protocol.QueryInfo(h.ChainID, h.Worker), protocol.QueryAAD(&h), input)
	if err != nil {
		return nil, fmt.Errorf("sdk: seal query: %w", err)
	}
	req := protocol.QueryRequest{Query: h, Ciphertext: ct}
	signing := req.SigningBytes()
	req.Sig = protocol.Sign(key.Private, protocol.SigQuery, signing)
	reqHash := sha256.Sum256(signing)
	return &PreparedQuery{Body: protocol.MustMarshal(&req), Header: h, Request: reqHash[:], secret: secret}, nil
}

// Open checks a worker's response to the query — that it answers this
// request of this signer, is signed by the worker asked, and is not older
// than the query's minimum height — and decrypts it. Every refusal wraps
// protocol.ErrQueryAnswer.
func (q *PreparedQuery) Open(raw []byte) (*QueryResult, error) {
	var resp protocol.QueryResponse
	if err := protocol.Unmarshal(raw, &resp); err != nil {
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "decode: %v", err)
	}
	a := &resp.Answer
	switch {
	case !resp.Verify(q.Header.Worker):
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "not signed by worker %x", q.Header.Worker)
	case a.ChainID != q.Header.ChainID || !bytes.Equal(a.Contract, q.Header.Contract) || !bytes.Equal(a.Worker, q.Header.Worker):
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "answers a query to contract %x of worker %x on chain %q", a.Contract, a.Worker, a.ChainID)
	case !bytes.Equal(a.Signer, q.Header.Signer):
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "answers signer %x, this query's is %x", a.Signer, q.Header.Signer)
	case !bytes.Equal(a.Request, q.Request):
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "answers request %x, this one is %x", a.Request, q.Request)
	case a.Height < q.Header.MinHeight:
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "computed at %d, below the minimum %d", a.Height, q.Header.MinHeight)
	}
	plain, err := protocol.OpenQueryReply(q.secret, a.Salt, q.Request, a.Reply)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "reply: %v", err)
	}
	var reply protocol.QueryReply
	if err := protocol.Unmarshal(plain, &reply); err != nil {
		return nil, protocol.Errorf(protocol.ErrQueryAnswer, "reply: %v", err)
	}
	return &QueryResult{QueryReply: reply, Height: a.Height, Worker: a.Worker}, nil
}

// QueryContract asks a worker of the contract's cluster a read-only
// query, encrypted to the worker and signed by key (the contract sees
// key's address as the caller), and returns its verified answer. The
// answer's state includes at least block o.MinHeight and at least the
// chain's tip minus o.MaxLag.
func (c *Client) QueryContract(ctx context.Context, key *Key, contract, input []byte, o QueryOptions) (*QueryResult, error) {
	if o.GasLimit == 0 {
		o.GasLimit = 10_000_000
	}
	if o.Window <= 0 {
		o.Window = 100
	}
	w, err := c.queryWorker(ctx, contract, o)
	if err != nil {
		return nil, err
	}
	tip, err := c.VerifiedTip(ctx) // freshness is measured from a tip no node can lower
	if err != nil {
		return nil, err
	}
	h := protocol.QueryHeader{ChainID: c.chainID, Contract: contract, Worker: w.Pubkey, Expiry: tip + o.Window, MinHeight: queryMinHeight(tip, o), GasLimit: o.GasLimit}
	q, err := PrepareQuery(key, h, w.EncryptionKey, input)
	if err != nil {
		return nil, err
	}
	raw, err := NewPRuntime(w.Endpoint).QueryRaw(ctx, q.Body)
	if err != nil {
		return nil, err
	}
	return q.Open(raw)
}

// queryMinHeight is the minimum height a query asks for: o.MinHeight, but
// at least tip − o.MaxLag (protocol.QueryMaxLag by default) unless MaxLag
// is negative.
func queryMinHeight(tip int64, o QueryOptions) int64 {
	lag := o.MaxLag
	switch {
	case lag < 0:
		return o.MinHeight
	case lag == 0:
		lag = protocol.QueryMaxLag
	}
	return max(o.MinHeight, tip-lag, 0)
}

// queryWorker picks the worker to ask: o.Worker, or the first member of
// the contract's cluster that the chain holds active with an endpoint and
// whose attestation verifies. Either way the chain must prove the worker
// a member of the contract's cluster (VerifyMember).
func (c *Client) queryWorker(ctx context.Context, contract []byte, o QueryOptions) (*protocol.WorkerRecord, error) {
	info, ok, err := c.Contract(ctx, contract)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, protocol.Errorf(protocol.ErrUnknownContract, "%x", contract)
	}
	candidates := [][]byte{o.Worker}
	if o.Worker == nil {
		cl, ok, err := c.Cluster(ctx, info.Cluster)
		if err != nil {
			return nil, err
		}
		if !ok || len(cl.Members) == 0 {
			return nil, fmt.Errorf("sdk: cluster %x has no members", info.Cluster)
		}
		candidates = cl.Members
	}
	var errs []error
	for _, pub := range candidates {
		rec, err := c.VerifyMember(ctx, info.Cluster, pub, o.Verify)
		switch {
		case err != nil:
			errs = append(errs, err)
		case rec.Endpoint == "":
			errs = append(errs, fmt.Errorf("worker %x announced no endpoint", pub))
		default:
			return rec, nil
		}
	}
	return nil, fmt.Errorf("sdk: no worker to query: %w", errors.Join(errs...))
}
