package contract_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"github.com/phala-go/phala/internal/pruntime/contract"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// hostCase is a hand-built contract whose command exercises host
// functions, and what it must produce.
type hostCase struct {
	name    string
	imports []string
	data    map[int32][]byte                         // memory contents at offsets
	code    func(c *Contract) []byte                 // the command's code
	input   []byte                                   // the command's input
	store   map[string]string                        // the store's contents before
	outcome string                                   // protocol.Outcome*
	reason  string                                   //
	output  []byte                                   // nil: not checked
	gas     uint64                                   // 0: not checked
	check   func(t *testing.T, res *contract.Result) // extra checks
}

// The output helpers: write len bytes at ptr as the output, and return 0.
func output(c *Contract, ptr, n int32) []byte {
	return Code(I32Const(ptr), I32Const(n), Call(c.Host("output_write")), I32Const(0))
}

// outI64 stores the i64 that code leaves at offset 1024 and outputs it.
func outI64(c *Contract, code []byte) []byte {
	return Code(I32Const(1024), code, Mem(I64Store, 3, 0), output(c, 1024, 8))
}

// outI32 stores the i32 that code leaves at offset 1024 and outputs it.
func outI32(c *Contract, code []byte) []byte {
	return Code(I32Const(1024), code, Mem(I32Store, 2, 0), output(c, 1024, 4))
}

func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// emitCode emits n messages whose suffix is the tlen bytes at 0 and whose
// payload is the plen bytes at tlen, and returns 0.
func emitCode(c *Contract, n int, tlen, plen int32) []byte {
	var out []byte
	for range n {
		out = Code(out, I32Const(0), I32Const(tlen), I32Const(tlen), I32Const(plen), Call(c.Host("emit")))
	}
	return Code(out, I32Const(0))
}

// keystream is the expected random stream of the tests' seed.
func keystream(n int) []byte {
	seed := [32]byte{1, 2, 3}
	block, _ := aes.NewCipher(seed[:])
	out := make([]byte, n)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, out)
	return out
}

