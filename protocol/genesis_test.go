package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

func TestDefaultContractParams(t *testing.T) {
	p := protocol.DefaultParams()
	if p.MaxCodeBytes != abi.MaxCodeBytes || p.CodeByteFee != 1 || p.MaxCommandGas != 1_000_000_000 ||
		p.MaxQueryGas != 100_000_000 || p.GasPrice != 100 || p.MaxTxBytes != 2<<20 {
		t.Fatalf("default params %+v", p)
	}
}

func TestContractParamsValidate(t *testing.T) {
	def := protocol.DefaultParams()
	with := func(f func(p *protocol.Params)) protocol.Params { p := def; f(&p); return p }
	cases := []struct {
		name string
		p    protocol.Params
		ok   bool
	}{
		{"smallest code limit", with(func(p *protocol.Params) { p.MaxCodeBytes = protocol.MinCodeBytes }), true},
		{"free code and gas", with(func(p *protocol.Params) { p.CodeByteFee, p.GasPrice = 0, 0 }), true},
		{"largest prices and budgets", with(func(p *protocol.Params) {
			p.CodeByteFee, p.GasPrice = protocol.LimitCodeByteFee, protocol.LimitGasPrice
			p.MaxCommandGas, p.MaxQueryGas = protocol.LimitGas, protocol.LimitGas
		}), true},
		{"code limit zero", with(func(p *protocol.Params) { p.MaxCodeBytes = 0 }), false},
		{"code limit below the minimum", with(func(p *protocol.Params) { p.MaxCodeBytes = protocol.MinCodeBytes - 1 }), false},
		{"code limit above the ABI's", with(func(p *protocol.Params) { p.MaxCodeBytes = abi.MaxCodeBytes + 1 }), false},
		{"code byte fee too high", with(func(p *protocol.Params) { p.CodeByteFee = protocol.LimitCodeByteFee + 1 }), false},
		{"no command gas", with(func(p *protocol.Params) { p.MaxCommandGas = 0 }), false},
		{"command gas too high", with(func(p *protocol.Params) { p.MaxCommandGas = protocol.LimitGas + 1 }), false},
		{"no query gas", with(func(p *protocol.Params) { p.MaxQueryGas = 0 }), false},
		{"query gas too high", with(func(p *protocol.Params) { p.MaxQueryGas = protocol.LimitGas + 1 }), false},
		{"gas price too high", with(func(p *protocol.Params) { p.GasPrice = protocol.LimitGasPrice + 1 }), false},
		{"the most messages per block, half of what pRuntime takes", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.MaxBlockMessages / 2 }), true},
		{"more messages per block than half of what pRuntime takes", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.MaxBlockMessages/2 + 1 }), false},
	}
	for _, tc := range cases {
		err := tc.p.Validate()
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, protocol.ErrBadParams) {
			t.Errorf("%s: %v, want ErrBadParams", tc.name, err)
		}
	}
}

func TestGasAndCodeFees(t *testing.T) {
	p := protocol.DefaultParams() // 100 per million gas, 1 per code byte
	cases := []struct {
		gas, want uint64
	}{
		{0, 0},
		{1, 1}, // rounded up: any gas costs something
		{10_000, 1},
		{10_001, 2},
		{1_000_000, 100},
		{1_000_000_000, 100_000},
		{math.MaxUint64, math.MaxUint64/10_000 + 1},
	}
	for _, c := range cases {
		if got := p.GasFee(c.gas); got != c.want {
			t.Errorf("GasFee(%d) = %d, want %d", c.gas, got, c.want)
		}
	}
	p.GasPrice = protocol.LimitGasPrice
	if got := p.GasFee(math.MaxUint64); got != math.MaxUint64 {
		t.Errorf("GasFee overflowing: %d, want saturation", got)
	}
	p.GasPrice = 0
	if got := p.GasFee(protocol.LimitGas); got != 0 {
		t.Errorf("free gas costs %d", got)
	}
	p = protocol.DefaultParams()
	if got := p.CodeFee(1 << 20); got != 1<<20 {
		t.Errorf("CodeFee(1 MiB) = %d", got)
	}
	p.CodeByteFee = protocol.LimitCodeByteFee
	if got := p.CodeFee(math.MaxUint64); got != math.MaxUint64 {
		t.Errorf("CodeFee overflowing: %d, want saturation", got)
	}
}

// TestLargestRepairFitsTheSmallestTxLimit: whatever parameters governance
// set, a set_params transaction carrying MaxAdmins approvals (the largest
// threshold), on a chain id as long as CometBFT allows, with every field at
// its widest encoding, fits in MinTxBytes. So max_tx_bytes can never lock
// governance out.
func TestLargestRepairFitsTheSmallestTxLimit(t *testing.T) {
	p := protocol.Params{
		MinFee: math.MaxUint64, MaxTxBytes: math.MaxUint64, MaxPayloadBytes: math.MaxUint64, MaxMessagesPerBlock: math.MaxUint64,
		AllowSimAttestation: true, RotationInterval: math.MaxUint64, AnnounceWindow: math.MaxUint64, ActivationDelay: math.MaxUint64,
		ServeTimeout: math.MaxUint64, MaxCodeBytes: math.MaxUint64, CodeByteFee: math.MaxUint64, MaxCommandGas: math.MaxUint64,
		MaxQueryGas: math.MaxUint64, GasPrice: math.MaxUint64,
	}
	chainID := strings.Repeat("c", 50) // CometBFT's MaxChainIDLen
	action := protocol.GovAction{Kind: protocol.ActionSetParams, Args: protocol.MustMarshal(&protocol.SetParamsArgs{Params: p})}
	args := protocol.ExecuteArgs{Action: action, GovNonce: math.MaxUint64}
	for i := range protocol.MaxAdmins {
		k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i)}, 32))
		args.Approvals = append(args.Approvals, protocol.Approval{PubKey: k.Public().(ed25519.PublicKey),
			Sig: protocol.Sign(k, protocol.SigGovernance, (&protocol.GovProposal{ChainID: chainID, GovNonce: args.GovNonce, Action: action}).Bytes())})
	}
	call, err := protocol.NewCall(protocol.ModuleGovernance, protocol.MethodExecute, args)
	if err != nil {
		t.Fatal(err)
	}
	payer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xff}, 32))
	raw := protocol.SignTx(payer, protocol.Tx{ChainID: chainID, Nonce: math.MaxUint64, Fee: math.MaxUint64, Call: call})
	if len(raw) > protocol.MinTxBytes {
		t.Fatalf("the largest set_params is %d bytes, above the %d-byte floor of max_tx_bytes", len(raw), protocol.MinTxBytes)
	}
	t.Logf("largest set_params: %d bytes; floor %d", len(raw), protocol.MinTxBytes)
}
