package pruntime_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/tmhash"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/light"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// realChain is the recorded history of a real four-validator chain, with
// the validators' keys, so tests can replay it and forge what only the
// validators could sign.
type realChain struct {
	chainID   string
	genesis   []byte
	blocks    []protocol.SyncBlock
	keys      testchain.Keys
	baseDir   string // a pRuntime data dir whose identity the pings target
	worker    ed25519.PublicKey
	valChange int64 // a block whose header names a new validator set
	multi     int64 // a block with at least two messages
}

// recordRealChain runs a four-validator testnet with pings to a worker,
// back-to-back pushes and a validator-set change, records its first blocks
// and stops it.
func recordRealChain(t *testing.T) *realChain {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rc := &realChain{baseDir: t.TempDir(), valChange: -1, multi: -1}
	provider, err := sim.Open(rc.baseDir)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: rc.baseDir, TEE: provider, Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	rc.worker = rt.IdentityForTest()

	tn := nodetest.Start(t, 4, 100*time.Millisecond)
	defer tn.StopAll()
	rc.chainID = tn.Options.ChainID
	for i := range 4 {
		k := tn.ValidatorKey(i)
		if rc.keys == nil {
			rc.keys = testchain.KeysOf(k)
		} else {
			rc.keys[string(k.PubKey().Address())] = k
		}
	}
	c := tn.Client(ctx, 0)
	dev := tn.Keys.Dev[0]
	for i := range 3 {
		call, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: protocol.WorkerPingTopic(rc.worker), Payload: []byte{byte(i)}})
		if r, err := c.Send(ctx, dev, call); err != nil || r.Err != nil {
			t.Fatalf("ping %d: %v %v", i, err, r)
		}
	}
	// Back-to-back pushes, so that some block carries several messages.
	acc, err := c.AccountUnverified(ctx, dev.Address())
	if err != nil {
		t.Fatal(err)
	}
	var last []byte
	for i := range 8 {
		call, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: "burst", Payload: []byte{byte(i)}})
		raw := protocol.SignTx(dev.Private, protocol.Tx{ChainID: rc.chainID, Nonce: acc.Nonce + uint64(i), Fee: protocol.DefaultParams().MinFee, Call: call})
		if last, err = c.Broadcast(ctx, raw); err != nil {
			t.Fatalf("burst %d: %v", i, err)
		}
	}
	if _, err := c.WaitTx(ctx, last); err != nil {
		t.Fatal(err)
	}
	// A real validator-set change: validator 3 halves its power.
	pub3 := tn.ValidatorKey(3).PubKey().Bytes()
	call, err := sdk.GovExecute(rc.chainID, 0, protocol.ActionUpdateValidators,
		protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pub3, Power: 5}}}, tn.Keys.Admin)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Send(ctx, dev, call)
	if err != nil || r.Err != nil {
		t.Fatalf("validator update: %v %v", err, r)
	}
	tn.WaitHeight(ctx, 0, r.Height+6)

	f, err := fetch.Dial(tn.RPCAddr(0), 200)
	if err != nil {
		t.Fatal(err)
	}
	if rc.genesis, err = f.Genesis(ctx); err != nil {
		t.Fatal(err)
	}
	if rc.blocks, err = f.Blocks(ctx, 0, r.Height+4); err != nil {
		t.Fatal(err)
	}
	for _, b := range rc.blocks {
		if len(b.NextValidators) > 0 && rc.valChange < 0 {
			rc.valChange = b.Height
		}
		if len(b.Messages.Messages) >= 2 && rc.multi < 0 {
			rc.multi = b.Height
		}
	}
	if rc.valChange < 0 || rc.multi < 0 {
		t.Fatalf("history lacks a validator change (%d) or a multi-message block (%d)", rc.valChange, rc.multi)
	}
	return rc
}

// fresh starts a pRuntime with the recorded identity, synced up to (not
// including) block k.
func (rc *realChain) fresh(t *testing.T, k int64) *node {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, rc.baseDir, dir)
	n := startNode(t, dir, options{every: 1000})
	n.init(rc.genesis)
	if k > 0 {
		n.mustSync(rc.blocks[:k]...)
	}
	return n
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// parts decodes a recorded block for tampering.
type parts struct {
	header *types.Header
	commit *types.Commit
	next   *types.ValidatorSet
	msgs   protocol.BlockMessages
	height int64
	set    *types.ValidatorSet // the set that signed the header
}

func (rc *realChain) parts(t *testing.T, k int64) *parts {
	t.Helper()
	b := rc.blocks[k]
	sh, err := light.DecodeSignedHeader(b.SignedHeader)
	if err != nil {
		t.Fatal(err)
	}
	next, err := light.DecodeValidatorSet(b.NextValidators)
	if err != nil {
		t.Fatal(err)
	}
	// The signing set is the one the previous header named as next.
	set := rc.signingSet(t, k)
	h := *sh.Header
	msgs := protocol.BlockMessages{StateRoot: b.Messages.StateRoot, Messages: append([][]byte(nil), b.Messages.Messages...)}
	return &parts{header: &h, commit: sh.Commit, next: next, msgs: msgs, height: b.Height, set: set}
}

