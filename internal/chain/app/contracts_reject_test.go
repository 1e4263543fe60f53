package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// contractRejection is one way the contracts module refuses a transaction
// or a message. tx prepares the state it needs (through committed blocks)
// and returns the refused transaction; signer pays for it (alice if zero).
type contractRejection struct {
	name   string
	tx     func(s *contractsSetup) []byte
	signer protocol.Address
	want   *protocol.Error
}

// TestContractRejections covers every refusal of the contracts methods and
// of the messages contracts and members send: each is refused by CheckTx
// and by FinalizeBlock with its own code, and changes nothing but the
// signer's fee and nonce.
func TestContractRejections(t *testing.T) {
	var cases []contractRejection
	cases = append(cases, uploadRejections()...)
	cases = append(cases, instantiateRejections()...)
	cases = append(cases, commandRejections()...)
	cases = append(cases, contractMessageRejections()...)
	cases = append(cases, publicationRejections()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newContractsSetup(t)
			raw := c.tx(s)
			signer := c.signer
			if signer == (protocol.Address{}) {
				signer = addr(alice)
			}
			ck := s.ta.checkTx(raw)
			wantCode(t, "CheckTx", ck.Codespace, ck.Code, ck.Log, c.want)
			before := s.ta.stateDump()
			r := s.ta.finalize(raw).TxResults[0]
			wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
			s.ta.onlyFeeAndNonce(t, before, signer)
			if len(r.Events) != 0 {
				t.Fatalf("refused transaction emitted %d messages", len(r.Events))
			}
		})
	}
}

// TestContractChargesCountInTheMempool: a call's charge beyond the fee
// (here a command's prepaid gas) is taken in CheckTx's view of state, so
// of two pending commands whose charges together exceed the sender's
// balance the second is refused at admission, naming the charge, instead
// of being admitted and then failing in the block and losing its fee.
func TestContractChargesCountInTheMempool(t *testing.T) {
	s := newContractsSetup(t)
	carol := key("carol")
	p := protocol.DefaultParams()
	const gas = 10_000_000
	each := p.MinFee + p.GasFee(gas)
	s.mustOK(s.a.transfer(addr(carol), each+p.MinFee+p.GasFee(gas)/2)) // one command, and the fee of a second
	b := newTxBuilder(carol)
	args := protocol.CommandArgs{Contract: s.id, Epoch: 1, GasLimit: gas, Ciphertext: []byte("sealed")}
	if r := s.ta.checkTx(s.command(b, args)); r.Code != 0 {
		t.Fatalf("first command refused: %s", r.Log)
	}
	r := s.ta.checkTx(s.command(b, args))
	wantCode(t, "second command's CheckTx", r.Codespace, r.Code, r.Log, protocol.ErrInsufficientBalance)
	if !strings.Contains(r.Log, "the command's gas") {
		t.Fatalf("refusal %q does not name the charge", r.Log)
	}
}

func poorBuilder(s *contractsSetup) *txBuilder {
	b := newTxBuilder(poor)
	b.nonce = s.ta.account(addr(poor)).Nonce
	return b
}

