package app

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/phala-go/phala/protocol"
)

// FuzzContractCalls feeds arbitrary arguments of the three contracts
// methods through CheckTx on a chain with an active contract: hostile
// arguments (malformed CBOR, gzip bombs, broken modules, absurd limits)
// must be refused with a code, never crash a validator.
func FuzzContractCalls(f *testing.F) {
	s := newContractsSetup(f)
	methods := []string{protocol.MethodUploadCode, protocol.MethodInstantiate, protocol.MethodCommand}
	inst, _ := s.instantiateArgs(alice, []byte("fuzz"), []byte("init"))
	f.Add(byte(0), protocol.MustMarshal(&protocol.UploadCodeArgs{Code: gzipped(f, testModule(9, 0)), Compression: protocol.CompressionGzip}))
	f.Add(byte(0), protocol.MustMarshal(&protocol.UploadCodeArgs{Code: testModule(9, 40)}))
	f.Add(byte(0), protocol.MustMarshal(&protocol.UploadCodeArgs{Code: gzipped(f, make([]byte, 64<<10)), Compression: protocol.CompressionGzip}))
	f.Add(byte(1), protocol.MustMarshal(&inst))
	f.Add(byte(2), protocol.MustMarshal(&protocol.CommandArgs{Contract: s.id, Epoch: 1, GasLimit: 1000, Ciphertext: []byte("sealed")}))
	f.Fuzz(func(t *testing.T, method byte, args []byte) {
		if cbor.Wellformed(args) != nil {
			return // not a CBOR item: the envelope decoder refuses it (FuzzDecodeTx)
		}
		raw := protocol.SignTx(alice, protocol.Tx{ChainID: testChain, Nonce: s.a.nonce, Fee: protocol.DefaultParams().MinFee,
			Call: protocol.Call{Module: protocol.ModuleContracts, Method: methods[int(method)%len(methods)], Args: args}})
		// Run the transaction as CheckTx would, in a branch that is then
		// dropped, so every input starts from the same state.
		s.ta.app.mu.Lock()
		_, err := s.ta.app.execTx(s.ta.app.check, raw)
		s.ta.app.mu.Unlock()
		if err == nil {
			return // valid arguments; nothing to refuse
		}
		wantRefusal(t, err)
	})
}
