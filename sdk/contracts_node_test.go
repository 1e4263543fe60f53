package sdk_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestContractRoundTripOnANode drives the SDK's contract calls against a
// real node, with the test playing the gatekeeper and the cluster's only
// member: upload, instantiate (init arguments sealed to the proven cluster
// key), init result, a command (its index found in the verified message
// list) and its result, each reply opened by the SDK with its secret.
func TestContractRoundTripOnANode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	n := &network{t: t, ctx: ctx, c: c, dev: tn.Keys.Dev[0], admin: tn.Keys.Admin}
	secret := bytes.Repeat([]byte{0x33}, 32)
	cluster := protocol.ClusterID("alpha")
	gk, member := n.register("gk"), n.register("member")
	if _, err := c.Govern(ctx, n.dev, protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"}, n.dev); !errors.Is(err, protocol.ErrNotAdmin) || !strings.Contains(err.Error(), "governance "+protocol.ActionCreateCluster) {
		t.Fatalf("governance approved by a non-admin: %v", err)
	}
	n.gov(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "alpha"})
	n.gov(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pubOf(member)})
	n.gov(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pubOf(gk)})
	n.propose(gk, secret)

	if _, _, err := c.Instantiate(ctx, n.dev, bytes.Repeat([]byte{1}, 32), cluster, nil, nil, 1000); !errors.Is(err, protocol.ErrUnknownCode) {
		t.Fatalf("instantiating unknown code: %v", err)
	}
	wasm := wasmtest.NewContract(1).Encode()
	hash, err := c.UploadCode(ctx, n.dev, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if info, ok, err := c.Code(ctx, hash); err != nil || !ok || info.Size != uint64(len(wasm)) || info.Uploader != n.dev.Address() {
		t.Fatalf("code record %+v %v %v", info, ok, err)
	}
	if _, err := c.UploadCode(ctx, n.dev, wasm); !errors.Is(err, protocol.ErrCodeExists) {
		t.Fatalf("second upload: %v", err)
	}

	from, err := c.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, initSecret, err := c.Instantiate(ctx, n.dev, hash, cluster, []byte("salt"), []byte("init args"), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	// The member finds the instantiation, opens its init arguments with
	// the cluster key, publishes the contract key and reports the init.
	var inst protocol.ContractInstantiated
	n.findMessage(from, protocol.TopicInstantiate, &inst)
	clusterSeed := protocol.DeriveSeed(secret, "cluster", cluster)
	clusterKey, _ := protocol.DeriveKeyPair(clusterSeed)
	deployer := n.dev.Address()
	initArgs, memberSecret, err := protocol.HPKEOpenExport(clusterKey, protocol.ContractInitInfo(c.ChainID(), id, cluster, 1), deployer[:], inst.InitArgs)
	if err != nil || string(initArgs) != "init args" {
		t.Fatalf("member opened init arguments %q: %v", initArgs, err)
	}
	contractSeed := protocol.ContractSeed(clusterSeed, id)
	contractPub, _ := protocol.DerivePublicKey(contractSeed)
	keys := protocol.ContractKeys{Epoch: 1, Keys: []protocol.ContractPubkey{{Contract: id, Epoch: 1, Pubkey: contractPub}}}
	n.submit(member, protocol.WorkerOrigin(pubOf(member)), protocol.TopicContractKeys, protocol.MustMarshal(&keys))
	n.submit(member, protocol.ContractOrigin(id), protocol.ContractResultTopic(id), protocol.MustMarshal(&protocol.ContractResult{
		Kind: protocol.ResultInit, Outcome: protocol.OutcomeOK,
		Reply: protocol.SealReply(memberSecret, protocol.ReplyAAD(id, protocol.ResultInit, 0), []byte("ready")),
	}))
	res, reply, err := c.WaitInit(ctx, id, initSecret)
	if err != nil || res.Outcome != protocol.OutcomeOK || string(reply) != "ready" {
		t.Fatalf("init result %+v, reply %q: %v", res, reply, err)
	}
	if err := c.WaitContractKey(ctx, id); err != nil {
		t.Fatalf("waiting for the published contract key: %v", err)
	}
	if err := c.WaitContractKey(ctx, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, protocol.ErrUnknownContract) {
		t.Fatalf("waiting for the key of an unknown contract: %v", err)
	}

	// A command: the SDK learns its index; the member opens it with the
	// contract key and answers.
	index, txr, cmdSecret, err := c.SendContractCommand(ctx, n.dev, id, []byte("ping"), 50_000)
	if err != nil || index != 0 {
		t.Fatalf("command: index %d: %v", index, err)
	}
	var cmd protocol.ContractCommand
	n.findMessage(txr.Height, protocol.ContractCommandTopic(id), &cmd)
	contractKey, _ := protocol.DeriveKeyPair(contractSeed)
	sender := n.dev.Address()
	pt, s, err := protocol.HPKEOpenExport(contractKey, protocol.ContractCommandInfo(c.ChainID(), id, cmd.Epoch), sender[:], cmd.Ciphertext)
	if err != nil || string(pt) != "ping" {
		t.Fatalf("member opened command %q: %v", pt, err)
	}
	n.submit(member, protocol.ContractOrigin(id), protocol.ContractResultTopic(id), protocol.MustMarshal(&protocol.ContractResult{
		Kind: protocol.ResultCommand, Index: 0, Outcome: protocol.OutcomeOK,
		Reply: protocol.SealReply(s, protocol.ReplyAAD(id, protocol.ResultCommand, 0), []byte("pong")),
	}))
	res, reply, err = c.WaitResult(ctx, id, 0, cmdSecret)
	if err != nil || res.Outcome != protocol.OutcomeOK || string(reply) != "pong" {
		t.Fatalf("command result %+v, reply %q: %v", res, reply, err)
	}
	if st, ok, err := c.CommandStatusUnverified(ctx, id, 0); err != nil || !ok || st.Result == nil || !bytes.Equal(protocol.MustMarshal(st.Result), protocol.MustMarshal(res)) {
		t.Fatalf("unverified status of command 0: %+v %v %v", st, ok, err)
	}
	if _, ok, err := c.CommandStatusUnverified(ctx, id, 5); err != nil || ok {
		t.Fatalf("unverified status of a command never sent: %v %v", ok, err)
	}
	// The next command gets the next index.
	if index, _, _, err := c.SendContractCommand(ctx, n.dev, id, []byte("again"), 50_000); err != nil || index != 1 {
		t.Fatalf("second command: index %d: %v", index, err)
	}
}

// network is the test's hands on the chain: the dev account pays, the
// admin governs.
type network struct {
	t          *testing.T
	ctx        context.Context
	c          *sdk.Client
	dev, admin *sdk.Key
}

func (n *network) send(call protocol.Call, err error) *sdk.TxResult {
	n.t.Helper()
	if err != nil {
		n.t.Fatal(err)
	}
	res, err := n.c.Send(n.ctx, n.dev, call)
	if err != nil {
		n.t.Fatal(err)
	}
	if res.Err != nil {
		n.t.Fatalf("%s.%s: %v", call.Module, call.Method, res.Err)
	}
	return res
}

func (n *network) gov(kind string, args any) {
	n.t.Helper()
	if _, err := n.c.Govern(n.ctx, n.dev, kind, args, n.admin); err != nil {
		n.t.Fatal(err)
	}
}

// register registers a worker named name with a sim attestation; its
// encryption key is derived from its name.
func (n *network) register(name string) ed25519.PrivateKey {
	n.t.Helper()
	seed := sha256.Sum256([]byte(name))
	id := ed25519.NewKeyFromSeed(seed[:])
	enc, _ := protocol.DerivePublicKey(seed[:])
	// The node's tip may be a block its application has not executed
	// yet (CometBFT stores a block before executing it), whose hash the
	// chain cannot check a registration against: bind the one before.
	h, err := n.c.Height(n.ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	h--
	blk, err := n.c.RPC().Block(n.ctx, &h)
	if err != nil {
		n.t.Fatal(err)
	}
	p, err := sim.Open(n.t.TempDir())
	if err != nil {
		n.t.Fatal(err)
	}
	a := protocol.Attestation{TEE: sim.Kind, ChainID: n.c.ChainID(), GenesisHash: n.genesisHash(), WorkerPubkey: protocol.HexBytes(pubOf(id)),
		EncryptionPubkey: enc, RuntimeVersion: 1, Height: h, BlockHash: protocol.HexBytes(blk.BlockID.Hash)}
	if a.Quote, err = p.Quote(a.ReportData()); err != nil {
		n.t.Fatal(err)
	}
	n.send(protocol.NewCall(protocol.ModuleRegistry, protocol.MethodRegisterWorker, protocol.RegisterWorkerArgs{Attestation: a}))
	return id
}

func (n *network) genesisHash() []byte {
	n.t.Helper()
	g, err := n.c.RPC().Genesis(n.ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	h, err := protocol.GenesisHash(g.Genesis)
	if err != nil {
		n.t.Fatal(err)
	}
	return h
}

// submit signs a message of origin as signer, with origin's next
// sequence number, and has the dev account submit it.
func (n *network) submit(signer ed25519.PrivateKey, origin protocol.Origin, topic string, payload []byte) {
	n.t.Helper()
	seq, err := n.c.NextSeq(n.ctx, origin)
	if err != nil {
		n.t.Fatal(err)
	}
	sm := protocol.SignMessage(signer, n.c.ChainID(), protocol.Message{Origin: origin, Topic: topic, Seq: seq, Payload: payload})
	n.send(protocol.NewCall(protocol.ModuleMQ, protocol.MethodSubmit, protocol.SubmitArgs{Message: sm}))
}

// propose waits for the chain to ask for a proposal, answers it as
// gatekeeper gk with secret, and waits for the epoch to activate.
func (n *network) propose(gk ed25519.PrivateKey, secret []byte) {
	n.t.Helper()
	var info *protocol.EpochInfo
	for {
		var err error
		if info, err = n.c.Epoch(n.ctx); err != nil {
			n.t.Fatal(err)
		}
		if info.Pending != nil && info.Pending.Phase == protocol.PhasePropose {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := info.Pending
	seal := func(r protocol.Recipient, key []byte) protocol.Sealed {
		ct, err := protocol.HPKESeal(r.Key, protocol.SealInfo(n.c.ChainID(), p.Epoch, &r), nil, key)
		if err != nil {
			n.t.Fatal(err)
		}
		return protocol.Sealed{Recipient: r, Ciphertext: ct}
	}
	ep := protocol.EpochProposal{Epoch: p.Epoch}
	for _, r := range p.Recipients {
		if r.Role == protocol.RoleGatekeeper {
			ep.Secrets = append(ep.Secrets, seal(r, secret))
		}
	}
	for _, cl := range p.ClusterIDs {
		seed := protocol.DeriveSeed(secret, "cluster", cl)
		pub, _ := protocol.DerivePublicKey(seed)
		set := protocol.ClusterKeySet{Cluster: cl, Pubkey: pub}
		for _, r := range p.Recipients {
			if r.Role == protocol.RoleMember && bytes.Equal(r.Cluster, cl) {
				set.Seals = append(set.Seals, seal(r, seed))
			}
		}
		ep.Clusters = append(ep.Clusters, set)
	}
	body := protocol.MustMarshal(&ep)
	signed := protocol.GatekeeperSigned{ChainID: n.c.ChainID(), Kind: protocol.GatekeeperProposal, Body: body}
	payload := protocol.GatekeeperPayload{Kind: protocol.GatekeeperProposal, Body: body, Signer: pubOf(gk),
		Sig: protocol.Sign(gk, protocol.SigGatekeeper, protocol.MustMarshal(&signed))}
	n.submit(gk, protocol.GatekeeperOrigin(), protocol.TopicGatekeeper, protocol.MustMarshal(&payload))
	for {
		rec, err := n.c.EpochRecord(n.ctx)
		if err != nil {
			n.t.Fatal(err)
		}
		if rec.Current == p.Epoch {
			return
		}
	}
}

// findMessage decodes the first message on topic in blocks from..tip.
func (n *network) findMessage(from int64, topic string, v any) {
	n.t.Helper()
	tip, err := n.c.Height(n.ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	for h := from; h <= tip; h++ {
		_, msgs, err := n.c.RawBlockMessages(n.ctx, h)
		if err != nil {
			n.t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Topic == topic {
				if err := protocol.Unmarshal(m.Payload, v); err != nil {
					n.t.Fatal(err)
				}
				return
			}
		}
	}
	n.t.Fatalf("no message on %s in blocks %d..%d", topic, from, tip)
}

func pubOf(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }
