package pruntime_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// syncFuzzBase is a real chain of testchain (headers and commits signed by
// real keys, a validator-set change, blocks of several messages) and a
// pRuntime that applied its first blocks, driven through its private API
// handler.
type syncFuzzBase struct {
	c       *testchain.Chain
	foreign *testchain.Chain
	parts   []*testchain.Parts // blocks 0..len-1 of c
	other   []*testchain.Parts // the same heights of another chain
	rt      *pruntime.Runtime
	handler http.Handler
	snap    []byte
	before  fuzzState
}

// syncFuzzApplied is how many blocks the runtime applied: blocks below are
// acknowledgements, syncFuzzApplied is the next block, above are gaps.
const syncFuzzApplied = 4

func newSyncFuzzBase(f *testing.F) *syncFuzzBase {
	dir := f.TempDir()
	provider, err := sim.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: 1 << 40})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(rt.Kill)
	b := &syncFuzzBase{c: testchain.New("fuzz-sync", 4), foreign: testchain.New("fuzz-sync-foreign", 4), rt: rt}
	b.handler = api.New(rt, logging.Discard(), nil).Private()
	worker := rt.IdentityForTest()
	a, g := protocol.AccountOrigin(protocol.Address{1}), protocol.ModuleOrigin(protocol.ModuleRegistry)
	for h := range 8 {
		var msgs []protocol.Message
		switch h {
		case 1, 3, 4:
			msgs = append(msgs, b.c.Msg(a, protocol.WorkerPingTopic(worker), []byte{byte(h)}), b.c.Msg(g, "other", nil))
		case 5:
			for i := range 5 {
				msgs = append(msgs, b.c.Msg(a, "burst", []byte{byte(i)}))
			}
		case 2:
			set := b.c.Validators().Copy()
			set.Validators[0].VotingPower = 5
			b.c.SetNextValidators(types.NewValidatorSet(set.Validators))
		}
		b.parts = append(b.parts, b.c.NextParts(msgs))
		b.other = append(b.other, b.foreign.NextParts(nil))
	}
	if err := rt.Init(b.c.GenesisJSON()); err != nil {
		f.Fatal(err)
	}
	var first []protocol.SyncBlock
	for _, p := range b.parts[:syncFuzzApplied] {
		first = append(first, p.Encode())
	}
	if _, err := rt.Sync(&protocol.SyncRequest{Blocks: first}); err != nil {
		f.Fatal(err)
	}
	b.snap = rt.SnapshotForTest()
	b.before = b.state(f)
	return b
}

// fuzzState is what a refused request must leave unchanged.
type fuzzState struct {
	height  int64
	appHash []byte
	next    uint64
	egress  [][]byte
}

func (b *syncFuzzBase) state(t testing.TB) fuzzState {
	info := b.rt.Info()
	e, err := b.rt.Egress(-1, api.MaxEgressPage)
	if err != nil {
		t.Fatal(err)
	}
	return fuzzState{height: info.SyncedHeight, appHash: info.AppHash, next: info.EgressNextSeq, egress: e.Messages}
}

func (s fuzzState) equal(o fuzzState) bool {
	return s.height == o.height && bytes.Equal(s.appHash, o.appHash) && s.next == o.next &&
		slices.EqualFunc(s.egress, o.egress, bytes.Equal)
}

// post sends body to an API handler and decodes the answer.
func post(t *testing.T, h http.Handler, path string, body []byte) (int, api.ErrorBody, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	var eb api.ErrorBody
	if rec.Code != http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
			t.Fatalf("%s answered %d with a body that is not an error: %q", path, rec.Code, rec.Body.Bytes())
		}
	}
	return rec.Code, eb, rec.Body.Bytes()
}

// checkRefusal requires a refusal with a code of the runtime, light or
// dispatch space that is not runtime/7 (a contained panic is still a bug).
func checkRefusal(t *testing.T, status int, eb api.ErrorBody) {
	t.Helper()
	switch eb.Error.Space {
	case protocol.SpaceRuntime, protocol.SpaceLight, protocol.SpaceDispatch:
	default:
		t.Fatalf("HTTP %d, refusal outside the runtime, light and dispatch spaces: %+v", status, eb.Error)
	}
	if status == http.StatusInternalServerError || eb.Error.Space == protocol.SpaceRuntime && eb.Error.Code == protocol.ErrRuntimeInternal.Code {
		t.Fatalf("HTTP %d: %+v", status, eb.Error)
	}
}

