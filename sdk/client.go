package sdk

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// Client talks to a phala node over CometBFT RPC, believing nothing the
// node says that it cannot verify.
//
// Everything it reads with a proof is checked against the app hash of a
// header it verified from its trust root (TrustRoot: the chain id, the
// genesis and, from there, every validator-set change), at the newest
// height it has verified: a node can neither forge a value nor answer from
// an older height. What it signs uses only verified values: the chain id
// of the trust root, the account nonce and the governance nonce read with
// proofs, and the proven minimum fee, refused above Options.MaxFee.
// docs/sdk.md says what is verified and what the user must pin.
//
// A Client is safe for concurrent use; verification is serialised.
type Client struct {
	rpc     *RPC
	chainID string
	o       Options
	// poll is the interval at which waits re-check the chain.
	poll time.Duration

	mu sync.Mutex
	// trust is the trust root with the newest verified header.
	trust TrustRoot
	// recent holds verified headers by height, for backward verification.
	recent map[int64]*types.Header
}

// Options say what a Client trusts and how much it pays. The zero value
// pins the node's genesis at first use with the default bounds.
type Options struct {
	// Trust is the root to verify from, typically saved from an earlier
	// Client.Trust. Nil: the node's genesis document, pinned for the
	// life of the client (trust on first use; save Client.Trust to keep
	// it).
	Trust *TrustRoot
	// ChainID, if set, is the chain the node must serve.
	ChainID string
	// GenesisHash, if set, is the hash the genesis pinned at first use must
	// have (protocol.GenesisHash, as `phala trust show` prints it).
	GenesisHash []byte
	// TrustingPeriod is how long a verified header's validators are
	// trusted to skip from (default DefaultTrustingPeriod).
	TrustingPeriod time.Duration
	// MaxClockDrift is how far ahead of the local clock a header's time may
	// be (default DefaultMaxClockDrift).
	MaxClockDrift time.Duration
	// MaxHeaderAge refuses a node whose newest header is older than this
	// (default DefaultMaxHeaderAge; negative: no bound).
	MaxHeaderAge time.Duration
	// MinHeight is the least block whose state the client accepts: no
	// proven read answers from an earlier state. The trust root's header
	// is a floor as well.
	MinHeight int64
	// MaxFee is the most the client pays for a transaction (default
	// DefaultMaxFee): a chain whose proven minimum fee exceeds it is
	// refused with protocol.ErrFeeAboveMax, never paid.
	MaxFee uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultMaxFee is the fee a Client pays at most unless told otherwise:
// a hundred times the default minimum fee.
const DefaultMaxFee = 100_000

func (o *Options) defaults() {
	if o.TrustingPeriod <= 0 {
		o.TrustingPeriod = DefaultTrustingPeriod
	}
	if o.MaxClockDrift <= 0 {
		o.MaxClockDrift = DefaultMaxClockDrift
	}
	if o.MaxHeaderAge == 0 {
		o.MaxHeaderAge = DefaultMaxHeaderAge
	}
	if o.MaxFee == 0 {
		o.MaxFee = DefaultMaxFee
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Dial connects to a node's RPC address (tcp://host:port or http://...),
// pinning the node's genesis at first use: see DialOptions.
func Dial(ctx context.Context, addr string) (*Client, error) {
	return DialOptions(ctx, addr, Options{})
}

// DialOptions connects to a node's RPC address with o. The node must serve
// the trust root's chain; without a root, its genesis document becomes the
// root (checked against o.ChainID and o.GenesisHash if set).
func DialOptions(ctx context.Context, addr string, o Options) (*Client, error) {
	o.defaults()
	rpc, err := NewRPC(addr)
	if err != nil {
		return nil, err
	}
	st, err := rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdk: status of %s: %w", addr, err)
	}
	var root TrustRoot
	if o.Trust != nil {
		root = *o.Trust
		if err := root.check(); err != nil {
			return nil, err
		}
	} else {
		g, err := rpc.Genesis(ctx)
		if err != nil {
			return nil, fmt.Errorf("sdk: genesis of %s: %w", addr, err)
		}
		raw, err := cmtjson.Marshal(g.Genesis)
		if err != nil {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "genesis of %s: %v", addr, err)
		}
		r, err := GenesisTrust(raw)
		if err != nil {
			return nil, err
		}
		if o.GenesisHash != nil && !bytes.Equal(r.GenesisHash, o.GenesisHash) {
			return nil, protocol.Errorf(protocol.ErrTrustMismatch, "node %s has genesis %X, expected %X", addr, r.GenesisHash, o.GenesisHash)
		}
		root = *r
	}
	switch {
	case o.ChainID != "" && root.ChainID != o.ChainID:
		return nil, protocol.Errorf(protocol.ErrTrustMismatch, "trusted chain %q, expected %q", root.ChainID, o.ChainID)
	case st.NodeInfo.Network != root.ChainID:
		return nil, protocol.Errorf(protocol.ErrTrustMismatch, "node %s serves chain %q, trusted %q", addr, st.NodeInfo.Network, root.ChainID)
	}
	c := &Client{rpc: rpc, chainID: root.ChainID, o: o, poll: 50 * time.Millisecond, trust: root, recent: map[int64]*types.Header{}}
	if root.Header != nil {
		c.recent[root.Header.Height] = root.Header.Header
	}
	return c, nil
}

// Trust returns the client's trust root with the newest header it has
// verified: save it and pass it back (Options.Trust) to resume from there.
func (c *Client) Trust() *TrustRoot {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.trust
	return &t
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

// ChainID is the trusted chain's id (the trust root's, which the node
// was checked to serve).
func (c *Client) ChainID() string { return c.chainID }

// RPC exposes the underlying CometBFT client, for what the SDK does not wrap.
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc.HTTP }

// Reset drops kept-alive connections after a failure.
func (c *Client) Reset() { c.rpc.Reset() }

// Height returns the latest committed height as the node claims it,
// unverified (VerifiedTip verifies it).
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
