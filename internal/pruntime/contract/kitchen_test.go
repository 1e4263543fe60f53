package contract_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestGoContractCommands runs each command of the Go test contract in both
// engine modes and checks its result; the storage commands run in order on
// one store.
func TestGoContractCommands(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	msg := []byte("signed message")
	sig := ed25519.Sign(priv, msg)
	sum := sha256.Sum256([]byte("digest me"))
	who := append(append(testCaller[:0:0], testCaller[:]...), testContract[:]...)
	who = binary.BigEndian.AppendUint64(who, 7)
	who = binary.BigEndian.AppendUint64(who, uint64(testTime.UnixNano()))

	const ok, fail, trapped, oog = protocol.OutcomeOK, protocol.OutcomeError, protocol.OutcomeTrap, protocol.OutcomeOutOfGas
	steps := []struct {
		name    string
		input   []byte
		outcome string
		reason  string
		output  []byte // nil: not checked
	}{
		{"set a", cmd('S', "a", "1"), ok, "", []byte("ok")},
		{"set b", cmd('S', "b", "2"), ok, "", []byte("ok")},
		{"set c/x", cmd('S', "c/x", "3"), ok, "", []byte("ok")},
		{"get a", cmd('G', "a"), ok, "", []byte("1")},
		{"get a missing key", cmd('G', "zz"), fail, "", []byte("absent")},
		{"iterate all", cmd('I', ""), ok, "", []byte("a,b,c/x,")},
		{"iterate a prefix", cmd('I', "c/"), ok, "", []byte("c/x,")},
		{"delete b", cmd('D', "b"), ok, "", []byte("ok")},
		{"b is gone", cmd('G', "b"), fail, "", []byte("absent")},
		{"a failed command's writes are discarded", cmd('S', "a", string(make([]byte, 70<<10))), trapped, "storage: value of 71680 bytes, at most 65536", nil},
		{"a is unchanged", cmd('G', "a"), ok, "", []byte("1")},
		{"counter", cmd('T', "n"), ok, "", []byte("7")},
		{"counter again", cmd('T', "n"), ok, "", []byte("14")},
		{"emit", cmd('E', "events.v1", "payload"), ok, "", []byte("ok")},
		{"emit a bad suffix", cmd('E', "bad/", "x"), trapped, "emit: invalid topic suffix", nil},
		{"sha256", cmd('H', "digest me"), ok, "", sum[:]},
		{"ed25519 good signature", cmd('V', []byte(pub), msg, sig), ok, "", []byte("1")},
		{"ed25519 bad signature", cmd('V', []byte(pub), []byte("other message"), sig), ok, "", []byte("0")},
		{"who and when", cmd('W'), ok, "", who},
		{"random", cmd('R', 16), ok, "", nil},
		{"random over the limit", cmd('R', 1025), trapped, "random: 1025 bytes requested, at most 1024", nil},
		{"loop until out of gas", cmd('L'), oog, contract.ReasonOutOfGas, nil},
		{"panic crashes the c-shared Go runtime", cmd('P'), trapped, contract.ReasonUnreachable, nil},
		{"os.Exit", cmd('X', 3), trapped, "exit 3", nil},
		{"recursion within the limit", cmd('C', 200), ok, "", []byte("200")},
		{"deep recursion", cmd('C', 5000), trapped, contract.ReasonCallDepth, nil},
		{"allocate within the limit", cmd('A', 4), ok, "", []byte("allocated")},
		{"allocate a lot", cmd('A', 64), trapped, contract.ReasonMemoryLimit, nil},
		{"return an error", cmd('F', "no such thing"), fail, "", []byte("no such thing")},
		{"output at the limit", cmd('O', 16<<10), ok, "", make([]byte, 16<<10)},
		{"huge output", cmd('O', 16<<10+1), trapped, contract.ReasonOutputTooLarge, nil},
		{"unknown command", cmd('?'), fail, "", []byte(`unknown command "?"`)},
	}
	wasm := kitchen(t)
	for _, m := range modes(t) {
		code := compile(t, m.e, wasm)
		store := newStore()
		for _, s := range steps {
			c := call(contract.EntryCommand, s.input, store)
			res := run(t, m.e, code, c)
			store.settle(res)
			expect(t, m.name+"/"+s.name, res, s.outcome, s.reason, s.output)
			if res.GasUsed == 0 || res.GasUsed > c.GasLimit {
				t.Errorf("%s/%s: gas used %d of %d", m.name, s.name, res.GasUsed, c.GasLimit)
			}
			if s.outcome == oog && res.GasUsed != c.GasLimit {
				t.Errorf("%s/%s: out of gas used %d, want the limit %d", m.name, s.name, res.GasUsed, c.GasLimit)
			}
			if s.name == "emit" && (len(res.Emitted) != 1 || res.Emitted[0].Suffix != "events.v1" || string(res.Emitted[0].Payload) != "payload") {
				t.Errorf("%s: emitted %+v", m.name, res.Emitted)
			}
			if res.Outcome != ok && len(res.Emitted) != 0 {
				t.Errorf("%s/%s: emitted %d messages on a non-ok outcome", m.name, s.name, len(res.Emitted))
			}
		}
	}
}