func hostCases() []hostCase {
	const ok, fail, trapped = protocol.OutcomeOK, protocol.OutcomeError, protocol.OutcomeTrap
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	msg := []byte("message")
	sig := ed25519.Sign(priv, msg)
	digest := sha256.Sum256([]byte("hello"))
	sigData := map[int32][]byte{0: pub, 32: sig, 96: msg}
	timeNS := testTime.UnixNano()
	return []hostCase{
		{
			name: "input_read and output_write echo the input, at their exact price", imports: []string{"input_read", "output_write"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), Call(c.Host("input_read")), I32Const(0), LocalGet(0), Call(c.Host("output_write")), I32Const(0))
			},
			input: []byte("hello"), outcome: ok, output: []byte("hello"),
			gas: 1 + 7 + (100 + 5) + (100 + 5), // _initialize, the command's instructions, the two host calls
		},
		{
			name: "input_read outside memory", imports: []string{"input_read", "output_write"},
			code:  func(c *Contract) []byte { return Code(I32Const(65534), Call(c.Host("input_read")), I32Const(0)) },
			input: []byte("hello"), outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "output_write replaces an earlier output", imports: []string{"output_write"}, data: map[int32][]byte{0: []byte("firstsecond")},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(5), Call(c.Host("output_write")), output(c, 5, 6))
			},
			outcome: ok, output: []byte("second"),
		},
		{
			name: "output at the limit", imports: []string{"output_write"},
			code:    func(c *Contract) []byte { return output(c, 0, abi.MaxOutputBytes) },
			outcome: ok, output: make([]byte, abi.MaxOutputBytes),
		},
		{
			name: "output over the limit", imports: []string{"output_write"},
			code:    func(c *Contract) []byte { return output(c, 0, abi.MaxOutputBytes+1) },
			outcome: trapped, reason: contract.ReasonOutputTooLarge,
		},
		{
			name: "output outside memory", imports: []string{"output_write"},
			code:    func(c *Contract) []byte { return output(c, 65530, 7) },
			outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "a non-zero return is an error with the output as its text", imports: []string{"output_write"}, data: map[int32][]byte{0: []byte("bad request")},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(11), Call(c.Host("output_write")), I32Const(3))
			},
			outcome: fail, output: []byte("bad request"),
		},
		{
			name: "storage_get and return_read", imports: []string{"output_write", "storage_get", "return_read"}, data: map[int32][]byte{0: []byte("k")},
			store: map[string]string{"k": "value"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(1), Call(c.Host("storage_get")), Drop, I32Const(16), Call(c.Host("return_read")), output(c, 16, 5))
			},
			outcome: ok, output: []byte("value"),
			gas: 1 + 11 + (1000 + 10*(1+5)) + (100 + 5) + (100 + 5),
		},
		{
			name: "storage_get of an absent key is -1", imports: []string{"output_write", "storage_get"}, data: map[int32][]byte{0: []byte("k")},
			code: func(c *Contract) []byte {
				return outI64(c, Code(I32Const(0), I32Const(1), Call(c.Host("storage_get"))))
			},
			outcome: ok, output: le64(-1),
		},
		{
			name: "storage_get with a key over the limit", imports: []string{"storage_get"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(abi.MaxKeyBytes+1), Call(c.Host("storage_get")), Drop, I32Const(0))
			},
			outcome: trapped, reason: "storage: key of 257 bytes, at most 256",
		},
		{
			name: "storage_set writes the store", imports: []string{"storage_set"}, data: map[int32][]byte{0: []byte("keyvalue")},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(3), I32Const(3), I32Const(5), Call(c.Host("storage_set")), I32Const(0))
			},
			outcome: ok, gas: 1 + 7 + 2000 + 20*(3+5),
		},
		{
			name: "storage_set with an empty key", imports: []string{"storage_set"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(0), I32Const(0), I32Const(1), Call(c.Host("storage_set")), I32Const(0))
			},
			outcome: trapped, reason: "storage: empty key",
		},
		{
			name: "storage_get with an empty key", imports: []string{"storage_get"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(0), Call(c.Host("storage_get")), Drop, I32Const(0))
			},
			outcome: trapped, reason: "storage: empty key",
		},
		{
			name: "storage_delete with an empty key", imports: []string{"storage_delete"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(0), Call(c.Host("storage_delete")), I32Const(0))
			},
			outcome: trapped, reason: "storage: empty key",
		},
		{
			name: "storage_set with a value over the limit", imports: []string{"storage_set"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(1), I32Const(0), I32Const(abi.MaxValueBytes+1), Call(c.Host("storage_set")), I32Const(0))
			},
			outcome: trapped, reason: "storage: value of 65537 bytes, at most 65536",
		},
		{
			name: "storage_set outside memory", imports: []string{"storage_set"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(1), I32Const(65535), I32Const(2), Call(c.Host("storage_set")), I32Const(0))
			},
			outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "storage_delete", imports: []string{"storage_delete", "storage_get", "output_write"}, data: map[int32][]byte{0: []byte("k")},
			store: map[string]string{"k": "v"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(1), Call(c.Host("storage_delete")), outI64(c, Code(I32Const(0), I32Const(1), Call(c.Host("storage_get")))))
			},
			outcome: ok, output: le64(-1),
		},
		{
			name: "storage_delete with a key over the limit", imports: []string{"storage_delete"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(300), Call(c.Host("storage_delete")), I32Const(0))
			},
			outcome: trapped, reason: "storage: key of 300 bytes, at most 256",
		},
		{
			name: "storage_next iterates a prefix in key order", imports: []string{"storage_next", "return_read", "output_write"}, data: map[int32][]byte{0: []byte("a")},
			store: map[string]string{"a1": "", "a2": "", "b1": "", "a": ""},
			code: func(c *Contract) []byte {
				next := func(after, alen int32) []byte {
					return Code(I32Const(after), I32Const(alen), I32Const(0), I32Const(1), Call(c.Host("storage_next")))
				}
				keyTo := func(p int32) []byte { return Code(Drop, I32Const(p), Call(c.Host("return_read"))) }
				// "a" (after ""), "a1" (after "a"), "a2" (after "a1") read to 16, 17 and 19; then -1 stored at 21.
				return Code(next(0, 0), keyTo(16), next(16, 1), keyTo(17), next(17, 2), keyTo(19),
					I32Const(21), next(19, 2), Mem(I64Store, 3, 0), output(c, 16, 13))
			},
			outcome: ok, output: append([]byte("aa1a2"), bytes.Repeat([]byte{0xff}, 8)...),
		},
		{
			name: "storage_next past the last key is -1", imports: []string{"storage_next", "output_write"}, data: map[int32][]byte{0: []byte("zz")},
			store: map[string]string{"a": ""},
			code: func(c *Contract) []byte {
				return outI64(c, Code(I32Const(0), I32Const(2), I32Const(0), I32Const(0), Call(c.Host("storage_next"))))
			},
			outcome: ok, output: le64(-1),
		},
		{
			name: "caller and contract_id", imports: []string{"caller", "contract_id", "output_write"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), Call(c.Host("caller")), I32Const(20), Call(c.Host("contract_id")), output(c, 0, 52))
			},
			outcome: ok, output: append(bytes.Clone(testCaller[:]), testContract[:]...),
		},
		{
			name: "block_height", imports: []string{"block_height", "output_write"},
			code:    func(c *Contract) []byte { return outI64(c, Call(c.Host("block_height"))) },
			outcome: ok, output: le64(7),
		},
		{
			name: "block_time", imports: []string{"block_time", "output_write"},
			code:    func(c *Contract) []byte { return outI64(c, Call(c.Host("block_time"))) },
			outcome: ok, output: le64(timeNS),
		},
		{
			name: "random is the seed's AES-CTR keystream, shared with random_get", imports: []string{"random", "random_get", "output_write"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(10), Call(c.Host("random")), I32Const(10), I32Const(22), Call(c.Host("random_get")), Drop, output(c, 0, 32))
			},
			outcome: ok, output: keystream(32), gas: 1 + 12 + (100 + 2*10) + (100 + 2*22) + (100 + 32),
		},
		{
			name: "random over the limit", imports: []string{"random"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(abi.MaxRandomBytes+1), Call(c.Host("random")), I32Const(0))
			},
			outcome: trapped, reason: "random: 1025 bytes requested, at most 1024",
		},
		{
			name: "emit", imports: []string{"emit"}, data: map[int32][]byte{0: []byte("out.v1payload")},
			code:    func(c *Contract) []byte { return emitCode(c, 1, 6, 7) },
			outcome: ok, gas: 1 + 7 + 1000 + 20*(6+7),
			check: func(t *testing.T, res *contract.Result) {
				if len(res.Emitted) != 1 || res.Emitted[0].Suffix != "out.v1" || string(res.Emitted[0].Payload) != "payload" {
					t.Errorf("emitted %+v", res.Emitted)
				}
			},
		},
		{
			name: "emit 16 messages", imports: []string{"emit"}, data: map[int32][]byte{0: []byte("t")},
			code:    func(c *Contract) []byte { return emitCode(c, abi.MaxEmits, 1, 0) },
			outcome: ok,
			check: func(t *testing.T, res *contract.Result) {
				if len(res.Emitted) != abi.MaxEmits {
					t.Errorf("%d messages emitted", len(res.Emitted))
				}
			},
		},
		{
			name: "emit a 17th message", imports: []string{"emit"}, data: map[int32][]byte{0: []byte("t")},
			code:    func(c *Contract) []byte { return emitCode(c, abi.MaxEmits+1, 1, 0) },
			outcome: trapped, reason: "emit: more than 16 messages",
		},
		{
			name: "emit a payload over the limit", imports: []string{"emit"}, data: map[int32][]byte{0: []byte("t")},
			code:    func(c *Contract) []byte { return emitCode(c, 1, 1, abi.MaxEmitPayload+1) },
			outcome: trapped, reason: "emit: payload of 16385 bytes, at most 16384",
		},
		{
			name: "emit with an empty suffix", imports: []string{"emit"},
			code:    func(c *Contract) []byte { return emitCode(c, 1, 0, 1) },
			outcome: trapped, reason: "emit: topic suffix of 0 bytes, want 1..44",
		},
		{
			name: "emit with a suffix over the limit", imports: []string{"emit"}, data: map[int32][]byte{0: bytes.Repeat([]byte("a"), 45)},
			code:    func(c *Contract) []byte { return emitCode(c, 1, int32(protocol.MaxOutputSuffix)+1, 1) },
			outcome: trapped, reason: "emit: topic suffix of 45 bytes, want 1..44",
		},
		{
			name: "emit with an empty segment in the suffix", imports: []string{"emit"}, data: map[int32][]byte{0: []byte("a//b")},
			code:    func(c *Contract) []byte { return emitCode(c, 1, 4, 1) },
			outcome: trapped, reason: "emit: invalid topic suffix",
		},
		{
			name: "storage_next with a prefix over the key limit", imports: []string{"storage_next"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(0), I32Const(0), I32Const(257), Call(c.Host("storage_next")), Drop, I32Const(0))
			},
			outcome: trapped, reason: "storage: key of 257 bytes, at most 256",
		},
		{
			name: "return_read outside memory", imports: []string{"storage_get", "return_read"}, data: map[int32][]byte{0: []byte("k")},
			store: map[string]string{"k": "value"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(1), Call(c.Host("storage_get")), Drop, I32Const(65534), Call(c.Host("return_read")), I32Const(0))
			},
			outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "sha256", imports: []string{"sha256", "output_write"}, data: map[int32][]byte{0: []byte("hello")},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(5), I32Const(64), Call(c.Host("sha256")), output(c, 64, 32))
			},
			outcome: ok, output: digest[:],
		},
		{
			name: "sha256 output outside memory", imports: []string{"sha256"},
			code: func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(5), I32Const(65530), Call(c.Host("sha256")), I32Const(0))
			},
			outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "ed25519_verify accepts a good signature", imports: []string{"ed25519_verify", "output_write"}, data: sigData,
			code: func(c *Contract) []byte {
				return outI32(c, Code(I32Const(0), I32Const(96), I32Const(int32(len(msg))), I32Const(32), Call(c.Host("ed25519_verify"))))
			},
			outcome: ok, output: le32(1),
		},
		{
			name: "ed25519_verify refuses a message it did not sign", imports: []string{"ed25519_verify", "output_write"}, data: sigData,
			code: func(c *Contract) []byte {
				return outI32(c, Code(I32Const(0), I32Const(96), I32Const(int32(len(msg))-1), I32Const(32), Call(c.Host("ed25519_verify"))))
			},
			outcome: ok, output: le32(0),
		},
		{
			// The command is one segment, charged whole at its start.
			name: "gas_left is the counter after its own charge", imports: []string{"gas_left", "output_write"},
			code:    func(c *Contract) []byte { return outI64(c, Call(c.Host("gas_left"))) },
			outcome: ok, output: le64(testGas - abi.GrowPageGas - 1 - 8 - 100), // the instance, _initialize, the command's 8 instructions, gas_left's price
		},
		{
			name: "debug_log outside memory traps even without Debug", imports: []string{"debug_log"},
			code: func(c *Contract) []byte {
				return Code(I32Const(65535), I32Const(2), Call(c.Host("debug_log")), I32Const(0))
			},
			outcome: trapped, reason: contract.ReasonOutOfBounds,
		},
		{
			name: "out of gas inside a host function", imports: []string{"output_write"},
			code: func(c *Contract) []byte {
				return Code(Loop(BlockEmpty), I32Const(0), I32Const(1000), Call(c.Host("output_write")), Br(0), End, I32Const(0))
			},
			outcome: protocol.OutcomeOutOfGas, reason: contract.ReasonOutOfGas, gas: testGas,
		},
	}
}

