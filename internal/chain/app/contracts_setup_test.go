package app

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"

	"github.com/phala-go/phala/internal/chain/accounts"
	"github.com/phala-go/phala/protocol"
)

// testModule hand-assembles the smallest module the host ABI v1 accepts:
// no imports, one page of memory exported as "memory", "_initialize"
// () -> () and the three entry points (i32) -> i32, each returning
// variant (0..63), so that variants have distinct code hashes. padding
// adds a custom section of that many bytes.
func testModule(variant byte, padding int) []byte {
	uleb := func(n int) []byte {
		var out []byte
		for {
			b := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(out, b)
			}
			out = append(out, b|0x80)
		}
	}
	section := func(id byte, parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return bytes.Join([][]byte{{id}, uleb(len(body)), body}, nil)
	}
	name := func(s string) []byte { return append(uleb(len(s)), s...) }
	export := func(s string, kind, index byte) []byte { return append(name(s), kind, index) }
	entry := []byte{4, 0x00, 0x41, variant & 0x3f, 0x0b} // size, no locals, i32.const variant, end
	m := bytes.Join([][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),
		section(1, []byte{2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f}), // types: () -> (), (i32) -> i32
		section(3, []byte{4, 0, 1, 1, 1}),                         // functions
		section(5, []byte{1, 0x00, 1}),                            // memory: min 1 page, no max
		section(7, []byte{5}, export("memory", 2, 0), export("_initialize", 0, 0),
			export("phala_init", 0, 1), export("phala_command", 0, 2), export("phala_query", 0, 3)),
		section(10, []byte{4, 2, 0x00, 0x0b}, entry, entry, entry), // bodies
	}, nil)
	if padding > 0 {
		m = append(m, section(0, name("padding"), make([]byte, padding))...)
	}
	return m
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var alpha = protocol.ClusterID("alpha")

// contractsSetup is a keysSetup (gatekeeper gk, cluster alpha with member
// m, epoch 1) with code uploaded and contract id instantiated by alice in
// alpha, its key for epoch 1 published by m, its init reported ok (so it is
// active), and command 0 sent by alice, awaiting its result.
type contractsSetup struct {
	*keysSetup
	hash []byte // the uploaded code
	id   []byte // the active contract
	// cmdSecret is the reply secret of command 0.
	cmdSecret []byte
}

func newContractsSetup(tb testing.TB) *contractsSetup {
	tb.Helper()
	s := newContractChain(tb)
	hash := protocol.CodeHash(testModule(0, 0))
	s.hash = hash[:]
	s.mustOK(s.upload(testModule(0, 0), protocol.CompressionGzip))
	s.id = s.instantiateOK(s.a, []byte("salt"), []byte("init"))
	s.mustOK(s.publish(s.m.id, 1, s.id))
	s.mustOK(s.report(s.m.id, s.id, protocol.ContractResult{Kind: protocol.ResultInit, Outcome: protocol.OutcomeOK}))
	var raw []byte
	raw, s.cmdSecret = s.commandTx(s.a, s.id, 1, []byte("hello"))
	s.mustOK(raw)
	return s
}

// newContractChain is the chain of a keysSetup (gatekeeper gk, cluster
// alpha with member m, epoch 1 active), built with testing.TB helpers only
// so that fuzz targets can use it too.
func newContractChain(tb testing.TB) *contractsSetup {
	tb.Helper()
	ta := newTestApp(tb, testGenesis())
	s := &contractsSetup{keysSetup: &keysSetup{ta: ta, a: newTxBuilder(alice)}}
	s.gk, s.m = ta.registerWithKey("gk"), ta.registerWithKey("member")
	s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"}))
	s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(s.m.id)}))
	s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(s.gk.id)}))
	s.rotateTo(1, bytes.Repeat([]byte{0x5e}, 32), nil)
	return s
}

// epoch reads the chain's key epochs.
func (s *contractsSetup) epoch() protocol.EpochInfo {
	s.ta.t.Helper()
	var info protocol.EpochInfo
	decode(s.ta.t, s.ta.query(protocol.QueryEpoch, 0).Value, &info)
	return info
}

func decode(tb testing.TB, raw []byte, v any) {
	tb.Helper()
	if err := protocol.Unmarshal(raw, v); err != nil {
		tb.Fatal(err)
	}
}

