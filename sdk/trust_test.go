package sdk

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

func testValidators(n int) []*types.Validator {
	vals := make([]*types.Validator, n)
	for i := range vals {
		vals[i] = types.NewValidator(ed25519.GenPrivKeyFromSecret([]byte{byte(i)}).PubKey(), 10)
	}
	return vals
}

// TestValidatorSetRefusesWhatCometBFTWouldPanicOn: a node's validator set
// is checked before CometBFT's constructor sees it; each refusal is
// ErrMalformedAnswer naming the problem, never a panic.
func TestValidatorSetRefusesWhatCometBFTWouldPanicOn(t *testing.T) {
	if _, err := validatorSet(testValidators(3)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		edit func([]*types.Validator) []*types.Validator
		want string
	}{
		"empty":           {func([]*types.Validator) []*types.Validator { return nil }, "0 validators"},
		"too many":        {func([]*types.Validator) []*types.Validator { return make([]*types.Validator, maxValidators+1) }, "validators (want 1 to"},
		"nil validator":   {func(v []*types.Validator) []*types.Validator { v[1] = nil; return v }, "validator 1 is missing"},
		"no key":          {func(v []*types.Validator) []*types.Validator { v[0].PubKey = nil; return v }, "not an ed25519 key"},
		"short key":       {func(v []*types.Validator) []*types.Validator { v[0].PubKey = ed25519.PubKey{}; return v }, "not an ed25519 key"},
		"address not key": {func(v []*types.Validator) []*types.Validator { v[0].Address = v[1].Address; return v }, "incorrectly derived"},
		"zero power":      {func(v []*types.Validator) []*types.Validator { v[2].VotingPower = 0; return v }, "power 0"},
		"negative power":  {func(v []*types.Validator) []*types.Validator { v[2].VotingPower = -1; return v }, "negative"},
		"total too high":  {func(v []*types.Validator) []*types.Validator { v[0].VotingPower = types.MaxTotalVotingPower; return v }, "may not exceed"},
		"power overflows": {func(v []*types.Validator) []*types.Validator {
			v[0].VotingPower, v[1].VotingPower = 1<<62, 1<<62
			return v
		}, "may not exceed"},
		"duplicate":        {func(v []*types.Validator) []*types.Validator { return append(v, v[0]) }, "appears twice"},
		"duplicate copied": {func(v []*types.Validator) []*types.Validator { c := *v[0]; return append(v, &c) }, "appears twice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := validatorSet(tc.edit(testValidators(3)))
			if !errors.Is(err, protocol.ErrMalformedAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformedAnswer saying %q", err, tc.want)
			}
		})
	}
}

// testRoot is a trust root of a chain signed by one validator, with its
// first header.
func testRoot(t testing.TB) (*TrustRoot, []byte) {
	t.Helper()
	priv := ed25519.GenPrivKeyFromSecret([]byte("root"))
	vals, err := validatorSet([]*types.Validator{types.NewValidator(priv.PubKey(), 10)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	h := &types.Header{ChainID: "c", Height: 1, Time: now, ValidatorsHash: vals.Hash(), NextValidatorsHash: vals.Hash(), ProposerAddress: vals.Validators[0].Address}
	h.Version.Block = 11
	id := types.BlockID{Hash: h.Hash(), PartSetHeader: types.PartSetHeader{Total: 1, Hash: make([]byte, 32)}}
	vote := &types.Vote{Type: types.PrecommitType, Height: 1, BlockID: id, Timestamp: now, ValidatorAddress: vals.Validators[0].Address}
	sig, err := priv.Sign(types.VoteSignBytes("c", vote.ToProto()))
	if err != nil {
		t.Fatal(err)
	}
	commit := &types.Commit{Height: 1, BlockID: id, Signatures: []types.CommitSig{{BlockIDFlag: types.BlockIDFlagCommit, ValidatorAddress: vote.ValidatorAddress, Timestamp: now, Signature: sig}}}
	r := &TrustRoot{ChainID: "c", GenesisHash: make([]byte, 32), GenesisTime: now, Header: &types.SignedHeader{Header: h, Commit: commit}, Validators: vals}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

// TestTrustRootFileRoundTripsAndRefusesDamage: a saved root reads back
// as it was written, and a damaged one is ErrBadTrustRoot, not a root.
func TestTrustRootFileRoundTripsAndRefusesDamage(t *testing.T) {
	r, b := testRoot(t)
	var back TrustRoot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Height() != 1 || back.ChainID != "c" || !back.Time().Equal(r.Time()) || string(back.Validators.Hash()) != string(r.Validators.Hash()) {
		t.Fatalf("read back %+v", back)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	other, _ := cmtjson.Marshal(testValidators(2))
	cases := map[string][]byte{
		"not an object":   []byte(`"root"`),
		"no chain":        edit(func(m map[string]any) { m["chain_id"] = "" }),
		"other chain":     edit(func(m map[string]any) { m["chain_id"] = "d" }),
		"short hash":      edit(func(m map[string]any) { m["genesis_hash"] = "00" }),
		"no validators":   edit(func(m map[string]any) { delete(m, "validators") }),
		"other signers":   edit(func(m map[string]any) { m["validators"] = json.RawMessage(other) }),
		"height mismatch": edit(func(m map[string]any) { m["height"] = 7 }),
		"header no commit": edit(func(m map[string]any) {
			delete(m["signed_header"].(map[string]any), "commit")
		}),
		"header forged": edit(func(m map[string]any) {
			m["signed_header"].(map[string]any)["header"].(map[string]any)["app_hash"] = strings.Repeat("AB", 32)
		}),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			var got TrustRoot
			if err := json.Unmarshal(raw, &got); !errors.Is(err, protocol.ErrBadTrustRoot) {
				t.Fatalf("got %v, want ErrBadTrustRoot", err)
			}
		})
	}
}

// FuzzTrustRootJSON: a trust file's bytes never panic the reader, and
// whatever it accepts is a whole root that writes back to what it reads.
func FuzzTrustRootJSON(f *testing.F) {
	_, b := testRoot(f)
	f.Add(b)
	f.Add([]byte(`{"chain_id":"c","genesis_hash":"` + strings.Repeat("00", 32) + `","validators":[]}`))
	f.Add([]byte(`{"validators":[null]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r TrustRoot
		if err := json.Unmarshal(raw, &r); err != nil {
			return
		}
		if err := r.check(); err != nil {
			t.Fatalf("accepted a root that does not check: %v", err)
		}
		if _, err := json.Marshal(&r); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGenesisTrustRefusesAValidatorKeyOfTheWrongSize: CometBFT's genesis
// validation panics on it; the SDK refuses it first.
func TestGenesisTrustRefusesAValidatorKeyOfTheWrongSize(t *testing.T) {
	doc := `{"chain_id":"c","genesis_time":"2026-01-01T00:00:00Z","initial_height":"1",
		"validators":[{"pub_key":{"type":"tendermint/PubKeyEd25519","value":"AAAA"},"power":"10"}]}`
	if _, err := GenesisTrust([]byte(doc)); !errors.Is(err, protocol.ErrBadTrustRoot) || !strings.Contains(err.Error(), "not an ed25519 key") {
		t.Fatalf("got %v", err)
	}
}