// instancePrice is the price of a one-page contract instance with the
// given data segments (meter.Metered.InstanceGas).
func instancePrice(data map[int32][]byte) uint64 {
	price := uint64(abi.GrowPageGas)
	for _, d := range data {
		price += uint64(len(d)) >> abi.BulkByteShift
	}
	return price
}

// TestHostFunctions runs each host function case in both engine modes.
func TestHostFunctions(t *testing.T) {
	t.Parallel()
	for _, tc := range hostCases() {
		c := NewContract(1, tc.imports...)
		for off, b := range tc.data {
			c.Data(off, b)
		}
		c.Entry(abi.ExportCommand, nil, tc.code(c))
		wasm := c.Encode()
		for _, m := range modes(t) {
			code, err := m.e.Compile(t.Context(), wasm)
			if err != nil {
				t.Errorf("%s/%s: compile: %v", m.name, tc.name, err)
				continue
			}
			store := newStore()
			for k, v := range tc.store {
				store.put(k, v)
			}
			res := run(t, m.e, code, call(contract.EntryCommand, tc.input, store))
			expect(t, m.name+"/"+tc.name, res, tc.outcome, tc.reason, tc.output)
			want := tc.gas + instancePrice(tc.data)
			if tc.outcome == protocol.OutcomeOutOfGas {
				want = tc.gas // the limit
			}
			if tc.gas != 0 && res.GasUsed != want {
				t.Errorf("%s/%s: gas used %d, want %d", m.name, tc.name, res.GasUsed, want)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
			if strings.HasPrefix(tc.name, "storage_set writes") {
				if v, _ := store.Get([]byte("key")); string(v) != "value" {
					t.Errorf("%s/%s: store has %q", m.name, tc.name, v)
				}
			}
		}
	}
}