// proposal is the gatekeeper's answer to the pending epoch p: secret
// sealed to the gatekeepers, each cluster's key to its members.
func proposal(tb testing.TB, p *protocol.PendingEpoch, secret []byte) protocol.EpochProposal {
	tb.Helper()
	seal := func(r protocol.Recipient, key []byte) protocol.Sealed {
		ct, err := protocol.HPKESeal(r.Key, protocol.SealInfo(testChain, p.Epoch, &r), nil, key)
		if err != nil {
			tb.Fatal(err)
		}
		return protocol.Sealed{Recipient: r, Ciphertext: ct}
	}
	ep := protocol.EpochProposal{Epoch: p.Epoch}
	for _, r := range p.Recipients {
		if r.Role == protocol.RoleGatekeeper {
			ep.Secrets = append(ep.Secrets, seal(r, secret))
		}
	}
	for _, c := range p.ClusterIDs {
		seed := protocol.DeriveSeed(secret, "cluster", c)
		pubkey, err := protocol.DerivePublicKey(seed)
		if err != nil {
			tb.Fatal(err)
		}
		set := protocol.ClusterKeySet{Cluster: c, Pubkey: pubkey}
		for _, r := range p.Recipients {
			if r.Role == protocol.RoleMember && bytes.Equal(r.Cluster, c) {
				set.Seals = append(set.Seals, seal(r, seed))
			}
		}
		ep.Clusters = append(ep.Clusters, set)
	}
	return ep
}

func (s *contractsSetup) upload(code []byte, compression string) []byte {
	if compression == protocol.CompressionGzip {
		code = gzipped(s.ta.t, code)
	}
	return s.a.tx(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: code, Compression: compression})
}

// instantiateArgs seals init to alpha's key of the current epoch for the
// contract deployer would create with salt.
func (s *contractsSetup) instantiateArgs(deployer ed25519.PrivateKey, salt, init []byte) (protocol.InstantiateArgs, []byte) {
	s.ta.t.Helper()
	info := s.epoch()
	var clusterKey []byte
	for _, c := range info.Clusters {
		if bytes.Equal(c.Cluster, alpha) {
			clusterKey = c.Pubkey
		}
	}
	id := protocol.ContractID(addr(deployer), s.hash, alpha, salt)
	d := addr(deployer)
	sealed, secret, err := protocol.HPKESealExport(clusterKey, protocol.ContractInitInfo(testChain, id[:], alpha, info.Current), d[:], init)
	if err != nil {
		s.ta.t.Fatal(err)
	}
	return protocol.InstantiateArgs{CodeHash: s.hash, Cluster: alpha, Salt: salt, Epoch: info.Current, GasLimit: 1_000_000, InitArgs: sealed}, secret
}

func (s *contractsSetup) instantiate(b *txBuilder, a protocol.InstantiateArgs) []byte {
	return b.tx(protocol.ModuleContracts, protocol.MethodInstantiate, a)
}

// instantiateOK creates a contract of s.hash in alpha (pending: no key, no
// init result) and returns its id.
func (s *contractsSetup) instantiateOK(b *txBuilder, salt, init []byte) []byte {
	s.ta.t.Helper()
	a, _ := s.instantiateArgs(b.key, salt, init)
	s.mustOK(s.instantiate(b, a))
	id := protocol.ContractID(addr(b.key), s.hash, alpha, salt)
	return id[:]
}