func (rc *realChain) signingSet(t *testing.T, k int64) *types.ValidatorSet {
	t.Helper()
	root, err := light.NewTrustRoot(rc.genesis, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := root.Validators
	for i := int64(0); i < k; i++ {
		if nv, _ := light.DecodeValidatorSet(rc.blocks[i].NextValidators); nv != nil {
			set = nv
		}
	}
	return set
}

// resign makes the validators sign the (modified) header, with the app hash
// recomputed from the (modified) messages when rehash is set.
func (p *parts) resign(rc *realChain, rehash bool) {
	if rehash {
		p.header.AppHash = p.msgs.AppHash()
	}
	p.commit = testchain.Sign(rc.chainID, rc.keys, p.header, p.set, nil)
}

func (p *parts) encode(t *testing.T) protocol.SyncBlock {
	t.Helper()
	shb, err := (&types.SignedHeader{Header: p.header, Commit: p.commit}).ToProto().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sb := protocol.SyncBlock{Height: p.height, SignedHeader: shb, Messages: p.msgs}
	if p.next != nil {
		sb.NextValidators = testchain.EncodeValidatorSet(p.next)
	}
	return sb
}

// TestAdversarialRelayer replays a real four-validator chain into pRuntime
// and, case by case, feeds it forged, altered, reordered, replayed or
// skipped input. Each is refused with its specific error and leaves synced
// height, app hash, egress and checkpoints exactly as they were; the honest
// block is accepted right after.
func TestAdversarialRelayer(t *testing.T) {
	rc := recordRealChain(t)
	msgBlock := rc.multi
	type tamper func(t *testing.T, p *parts)
	editHeader := func(edit func(h *types.Header), resign bool) tamper {
		return func(t *testing.T, p *parts) {
			edit(p.header)
			if resign {
				p.resign(rc, false)
			}
		}
	}
	editMessages := func(edit func(m *protocol.BlockMessages), resign bool) tamper {
		return func(t *testing.T, p *parts) {
			edit(&p.msgs)
			if resign {
				p.resign(rc, true)
			}
		}
	}
	reseq := func(t *testing.T, enc []byte, delta int64) []byte {
		m, err := protocol.DecodeMessage(enc)
		if err != nil {
			t.Fatal(err)
		}
		m.Seq = uint64(int64(m.Seq) + delta)
		return m.Encode()
	}
	cases := []struct {
		name string
		at   int64
		tamp tamper
		want *protocol.Error
	}{
		// Header tampering.
		{"header app hash", msgBlock, editHeader(func(h *types.Header) { h.AppHash = tmhash.Sum([]byte("x")) }, false), protocol.ErrLightHeader},
		{"header app hash signed by the validators", msgBlock, editHeader(func(h *types.Header) { h.AppHash = tmhash.Sum([]byte("x")) }, true), protocol.ErrAppHashMismatch},
		{"header time", 5, editHeader(func(h *types.Header) { h.Time = h.Time.Add(time.Hour) }, false), protocol.ErrLightHeader},
		{"header time not increasing", 5, editHeader(func(h *types.Header) { h.Time = rc.timeOf(t, 5) }, true), protocol.ErrLightTime},
		{"header chain id", 5, editHeader(func(h *types.Header) { h.ChainID = "evil" }, true), protocol.ErrLightChainID},
		{"header validators hash", 5, editHeader(func(h *types.Header) { h.ValidatorsHash = tmhash.Sum([]byte("x")) }, true), protocol.ErrLightValidatorsHash},
		{"header next validators hash", 5, editHeader(func(h *types.Header) { h.NextValidatorsHash = tmhash.Sum([]byte("x")) }, true), protocol.ErrLightNextValidators},
		{"header last block id", 5, editHeader(func(h *types.Header) { h.LastBlockID.Hash = tmhash.Sum([]byte("x")) }, true), protocol.ErrLightLastBlockID},
		// Bad commits.
		{"commit below two thirds", 5, func(t *testing.T, p *parts) {
			p.commit = testchain.Sign(rc.chainID, rc.keys, p.header, p.set, []int{0, 1})
		}, protocol.ErrLightCommit},
		{"commit padded with duplicate signatures", 5, func(t *testing.T, p *parts) {
			p.commit = testchain.Sign(rc.chainID, rc.keys, p.header, p.set, []int{0, 1})
			for _, i := range []int{2, 3} {
				dup := p.commit.Signatures[0]
				dup.ValidatorAddress = p.set.Validators[i].Address
				p.commit.Signatures[i] = dup
			}
		}, protocol.ErrLightCommit},
		{"commit by a foreign validator set", 5, func(t *testing.T, p *parts) {
			foreign := testchain.New("foreign", 4)
			p.commit = foreign.Sign(p.header, foreign.Validators(), nil)
		}, protocol.ErrLightCommit},
		{"forged next validator set", rc.valChange, func(t *testing.T, p *parts) {
			intruder := testchain.New("intruder", 1)
			p.next = intruder.Validators()
		}, protocol.ErrLightNextValidators},
		{"validator change without its set", rc.valChange, func(t *testing.T, p *parts) { p.next = nil }, protocol.ErrLightNextValidators},
		// Sequence and replay.
		{"fork signed by another key set", 5, func(t *testing.T, p *parts) {
			fork := testchain.New("fork", 4)
			set := fork.Validators()
			p.header.ValidatorsHash, p.header.NextValidatorsHash = set.Hash(), set.Hash()
			p.msgs.Messages = nil
			p.header.AppHash = p.msgs.AppHash()
			p.commit = fork.Sign(p.header, set, nil)
		}, protocol.ErrLightValidatorsHash},
		// Message list.
		{"message tampered", msgBlock, editMessages(func(m *protocol.BlockMessages) {
			m.Messages[0] = append(append([]byte(nil), m.Messages[0]...), 0)
		}, false), protocol.ErrAppHashMismatch},
		{"message dropped", msgBlock, editMessages(func(m *protocol.BlockMessages) { m.Messages = m.Messages[1:] }, false), protocol.ErrAppHashMismatch},
		{"message added", msgBlock, editMessages(func(m *protocol.BlockMessages) { m.Messages = append(m.Messages, m.Messages[0]) }, false), protocol.ErrAppHashMismatch},
		{"messages swapped", msgBlock, editMessages(func(m *protocol.BlockMessages) {
			m.Messages[0], m.Messages[1] = m.Messages[1], m.Messages[0]
		}, false), protocol.ErrAppHashMismatch},
		{"state root substituted", msgBlock, editMessages(func(m *protocol.BlockMessages) { m.StateRoot = tmhash.Sum([]byte("x")) }, false), protocol.ErrAppHashMismatch},
		{"origin sequence gap, signed by the validators", msgBlock, func(t *testing.T, p *parts) {
			p.msgs.Messages[0] = reseq(t, p.msgs.Messages[0], 1)
			p.resign(rc, true)
		}, protocol.ErrSeqGap},
		{"origin sequence repeated, signed by the validators", msgBlock, func(t *testing.T, p *parts) {
			p.msgs.Messages = append([][]byte{p.msgs.Messages[0]}, p.msgs.Messages...)
			p.resign(rc, true)
		}, protocol.ErrSeqRepeat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := rc.fresh(t, tc.at)
			before := n.observe()
			p := rc.parts(t, tc.at)
			tc.tamp(t, p)
			_, err := n.sync(p.encode(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !before.equal(n.observe()) {
				t.Fatal("refused input changed pRuntime's state")
			}
			if _, err := n.sync(rc.blocks[tc.at]); err != nil {
				t.Fatalf("honest block %d after the refusal: %v", tc.at, err)
			}
		})
	}

	t.Run("skipped height", func(t *testing.T) {
		n := rc.fresh(t, 5)
		before := n.observe()
		if _, err := n.sync(rc.blocks[6]); !errors.Is(err, protocol.ErrBlockGap) {
			t.Fatalf("got %v", err)
		}
		if !before.equal(n.observe()) {
			t.Fatal("state changed")
		}
	})
	t.Run("already applied blocks are acknowledged without effect", func(t *testing.T) {
		n := rc.fresh(t, 8)
		before := n.observe()
		resp, err := n.sync(rc.blocks[3:8]...)
		if err != nil || resp.Skipped != 5 || resp.Applied != 0 {
			t.Fatalf("resend: %+v %v", resp, err)
		}
		if !before.equal(n.observe()) {
			t.Fatal("state changed")
		}
	})
	t.Run("fork of the last verified header", func(t *testing.T) {
		n := rc.fresh(t, msgBlock+1)
		before := n.observe()
		p := rc.parts(t, msgBlock)
		p.msgs.Messages = nil
		p.resign(rc, true)
		if _, err := n.sync(p.encode(t)); !errors.Is(err, protocol.ErrBlockMismatch) {
			t.Fatalf("got %v", err)
		}
		if !before.equal(n.observe()) {
			t.Fatal("state changed")
		}
	})
	t.Run("whole history syncs and answers every ping", func(t *testing.T) {
		n := rc.fresh(t, 0)
		resp, err := n.sync(rc.blocks...)
		if err != nil || resp.Applied != len(rc.blocks) {
			t.Fatalf("%+v %v", resp, err)
		}
		if info := n.info(); info.EgressNextSeq != 3 || !bytes.Equal(info.WorkerPubkey, rc.worker) {
			t.Fatalf("egress next %d after 3 pings", info.EgressNextSeq)
		}
	})
	t.Run("kill -9 during sync resumes to the same state", func(t *testing.T) { testKillDuringSync(t, rc) })
}

// timeOf is the time of header k (the previous header of block k).
func (rc *realChain) timeOf(t *testing.T, k int64) time.Time {
	t.Helper()
	sh, err := light.DecodeSignedHeader(rc.blocks[k-1].SignedHeader)
	if err != nil {
		t.Fatal(err)
	}
	return sh.Header.Time
}
