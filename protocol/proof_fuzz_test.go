package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"github.com/phala-go/phala/protocol"
)

// provenState is a small IAVL tree and the app hash over its root and a
// messages root, as the chain commits them.
type provenState struct {
	tree     *iavl.ImmutableTree
	messages []byte
	appHash  []byte
}

func newProvenState(t testing.TB) *provenState {
	t.Helper()
	tree := iavl.NewMutableTree(idb.NewWrapper(dbm.NewMemDB()), 100, false, iavl.NewNopLogger())
	for _, k := range []string{"accounts/a/1", "accounts/a/3", "keys/wc/x", "mq/n/y"} {
		if _, err := tree.Set([]byte(k), []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	root, v, err := tree.SaveVersion()
	if err != nil {
		t.Fatal(err)
	}
	imm, err := tree.GetImmutable(v)
	if err != nil {
		t.Fatal(err)
	}
	messages := bytes.Repeat([]byte{7}, 32)
	return &provenState{tree: imm, messages: messages, appHash: protocol.AppHash(root, messages)}
}

// answer is the query answer the chain gives for key: value and proof ops.
func (s *provenState) answer(t testing.TB, key []byte) ([]byte, *cmtcrypto.ProofOps) {
	t.Helper()
	value, err := s.tree.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := s.tree.GetProof(key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proof.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return value, &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{
		{Type: protocol.ProofOpIAVL, Key: key, Data: data},
		{Type: protocol.ProofOpMessagesRoot, Data: s.messages},
	}}
}

// FuzzVerifyStateProvesOnlyTheTruth: a node's value and proof, mutated by
// structure (another key, value, proof bytes, messages root, op types and
// count), never panic VerifyState, and it accepts only the true value of
// the key asked (nil for an absent key).
func FuzzVerifyStateProvesOnlyTheTruth(f *testing.F) {
	s := newProvenState(f)
	keys := [][]byte{[]byte("accounts/a/1"), []byte("accounts/a/2"), []byte("keys/wc/x"), []byte("zzz")}
	for i := range keys {
		for kind := range uint8(9) {
			f.Add(uint8(i), kind, uint16(kind)*13, []byte("forged"))
		}
	}
	f.Fuzz(func(t *testing.T, which, kind uint8, at uint16, raw []byte) {
		key := keys[int(which)%len(keys)]
		value, ops := s.answer(t, key)
		truth := value
		switch kind % 9 {
		case 0: // an honest answer
		case 1:
			value = raw
		case 2:
			value = nil
		case 3: // a byte of the proof replaced
			d := ops.Ops[0].Data
			if len(d) > 0 {
				d[int(at)%len(d)] ^= byte(len(raw) | 1)
			}
		case 4:
			ops.Ops[0].Data = raw
		case 5: // the proof of another key
			other := keys[(int(which)+1+int(at))%len(keys)]
			value, ops = s.answer(t, other)
			ops.Ops[0].Key = key
		case 6:
			ops.Ops[1].Data = raw
		case 7:
			ops.Ops = append(ops.Ops, ops.Ops[0])
		case 8:
			ops.Ops[0], ops.Ops[1] = ops.Ops[1], ops.Ops[0]
		}
		err := protocol.VerifyState(key, value, ops, s.appHash)
		if err != nil {
			if !errors.Is(err, protocol.ErrProof) {
				t.Fatalf("refusal without ErrProof: %v", err)
			}
			return
		}
		if !bytes.Equal(value, truth) || (value == nil) != (truth == nil) {
			t.Fatalf("proved %q for %s, the state holds %q", value, key, truth)
		}
	})
}
