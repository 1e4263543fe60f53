package sdk

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestContractKeyReadyOnlyWhenACommandCanBeSealed: WaitContractKey stops
// waiting exactly when SealContractCommand seals, keeps waiting
// through what passes (a pending init, no epoch, a lost epoch, a key only
// of another epoch), and refuses what never will.
func TestContractKeyReadyOnlyWhenACommandCanBeSealed(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	pub, err := protocol.DerivePublicKey(protocol.ContractSeed(clusterSeed(), id))
	if err != nil {
		t.Fatal(err)
	}
	key := func(epoch uint64) []protocol.ContractPubkey {
		return []protocol.ContractPubkey{{Contract: id, Epoch: epoch, Pubkey: pub}}
	}
	cases := []struct {
		name  string
		info  protocol.ContractInfo
		found bool
		edit  func(*protocol.EpochRecord)
		ready bool
		want  *protocol.Error
		msg   string
	}{
		{name: "key of the current epoch", info: protocol.ContractInfo{Status: protocol.ContractActive, Keys: key(3)}, found: true, ready: true},
		{name: "only the next epoch's key", info: protocol.ContractInfo{Status: protocol.ContractActive, Keys: key(4)}, found: true},
		{name: "init not landed", info: protocol.ContractInfo{Status: protocol.ContractPending, Keys: key(3)}, found: true},
		{name: "no epoch yet", info: protocol.ContractInfo{Status: protocol.ContractActive, Keys: key(0)}, found: true, edit: func(r *protocol.EpochRecord) { r.Current = 0 }},
		{name: "lost epoch", info: protocol.ContractInfo{Status: protocol.ContractActive, Keys: key(3)}, found: true, edit: func(r *protocol.EpochRecord) { r.Lost = true }},
		{name: "unknown contract", want: protocol.ErrUnknownContract, msg: "contract 0707"},
		{name: "failed init", info: protocol.ContractInfo{Status: protocol.ContractFailed, Keys: key(3)}, found: true, want: protocol.ErrContractNotActive, msg: "its init failed"},
	}
	for _, c := range cases {
		rec := epochRecord(t)
		if c.edit != nil {
			c.edit(rec)
		}
		ready, err := contractKeyReady(rec, &c.info, c.found, id)
		if c.want != nil {
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || ready {
				t.Errorf("%s: ready %v, %v; want %v naming %q", c.name, ready, err, c.want, c.msg)
			}
			continue
		}
		if err != nil || ready != c.ready {
			t.Errorf("%s: ready %v, %v; want %v", c.name, ready, err, c.ready)
		}
		c.info.ID = id
		if _, _, serr := SealContractCommand("c", rec, &c.info, protocol.Address{1}, []byte("x"), 1); (serr == nil) != ready {
			t.Errorf("%s: ready %v, but sealing gives %v", c.name, ready, serr)
		}
	}
}

// TestSignContractCommandSignsTheSealedCommand: the transaction carries
// the given nonce and fee, is signed by the key, and its command opens for
// the contract with the returned secret; what SealContractCommand refuses
// is refused.
func TestSignContractCommandSignsTheSealedCommand(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	seed := protocol.ContractSeed(clusterSeed(), id)
	pub, err := protocol.DerivePublicKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	info := &protocol.ContractInfo{ID: id, Status: protocol.ContractActive, Keys: []protocol.ContractPubkey{{Contract: id, Epoch: 3, Pubkey: pub}}}
	key, err := GenerateKey("sender")
	if err != nil {
		t.Fatal(err)
	}
	raw, secret, err := SignContractCommand("c", epochRecord(t), info, key, 41, 7, []byte("hello"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := protocol.DecodeTx(raw, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.VerifySignature(); err != nil || tx.Address != key.Address() || tx.ChainID != "c" || tx.Nonce != 41 || tx.Fee != 7 {
		t.Fatalf("tx from %s chain %q nonce %d fee %d: %v", tx.Address, tx.ChainID, tx.Nonce, tx.Fee, err)
	}
	if tx.Call.Module != protocol.ModuleContracts || tx.Call.Method != protocol.MethodCommand {
		t.Fatalf("call %s.%s", tx.Call.Module, tx.Call.Method)
	}
	var args protocol.CommandArgs
	if err := protocol.Unmarshal(tx.Call.Args, &args); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(args.Contract, id) || args.Epoch != 3 || args.GasLimit != 1000 {
		t.Fatalf("args %+v", args)
	}
	priv, _ := protocol.DeriveKeyPair(seed)
	sender := key.Address()
	pt, got, err := protocol.HPKEOpenExport(priv, protocol.ContractCommandInfo("c", id, 3), sender[:], args.Ciphertext)
	if err != nil || string(pt) != "hello" || !bytes.Equal(got, secret) {
		t.Fatalf("contract opened %q (secret equal: %v): %v", pt, bytes.Equal(got, secret), err)
	}
	lost := epochRecord(t)
	lost.Lost = true
	if _, _, err := SignContractCommand("c", lost, info, key, 41, 7, []byte("hello"), 1000); !errors.Is(err, protocol.ErrEpochLost) {
		t.Fatalf("signing a command in a lost epoch: %v", err)
	}
}
