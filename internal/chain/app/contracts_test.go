package app

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/protocol"
)

// TestContractLifecycleOnChain walks one contract through the chain: code
// upload (charged per byte, announced with the code as uploaded),
// instantiation (gas prepaid, pending), a member's key publication, the
// init result (active), a command (indexed, charged, put on the contract's
// topic) and its result, each record read back with its proof.
func TestContractLifecycleOnChain(t *testing.T) {
	s := newContractChain(t)
	p := protocol.DefaultParams()
	wasm := testModule(0, 0)
	hash := protocol.CodeHash(wasm)
	s.hash = hash[:]

	// Upload, gzipped.
	before := s.ta.account(addr(alice)).Balance
	up := s.upload(wasm, protocol.CompressionGzip)
	s.mustOK(up)
	if got, want := s.ta.account(addr(alice)).Balance, before-p.MinFee-uint64(len(wasm))*p.CodeByteFee; got != want {
		t.Fatalf("after upload alice has %d, want %d (fee and %d code bytes)", got, want, len(wasm))
	}
	info, ok := s.ta.code(s.hash)
	if !ok || !bytes.Equal(info.Hash, s.hash) || info.Size != uint64(len(wasm)) || info.Uploader != addr(alice) || info.Height != s.ta.app.LastHeight() {
		t.Fatalf("code record %+v", info)
	}
	msgs := s.ta.lastMessages(protocol.TopicCode)
	var cu protocol.CodeUploaded
	if len(msgs) != 1 || msgs[0].Origin.String() != protocol.ModuleOrigin(protocol.ModuleContracts).String() {
		t.Fatalf("code messages %+v", msgs)
	}
	mustUnmarshal(t, msgs[0].Payload, &cu)
	if !bytes.Equal(cu.Hash, s.hash) || cu.Size != uint64(len(wasm)) || cu.Compression != protocol.CompressionGzip || !bytes.Equal(cu.Code, gzipped(t, wasm)) {
		t.Fatalf("CodeUploaded %+v", cu)
	}

	// Instantiate: pending, gas prepaid, announced with the sealed init
	// arguments.
	before = s.ta.account(addr(alice)).Balance
	args, initSecret := s.instantiateArgs(alice, []byte("salt"), []byte("init args"))
	s.mustOK(s.instantiate(s.a, args))
	if got, want := s.ta.account(addr(alice)).Balance, before-p.MinFee-p.GasFee(args.GasLimit); got != want {
		t.Fatalf("after instantiate alice has %d, want %d", got, want)
	}
	idArr := protocol.ContractID(addr(alice), s.hash, alpha, []byte("salt"))
	id := idArr[:]
	c := s.ta.contract(id)
	if c.Status != protocol.ContractPending || !bytes.Equal(c.CodeHash, s.hash) || !bytes.Equal(c.Cluster, alpha) || c.Deployer != addr(alice) ||
		!bytes.Equal(c.Salt, []byte("salt")) || c.CreatedAt != s.ta.app.LastHeight() || c.Init != nil || len(c.Keys) != 0 || c.Commands != 0 {
		t.Fatalf("new contract %+v", c)
	}
	var inst protocol.ContractInstantiated
	msgs = s.ta.lastMessages(protocol.TopicInstantiate)
	if len(msgs) != 1 {
		t.Fatalf("instantiate messages %+v", msgs)
	}
	mustUnmarshal(t, msgs[0].Payload, &inst)
	if !bytes.Equal(inst.Contract, id) || inst.Deployer != addr(alice) || inst.Epoch != 1 || inst.GasLimit != args.GasLimit || !bytes.Equal(inst.InitArgs, args.InitArgs) {
		t.Fatalf("ContractInstantiated %+v", inst)
	}

	// The member publishes the contract's key; a second publication (even
	// of another key) is accepted and changes nothing.
	s.mustOK(s.publish(s.m.id, 1, id))
	key1 := contractPub(t, s.secret, id)
	if c := s.ta.contract(id); len(c.Keys) != 1 || c.Keys[0].Epoch != 1 || !bytes.Equal(c.Keys[0].Pubkey, key1) {
		t.Fatalf("keys after publication %+v", c.Keys)
	}
	other := protocol.ContractKeys{Epoch: 1, Keys: []protocol.ContractPubkey{{Contract: id, Epoch: 1, Pubkey: contractPub(t, []byte("another secret"), id)}}}
	s.mustOK(s.workerSays(s.m.id, protocol.TopicContractKeys, protocol.MustMarshal(&other)))
	if c := s.ta.contract(id); len(c.Keys) != 1 || !bytes.Equal(c.Keys[0].Pubkey, key1) {
		t.Fatalf("keys after a second publication %+v", c.Keys)
	}

	// The init result makes it active and is kept.
	initResult := protocol.ContractResult{Kind: protocol.ResultInit, Outcome: protocol.OutcomeOK, GasUsed: 77,
		Reply: protocol.SealReply(initSecret, protocol.ReplyAAD(id, protocol.ResultInit, 0), []byte("welcome"))}
	s.mustOK(s.report(s.m.id, id, initResult))
	c = s.ta.contract(id)
	if c.Status != protocol.ContractActive || c.Init == nil || c.Init.GasUsed != 77 {
		t.Fatalf("after init %+v", c)
	}
	if reply, err := protocol.OpenReply(initSecret, protocol.ReplyAAD(id, protocol.ResultInit, 0), c.Init.Reply); err != nil || string(reply) != "welcome" {
		t.Fatalf("init reply %q, %v", reply, err)
	}

	// A command: indexed, prepaid, on the contract's topic.
	before = s.ta.account(addr(alice)).Balance
	raw, secret := s.commandTx(s.a, id, 1, []byte("hello"))
	s.mustOK(raw)
	height := s.ta.app.LastHeight()
	if got, want := s.ta.account(addr(alice)).Balance, before-p.MinFee-p.GasFee(1_000_000); got != want {
		t.Fatalf("after command alice has %d, want %d", got, want)
	}
	st := s.ta.commandStatus(id, 0)
	if st.Index != 0 || st.Epoch != 1 || st.Sender != addr(alice) || st.Height != height || st.Result != nil {
		t.Fatalf("command status %+v", st)
	}
	if c := s.ta.contract(id); c.Commands != 1 {
		t.Fatalf("contract after one command: %d commands", c.Commands)
	}
	msgs = s.ta.lastMessages(protocol.ContractCommandTopic(id))
	var cmd protocol.ContractCommand
	if len(msgs) != 1 {
		t.Fatalf("command messages %+v", msgs)
	}
	mustUnmarshal(t, msgs[0].Payload, &cmd)
	if !bytes.Equal(cmd.Contract, id) || cmd.Index != 0 || cmd.Sender != addr(alice) || cmd.Epoch != 1 || cmd.GasLimit != 1_000_000 {
		t.Fatalf("ContractCommand %+v", cmd)
	}
	// The second command gets the next index.
	raw, _ = s.commandTx(s.a, id, 1, []byte("again"))
	s.mustOK(raw)
	if st := s.ta.commandStatus(id, 1); st.Index != 1 || s.ta.contract(id).Commands != 2 {
		t.Fatalf("second command %+v", st)
	}

	// The result lands; the sender opens the reply.
	s.mustOK(s.report(s.m.id, id, protocol.ContractResult{Kind: protocol.ResultCommand, Index: 0, Outcome: protocol.OutcomeOK,
		Reply: protocol.SealReply(secret, protocol.ReplyAAD(id, protocol.ResultCommand, 0), []byte("hi back"))}))
	st = s.ta.commandStatus(id, 0)
	if st.Result == nil || st.ResultHeight != s.ta.app.LastHeight() {
		t.Fatalf("status after the result %+v", st)
	}
	if reply, err := protocol.OpenReply(secret, protocol.ReplyAAD(id, protocol.ResultCommand, 0), st.Result.Reply); err != nil || string(reply) != "hi back" {
		t.Fatalf("command reply %q, %v", reply, err)
	}
	if st := s.ta.commandStatus(id, 1); st.Result != nil {
		t.Fatalf("command 1 got command 0's result: %+v", st)
	}

	// An output the contract emits is accepted and recorded nowhere but in
	// the message list and the contract's sequence.
	stateBefore := s.ta.stateDump()
	s.mustOK(s.contractSays(s.m.id, id, protocol.ContractOutputTopic(id, "events"), []byte("event")))
	changed := changedKeys(stateBefore, s.ta.stateDump())
	if len(changed) != 2 || len(s.ta.lastMessages(protocol.ContractOutputTopic(id, "events"))) != 1 {
		t.Fatalf("output message changed %q", changed)
	}
}

