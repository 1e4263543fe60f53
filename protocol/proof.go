package protocol

import (
	"bytes"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	ics23 "github.com/cosmos/ics23/go"
)

// VerifyState checks that value (nil: absent) is what the state after block
// H holds at key, given the proof ops of an ABCI query answer and appHash,
// the app hash of block H as signed in header H+1. The proof's own root is
// never trusted: it must rebuild appHash together with the messages root.
func VerifyState(key, value []byte, ops *cmtcrypto.ProofOps, appHash []byte) error {
	if ops == nil || len(ops.Ops) != 2 || ops.Ops[0].Type != ProofOpIAVL || ops.Ops[1].Type != ProofOpMessagesRoot {
		return Errorf(ErrProof, "want proof ops [%s, %s]", ProofOpIAVL, ProofOpMessagesRoot)
	}
	if !bytes.Equal(ops.Ops[0].Key, key) {
		return Errorf(ErrProof, "proof is for key %x, not %x", ops.Ops[0].Key, key)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(ops.Ops[0].Data); err != nil {
		return Errorf(ErrProof, "decode IAVL proof: %v", err)
	}
	root, err := proof.Calculate()
	if err != nil {
		return Errorf(ErrProof, "IAVL proof root: %v", err)
	}
	if value == nil {
		if !ics23.VerifyNonMembership(ics23.IavlSpec, root, &proof, key) {
			return Errorf(ErrProof, "absence of %x not proven", key)
		}
	} else if !ics23.VerifyMembership(ics23.IavlSpec, root, &proof, key, value) {
		return Errorf(ErrProof, "value of %x not proven", key)
	}
	if got := AppHash(root, ops.Ops[1].Data); !bytes.Equal(got, appHash) {
		return Errorf(ErrProof, "state root and messages root give app hash %X, header says %X", got, appHash)
	}
	return nil
}
