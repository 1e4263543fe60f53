package app

import (
	"bytes"
	"slices"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestEveryEntryAndEveryGapIsProvable walks the whole committed state of a
// chain that used every module (accounts, registry and its indexes, keys,
// a contract with its result, command and key-epoch index entries, a
// rotation) and checks that each entry's presence, and the absence of a
// key just after it, verify against the app hash. An entry ICS-23 cannot
// prove (an empty value, as index entries once were) would fail here, and
// with it the absence proofs of its neighbours.
func TestEveryEntryAndEveryGapIsProvable(t *testing.T) {
	s := newContractsSetup(t)
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	s.rotateTo(2, bytes.Repeat([]byte{0x77}, 32), func() { s.mustOK(s.publish(s.m.id, 2, s.id)) })
	ta := s.ta
	h := ta.app.LastHeight()
	keys := []string{}
	for k := range ta.stateDump() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) < 20 {
		t.Fatalf("only %d entries in state", len(keys))
	}
	for _, k := range keys {
		for _, key := range [][]byte{[]byte(k), append([]byte(k), 0)} {
			r := ta.app.proveState(h, key)
			if r.Code != 0 {
				t.Fatalf("%q: %s", key, r.Log)
			}
			if err := protocol.VerifyState(r.Key, r.Value, r.ProofOps, ta.appHashes[h]); err != nil {
				t.Fatalf("%q (present %v): %v", key, r.Value != nil, err)
			}
		}
	}
}