// FuzzSyncStructure mutates the decoded fields of real sync requests —
// heights, headers, commits, validator sets, message lists; to nil, empty,
// extreme, negative, duplicated, dropped, swapped, oversized, or taken from
// another height or another chain — re-encodes them and posts them to
// pRuntime's private API. Every answer is a success or a refusal with a
// runtime, light or dispatch code; no refusal changes state; a success
// applied only canonical blocks.
//
// Longer runs: go test ./internal/pruntime -run '^$' -fuzz FuzzSyncStructure -fuzztime 10m
func FuzzSyncStructure(f *testing.F) {
	b := newSyncFuzzBase(f)
	for op := range uint8(syncMutations) {
		for _, start := range []uint8{1, 3, 4} {
			f.Add(start, uint8(2), op, uint8(0), uint16(1), int64(-1), []byte{})
		}
	}
	f.Add(uint8(4), uint8(1), uint8(4), uint8(3), uint16(0), int64(math.MaxInt64), []byte("x"))
	f.Add(uint8(2), uint8(3), uint8(6), uint8(5), uint16(2), int64(math.MinInt64), bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, start, count, op, field uint8, idx uint16, val int64, data []byte) {
		start %= uint8(len(b.parts))
		count = 1 + count%4
		var blocks []protocol.SyncBlock
		for i := int(start); i < int(start)+int(count) && i < len(b.parts); i++ {
			blocks = append(blocks, b.parts[i].Encode())
		}
		m := mutation{b: b, blocks: blocks, field: field, idx: int(idx), val: val, data: data}
		m.apply(t, op%syncMutations)
		body, err := protocol.Marshal(&protocol.SyncRequest{Blocks: m.blocks})
		if err != nil {
			t.Skip("not encodable")
		}
		status, eb, out := post(t, b.handler, "/v1/sync", body)
		after := b.state(t)
		applied := 0
		if status != http.StatusOK {
			checkRefusal(t, status, eb)
			if eb.Sync != nil {
				applied = eb.Sync.Applied
			}
		} else {
			var resp protocol.SyncResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			applied = resp.Applied
		}
		if applied == 0 {
			if !after.equal(b.before) {
				t.Fatalf("HTTP %d %+v: nothing applied, but state changed", status, eb.Error)
			}
			return
		}
		// Something was applied: it must be the canonical chain.
		if after.height <= syncFuzzApplied || !bytes.Equal(after.appHash, b.parts[after.height-1].Header.AppHash) {
			t.Fatalf("applied a non-canonical block: height %d app hash %X", after.height, after.appHash)
		}
		if err := b.rt.RestoreForTest(b.snap); err != nil {
			t.Fatal(err)
		}
	})
}

const syncMutations = 14

// mutation is one structural change to a request's decoded blocks.
type mutation struct {
	b      *syncFuzzBase
	blocks []protocol.SyncBlock
	field  uint8
	idx    int
	val    int64
	data   []byte
}

func (m *mutation) block() *protocol.SyncBlock { return &m.blocks[m.idx%len(m.blocks)] }

func (m *mutation) apply(t *testing.T, op uint8) {
	sb := m.block()
	switch op {
	case 0: // extreme or negative height
		sb.Height = m.val
	case 1: // neighbouring height
		sb.Height += m.val % 3
	case 2: // no signed header
		sb.SignedHeader = nil
	case 3: // arbitrary signed header bytes
		sb.SignedHeader = m.data
	case 4:
		m.editHeader(t, sb)
	case 5:
		m.editCommit(t, sb)
	case 6:
		m.editValidators(t, sb)
	case 7:
		m.editMessages(sb)
	case 8: // a field from another height
		o := m.b.parts[m.idx%len(m.b.parts)].Encode()
		switch m.field % 4 {
		case 0:
			sb.SignedHeader = o.SignedHeader
		case 1:
			sb.Messages = o.Messages
		case 2:
			sb.NextValidators = o.NextValidators
		case 3:
			*sb = o
		}
	case 9: // a field from another chain, same height
		o := m.b.other[int(uint64(sb.Height)%uint64(len(m.b.other)))].Encode()
		if m.field%2 == 0 {
			sb.SignedHeader = o.SignedHeader
		} else {
			sb.Messages = o.Messages
		}
	case 10: // swap two blocks
		j := int(m.field) % len(m.blocks)
		i := m.idx % len(m.blocks)
		m.blocks[i], m.blocks[j] = m.blocks[j], m.blocks[i]
	case 11: // duplicate a block
		m.blocks = slices.Insert(m.blocks, m.idx%len(m.blocks), *sb)
	case 12: // drop a block
		if len(m.blocks) > 1 {
			m.blocks = slices.Delete(m.blocks, m.idx%len(m.blocks), m.idx%len(m.blocks)+1)
		}
	case 13: // oversized next validator set
		sb.NextValidators = bytes.Repeat(append([]byte{}, sb.SignedHeader...), 1+int(m.field)%8)
	}
}