// TestFailedInitLeavesContractClosed: an init that does not succeed
// records its result and the contract takes no commands.
func TestFailedInitLeavesContractClosed(t *testing.T) {
	s := newContractsSetup(t)
	id := s.instantiateOK(s.a, []byte("second"), []byte("init"))
	s.mustOK(s.publish(s.m.id, 1, id))
	s.mustOK(s.report(s.m.id, id, protocol.ContractResult{Kind: protocol.ResultInit, Outcome: protocol.OutcomeTrap, Reason: "unreachable"}))
	c := s.ta.contract(id)
	if c.Status != protocol.ContractFailed || c.Init == nil || c.Init.Reason != "unreachable" {
		t.Fatalf("after a trapped init %+v", c)
	}
	raw, _ := s.commandTx(s.a, id, 1, []byte("x"))
	r := s.ta.finalize(raw).TxResults[0]
	wantCode(t, "command to a failed contract", r.Codespace, r.Code, r.Log, protocol.ErrContractNotActive)
}

// TestContractKeyPublicationsIgnored: a well-formed publication is never
// refused for what the chain knows (a refusal would block the worker's
// later messages); keys it may not record are left out.
func TestContractKeyPublicationsIgnored(t *testing.T) {
	cases := []struct {
		name string
		tx   func(s *contractsSetup) []byte
	}{
		{"a key for an unknown contract", func(s *contractsSetup) []byte {
			return s.publish(s.m.id, 1, bytes.Repeat([]byte{7}, 32))
		}},
		{"a key already recorded", func(s *contractsSetup) []byte {
			return s.publish(s.m.id, 1, s.id)
		}},
		{"a key published by a worker removed from the cluster", func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("second"), nil)
			s.mustOK(s.govTx(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(s.m.id)}))
			return s.publish(s.m.id, 1, id)
		}},
		{"a key published by a member of another cluster", func(s *contractsSetup) []byte {
			w := s.ta.registerWithKey("beta member")
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"}))
			s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "beta", Worker: pub(w.id)}))
			s.rotateTo(2, []byte("epoch 2 secret"), nil) // gives beta a key
			return s.publish(w.id, 2, s.id)
		}},
		{"a key published by a gatekeeper", func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("second"), nil)
			return s.publish(s.gk.id, 1, id)
		}},
		{"a key for a retired epoch", func(s *contractsSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			s.rotateTo(2, []byte("epoch 2 secret"), nil)
			return s.publish(s.m.id, 1, s.id)
		}},
		{"a key for a future epoch", func(s *contractsSetup) []byte {
			return s.publish(s.m.id, 2, s.id)
		}},
		{"a key for the next epoch before its proposal landed", func(s *contractsSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
			return s.publish(s.m.id, 2, s.id)
		}},
		{"a key of a failed contract", func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("failing"), nil)
			s.mustOK(s.report(s.m.id, id, protocol.ContractResult{Kind: protocol.ResultInit, Outcome: protocol.OutcomeError}))
			return s.publish(s.m.id, 1, id)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newContractsSetup(t)
			raw := c.tx(s)
			contractsBefore := contractRecords(s.ta)
			r := s.ta.finalize(raw).TxResults[0]
			if r.Code != 0 {
				t.Fatalf("well-formed publication refused: %s", r.Log)
			}
			if after := contractRecords(s.ta); after != contractsBefore {
				t.Fatalf("ignored publication changed contract records")
			}
		})
	}
}

// contractRecords is every contract record in state, in key order.
func contractRecords(ta *testApp) string {
	prefix := string(contracts.ContractStateKey(nil))
	var out []string
	for k, v := range ta.stateDump() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, hex.EncodeToString([]byte(k))+"="+hex.EncodeToString([]byte(v)))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ";")
}
