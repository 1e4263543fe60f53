package light

import (
	"errors"
	"testing"
	"time"

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
	})
}