func uploadRejections() []contractRejection {
	return []contractRejection{
		{name: "upload with an unknown compression", want: protocol.ErrBadCompression, tx: func(s *contractsSetup) []byte {
			return s.upload(testModule(1, 0), "zstd")
		}},
		{name: "upload of a corrupt gzip stream", want: protocol.ErrBadCompression, tx: func(s *contractsSetup) []byte {
			z := gzipped(s.ta.t, testModule(1, 0))
			z[len(z)-5] ^= 0xff // the CRC no longer matches
			return s.a.tx(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: z, Compression: protocol.CompressionGzip})
		}},
		{name: "upload labelled gzip that is not", want: protocol.ErrBadCompression, tx: func(s *contractsSetup) []byte {
			return s.a.tx(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: testModule(1, 0), Compression: protocol.CompressionGzip})
		}},
		{name: "upload of a gzip bomb", want: protocol.ErrCodeTooLarge, tx: func(s *contractsSetup) []byte {
			bomb := gzipped(s.ta.t, make([]byte, 16<<20)) // 16 MiB of zeros in about 16 KiB
			return s.a.tx(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: bomb, Compression: protocol.CompressionGzip})
		}},
		{name: "upload above max_code_bytes", want: protocol.ErrCodeTooLarge, tx: func(s *contractsSetup) []byte {
			p := protocol.DefaultParams()
			p.AllowSimAttestation = true
			p.MaxCodeBytes = 2048
			s.mustOK(s.govTx(protocol.ActionSetParams, protocol.SetParamsArgs{Params: p}))
			return s.upload(testModule(1, 2048), protocol.CompressionNone)
		}},
		{name: "upload of something that is not WebAssembly", want: protocol.ErrInvalidModule, tx: func(s *contractsSetup) []byte {
			return s.upload([]byte("#!/bin/sh\necho not a module\n"), protocol.CompressionGzip)
		}},
		{name: "upload of a module importing outside the ABI", want: protocol.ErrModuleImports, tx: func(s *contractsSetup) []byte {
			c := wasmtest.NewContract(1)
			c.Import("env", "now", wasmtest.Sig(nil, abi.I64))
			return s.upload(c.Encode(), protocol.CompressionGzip)
		}},
		{name: "upload of a module without its entry points", want: protocol.ErrModuleExports, tx: func(s *contractsSetup) []byte {
			m := wasmtest.New()
			m.Export(abi.ExportMemory, wasmtest.KindMemory, m.Memory(1, 0))
			return s.upload(m.Encode(), protocol.CompressionGzip)
		}},
		{name: "upload of a module using SIMD", want: protocol.ErrNonDeterministic, tx: func(s *contractsSetup) []byte {
			c := wasmtest.NewContract(1)
			c.Entry(abi.ExportCommand, nil, wasmtest.Code(wasmtest.Block(0x7b), wasmtest.End, wasmtest.I32Const(0)))
			return s.upload(c.Encode(), protocol.CompressionGzip)
		}},
		{name: "upload of code already uploaded", want: protocol.ErrCodeExists, tx: func(s *contractsSetup) []byte {
			return s.upload(testModule(0, 0), protocol.CompressionNone) // the same module, uncompressed this time
		}},
		{name: "upload the uploader cannot pay for", signer: addr(poor), want: protocol.ErrInsufficientBalance, tx: func(s *contractsSetup) []byte {
			code := testModule(2, 1000) // 1,000+ bytes; poor has 500 left after the fee
			return poorBuilder(s).tx(protocol.ModuleContracts, protocol.MethodUploadCode, protocol.UploadCodeArgs{Code: code})
		}},
		{name: "upload with malformed arguments", want: protocol.ErrBadArgs, tx: func(s *contractsSetup) []byte {
			return s.a.tx(protocol.ModuleContracts, protocol.MethodUploadCode, map[string]int{"code": 1})
		}},
	}
}

func instantiateRejections() []contractRejection {
	args := func(s *contractsSetup, edit func(a *protocol.InstantiateArgs)) []byte {
		a, _ := s.instantiateArgs(alice, []byte("fresh salt"), []byte("init"))
		edit(&a)
		return s.instantiate(s.a, a)
	}
	return []contractRejection{
		{name: "instantiate unknown code", want: protocol.ErrUnknownCode, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.CodeHash = bytes.Repeat([]byte{1}, 32) })
		}},
		{name: "instantiate in an unknown cluster", want: protocol.ErrUnknownCluster, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.Cluster = protocol.ClusterID("nowhere") })
		}},
		{name: "instantiate for a retired epoch", want: protocol.ErrRetiredEpoch, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.Epoch = 0 })
		}},
		{name: "instantiate for a future epoch", want: protocol.ErrFutureEpoch, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.Epoch = 2 })
		}},
		{name: "instantiate in a lost epoch", want: protocol.ErrEpochLost, tx: func(s *contractsSetup) []byte {
			s.loseEpoch()
			return args(s, func(*protocol.InstantiateArgs) {})
		}},
		{name: "instantiate in a cluster without a key yet", want: protocol.ErrNoContractKey, tx: func(s *contractsSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"}))
			return args(s, func(a *protocol.InstantiateArgs) { a.Cluster = protocol.ClusterID("beta") })
		}},
		{name: "instantiate with a 65-byte salt", want: protocol.ErrBadSalt, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.Salt = make([]byte, 65) })
		}},
		{name: "instantiate with no gas", want: protocol.ErrBadGasLimit, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.GasLimit = 0 })
		}},
		{name: "instantiate with more gas than max_command_gas", want: protocol.ErrBadGasLimit, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.GasLimit = protocol.DefaultParams().MaxCommandGas + 1 })
		}},
		{name: "instantiate with init arguments too large for a message", want: protocol.ErrContractTooLarge, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.InitArgs = make([]byte, protocol.DefaultParams().MaxPayloadBytes) })
		}},
		{name: "instantiate an existing contract", want: protocol.ErrContractExists, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.InstantiateArgs) { a.Salt = []byte("salt") })
		}},
		{name: "instantiate with gas the deployer cannot pay for", signer: addr(poor), want: protocol.ErrInsufficientBalance, tx: func(s *contractsSetup) []byte {
			a, _ := s.instantiateArgs(poor, []byte("s"), nil)
			a.GasLimit = 10_000_000 // 1,000 at the default price; poor has 500 left after the fee
			return s.instantiate(poorBuilder(s), a)
		}},
	}
}

