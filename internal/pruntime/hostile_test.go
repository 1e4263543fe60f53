package pruntime_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"runtime"
	"testing"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/crypto/tmhash"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// The tests of this file are the hostile relayer of issue 11: each drives a
// real pRuntime over its private HTTP API on loopback with input that
// decodes well but means something hostile, and checks the specific
// refusal, that nothing changed, and that honest sync goes on.

// hostileSetup is a pRuntime that has applied blocks 0..k-1 of c.
type hostileSetup struct {
	c     *testchain.Chain
	n     *node
	parts []*testchain.Parts // every block built, by height
}

func newHostile(t *testing.T, name string, k int) *hostileSetup {
	t.Helper()
	h := &hostileSetup{c: testchain.New(name, 4), n: startNode(t, t.TempDir(), options{every: 1000})}
	h.n.init(h.c.GenesisJSON())
	for range k {
		h.build()
	}
	if k > 0 {
		blocks := make([]protocol.SyncBlock, k)
		for i, p := range h.parts {
			blocks[i] = p.Encode()
		}
		h.n.mustSync(blocks...)
	}
	return h
}

// build produces the next block of the chain (a ping to the worker in it,
// so that applying it changes the egress queue) without sending it.
func (h *hostileSetup) build() *testchain.Parts {
	p := h.c.NextParts([]protocol.Message{h.c.Msg(alice, protocol.WorkerPingTopic(h.n.pub()), []byte{byte(len(h.parts))})})
	h.parts = append(h.parts, p)
	return p
}

// refused sends blocks and checks the refusal's code, that pRuntime
// answered (a *sdk.RuntimeError, not a dropped connection) and that its
// state is what it was.
func (h *hostileSetup) refused(t *testing.T, want *protocol.Error, blocks ...protocol.SyncBlock) *sdk.RuntimeError {
	t.Helper()
	before := h.n.observe()
	_, err := h.n.sync(blocks...)
	return h.checkRefusal(t, before, err, want)
}

func (h *hostileSetup) refusedRaw(t *testing.T, want *protocol.Error, body []byte) *sdk.RuntimeError {
	t.Helper()
	before := h.n.observe()
	_, err := h.n.private.SyncRaw(context.Background(), body)
	return h.checkRefusal(t, before, err, want)
}

