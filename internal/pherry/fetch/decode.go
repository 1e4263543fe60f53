package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/secp256k1"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// ErrAnswer is a node answer that cannot be what was asked for: a lying or
// broken node. pherry never passes such an answer on (pRuntime would
// refuse it anyway) and never trusts one to be well formed: every answer
// is checked here before anything is built from it, so that no library
// constructor that panics on bad input is reached.
var ErrAnswer = errors.New("fetch: the node's answer is malformed")

// validatorsPerPage is the page size of validator-set requests; CometBFT
// serves at most 100.
const validatorsPerPage = 100

// decodeBatch checks and decodes the answers to a batch of (commit H+1,
// messages of H) requests for H = from, from+1, ... into out, whose length
// is the number of blocks asked for. It returns the indexes of the blocks
// whose header changes the validator set: the next set must be fetched
// for them.
func decodeBatch(from int64, results []any, out []protocol.SyncBlock) (changes []int, err error) {
	if len(results) != 2*len(out) {
		return nil, fmt.Errorf("%w: %d results for %d requests (blocks %d..)", ErrAnswer, len(results), 2*len(out), from)
	}
	for i := range out {
		h := from + int64(i)
		hdr, commit, err := decodeCommit(h+1, results[2*i])
		if err != nil {
			return nil, err
		}
		q, ok := results[2*i+1].(*ctypes.ResultABCIQuery)
		if !ok || q == nil {
			return nil, fmt.Errorf("%w: messages %d: a %T", ErrAnswer, h, results[2*i+1])
		}
		if q.Response.Code != 0 {
			return nil, fmt.Errorf("fetch: messages %d: %w", h, protocol.FromWire(q.Response.Codespace, q.Response.Code, q.Response.Log))
		}
		sb := &out[i]
		sb.Height = h
		if err := protocol.Unmarshal(q.Response.Value, &sb.Messages); err != nil {
			return nil, fmt.Errorf("%w: messages %d: %v", ErrAnswer, h, err)
		}
		sh := types.SignedHeader{Header: hdr, Commit: commit}
		if sb.SignedHeader, err = sh.ToProto().Marshal(); err != nil {
			return nil, fmt.Errorf("%w: header %d: %v", ErrAnswer, h+1, err)
		}
		if !bytes.Equal(hdr.NextValidatorsHash, hdr.ValidatorsHash) {
			changes = append(changes, i)
		}
	}
	return changes, nil
}

// decodeCommit checks that r answers "commit at height h": a header and a
// commit, both of height h.
func decodeCommit(h int64, r any) (*types.Header, *types.Commit, error) {
	com, ok := r.(*ctypes.ResultCommit)
	switch {
	case !ok || com == nil:
		return nil, nil, fmt.Errorf("%w: commit %d: a %T", ErrAnswer, h, r)
	case com.Header == nil || com.Commit == nil:
		// A failed request inside a batch leaves its result empty.
		return nil, nil, fmt.Errorf("fetch: commit %d not available", h)
	case com.Header.Height != h || com.Commit.Height != h:
		return nil, nil, fmt.Errorf("%w: asked for commit %d, got header %d and commit %d", ErrAnswer, h, com.Header.Height, com.Commit.Height)
	}
	return com.Header, com.Commit, nil
}

// validators fetches the validator set of height h, page by page, and
// returns it in the protobuf form pRuntime reads.
func (f *Fetcher) validators(ctx context.Context, h int64) ([]byte, error) {
	var all []*types.Validator
	perPage := validatorsPerPage
	for page := 1; ; page++ {
		res, err := f.rpc.Validators(ctx, &h, &page, &perPage)
		if err != nil {
			return nil, fmt.Errorf("fetch: validators %d: %w", h, err)
		}
		if all, err = addValidatorPage(h, page, all, res); err != nil {
			return nil, err
		}
		if len(all) == res.Total {
			break
		}
	}
	return EncodeValidators(all)
}

// addValidatorPage checks page number page of the validator set of height
// h and appends its validators to all. A set holds at most
// types.MaxVotesCount validators, as many as a commit can carry.
func addValidatorPage(h int64, page int, all []*types.Validator, res *ctypes.ResultValidators) ([]*types.Validator, error) {
	switch {
	case res == nil:
		return nil, fmt.Errorf("%w: no validators %d", ErrAnswer, h)
	case res.BlockHeight != h:
		return nil, fmt.Errorf("%w: asked for validators %d, got %d", ErrAnswer, h, res.BlockHeight)
	case res.Total < 1 || res.Total > types.MaxVotesCount:
		return nil, fmt.Errorf("%w: validators %d: a set of %d", ErrAnswer, h, res.Total)
	case len(res.Validators) != min(validatorsPerPage, res.Total-len(all)):
		// Every page but the last is full: a set of n validators takes
		// n/100 requests, however the node pages it.
		return nil, fmt.Errorf("%w: validators %d: page %d holds %d of %d, after %d", ErrAnswer, h, page, len(res.Validators), res.Total, len(all))
	}
	return append(all, res.Validators...), nil
}

// EncodeValidators checks a validator set a node served and encodes it in
// the protobuf form pRuntime reads. It checks what types.NewValidatorSet
// panics on (and what makes a public key panic): nil validators, keys of
// an unknown type or size, addresses not derived from the key, duplicates,
// powers that are not positive or that sum above the protocol's maximum.
func EncodeValidators(vals []*types.Validator) ([]byte, error) {
	if len(vals) == 0 || len(vals) > types.MaxVotesCount {
		return nil, fmt.Errorf("%w: a set of %d validators", ErrAnswer, len(vals))
	}
	seen := make(map[string]bool, len(vals))
	var total int64
	for i, v := range vals {
		if err := checkValidator(v); err != nil {
			return nil, fmt.Errorf("%w: validator %d: %v", ErrAnswer, i, err)
		}
		if seen[string(v.Address)] {
			return nil, fmt.Errorf("%w: validator %d: %X is listed twice", ErrAnswer, i, v.Address)
		}
		seen[string(v.Address)] = true
		if total += v.VotingPower; total > types.MaxTotalVotingPower {
			return nil, fmt.Errorf("%w: total voting power above %d", ErrAnswer, types.MaxTotalVotingPower)
		}
	}
	return EncodeValidatorSet(types.NewValidatorSet(vals))
}

func checkValidator(v *types.Validator) error {
	if v == nil || v.PubKey == nil {
		return errors.New("no public key")
	}
	switch k := v.PubKey.(type) {
	case ed25519.PubKey:
		if len(k) != ed25519.PubKeySize {
			return fmt.Errorf("an ed25519 key of %d bytes", len(k))
		}
	case secp256k1.PubKey:
		if len(k) != secp256k1.PubKeySize {
			return fmt.Errorf("a secp256k1 key of %d bytes", len(k))
		}
	default:
		return fmt.Errorf("a key of type %T", v.PubKey)
	}
	if !bytes.Equal(v.Address, v.PubKey.Address()) {
		return fmt.Errorf("address %X is not its key's", v.Address)
	}
	if v.VotingPower <= 0 || v.VotingPower > types.MaxTotalVotingPower {
		return fmt.Errorf("voting power %d", v.VotingPower)
	}
	return nil
}

// EncodeValidatorSet is the protobuf form pRuntime reads.
func EncodeValidatorSet(vs *types.ValidatorSet) ([]byte, error) {
	pb, err := vs.ToProto()
	if err != nil {
		return nil, err
	}
	return pb.Marshal()
}
