// Package testchain builds synthetic but validly signed CometBFT chains for
// tests and benchmarks of pRuntime: real headers, commits and validator sets
// signed by real ed25519 keys, with app hashes committing to message lists
// the test chooses. It can produce what no honest chain would (sequence
// gaps, forks, foreign signers), which the adversarial tests need, and chains
// with 100 validators, which the sync benchmark needs.
//
// It is imported only by tests and the bench harness.
package testchain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	cmtversionpb "github.com/cometbft/cometbft/api/cometbft/version/v1"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/tmhash"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"
	cmtversion "github.com/cometbft/cometbft/version"

	"github.com/phala-go/phala/protocol"
)

// Chain is a synthetic chain.
type Chain struct {
	ID          string
	GenesisTime time.Time
	genesisJSON []byte

	keys    map[string]ed25519.PrivKey // by validator address
	current *types.ValidatorSet        // signs the next header
	next    *types.ValidatorSet        // named as next by the next header

	height      int64 // last header built
	lastBlockID types.BlockID
	lastTime    time.Time
	seqs        map[string]uint64
	last        protocol.SyncBlock
}

// Key derives a deterministic validator key.
func Key(seed string) ed25519.PrivKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.GenPrivKeyFromSecret(s[:])
}

// New returns a chain with n validators of power 10.
func New(chainID string, n int) *Chain {
	c := &Chain{ID: chainID, GenesisTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), keys: map[string]ed25519.PrivKey{}, seqs: map[string]uint64{}}
	var vals []*types.Validator
	var gvals []types.GenesisValidator
	for i := range n {
		k := Key(fmt.Sprintf("%s/validator/%d", chainID, i))
		c.keys[string(k.PubKey().Address())] = k
		vals = append(vals, types.NewValidator(k.PubKey(), 10))
		gvals = append(gvals, types.GenesisValidator{Address: k.PubKey().Address(), PubKey: k.PubKey(), Power: 10, Name: fmt.Sprint("v", i)})
	}
	c.current = types.NewValidatorSet(vals)
	c.next = c.current
	c.lastTime = c.GenesisTime
	doc := &types.GenesisDoc{
		ChainID: chainID, GenesisTime: c.GenesisTime, InitialHeight: 1,
		ConsensusParams: types.DefaultConsensusParams(), Validators: gvals, AppState: json.RawMessage(`{}`),
	}
	if err := doc.ValidateAndComplete(); err != nil {
		panic(err)
	}
	b, err := cmtjson.Marshal(doc)
	if err != nil {
		panic(err)
	}
	c.genesisJSON = b
	return c
}

// GenesisJSON is the chain's genesis document.
func (c *Chain) GenesisJSON() []byte { return c.genesisJSON }

// Height is the height of the last header built: blocks 0..Height-1 have
// been produced.
func (c *Chain) Height() int64 { return c.height }

// Keys returns the private keys the chain signs with, by validator address.
func (c *Chain) Keys() Keys { return c.keys }

// Validators returns the set that signs the next header.
func (c *Chain) Validators() *types.ValidatorSet { return c.current }

// AddKey registers a key that may sign for a validator set, and returns its
// validator of the given power.
func (c *Chain) AddKey(seed string, power int64) *types.Validator {
	k := Key(seed)
	c.keys[string(k.PubKey().Address())] = k
	return types.NewValidator(k.PubKey(), power)
}

// SetNextValidators makes the next header name set as its next validators;
// the header after it is signed by set.
func (c *Chain) SetNextValidators(set *types.ValidatorSet) { c.next = set }

// Msg builds a message from origin with that origin's next sequence number.
func (c *Chain) Msg(origin protocol.Origin, topic string, payload []byte) protocol.Message {
	k := string(origin.Key())
	seq := c.seqs[k]
	c.seqs[k] = seq + 1
	return protocol.Message{Origin: origin, Topic: topic, Seq: seq, Payload: payload}
}

// StateRoot is the synthetic state root of block h.
func StateRoot(h int64) []byte {
	s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("state"), uint64(h)))
	return s[:]
}

// Parts is one block as built, before encoding, for tests that tamper with
// it.
type Parts struct {
	Height   int64 // the block whose messages are carried (header is Height+1)
	Header   *types.Header
	Commit   *types.Commit
	Next     *types.ValidatorSet // nil when unchanged
	Messages protocol.BlockMessages
	// Signers is the set that signed Header.
	Signers *types.ValidatorSet
}

// NextParts produces block H = Height() with msgs: header H+1 signed by the
// current validators.
func (c *Chain) NextParts(msgs []protocol.Message) *Parts {
	enc := make([][]byte, len(msgs))
	for i := range msgs {
		enc[i] = msgs[i].Encode()
	}
	bm := protocol.BlockMessages{StateRoot: StateRoot(c.height), Messages: enc}
	h := c.height + 1
	t := c.GenesisTime
	if h > 1 {
		t = c.lastTime.Add(time.Second)
	}
	hdr := &types.Header{
		Version:            cmtversionpb.Consensus{Block: cmtversion.BlockProtocol, App: 1},
		ChainID:            c.ID,
		Height:             h,
		Time:               t,
		LastBlockID:        c.lastBlockID,
		LastCommitHash:     tmhash.Sum([]byte("last commit")),
		DataHash:           tmhash.Sum(nil),
		ValidatorsHash:     c.current.Hash(),
		NextValidatorsHash: c.next.Hash(),
		ConsensusHash:      tmhash.Sum([]byte("consensus")),
		AppHash:            bm.AppHash(),
		LastResultsHash:    tmhash.Sum(nil),
		EvidenceHash:       tmhash.Sum(nil),
		ProposerAddress:    c.current.Validators[0].Address,
	}
	p := &Parts{Height: c.height, Header: hdr, Messages: bm, Signers: c.current}
	p.Commit = c.Sign(hdr, c.current, nil)
	if c.next != c.current {
		p.Next = c.next
	}
	c.height = h
	c.lastBlockID = p.Commit.BlockID
	c.lastTime = t
	c.current = c.next
	return p
}