func (h *hostileSetup) checkRefusal(t *testing.T, before observable, err error, want *protocol.Error) *sdk.RuntimeError {
	t.Helper()
	var re *sdk.RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("pRuntime did not answer with an error: %v", err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if !before.equal(h.n.observe()) {
		t.Fatal("refused input changed pRuntime's state")
	}
	return re
}

// honestNext builds and applies the next block, proving sync goes on.
func (h *hostileSetup) honestNext(t *testing.T) {
	t.Helper()
	var blocks []protocol.SyncBlock
	for i := h.n.info().SyncedHeight; i < int64(len(h.parts)); i++ {
		blocks = append(blocks, h.parts[i].Encode())
	}
	blocks = append(blocks, h.build().Encode())
	resp, err := h.n.sync(blocks...)
	if err != nil || resp.Applied != len(blocks) {
		t.Fatalf("honest sync after the refusal: %+v %v", resp, err)
	}
}

func validatorSetProto(t *testing.T, vs *types.ValidatorSet) *cmtproto.ValidatorSet {
	t.Helper()
	pb, err := vs.ToProto()
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func marshalProto(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRelayerCannotCrashPRuntimeWithAValidatorWithoutKey(t *testing.T) {
	h := newHostile(t, "hostile-nokey", 2)
	next := h.build()
	for _, where := range []string{"validator", "proposer"} {
		t.Run(where, func(t *testing.T) {
			pb := validatorSetProto(t, h.c.Validators())
			v := pb.Validators[0]
			if where == "proposer" {
				v = pb.Proposer
			}
			v.PubKeyBytes, v.PubKeyType, v.PubKey = nil, "", nil
			b := next.Encode()
			b.NextValidators = marshalProto(t, pb)
			h.refused(t, protocol.ErrLightValidatorSet, b)
		})
	}
	h.honestNext(t)
}

func TestRelayerCannotCrashPRuntimeWithExcessiveVotingPower(t *testing.T) {
	h := newHostile(t, "hostile-power", 2)
	next := h.build()
	cases := map[string][]int64{
		"total over CometBFT's limit":  {types.MaxTotalVotingPower, types.MaxTotalVotingPower},
		"one validator over the limit": {types.MaxTotalVotingPower + 1, 1},
		"total wraps around int64":     {1 << 62, 1 << 62, 1 << 62},
		"negative power":               {-1, 10},
	}
	for name, powers := range cases {
		t.Run(name, func(t *testing.T) {
			pb := &cmtproto.ValidatorSet{}
			for i, p := range powers {
				v := h.c.AddKey(name+string(rune('a'+i)), 1)
				v.VotingPower = p
				vp, err := v.ToProto()
				if err != nil {
					t.Fatal(err)
				}
				pb.Validators = append(pb.Validators, vp)
			}
			pb.Proposer = pb.Validators[0]
			b := next.Encode()
			b.NextValidators = marshalProto(t, pb)
			h.refused(t, protocol.ErrLightValidatorSet, b)
		})
	}
	h.honestNext(t)
}

func TestRelayerCannotCrashPRuntimeWithAnIncompleteSignedHeader(t *testing.T) {
	h := newHostile(t, "hostile-incomplete", 3)
	trusted := h.parts[2] // the block of the trusted header (header 3)
	next := h.build()
	for _, tc := range []struct {
		name string
		p    *testchain.Parts
	}{{"at the trusted height", trusted}, {"below the trusted height", h.parts[1]}, {"at the next height", next}} {
		t.Run(tc.name+": empty signed header", func(t *testing.T) {
			b := tc.p.Encode()
			b.SignedHeader = nil
			h.refused(t, protocol.ErrLightIncomplete, b)
		})
		t.Run(tc.name+": header without commit", func(t *testing.T) {
			b := tc.p.Encode()
			b.SignedHeader = marshalProto(t, &cmtproto.SignedHeader{Header: tc.p.Header.ToProto()})
			h.refused(t, protocol.ErrLightIncomplete, b)
		})
		t.Run(tc.name+": commit without header", func(t *testing.T) {
			b := tc.p.Encode()
			b.SignedHeader = marshalProto(t, &cmtproto.SignedHeader{Commit: tc.p.Commit.ToProto()})
			h.refused(t, protocol.ErrLightIncomplete, b)
		})
	}
	h.honestNext(t)
}

// TestRelayerCannotGetANonCanonicalBlockAcknowledged: a block below the
// next height is acknowledged only if it is the block pRuntime verified,
// header and message list.
func TestRelayerCannotGetANonCanonicalBlockAcknowledged(t *testing.T) {
	h := newHostile(t, "hostile-ack", 4)
	forgedMessages := func(p *testchain.Parts) protocol.SyncBlock {
		b := p.Encode()
		forged := protocol.Message{Origin: protocol.AccountOrigin(protocol.Address{9}), Topic: "forged"}
		b.Messages.Messages = [][]byte{forged.Encode()}
		return b
	}
	forgedHeader := func(p *testchain.Parts) protocol.SyncBlock {
		hdr := p.CloneHeader()
		hdr.AppHash = tmhash.Sum([]byte("forged"))
		f := *p
		f.Header = hdr // with the canonical commit
		return f.Encode()
	}
	randomHeader := func(p *testchain.Parts) protocol.SyncBlock {
		other := testchain.New("hostile-random", 1)
		for other.Height() <= p.Height {
			other.Next()
		}
		b := other.NextParts(nil).Encode()
		b.Height = p.Height
		return b
	}
	for _, at := range []struct {
		name string
		k    int
	}{{"trusted height", 3}, {"below the trusted height", 1}, {"genesis block", 0}} {
		p := h.parts[at.k]
		t.Run(at.name+": forged message list", func(t *testing.T) { h.refused(t, protocol.ErrBlockMismatch, forgedMessages(p)) })
		t.Run(at.name+": forged header with the canonical commit", func(t *testing.T) { h.refused(t, protocol.ErrBlockMismatch, forgedHeader(p)) })
		t.Run(at.name+": random header", func(t *testing.T) { h.refused(t, protocol.ErrBlockMismatch, randomHeader(p)) })
		t.Run(at.name+": forged next validator set", func(t *testing.T) {
			b := p.Encode()
			b.NextValidators = testchain.EncodeValidatorSet(testchain.New("intruder", 1).Validators())
			h.refused(t, protocol.ErrBlockMismatch, b)
		})
		t.Run(at.name+": the canonical block", func(t *testing.T) {
			before := h.n.observe()
			resp, err := h.n.sync(p.Encode())
			if err != nil || resp.Skipped != 1 || resp.Applied != 0 {
				t.Fatalf("canonical resend: %+v %v", resp, err)
			}
			if !before.equal(h.n.observe()) {
				t.Fatal("acknowledgement changed state")
			}
		})
	}
	t.Run("negative height", func(t *testing.T) {
		b := h.parts[0].Encode()
		b.Height = -1
		h.refused(t, protocol.ErrSyncHeight, b)
	})
	t.Run("a forged block among canonical ones", func(t *testing.T) {
		re := h.refused(t, protocol.ErrBlockMismatch, h.parts[1].Encode(), forgedMessages(h.parts[2]), h.parts[3].Encode())
		if re.Sync == nil || re.Sync.Skipped != 1 {
			t.Fatalf("progress before the refusal: %+v", re.Sync)
		}
	})
	h.honestNext(t)
}

// TestRelayerCannotWedgePRuntimeWithAnotherPartSetHeader: a commit that
// differs from the canonical one only in its part-set header (which a
// header hash does not cover) is a commit to the same header; after it,
// the canonical chain goes on.
func TestRelayerCannotWedgePRuntimeWithAnotherPartSetHeader(t *testing.T) {
	h := newHostile(t, "hostile-parts", 2)
	p := h.build()
	odd := *p
	odd.Commit = testchain.SignParts(h.c.ID, h.c.Keys(), p.Header, p.Signers, nil, types.PartSetHeader{Total: 7, Hash: tmhash.Sum([]byte("other parts"))})
	if resp, err := h.n.sync(odd.Encode()); err != nil || resp.Applied != 1 {
		t.Fatalf("commit with another part-set header: %+v %v", resp, err)
	}
	h.honestNext(t)
	h.honestNext(t)
}

// TestSyncDecodingErrorsAreRuntimeErrors: malformed or non-canonical sync
// bodies are refused in the runtime space, not the transaction space.
func TestSyncDecodingErrorsAreRuntimeErrors(t *testing.T) {
	h := newHostile(t, "hostile-decode", 1)
	good := protocol.MustMarshal(&protocol.SyncRequest{Blocks: []protocol.SyncBlock{h.build().Encode()}})
	nonMinimal := append([]byte{0xb8, 0x01}, good[1:]...) // map(1) head in two bytes
	for name, tc := range map[string]struct {
		body []byte
		want *protocol.Error
	}{
		"truncated":      {good[:len(good)-3], protocol.ErrSyncMalformed},
		"JSON":           {[]byte(`{"blocks":[]}`), protocol.ErrSyncMalformed},
		"trailing bytes": {append(bytes.Clone(good), 0), protocol.ErrSyncMalformed},
		"non-minimal":    {nonMinimal, protocol.ErrSyncNonCanonical},
		"unknown field":  {protocol.MustMarshal(map[string]any{"blocks": []any{}, "more": 1}), protocol.ErrSyncMalformed},
	} {
		t.Run(name, func(t *testing.T) { h.refusedRaw(t, tc.want, tc.body) })
	}
	h.honestNext(t)
}

// hugeSyncBody encodes, by hand, a sync request of blocks with n empty
// messages each: one byte per message on the wire.
func hugeSyncBody(blocks, n int) []byte {
	var b []byte
	head := func(major byte, v uint64) {
		switch {
		case v < 24:
			b = append(b, major<<5|byte(v))
		case v <= 0xff:
			b = append(b, major<<5|24, byte(v))
		case v <= 0xffff:
			b = append(b, major<<5|25)
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		default:
			b = append(b, major<<5|26)
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
	}
	key := func(k string) { head(3, uint64(len(k))); b = append(b, k...) }
	head(5, 1)
	key("blocks")
	head(4, uint64(blocks))
	for i := range blocks {
		head(5, 4)
		key("height")
		head(0, uint64(i))
		key("messages")
		head(5, 2)
		key("messages")
		head(4, uint64(n))
		b = append(b, bytes.Repeat([]byte{0x40}, n)...)
		key("state_root")
		head(2, 0)
		key("signed_header")
		head(2, 0)
		key("next_validators")
		head(2, 0)
	}
	return b
}

// TestRelayerCannotExhaustPRuntimeMemory sends the amplification
// attack: ~1,000 blocks of 65,536 empty messages in one body under the
// size limit. It is refused at decode time, and everything allocated while
// handling it stays within 4x the body plus a constant.
func TestRelayerCannotExhaustPRuntimeMemory(t *testing.T) {
	h := newHostile(t, "hostile-memory", 1)
	blocks := min(protocol.MaxSyncBlocks, api.MaxSyncBody/(protocol.MaxBlockMessages+200))
	for _, tc := range []struct {
		name string
		body []byte
		want *protocol.Error
	}{
		{"too many messages in one block", hugeSyncBody(1, protocol.MaxBlockMessages+1), protocol.ErrSyncBlockMessages},
		{"too many messages in the request", hugeSyncBody(blocks, protocol.MaxBlockMessages), protocol.ErrSyncRequestMessages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) > api.MaxSyncBody {
				t.Fatalf("body of %d bytes is over the limit", len(tc.body))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.refusedRaw(t, tc.want, tc.body)
			runtime.ReadMemStats(&after)
			// observe() reads the data dir twice; the constant covers it.
			const constant = 32 << 20
			got, bound := after.TotalAlloc-before.TotalAlloc, uint64(4*len(tc.body)+constant)
			if got > bound {
				t.Fatalf("handling a %d-byte body allocated %d bytes, bound %d", len(tc.body), got, bound)
			}
			t.Logf("a %d-byte body: %d bytes allocated while it was handled", len(tc.body), got)
		})
	}
	h.honestNext(t)
}

// TestAPIAnswersAPanicWith500AndKeepsBlocksWhole: a panic that escapes
// while a block is applied (here a subscriber planted by the test) is
// answered 500 runtime/7 with the progress made before it, and the block
// is rolled back whole.
func TestAPIAnswersAPanicWith500AndKeepsBlocksWhole(t *testing.T) {
	h := newHostile(t, "hostile-panic", 1)
	h.n.rt.PanicOnTopicForTest("boom")
	b1 := h.build()
	ping := h.c.Msg(alice, protocol.WorkerPingTopic(h.n.pub()), []byte("before the panic"))
	b2 := h.c.NextParts([]protocol.Message{ping, h.c.Msg(alice, "boom", nil)})
	h.parts = append(h.parts, b2)
	before := h.n.info()
	_, err := h.n.sync(b1.Encode(), b2.Encode())
	var re *sdk.RuntimeError
	if !errors.As(err, &re) || !errors.Is(err, protocol.ErrRuntimeInternal) || re.Status != http.StatusInternalServerError {
		t.Fatalf("got %v", err)
	}
	if re.Sync == nil || re.Sync.Applied != 1 || re.Sync.SyncedHeight != before.SyncedHeight+1 {
		t.Fatalf("progress before the panic: %+v", re.Sync)
	}
	after := h.n.info()
	if after.SyncedHeight != before.SyncedHeight+1 || after.EgressNextSeq != before.EgressNextSeq+1 {
		t.Fatalf("after the panic: height %d egress next %d; want %d, %d (block 2's pong rolled back)",
			after.SyncedHeight, after.EgressNextSeq, before.SyncedHeight+1, before.EgressNextSeq+1)
	}
	// The planted panic fires once: the same block then applies whole.
	resp, err := h.n.sync(b2.Encode())
	if err != nil || resp.Applied != 1 || h.n.info().EgressNextSeq != before.EgressNextSeq+2 {
		t.Fatalf("resend: %+v %v", resp, err)
	}
	h.honestNext(t)
}

func TestRelayerCannotCrashInitWithAHostileGenesis(t *testing.T) {
	c := testchain.New("hostile-init", 2)
	doc, err := protocol.ParseGenesisDoc(c.GenesisJSON())
	if err != nil {
		t.Fatal(err)
	}
	encode := func(edit func(d *types.GenesisDoc)) []byte {
		d := *doc
		d.Validators = append([]types.GenesisValidator(nil), doc.Validators...)
		edit(&d)
		b, err := cmtjson.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n := startNode(t, t.TempDir(), options{})
	for name, body := range map[string][]byte{
		"validator without a key":            encode(func(d *types.GenesisDoc) { d.Validators[0].PubKey = nil }),
		"validator without a key or address": encode(func(d *types.GenesisDoc) { d.Validators[0].PubKey, d.Validators[0].Address = nil, nil }),
		"total power over the limit": encode(func(d *types.GenesisDoc) {
			d.Validators[0].Power, d.Validators[1].Power = types.MaxTotalVotingPower, types.MaxTotalVotingPower
		}),
		"negative power": encode(func(d *types.GenesisDoc) { d.Validators[0].Power = -5 }),
		"no validators":  encode(func(d *types.GenesisDoc) { d.Validators = nil }),
		"duplicate validator": encode(func(d *types.GenesisDoc) {
			d.Validators = append(d.Validators, d.Validators[0])
		}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := n.private.Init(context.Background(), body)
			var re *sdk.RuntimeError
			if !errors.As(err, &re) || !errors.Is(err, protocol.ErrBadGenesis) {
				t.Fatalf("got %v", err)
			}
			if n.info().Initialized {
				t.Fatal("bound to a refused genesis")
			}
		})
	}
	n.init(c.GenesisJSON())
}
