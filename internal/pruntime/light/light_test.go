package light

import (
	"bytes"
	"errors"
	"testing"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/crypto/tmhash"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

func rootOf(t *testing.T, c *testchain.Chain) *TrustRoot {
	t.Helper()
	root, err := NewTrustRoot(c.GenesisJSON(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func verifyParts(st *State, p *testchain.Parts) (*State, error) {
	sb := p.Encode()
	sh, err := DecodeSignedHeader(sb.SignedHeader)
	if err != nil {
		return nil, err
	}
	next, err := DecodeValidatorSet(sb.NextValidators)
	if err != nil {
		return nil, err
	}
	return Verify(st, sh, next)
}

func TestVerifiesConsecutiveHeadersFromGenesis(t *testing.T) {
	c := testchain.New("light-ok", 4)
	st := Genesis(rootOf(t, c))
	for h := int64(1); h <= 50; h++ {
		next, err := verifyParts(st, c.NextParts(nil))
		if err != nil {
			t.Fatalf("header %d: %v", h, err)
		}
		if next.Height != h || !next.Time.After(st.Time) && h > 1 {
			t.Fatalf("header %d: state %d %s", h, next.Height, next.Time)
		}
		st = next
	}
}

func TestFollowsValidatorSetChanges(t *testing.T) {
	c := testchain.New("light-valset", 4)
	st := Genesis(rootOf(t, c))
	for range 3 {
		var err error
		if st, err = verifyParts(st, c.NextParts(nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Replace the whole set with a new one of 5 validators.
	var vals []*types.Validator
	for i := range 5 {
		vals = append(vals, c.AddKey("new-"+string(rune('a'+i)), 7))
	}
	c.SetNextValidators(types.NewValidatorSet(vals))
	for h := range 5 {
		var err error
		if st, err = verifyParts(st, c.NextParts(nil)); err != nil {
			t.Fatalf("after change, header %d: %v", h, err)
		}
	}
	if st.NextValidators.Size() != 5 {
		t.Fatalf("trusted next set has %d validators, want 5", st.NextValidators.Size())
	}
}

// TestRejections forges each way a header can be wrong, re-signed by the
// real validators where the check under test sits behind the signature, and
// requires the specific error and an untouched trusted state.
func TestRejections(t *testing.T) {
	type forge func(c *testchain.Chain, p *testchain.Parts)
	resign := func(edit func(h *types.Header)) forge {
		return func(c *testchain.Chain, p *testchain.Parts) {
			h := p.CloneHeader()
			edit(h)
			p.Header = h
			c.Resign(p)
		}
	}
	cases := []struct {
		name  string
		forge forge
		want  *protocol.Error
	}{
		{"chain id", resign(func(h *types.Header) { h.ChainID = "other" }), protocol.ErrLightChainID},
		{"last block id", resign(func(h *types.Header) { h.LastBlockID.Hash = tmhash.Sum([]byte("x")) }), protocol.ErrLightLastBlockID},
		{"validators hash", resign(func(h *types.Header) { h.ValidatorsHash = tmhash.Sum([]byte("x")) }), protocol.ErrLightValidatorsHash},
		{"next validators hash without a set", resign(func(h *types.Header) { h.NextValidatorsHash = tmhash.Sum([]byte("x")) }), protocol.ErrLightNextValidators},
		{"time equal to the previous header", resign(func(h *types.Header) { h.Time = h.Time.Add(-time.Second) }), protocol.ErrLightTime},
		{"time before the previous header", resign(func(h *types.Header) { h.Time = h.Time.Add(-time.Hour) }), protocol.ErrLightTime},
		{"app hash changed after signing", func(_ *testchain.Chain, p *testchain.Parts) {
			h := p.CloneHeader()
			h.AppHash = tmhash.Sum([]byte("forged"))
			p.Header = h
		}, protocol.ErrLightHeader},
		{"time changed after signing", func(_ *testchain.Chain, p *testchain.Parts) {
			h := p.CloneHeader()
			h.Time = h.Time.Add(time.Minute)
			p.Header = h
		}, protocol.ErrLightHeader},
		{"commit below two thirds", func(c *testchain.Chain, p *testchain.Parts) {
			p.Commit = c.Sign(p.Header, p.Signers, []int{0, 1})
		}, protocol.ErrLightCommit},
		{"commit padded with a duplicated signature", func(c *testchain.Chain, p *testchain.Parts) {
			p.Commit = c.Sign(p.Header, p.Signers, []int{0, 1})
			dup := p.Commit.Signatures[0]
			dup.ValidatorAddress = p.Signers.Validators[2].Address
			p.Commit.Signatures[2] = dup
		}, protocol.ErrLightCommit},
		{"commit by a foreign validator set", func(c *testchain.Chain, p *testchain.Parts) {
			var foreign []*types.Validator
			for i := range 4 {
				foreign = append(foreign, c.AddKey("foreign-"+string(rune('a'+i)), 10))
			}
			p.Commit = c.Sign(p.Header, types.NewValidatorSet(foreign), nil)
		}, protocol.ErrLightCommit},
		{"fork signed by another key set", func(c *testchain.Chain, p *testchain.Parts) {
			var foreign []*types.Validator
			for i := range 4 {
				foreign = append(foreign, c.AddKey("fork-"+string(rune('a'+i)), 10))
			}
			set := types.NewValidatorSet(foreign)
			h := p.CloneHeader()
			h.ValidatorsHash, h.NextValidatorsHash = set.Hash(), set.Hash()
			h.AppHash = tmhash.Sum([]byte("fork"))
			p.Header = h
			p.Commit = c.Sign(h, set, nil)
		}, protocol.ErrLightValidatorsHash},
		{"forged next validator set", func(c *testchain.Chain, p *testchain.Parts) {
			v := c.AddKey("intruder", 1000)
			p.Next = types.NewValidatorSet([]*types.Validator{v})
		}, protocol.ErrLightNextValidators},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testchain.New("light-reject", 4)
			st := Genesis(rootOf(t, c))
			for range 3 {
				var err error
				if st, err = verifyParts(st, c.NextParts(nil)); err != nil {
					t.Fatal(err)
				}
			}
			before := *st
			p := c.NextParts(nil)
			tc.forge(c, p)
			_, err := verifyParts(st, p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if st.Height != before.Height || !st.BlockID.Equals(before.BlockID) || !st.Time.Equal(before.Time) {
				t.Fatal("trusted state changed")
			}
		})
	}
}

func TestRejectsSkippedAndRepeatedHeights(t *testing.T) {
	c := testchain.New("light-seq", 4)
	st := Genesis(rootOf(t, c))
	first := c.NextParts(nil)
	second := c.NextParts(nil)
	if _, err := verifyParts(st, second); !errors.Is(err, protocol.ErrLightHeight) {
		t.Fatalf("skipped height: %v", err)
	}
	st1, err := verifyParts(st, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyParts(st1, first); !errors.Is(err, protocol.ErrLightHeight) {
		t.Fatalf("repeated height: %v", err)
	}
}

func TestDecodersRefuseGarbage(t *testing.T) {
	if _, err := DecodeSignedHeader([]byte{0xff, 0x01, 0x02}); !errors.Is(err, protocol.ErrLightDecode) {
		t.Fatalf("header: %v", err)
	}
	if _, err := DecodeValidatorSet([]byte{0x0a, 0x05, 0x01}); !errors.Is(err, protocol.ErrLightDecode) {
		t.Fatalf("validator set: %v", err)
	}
	if vs, err := DecodeValidatorSet(nil); vs != nil || err != nil {
		t.Fatalf("empty validator set: %v %v", vs, err)
	}
}

func TestTrustRootPinning(t *testing.T) {
	c := testchain.New("light-pin", 1)
	root := rootOf(t, c)
	if _, err := NewTrustRoot(c.GenesisJSON(), root.GenesisHash); err != nil {
		t.Fatalf("pinned to its own hash: %v", err)
	}
	other := testchain.New("light-pin-other", 1)
	if _, err := NewTrustRoot(other.GenesisJSON(), root.GenesisHash); !errors.Is(err, protocol.ErrTrustRoot) {
		t.Fatalf("other genesis: %v", err)
	}
	if _, err := NewTrustRoot([]byte(`{"chain_id":`), nil); !errors.Is(err, protocol.ErrBadGenesis) {
		t.Fatalf("bad genesis: %v", err)
	}
}

func FuzzDecodeSignedHeader(f *testing.F) {
	c := testchain.New("fuzz", 4)
	f.Add(c.Next().SignedHeader)
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, err := DecodeSignedHeader(b)
		if err == nil && (sh.Header == nil || sh.Commit == nil) {
			t.Fatal("decoded a header without header or commit")
		}
		if e, ok := protocol.CodeOf(err); err != nil && (!ok || e.Space != protocol.SpaceLight) {
			t.Fatalf("refusal outside the light space: %v", err)
		}
	})
}

func FuzzDecodeValidatorSet(f *testing.F) {
	c := testchain.New("fuzz", 4)
	f.Add(testchain.EncodeValidatorSet(c.Validators()))
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := DecodeValidatorSet(b)
		if err == nil && len(b) > 0 && vs.IsNilOrEmpty() {
			t.Fatal("decoded an empty validator set without error")
		}
		if e, ok := protocol.CodeOf(err); err != nil && (!ok || e.Space != protocol.SpaceLight) {
			t.Fatalf("refusal outside the light space: %v", err)
		}
		if err == nil && vs != nil {
			vs.Hash() // what Verify does first with a relayer's set
			if err := vs.ValidateBasic(); err != nil {
				t.Fatalf("decoded an invalid set: %v", err)
			}
		}
	})
}

func TestDecodeSignedHeaderRequiresHeaderAndCommit(t *testing.T) {
	c := testchain.New("light-incomplete", 4)
	p := c.NextParts(nil)
	for name, pb := range map[string]*cmtproto.SignedHeader{
		"empty":       {},
		"header only": {Header: p.Header.ToProto()},
		"commit only": {Commit: p.Commit.ToProto()},
	} {
		b, err := pb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSignedHeader(b); !errors.Is(err, protocol.ErrLightIncomplete) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Verify(Genesis(rootOf(t, c)), &types.SignedHeader{Header: p.Header}, nil); !errors.Is(err, protocol.ErrLightIncomplete) {
		t.Errorf("Verify without a commit: %v", err)
	}
}

// TestDecodeValidatorSetRefusesWhatCometBFTPanicsOn: each of these panics
// in CometBFT's ValidatorSetFromProto (or makes a set no chain has).
func TestDecodeValidatorSetRefusesWhatCometBFTPanicsOn(t *testing.T) {
	c := testchain.New("light-valset-decode", 3)
	base := func() *cmtproto.ValidatorSet {
		pb, err := c.Validators().ToProto()
		if err != nil {
			t.Fatal(err)
		}
		return pb
	}
	cases := map[string]func(pb *cmtproto.ValidatorSet){
		"validator without a key": func(pb *cmtproto.ValidatorSet) {
			pb.Validators[1].PubKeyBytes, pb.Validators[1].PubKeyType = nil, ""
		},
		"validator with a key of the wrong length": func(pb *cmtproto.ValidatorSet) { pb.Validators[1].PubKeyBytes = []byte{1, 2, 3} },
		"proposer without a key":                   func(pb *cmtproto.ValidatorSet) { pb.Proposer.PubKeyBytes, pb.Proposer.PubKeyType = nil, "" },
		"no proposer":                              func(pb *cmtproto.ValidatorSet) { pb.Proposer = nil },
		"empty validator":                          func(pb *cmtproto.ValidatorSet) { pb.Validators[0] = &cmtproto.Validator{} },
		"total power over the limit": func(pb *cmtproto.ValidatorSet) {
			pb.Validators[0].VotingPower, pb.Validators[1].VotingPower = types.MaxTotalVotingPower, 1
		},
		"total power wraps around": func(pb *cmtproto.ValidatorSet) {
			for _, v := range pb.Validators {
				v.VotingPower = 1 << 62
			}
		},
		"negative power":     func(pb *cmtproto.ValidatorSet) { pb.Validators[2].VotingPower = -1 },
		"zero power":         func(pb *cmtproto.ValidatorSet) { pb.Validators[2].VotingPower = 0 },
		"repeated validator": func(pb *cmtproto.ValidatorSet) { pb.Validators[2] = pb.Validators[0] },
		"no validators":      func(pb *cmtproto.ValidatorSet) { pb.Validators = nil },
		"too many validators": func(pb *cmtproto.ValidatorSet) {
			for len(pb.Validators) <= types.MaxVotesCount {
				pb.Validators = append(pb.Validators, pb.Validators[0])
			}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			pb := base()
			edit(pb)
			b, err := pb.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if vs, err := DecodeValidatorSet(b); !errors.Is(err, protocol.ErrLightValidatorSet) || vs != nil {
				t.Fatalf("got %v, %v", vs, err)
			}
		})
	}
	if vs, err := DecodeValidatorSet(testchain.EncodeValidatorSet(c.Validators())); err != nil || !bytes.Equal(vs.Hash(), c.Validators().Hash()) {
		t.Fatalf("the honest set: %v", err)
	}
}

// TestLastBlockIDComparesOnlyTheHeaderHash: a commit that differs from the
// canonical one only in the part-set header (which the header hash does
// not cover) is trusted, and the next canonical header, whose LastBlockID
// names the canonical part-set header, still verifies.
func TestLastBlockIDComparesOnlyTheHeaderHash(t *testing.T) {
	c := testchain.New("light-parts", 4)
	st := Genesis(rootOf(t, c))
	var err error
	if st, err = verifyParts(st, c.NextParts(nil)); err != nil {
		t.Fatal(err)
	}
	p := c.NextParts(nil)
	p.Commit = testchain.SignParts(c.ID, c.Keys(), p.Header, p.Signers, nil, types.PartSetHeader{Total: 9, Hash: tmhash.Sum([]byte("other parts"))})
	if st, err = verifyParts(st, p); err != nil {
		t.Fatalf("commit with another part-set header: %v", err)
	}
	next := c.NextParts(nil)
	if next.Header.LastBlockID.PartSetHeader.Equals(st.BlockID.PartSetHeader) {
		t.Fatal("test broken: the part-set headers do not differ")
	}
	if _, err := verifyParts(st, next); err != nil {
		t.Fatalf("canonical header after it: %v", err)
	}
	// The hash itself is still compared.
	forged := c.NextParts(nil)
	h := forged.CloneHeader()
	h.LastBlockID.Hash = tmhash.Sum([]byte("x"))
	forged.Header = h
	c.Resign(forged)
	if _, err := verifyParts(st, forged); !errors.Is(err, protocol.ErrLightHeight) && !errors.Is(err, protocol.ErrLightLastBlockID) {
		t.Fatalf("another last block hash: %v", err)
	}
}