func commandRejections() []contractRejection {
	args := func(s *contractsSetup, edit func(a *protocol.CommandArgs)) []byte {
		a := protocol.CommandArgs{Contract: s.id, Epoch: 1, GasLimit: 1000, Ciphertext: []byte("sealed")}
		edit(&a)
		return s.command(s.a, a)
	}
	return []contractRejection{
		{name: "command to an unknown contract", want: protocol.ErrUnknownContract, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.Contract = bytes.Repeat([]byte{9}, 32) })
		}},
		{name: "command to a contract whose init has not reported", want: protocol.ErrContractNotActive, tx: func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("pending"), nil)
			s.mustOK(s.publish(s.m.id, 1, id))
			return args(s, func(a *protocol.CommandArgs) { a.Contract = id })
		}},
		{name: "command for a retired epoch", want: protocol.ErrRetiredEpoch, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.Epoch = 0 })
		}},
		{name: "command for a future epoch", want: protocol.ErrFutureEpoch, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.Epoch = 2 })
		}},
		{name: "command in a lost epoch", want: protocol.ErrEpochLost, tx: func(s *contractsSetup) []byte {
			s.loseEpoch()
			return args(s, func(*protocol.CommandArgs) {})
		}},
		{name: "command to a contract without a key for the epoch", want: protocol.ErrNoContractKey, tx: func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("keyless"), nil)
			s.mustOK(s.report(s.m.id, id, protocol.ContractResult{Kind: protocol.ResultInit, Outcome: protocol.OutcomeOK}))
			return args(s, func(a *protocol.CommandArgs) { a.Contract = id })
		}},
		{name: "command with no gas", want: protocol.ErrBadGasLimit, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.GasLimit = 0 })
		}},
		{name: "command with more gas than max_command_gas", want: protocol.ErrBadGasLimit, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.GasLimit = protocol.DefaultParams().MaxCommandGas + 1 })
		}},
		{name: "command too large for a message", want: protocol.ErrContractTooLarge, tx: func(s *contractsSetup) []byte {
			return args(s, func(a *protocol.CommandArgs) { a.Ciphertext = make([]byte, protocol.DefaultParams().MaxPayloadBytes) })
		}},
		{name: "command with gas the sender cannot pay for", signer: addr(poor), want: protocol.ErrInsufficientBalance, tx: func(s *contractsSetup) []byte {
			return s.command(poorBuilder(s), protocol.CommandArgs{Contract: s.id, Epoch: 1, GasLimit: 10_000_000, Ciphertext: []byte("sealed")})
		}},
	}
}

