package pruntime_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

var alice = protocol.AccountOrigin(protocol.Address{1})

func TestSyncAppliesBlocksAndAnswersPings(t *testing.T) {
	c := testchain.New("rt-ping", 4)
	n := startNode(t, t.TempDir(), options{})
	n.init(c.GenesisJSON())
	ping := protocol.WorkerPingTopic(n.pub())
	resp, err := n.sync(
		c.Next(),
		c.Next(c.Msg(alice, ping, []byte("hi")), c.Msg(alice, "other", nil)),
		c.Next(c.Msg(alice, ping, []byte("again"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Applied != 3 || resp.SyncedHeight != 3 {
		t.Fatalf("sync response %+v", resp)
	}
	msgs, next, err := n.private.Egress(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || next != 2 {
		t.Fatalf("egress %d messages, next %d; want 2, 2", len(msgs), next)
	}
	for i, sm := range msgs {
		if err := sm.VerifySignature(c.ID); err != nil {
			t.Fatalf("egress %d: %v", i, err)
		}
		var pong pruntime.Pong
		if err := protocol.Unmarshal(sm.Message.Payload, &pong); err != nil {
			t.Fatal(err)
		}
		if sm.Message.Seq != uint64(i) || sm.Message.Topic != pruntime.PongTopic(n.pub()) || pong.Seq != uint64(2*i) {
			t.Fatalf("egress %d = seq %d topic %s answering seq %d", i, sm.Message.Seq, sm.Message.Topic, pong.Seq)
		}
	}
	// The first pong lands on chain: it leaves the queue.
	n.mustSync(c.Next(msgs[0].Message))
	left, _, err := n.private.Egress(context.Background(), -1)
	if err != nil || len(left) != 1 || left[0].Message.Seq != 1 {
		t.Fatalf("after landing: %d left (%v)", len(left), err)
	}
	if after, _, _ := n.private.Egress(context.Background(), 1); len(after) != 0 {
		t.Fatalf("egress after=1 returned %d", len(after))
	}
}

func TestRegisteredFollowsTheVerifiedRegistry(t *testing.T) {
	c := testchain.New("rt-registry", 1)
	n := startNode(t, t.TempDir(), options{})
	n.init(c.GenesisJSON())
	info := n.info()
	event := func(kind string, enc []byte) protocol.Message {
		ev := protocol.WorkerEvent{Kind: kind, Worker: protocol.WorkerSummary{Pubkey: n.pub(), EncryptionKey: enc, AttestationKind: "sim"}}
		return c.Msg(protocol.ModuleOrigin(protocol.ModuleRegistry), protocol.TopicWorker, protocol.MustMarshal(&ev))
	}
	n.mustSync(c.Next(event(protocol.WorkerRegistered, []byte("an earlier boot's key"))))
	if n.info().Registered {
		t.Fatal("registered with another boot's key")
	}
	n.mustSync(c.Next(event(protocol.WorkerRegistered, info.EncryptionPubkey)))
	if !n.info().Registered {
		t.Fatal("not registered with the current key")
	}
	n.mustSync(c.Next(event(protocol.WorkerExpired, nil)))
	if n.info().Registered {
		t.Fatal("still registered after expiry")
	}
}

func TestInitBindsOneGenesis(t *testing.T) {
	c := testchain.New("rt-init", 1)
	n := startNode(t, t.TempDir(), options{})
	ctx := context.Background()
	if _, err := n.sync(c.Next()); !errors.Is(err, protocol.ErrNotInitialized) {
		t.Fatalf("sync before init: %v", err)
	}
	if _, err := n.public.Attestation(ctx); !errors.Is(err, protocol.ErrNotInitialized) {
		t.Fatalf("attestation before init: %v", err)
	}
	n.init(c.GenesisJSON())
	n.init(c.GenesisJSON()) // the same genesis again: accepted, no change
	other := testchain.New("rt-init-other", 1)
	if _, err := n.private.Init(ctx, other.GenesisJSON()); !errors.Is(err, protocol.ErrGenesisMismatch) {
		t.Fatalf("re-init with another genesis: %v", err)
	}
	if _, err := n.private.Init(ctx, []byte(`{"not":"a genesis"}`)); !errors.Is(err, protocol.ErrBadGenesis) {
		t.Fatalf("garbage genesis: %v", err)
	}
	if got := n.info(); got.ChainID != c.ID {
		t.Fatalf("bound to %q", got.ChainID)
	}
}

func TestCompiledTrustRootRefusesAnyOtherGenesis(t *testing.T) {
	c := testchain.New("rt-pinned", 1)
	doc, _ := protocol.ParseGenesisDoc(c.GenesisJSON())
	hash, _ := protocol.GenesisHash(doc)
	n := startNode(t, t.TempDir(), options{pinned: hash})
	other := testchain.New("rt-pinned-other", 1)
	if _, err := n.private.Init(context.Background(), other.GenesisJSON()); !errors.Is(err, protocol.ErrTrustRoot) {
		t.Fatalf("other genesis: %v", err)
	}
	n.init(c.GenesisJSON())
	if info := n.info(); !info.TrustRootPinned || !bytes.Equal(info.GenesisHash, hash) {
		t.Fatalf("info %+v", info)
	}
}

func TestAttestationBindsKeysAndChain(t *testing.T) {
	c := testchain.New("rt-attest", 1)
	n := startNode(t, t.TempDir(), options{})
	n.init(c.GenesisJSON())
	if _, err := n.public.Attestation(context.Background()); !errors.Is(err, protocol.ErrNotSynced) {
		t.Fatalf("attestation before any verified block: %v", err)
	}
	n.mustSync(c.Next(), c.Next())
	a, err := n.public.Attestation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	info := n.info()
	if !bytes.Equal(a.WorkerPubkey, info.WorkerPubkey) || !bytes.Equal(a.EncryptionPubkey, info.EncryptionPubkey) || a.ChainID != c.ID {
		t.Fatal("attestation does not name this worker's keys and chain")
	}
	sh := testchain.DecodeSignedHeader(c.LastEncoded().SignedHeader)
	if a.Height != 2 || !bytes.Equal(a.BlockHash, sh.Commit.BlockID.Hash) {
		t.Fatalf("attestation binds block %d %X, want the last verified header 2 %X", a.Height, []byte(a.BlockHash), sh.Commit.BlockID.Hash)
	}
	q, err := sim.Verify(a.Quote)
	if err != nil || !bytes.Equal(q.ReportData, a.ReportData()) {
		t.Fatalf("quote does not carry the report data: %v", err)
	}
}

// TestNoSecretAtRest scans every file pRuntime wrote (identity, checkpoints)
// for every secret it holds, raw and hex-encoded. The sim TEE's own secret
// file stands in for hardware and is the one exception.
func TestNoSecretAtRest(t *testing.T) {
	c := testchain.New("rt-secrets", 4)
	dir := t.TempDir()
	n := startNode(t, dir, options{every: 2})
	n.init(c.GenesisJSON())
	for range 6 {
		n.mustSync(c.Next(c.Msg(alice, protocol.WorkerPingTopic(n.pub()), []byte("x"))))
	}
	if err := n.private.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	secrets := n.rt.SecretsForTest()
	n.stop(true)
	scanned := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "sim-seal-secret" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned++
		for name, s := range secrets {
			for _, form := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(strings.ToUpper(hex.EncodeToString(s)))} {
				if bytes.Contains(b, form) {
					t.Errorf("%s found in %s", name, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 3 {
		t.Fatalf("only %d files scanned", scanned)
	}
}

func TestRestartResumesFromCheckpointAndKeepsIdentity(t *testing.T) {
	c := testchain.New("rt-restart", 4)
	dir := t.TempDir()
	n := startNode(t, dir, options{every: 3})
	n.init(c.GenesisJSON())
	var blocks []protocol.SyncBlock
	for range 10 {
		blocks = append(blocks, c.Next(c.Msg(alice, protocol.WorkerPingTopic(n.pub()), nil)))
	}
	n.mustSync(blocks[:4]...) // checkpoint at 4
	n.mustSync(blocks[4:6]...)
	before := n.info()
	n.stop(false) // crash at 6: the last checkpoint is at 4

	again := startNode(t, dir, options{every: 3})
	info := again.info()
	if !bytes.Equal(info.WorkerPubkey, before.WorkerPubkey) {
		t.Fatal("identity changed across restart")
	}
	if bytes.Equal(info.EncryptionPubkey, before.EncryptionPubkey) {
		t.Fatal("encryption key survived a restart")
	}
	if info.SyncedHeight != 4 {
		t.Fatalf("resumed at %d, want the checkpoint at 4", info.SyncedHeight)
	}
	resp, err := again.sync(blocks[2:]...) // overlaps what it has: acknowledged
	if err != nil || resp.Skipped != 2 || resp.Applied != 6 || resp.SyncedHeight != 10 {
		t.Fatalf("resume: %+v %v", resp, err)
	}
	if got := again.info(); got.EgressNextSeq != 10 {
		t.Fatalf("egress next seq %d after 10 pings", got.EgressNextSeq)
	}
}

func TestCorruptNewestCheckpointFallsBack(t *testing.T) {
	c := testchain.New("rt-corrupt", 1)
	dir := t.TempDir()
	n := startNode(t, dir, options{every: 2})
	n.init(c.GenesisJSON())
	for range 6 {
		n.mustSync(c.Next())
	}
	n.stop(false)
	ckpts, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "checkpoint-*.sealed"))
	if len(ckpts) != 3 {
		t.Fatalf("%d checkpoints kept, want 3", len(ckpts))
	}
	newest := ckpts[len(ckpts)-1]
	b, _ := os.ReadFile(newest)
	os.WriteFile(newest, b[:len(b)/2], 0o600) // truncated
	again := startNode(t, dir, options{every: 2})
	if h := again.info().SyncedHeight; h != 4 {
		t.Fatalf("resumed at %d, want the previous checkpoint at 4", h)
	}
}

func TestAPIRefusesMalformedAndOversizedBodies(t *testing.T) {
	c := testchain.New("rt-malformed", 1)
	n := startNode(t, t.TempDir(), options{})
	n.init(c.GenesisJSON())
	block := c.Next()
	good := protocol.MustMarshal(&protocol.SyncRequest{Blocks: []protocol.SyncBlock{block}})
	badHeader := block
	badHeader.SignedHeader = badHeader.SignedHeader[:len(badHeader.SignedHeader)/2]
	cases := []struct {
		name string
		body []byte
		want *protocol.Error
	}{
		{"truncated", good[:len(good)-5], protocol.ErrSyncMalformed},
		{"JSON instead of CBOR", []byte(`{"blocks":[]}`), protocol.ErrSyncMalformed},
		{"empty", nil, protocol.ErrSyncMalformed},
		{"no blocks", protocol.MustMarshal(&protocol.SyncRequest{}), protocol.ErrBadRequest},
		{"truncated header inside", protocol.MustMarshal(&protocol.SyncRequest{Blocks: []protocol.SyncBlock{badHeader}}), protocol.ErrLightDecode},
		{"oversized", make([]byte, api.MaxSyncBody+1), protocol.ErrBodyTooLarge},
	}
	before := n.observe()
	for _, tc := range cases {
		_, err := n.private.SyncRaw(context.Background(), tc.body)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if !before.equal(n.observe()) {
		t.Fatal("refused bodies changed state")
	}
	// Other endpoints and methods answer JSON errors with stable codes.
	resp, err := http.Get("http://" + n.ls.PrivateAddr + "/v1/sync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/sync: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := sdk.NewPRuntime(n.ls.PublicAddr).Sync(context.Background(), &protocol.SyncRequest{Blocks: []protocol.SyncBlock{c.Next()}}); !errors.Is(err, protocol.ErrNotFound) {
		t.Fatalf("sync on the public listener: %v", err)
	}
	if _, _, err := n.private.Egress(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + n.ls.PrivateAddr + "/v1/egress?after=x"); err != nil {
		t.Fatal(err)
	}
}