// Next produces block H = Height() with msgs, encoded for /v1/sync.
func (c *Chain) Next(msgs ...protocol.Message) protocol.SyncBlock {
	c.last = c.NextParts(msgs).Encode()
	return c.last
}

// LastEncoded is the last block Next produced.
func (c *Chain) LastEncoded() protocol.SyncBlock { return c.last }

// Sign builds a commit for hdr by the validators of set whose keys the chain
// knows; signers, if not nil, restricts which validator indexes sign.
func (c *Chain) Sign(hdr *types.Header, set *types.ValidatorSet, signers []int) *types.Commit {
	return Sign(c.ID, c.keys, hdr, set, signers)
}

// Keys maps validator addresses to private keys, for Sign.
type Keys = map[string]ed25519.PrivKey

// KeysOf indexes private keys by their validator address.
func KeysOf(ks ...ed25519.PrivKey) Keys {
	m := Keys{}
	for _, k := range ks {
		m[string(k.PubKey().Address())] = k
	}
	return m
}

// Sign builds a commit for hdr of chain chainID by the validators of set
// whose keys are in keys; signers, if not nil, restricts which validator
// indexes sign. Tests use it to re-sign forged headers of a real chain with
// its validators' keys.
func Sign(chainID string, keys Keys, hdr *types.Header, set *types.ValidatorSet, signers []int) *types.Commit {
	return SignParts(chainID, keys, hdr, set, signers, types.PartSetHeader{Total: 1, Hash: tmhash.Sum([]byte("parts"))})
}

// SignParts is Sign with the block's part-set header chosen by the caller:
// validators signing two part-set headers for one header is what a test of
// the part-set header (which the header hash does not cover) needs.
func SignParts(chainID string, keys Keys, hdr *types.Header, set *types.ValidatorSet, signers []int, parts types.PartSetHeader) *types.Commit {
	id := types.BlockID{Hash: hdr.Hash(), PartSetHeader: parts}
	commit := &types.Commit{Height: hdr.Height, Round: 0, BlockID: id, Signatures: make([]types.CommitSig, len(set.Validators))}
	signs := func(i int) bool {
		if signers == nil {
			return true
		}
		for _, s := range signers {
			if s == i {
				return true
			}
		}
		return false
	}
	for i, v := range set.Validators {
		k, ok := keys[string(v.Address)]
		if !ok || !signs(i) {
			commit.Signatures[i] = types.NewCommitSigAbsent()
			continue
		}
		ts := hdr.Time.Add(time.Millisecond)
		vote := &types.Vote{Type: types.PrecommitType, Height: hdr.Height, Round: 0, BlockID: id, Timestamp: ts, ValidatorAddress: v.Address, ValidatorIndex: int32(i)}
		sig, err := k.Sign(types.VoteSignBytes(chainID, vote.ToProto()))
		if err != nil {
			panic(err)
		}
		commit.Signatures[i] = types.CommitSig{BlockIDFlag: types.BlockIDFlagCommit, ValidatorAddress: v.Address, Timestamp: ts, Signature: sig}
	}
	return commit
}

// Resign recomputes the commit of a (modified) header with every key the
// chain knows for p.Signers: a forgery only the validators could make.
func (c *Chain) Resign(p *Parts) { p.Commit = c.Sign(p.Header, p.Signers, nil) }

// CloneHeader returns a copy of p's header to modify.
func (p *Parts) CloneHeader() *types.Header {
	h := *p.Header
	return &h
}

// Encode produces the /v1/sync form of the parts.
func (p *Parts) Encode() protocol.SyncBlock {
	sh := &types.SignedHeader{Header: p.Header, Commit: p.Commit}
	shb, err := sh.ToProto().Marshal()
	if err != nil {
		panic(err)
	}
	sb := protocol.SyncBlock{Height: p.Height, SignedHeader: shb, Messages: p.Messages}
	if p.Next != nil {
		sb.NextValidators = EncodeValidatorSet(p.Next)
	}
	return sb
}

// EncodeValidatorSet is the protobuf encoding of a validator set.
func EncodeValidatorSet(vs *types.ValidatorSet) []byte {
	pb, err := vs.ToProto()
	if err != nil {
		panic(err)
	}
	b, err := pb.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// DecodeSignedHeader is a test convenience around the protobuf decoder.
func DecodeSignedHeader(b []byte) *types.SignedHeader {
	var pb cmtproto.SignedHeader
	if err := pb.Unmarshal(b); err != nil {
		panic(err)
	}
	sh, err := types.SignedHeaderFromProto(&pb)
	if err != nil {
		panic(err)
	}
	return sh
}