func contractMessageRejections() []contractRejection {
	ok := func(kind string, index uint64) []byte {
		return protocol.MustMarshal(&protocol.ContractResult{Kind: kind, Index: index, Outcome: protocol.OutcomeOK})
	}
	return []contractRejection{
		{name: "message from an unknown contract", want: protocol.ErrUnknownContract, tx: func(s *contractsSetup) []byte {
			id := bytes.Repeat([]byte{5}, 32)
			return s.contractSays(s.m.id, id, protocol.ContractResultTopic(id), ok(protocol.ResultInit, 0))
		}},
		{name: "result signed by a worker outside the cluster", want: protocol.ErrNotClusterWorker, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.gk.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0))
		}},
		{name: "result signed by a member of another cluster", want: protocol.ErrNotClusterWorker, tx: func(s *contractsSetup) []byte {
			w := s.ta.registerWithKey("beta member")
			s.mustOK(s.govTx(protocol.ActionCreateCluster, protocol.ClusterArgs{Name: "beta"}))
			s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "beta", Worker: pub(w.id)}))
			return s.contractSays(w.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0))
		}},
		{name: "result signed by a worker removed from the cluster", want: protocol.ErrNotClusterWorker, tx: func(s *contractsSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(s.m.id)}))
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0))
		}},
		{name: "result signed by a member no longer active", want: protocol.ErrNotClusterWorker, tx: func(s *contractsSetup) []byte {
			s.mustOK(s.govTx(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement}))
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0))
		}},
		{name: "contract message on a topic outside its namespace", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, "echo", nil)
		}},
		{name: "contract message on another contract's result topic", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(bytes.Repeat([]byte{5}, 32)), ok(protocol.ResultCommand, 0))
		}},
		{name: "contract message on a topic of its namespace that is neither result nor output", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id)+"s", nil)
		}},
		{name: "malformed result", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), []byte{0xa1, 0x01})
		}},
		{name: "result with an unknown outcome", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.report(s.m.id, s.id, protocol.ContractResult{Kind: protocol.ResultCommand, Outcome: "maybe"})
		}},
		{name: "result of an unknown kind", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.report(s.m.id, s.id, protocol.ContractResult{Kind: "query", Outcome: protocol.OutcomeOK})
		}},
		{name: "init result with a command index", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			id := s.instantiateOK(s.a, []byte("pending"), nil)
			return s.contractSays(s.m.id, id, protocol.ContractResultTopic(id), ok(protocol.ResultInit, 1))
		}},
		{name: "second init result", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultInit, 0))
		}},
		{name: "result for a command that does not exist", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 1))
		}},
		{name: "second result for a command", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			s.mustOK(s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0)))
			return s.contractSays(s.m.id, s.id, protocol.ContractResultTopic(s.id), ok(protocol.ResultCommand, 0))
		}},
	}
}

func publicationRejections() []contractRejection {
	keysOf := func(s *contractsSetup, edit func(p *protocol.ContractKeys)) []byte {
		p := s.publication(1, s.id)
		edit(&p)
		return s.workerSays(s.m.id, protocol.TopicContractKeys, protocol.MustMarshal(&p))
	}
	return []contractRejection{
		{name: "malformed key publication", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return s.workerSays(s.m.id, protocol.TopicContractKeys, []byte("keys"))
		}},
		{name: "key publication with too many keys", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return keysOf(s, func(p *protocol.ContractKeys) {
				for len(p.Keys) <= protocol.MaxKeysPerPublication {
					p.Keys = append(p.Keys, p.Keys[0])
				}
			})
		}},
		{name: "key publication with a key that is not X-Wing", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return keysOf(s, func(p *protocol.ContractKeys) { p.Keys[0].Pubkey = p.Keys[0].Pubkey[:100] })
		}},
		{name: "key publication with a key of another epoch", want: protocol.ErrBadContractMessage, tx: func(s *contractsSetup) []byte {
			return keysOf(s, func(p *protocol.ContractKeys) { p.Keys[0].Epoch = 2 })
		}},
	}
}

// loseEpoch makes the chain conclude that the current epoch's secret is
// lost: its only gatekeeper restarts (a new boot's key), so nobody holds it.
func (s *contractsSetup) loseEpoch() {
	s.ta.t.Helper()
	s.gk = s.ta.registerWithKey("gk")
	s.ta.finalize()
	if !s.epoch().Lost {
		s.ta.t.Fatal("epoch not lost after the gatekeeper restarted")
	}
}