// contractPub is the contract key of id that alpha's members derive in the
// epoch whose secret is secret.
func contractPub(t testing.TB, secret, id []byte) []byte {
	t.Helper()
	pk, err := protocol.DerivePublicKey(protocol.ContractSeed(protocol.DeriveSeed(secret, "cluster", alpha), id))
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// nextSeq reads the sequence number origin's next message must carry.
func (s *contractsSetup) nextSeq(o protocol.Origin) uint64 {
	s.ta.t.Helper()
	q := s.ta.query(protocol.QueryNextSeq+o.String(), 0)
	var n uint64
	if q.Value != nil {
		decode(s.ta.t, q.Value, &n)
	}
	return n
}

// workerSays wraps a payload as w's next message on topic.
func (s *contractsSetup) workerSays(w ed25519.PrivateKey, topic string, payload []byte) []byte {
	seq := s.nextSeq(protocol.WorkerOrigin(pub(w)))
	return s.a.submit(workerMsg(w, seq, topic, payload))
}

// publication is w's publication of the keys of ids for epoch, derived from
// the test's current epoch secret.
func (s *contractsSetup) publication(epoch uint64, ids ...[]byte) protocol.ContractKeys {
	p := protocol.ContractKeys{Epoch: epoch}
	for _, id := range ids {
		p.Keys = append(p.Keys, protocol.ContractPubkey{Contract: id, Epoch: epoch, Pubkey: contractPub(s.ta.t, s.secret, id)})
	}
	return p
}

func (s *contractsSetup) publish(w ed25519.PrivateKey, epoch uint64, ids ...[]byte) []byte {
	p := s.publication(epoch, ids...)
	return s.workerSays(w, protocol.TopicContractKeys, protocol.MustMarshal(&p))
}

// contractSays signs, as signer, contract id's next message on topic.
func (s *contractsSetup) contractSays(signer ed25519.PrivateKey, id []byte, topic string, payload []byte) []byte {
	o := protocol.ContractOrigin(id)
	sm := protocol.SignMessage(signer, testChain, protocol.Message{Origin: o, Topic: topic, Seq: s.nextSeq(o), Payload: payload})
	return s.a.submit(sm)
}

func (s *contractsSetup) report(signer ed25519.PrivateKey, id []byte, r protocol.ContractResult) []byte {
	return s.contractSays(signer, id, protocol.ContractResultTopic(id), protocol.MustMarshal(&r))
}

// commandTx seals plaintext to contract id's key of epoch (derived from the
// test's current secret) and sends it from b; it returns the transaction
// and the reply secret.
func (s *contractsSetup) commandTx(b *txBuilder, id []byte, epoch uint64, plaintext []byte) ([]byte, []byte) {
	s.ta.t.Helper()
	sender := addr(b.key)
	ct, secret, err := protocol.HPKESealExport(contractPub(s.ta.t, s.secret, id), protocol.ContractCommandInfo(testChain, id, epoch), sender[:], plaintext)
	if err != nil {
		s.ta.t.Fatal(err)
	}
	return s.command(b, protocol.CommandArgs{Contract: id, Epoch: epoch, GasLimit: 1_000_000, Ciphertext: ct}), secret
}

func (s *contractsSetup) command(b *txBuilder, a protocol.CommandArgs) []byte {
	return b.tx(protocol.ModuleContracts, protocol.MethodCommand, a)
}

// proven runs a state query and checks its proof against the app hash of
// its height; it returns the value (nil: absent, proven absent).
func (ta *testApp) proven(path string) []byte {
	ta.t.Helper()
	q := ta.query(path, 0)
	if q.Code != 0 {
		ta.t.Fatalf("query %s: %s", path, q.Log)
	}
	if err := protocol.VerifyState(q.Key, q.Value, q.ProofOps, ta.appHashes[q.Height]); err != nil {
		ta.t.Fatalf("query %s: %v", path, err)
	}
	return q.Value
}

func (ta *testApp) code(hash []byte) (protocol.CodeInfo, bool) {
	var c protocol.CodeInfo
	raw := ta.proven(protocol.QueryCode + hex.EncodeToString(hash))
	if raw != nil {
		decode(ta.t, raw, &c)
	}
	return c, raw != nil
}

func (ta *testApp) contract(id []byte) protocol.ContractInfo {
	ta.t.Helper()
	raw := ta.proven(protocol.QueryContract + hex.EncodeToString(id))
	if raw == nil {
		ta.t.Fatalf("contract %x not found", id)
	}
	var c protocol.ContractInfo
	decode(ta.t, raw, &c)
	return c
}

func (ta *testApp) commandStatus(id []byte, index uint64) protocol.CommandStatus {
	ta.t.Helper()
	raw := ta.proven(protocol.QueryCommand + hex.EncodeToString(id) + "/" + strconv.FormatUint(index, 10))
	if raw == nil {
		ta.t.Fatalf("command %x/%d not found", id, index)
	}
	var c protocol.CommandStatus
	decode(ta.t, raw, &c)
	return c
}

// lastMessages returns the messages of the last block on topic.
func (ta *testApp) lastMessages(topic string) []*protocol.Message {
	ta.t.Helper()
	bm := ta.query(protocol.QueryMessages+strconv.FormatInt(ta.app.LastHeight(), 10), 0)
	_, msgs, err := protocol.DecodeBlockMessages(bm.Value)
	if err != nil {
		ta.t.Fatal(err)
	}
	var out []*protocol.Message
	for _, m := range msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// onlyFeeAndNonce fails unless the only state key that changed between
// before and now is signer's account.
func (ta *testApp) onlyFeeAndNonce(t testing.TB, before map[string]string, signer protocol.Address) {
	t.Helper()
	changed := changedKeys(before, ta.stateDump())
	if len(changed) != 1 || changed[0] != string(accounts.StateKey(signer)) {
		t.Fatalf("refused transaction changed %s; want only the fee and nonce of %s", fmt.Sprintf("%q", changed), signer)
	}
}

// rotateTo drives a requested rotation to epoch with secret: it proposes
// as the gatekeeper, runs midway (if any) once the proposal has landed, and
// waits for the activation.
func (s *contractsSetup) rotateTo(epoch uint64, secret []byte, midway func()) {
	s.ta.t.Helper()
	info := s.epoch()
	for info.Pending == nil || info.Pending.Phase != protocol.PhasePropose {
		s.ta.finalize()
		info = s.epoch()
	}
	if info.Pending.Epoch != epoch {
		s.ta.t.Fatalf("rotation to epoch %d under way, want %d", info.Pending.Epoch, epoch)
	}
	ep := proposal(s.ta.t, info.Pending, secret)
	s.mustOK(s.submitGK(gatekeeperMsg(s.gk.id, s.gkSeq, protocol.GatekeeperProposal, &ep)))
	s.gkSeq++
	s.secret = secret
	if midway != nil {
		midway()
	}
	for s.epoch().Current != epoch {
		s.ta.finalize()
	}
}