// editHeader changes one header field, and re-signs it with the real
// validators' keys when the field's high bit is set (a forgery only the
// validators could make).
func (m *mutation) editHeader(t *testing.T, sb *protocol.SyncBlock) {
	sh := testchain.DecodeSignedHeader(sb.SignedHeader)
	h := *sh.Header
	switch m.field % 10 {
	case 0:
		h.Height = m.val
	case 1:
		h.Time = time.Unix(0, m.val).UTC()
	case 2:
		h.ChainID = string(m.data)
	case 3:
		h.LastBlockID.Hash = m.data
	case 4:
		h.AppHash = m.data
	case 5:
		h.ValidatorsHash = m.data
	case 6:
		h.NextValidatorsHash = m.data
	case 7:
		h.ProposerAddress = m.data
	case 8:
		h.Version.Block = uint64(m.val)
	case 9:
		h.LastBlockID.PartSetHeader.Total = uint32(m.val)
	}
	commit := sh.Commit
	if m.field&0x80 != 0 {
		commit = testchain.Sign(m.b.c.ID, m.b.c.Keys(), &h, m.b.c.Validators(), nil)
	}
	sb.SignedHeader = encodeSignedHeader(t, &h, commit)
}

func (m *mutation) editCommit(t *testing.T, sb *protocol.SyncBlock) {
	sh := testchain.DecodeSignedHeader(sb.SignedHeader)
	c := *sh.Commit
	c.Signatures = slices.Clone(c.Signatures)
	i := m.idx % len(c.Signatures)
	switch m.field % 10 {
	case 0:
		c.Signatures = c.Signatures[:i]
	case 1:
		c.Signatures[i] = c.Signatures[0]
	case 2:
		j := int(m.val) % len(c.Signatures)
		if j < 0 {
			j = -j
		}
		c.Signatures[i], c.Signatures[j] = c.Signatures[j], c.Signatures[i]
	case 3:
		c.Height = m.val
	case 4:
		c.Round = int32(m.val)
	case 5:
		c.BlockID.Hash = m.data
	case 6:
		c.BlockID.PartSetHeader.Total = uint32(m.val)
	case 7:
		c.Signatures[i].Signature = m.data
	case 8:
		c.Signatures[i].BlockIDFlag = types.BlockIDFlag(m.val)
	case 9:
		c.Signatures = append(c.Signatures, c.Signatures...)
	}
	sb.SignedHeader = encodeSignedHeader(t, sh.Header, &c)
}

func (m *mutation) editValidators(t *testing.T, sb *protocol.SyncBlock) {
	pb, err := m.b.c.Validators().ToProto()
	if err != nil {
		t.Fatal(err)
	}
	i := m.idx % len(pb.Validators)
	switch m.field % 9 {
	case 0:
		pb.Validators[i].PubKeyBytes, pb.Validators[i].PubKeyType = nil, ""
	case 1:
		pb.Validators[i].VotingPower = m.val
	case 2:
		pb.Validators = append(pb.Validators, pb.Validators[i])
	case 3:
		pb.Validators = slices.Delete(pb.Validators, i, i+1)
	case 4:
		pb.Proposer = nil
	case 5:
		pb.Validators[i].PubKeyBytes = m.data
	case 6:
		pb.Validators[i].Address = m.data
	case 7:
		pb.Validators[0], pb.Validators[i] = pb.Validators[i], pb.Validators[0]
	case 8:
		pb.TotalVotingPower = m.val
	}
	sb.NextValidators, err = pb.Marshal()
	if err != nil {
		t.Skip("not encodable")
	}
}

func (m *mutation) editMessages(sb *protocol.SyncBlock) {
	msgs := slices.Clone(sb.Messages.Messages)
	if len(msgs) == 0 {
		msgs = [][]byte{m.data}
	}
	i := m.idx % len(msgs)
	switch m.field % 7 {
	case 0:
		msgs = slices.Delete(msgs, i, i+1)
	case 1:
		msgs = slices.Insert(msgs, i, msgs[i])
	case 2:
		msgs[0], msgs[i] = msgs[i], msgs[0]
	case 3:
		msgs[i] = m.data
	case 4:
		msgs = nil
	case 5:
		sb.Messages.StateRoot = m.data
	case 6:
		for range 1 + int(m.val&0xfff) {
			msgs = append(msgs, msgs[i])
		}
	}
	sb.Messages.Messages = msgs
}

func encodeSignedHeader(t *testing.T, h *types.Header, c *types.Commit) []byte {
	pb := &cmtproto.SignedHeader{Header: h.ToProto(), Commit: c.ToProto()}
	b, err := pb.Marshal()
	if err != nil {
		t.Skip("not encodable")
	}
	return b
}
