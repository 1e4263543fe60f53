package sdk

import (
	"bytes"
	"errors"
	"testing"

	"github.com/phala-go/phala/protocol"
)

var (
	testSecret  = bytes.Repeat([]byte{0x42}, 32)
	testCluster = protocol.ClusterID("alpha")
	testCode    = bytes.Repeat([]byte{0xc0}, 32)
)

func clusterSeed() []byte { return protocol.DeriveSeed(testSecret, "cluster", testCluster) }

func epochRecord(t *testing.T) *protocol.EpochRecord {
	t.Helper()
	pub, err := protocol.DerivePublicKey(clusterSeed())
	if err != nil {
		t.Fatal(err)
	}
	return &protocol.EpochRecord{Current: 3, Clusters: []protocol.ClusterPubkey{{Cluster: testCluster, Pubkey: pub}}}
}

// TestSealInitArgsOpensForTheCluster: what the SDK seals for an
// instantiation opens under the cluster's key with the deployer as aad,
// and both sides derive the same reply secret.
func TestSealInitArgsOpensForTheCluster(t *testing.T) {
	deployer := protocol.Address{1, 2, 3}
	args, id, secret, err := SealInitArgs("c", epochRecord(t), deployer, testCode, testCluster, []byte("salt"), []byte("init"), 500)
	if err != nil {
		t.Fatal(err)
	}
	want := protocol.ContractID(deployer, testCode, testCluster, []byte("salt"))
	if !bytes.Equal(id, want[:]) || args.Epoch != 3 || args.GasLimit != 500 || !bytes.Equal(args.Salt, []byte("salt")) {
		t.Fatalf("args %+v id %x", args, id)
	}
	priv, _ := protocol.DeriveKeyPair(clusterSeed())
	pt, got, err := protocol.HPKEOpenExport(priv, protocol.ContractInitInfo("c", id, testCluster, 3), deployer[:], args.InitArgs)
	if err != nil || string(pt) != "init" || !bytes.Equal(got, secret) {
		t.Fatalf("cluster opened %q (secret equal: %v): %v", pt, bytes.Equal(got, secret), err)
	}
	other := protocol.Address{9}
	if _, _, err := protocol.HPKEOpenExport(priv, protocol.ContractInitInfo("c", id, testCluster, 3), other[:], args.InitArgs); err == nil {
		t.Fatal("init arguments opened with another deployer as aad")
	}
}

// TestSealContractCommandOpensForTheContract: a command is sealed to the
// contract's key of the current epoch, never to another epoch's.
func TestSealContractCommandOpensForTheContract(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	seed := func(secret []byte) []byte {
		return protocol.ContractSeed(protocol.DeriveSeed(secret, "cluster", testCluster), id)
	}
	pub := func(secret []byte) []byte {
		pk, err := protocol.DerivePublicKey(seed(secret))
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	info := &protocol.ContractInfo{ID: id, Status: protocol.ContractActive, Keys: []protocol.ContractPubkey{
		{Contract: id, Epoch: 3, Pubkey: pub(testSecret)},
		{Contract: id, Epoch: 4, Pubkey: pub([]byte("next epoch's secret"))},
	}}
	sender := protocol.Address{4}
	args, secret, err := SealContractCommand("c", epochRecord(t), info, sender, []byte("hello"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if args.Epoch != 3 || !bytes.Equal(args.Contract, id) || args.GasLimit != 1000 {
		t.Fatalf("args %+v", args)
	}
	priv, _ := protocol.DeriveKeyPair(seed(testSecret))
	pt, got, err := protocol.HPKEOpenExport(priv, protocol.ContractCommandInfo("c", id, 3), sender[:], args.Ciphertext)
	if err != nil || string(pt) != "hello" || !bytes.Equal(got, secret) {
		t.Fatalf("contract opened %q: %v", pt, err)
	}
	reply := protocol.SealReply(got, protocol.ReplyAAD(id, protocol.ResultCommand, 5), []byte("answer"))
	if out, err := protocol.OpenReply(secret, protocol.ReplyAAD(id, protocol.ResultCommand, 5), reply); err != nil || string(out) != "answer" {
		t.Fatalf("reply %q: %v", out, err)
	}
	if _, err := protocol.OpenReply(secret, protocol.ReplyAAD(id, protocol.ResultCommand, 6), reply); err == nil {
		t.Fatal("a reply opened as the answer to another command")
	}
}

func TestSealingRefusesWhatTheChainWouldRefuse(t *testing.T) {
	active := &protocol.ContractInfo{ID: []byte{1}, Status: protocol.ContractActive}
	cases := []struct {
		name string
		seal func(rec *protocol.EpochRecord) error
		edit func(rec *protocol.EpochRecord)
		want *protocol.Error
	}{
		{"init before any epoch", sealInit(testCluster), func(r *protocol.EpochRecord) { r.Current = 0 }, protocol.ErrNoEpoch},
		{"init in a lost epoch", sealInit(testCluster), func(r *protocol.EpochRecord) { r.Lost = true }, protocol.ErrEpochLost},
		{"init in a cluster without a key", sealInit(protocol.ClusterID("beta")), nil, protocol.ErrNoContractKey},
		{"command to a pending contract", sealCommand(&protocol.ContractInfo{ID: []byte{1}, Status: protocol.ContractPending}), nil, protocol.ErrContractNotActive},
		{"command without a key of the current epoch", sealCommand(active), nil, protocol.ErrNoContractKey},
		{"command in a lost epoch", sealCommand(active), func(r *protocol.EpochRecord) { r.Lost = true }, protocol.ErrEpochLost},
	}
	for _, c := range cases {
		rec := epochRecord(t)
		if c.edit != nil {
			c.edit(rec)
		}
		if err := c.seal(rec); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func sealInit(cluster []byte) func(*protocol.EpochRecord) error {
	return func(rec *protocol.EpochRecord) error {
		_, _, _, err := SealInitArgs("c", rec, protocol.Address{1}, testCode, cluster, nil, []byte("x"), 1)
		return err
	}
}

func sealCommand(info *protocol.ContractInfo) func(*protocol.EpochRecord) error {
	return func(rec *protocol.EpochRecord) error {
		_, _, err := SealContractCommand("c", rec, info, protocol.Address{1}, []byte("x"), 1)
		return err
	}
}
