package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

const testMaxTx = 1 << 20

func sampleTx(t testing.TB) protocol.Tx {
	call, err := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, &protocol.TransferArgs{To: sampleAddress(), Amount: 10})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Tx{ChainID: testChainID, Nonce: 4, Fee: 1000, Call: call}
}

func TestSignTxDecodesAndVerifies(t *testing.T) {
	k := testKey(6)
	tx := sampleTx(t)
	raw := protocol.SignTx(k, tx)

	d, err := protocol.DecodeTx(raw, testMaxTx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Signer, pubOf(k)) || d.Address != protocol.AddressOf(pubOf(k)) {
		t.Fatalf("signer %x address %s, want %x %s", d.Signer, d.Address, pubOf(k), protocol.AddressOf(pubOf(k)))
	}
	if d.ChainID != tx.ChainID || d.Nonce != tx.Nonce || d.Fee != tx.Fee || d.Call.Module != tx.Call.Module ||
		d.Call.Method != tx.Call.Method || !bytes.Equal(d.Call.Args, tx.Call.Args) {
		t.Fatalf("decoded %+v, want %+v", d.Tx, tx)
	}
	if d.Hash != sha256.Sum256(raw) {
		t.Fatalf("Hash = %x, want SHA-256 of the raw tx", d.Hash)
	}
	if !protocol.Verify(d.Signer, protocol.SigTx, d.Body, d.Sig) {
		t.Fatal("signature is not over SigTx || Body")
	}
	var args protocol.TransferArgs
	if err := protocol.Unmarshal(d.Call.Args, &args); err != nil || args.To != sampleAddress() || args.Amount != 10 {
		t.Fatalf("call args = %+v, %v", args, err)
	}
}

func TestSignTxSetsSignerFromKey(t *testing.T) {
	tx := sampleTx(t)
	tx.Signer = pubOf(testKey(9)) // ignored
	d, err := protocol.DecodeTx(protocol.SignTx(testKey(6), tx), testMaxTx)
	if err != nil || !bytes.Equal(d.Signer, pubOf(testKey(6))) {
		t.Fatalf("signer = %x, %v; want the signing key", d.Signer, err)
	}
}

func TestVerifySignatureRefuses(t *testing.T) {
	k := testKey(6)
	raw := protocol.SignTx(k, sampleTx(t))
	cases := map[string]func(st *protocol.SignedTx){
		"altered signature": func(st *protocol.SignedTx) { st.Sig[5] ^= 1 },
		"signed by another key": func(st *protocol.SignedTx) {
			st.Sig = protocol.Sign(testKey(7), protocol.SigTx, st.Body)
		},
		"signed under another context": func(st *protocol.SignedTx) {
			st.Sig = protocol.Sign(k, protocol.SigMessage, st.Body)
		},
		"altered body": func(st *protocol.SignedTx) {
			tx := sampleTx(t)
			tx.Signer, tx.Fee = pubOf(k), 1
			st.Body = protocol.MustMarshal(&tx)
		},
	}
	for name, alter := range cases {
		t.Run(name, func(t *testing.T) {
			var st protocol.SignedTx
			if err := protocol.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			alter(&st)
			d, err := protocol.DecodeTx(protocol.MustMarshal(&st), testMaxTx)
			if err != nil {
				t.Fatalf("DecodeTx: %v (decoding must not check the signature)", err)
			}
			if err := d.VerifySignature(); !errors.Is(err, protocol.ErrBadSignature) {
				t.Fatalf("VerifySignature = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestDecodeTxRefusesOversized(t *testing.T) {
	raw := protocol.SignTx(testKey(6), sampleTx(t))
	if _, err := protocol.DecodeTx(raw, len(raw)); err != nil {
		t.Fatalf("tx of exactly the limit: %v", err)
	}
	if _, err := protocol.DecodeTx(raw, len(raw)-1); !errors.Is(err, protocol.ErrOversized) {
		t.Fatalf("tx one byte over the limit: %v, want ErrOversized", err)
	}
	if _, err := protocol.DecodeTx(make([]byte, 100), 99); !errors.Is(err, protocol.ErrOversized) {
		t.Fatalf("garbage over the limit: %v, want ErrOversized before decoding", err)
	}
}

func TestDecodeTxRefuses(t *testing.T) {
	k := testKey(6)
	tx := sampleTx(t)
	tx.Signer = pubOf(k)
	body := protocol.MustMarshal(&tx)
	raw := protocol.SignTx(k, sampleTx(t))
	sig := protocol.Sign(k, protocol.SigTx, body)
	addr := sampleAddress()
	envelope := func(body, sig []byte) []byte {
		return protocol.MustMarshal(&protocol.SignedTx{Body: body, Sig: sig})
	}
	withSigner := func(signer []byte) []byte {
		tx := tx
		tx.Signer = signer
		b := protocol.MustMarshal(&tx)
		return envelope(b, sig)
	}
	// The body with its keys in struct order instead of canonical order.
	unsortedBody := cMap(
		kv{"chain_id", cText(tx.ChainID)}, kv{"signer", cBytes(tx.Signer)}, kv{"nonce", cUint(tx.Nonce)},
		kv{"fee", cUint(tx.Fee)}, kv{"call", protocol.MustMarshal(&tx.Call)},
	)
	cases := []refusal{
		{"empty", nil, protocol.ErrMalformed},
		{"not CBOR", []byte("hello"), protocol.ErrMalformed},
		{"envelope is an array", cArray(cBytes(body), cBytes(sig)), protocol.ErrMalformed},
		{"envelope trailing bytes", cat(raw, []byte{0}), protocol.ErrMalformed},
		{"envelope unknown field", cMap(kv{"sig", cBytes(sig)}, kv{"body", cBytes(body)}, kv{"extra", cUint(0)}), protocol.ErrMalformed},
		{"envelope keys unsorted", cMap(kv{"body", cBytes(body)}, kv{"sig", cBytes(sig)}), protocol.ErrNonCanonical},
		{"envelope null sig", cMap(kv{"sig", []byte{cborNull}}, kv{"body", cBytes(body)}), protocol.ErrNonCanonical},
		{"body not CBOR", envelope([]byte{0xff}, sig), protocol.ErrMalformed},
		{"body empty", envelope(nil, sig), protocol.ErrMalformed},
		{"body trailing bytes", envelope(cat(body, []byte{0}), sig), protocol.ErrMalformed},
		{"body unknown field", envelope(cat([]byte{body[0] + 1}, body[1:], cText("zzzzzzzzz"), cUint(0)), sig), protocol.ErrMalformed},
		{"body keys unsorted", envelope(unsortedBody, sig), protocol.ErrNonCanonical},
		{"body non-minimal length", envelope(cat(wideHead(majMap, 5, 1), body[1:]), sig), protocol.ErrNonCanonical},
		{"no signer", withSigner(nil), protocol.ErrBadSignature},
		{"signer 31 bytes", withSigner(pubOf(k)[:31]), protocol.ErrBadSignature},
		{"signer 33 bytes", withSigner(append(bytes.Clone(pubOf(k)), 0)), protocol.ErrBadSignature},
		{"signer is an address", withSigner(addr[:]), protocol.ErrBadSignature},
		{"no signature", envelope(body, nil), protocol.ErrBadSignature},
		{"signature 63 bytes", envelope(body, sig[:63]), protocol.ErrBadSignature},
		{"signature 65 bytes", envelope(body, append(bytes.Clone(sig), 0)), protocol.ErrBadSignature},
	}
	if _, err := protocol.DecodeTx(envelope(body, sig), testMaxTx); err != nil {
		t.Fatalf("fixture does not decode: %v", err)
	}
	if protocol.MustMarshal(&tx.Call)[0] != 0xa3 || unsortedBody[0] != 0xa5 {
		t.Fatal("fixture assumptions about map sizes are wrong")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := protocol.DecodeTx(tc.data, testMaxTx)
			if !errors.Is(err, tc.want) || d != nil {
				t.Fatalf("DecodeTx(%x) = %v, %v; want nil, %s", tc.data, d, err, tc.want.Msg)
			}
		})
	}
}

func TestErrorfKeepsIdentityAndAddsDetail(t *testing.T) {
	err := protocol.Errorf(protocol.ErrBadTopic, "topic %q", "a//b")
	if !errors.Is(err, protocol.ErrBadTopic) || errors.Is(err, protocol.ErrBadOrigin) {
		t.Fatalf("errors.Is is wrong for %v", err)
	}
	if got, want := err.Error(), `mq: bad message topic: topic "a//b"`; got != want {
		t.Fatalf("Error = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("message: %w", err)
	if e, ok := protocol.CodeOf(wrapped); !ok || e != protocol.ErrBadTopic {
		t.Fatalf("CodeOf(wrapped) = %v, %v", e, ok)
	}
}

func TestErrorIdentityIsSpaceAndCode(t *testing.T) {
	same := &protocol.Error{Space: protocol.SpaceTx, Code: protocol.ErrMalformed.Code, Msg: "other text"}
	if !errors.Is(same, protocol.ErrMalformed) {
		t.Error("same space and code, other text: not Is")
	}
	otherSpace := &protocol.Error{Space: protocol.SpaceAccounts, Code: protocol.ErrMalformed.Code, Msg: protocol.ErrMalformed.Msg}
	if errors.Is(otherSpace, protocol.ErrMalformed) {
		t.Error("other space, same code and text: Is")
	}
	if errors.Is(protocol.ErrMalformed, errors.New(protocol.ErrMalformed.Error())) {
		t.Error("Is matches a plain error with the same text")
	}
}

func TestCodeOf(t *testing.T) {
	for _, err := range []error{nil, errors.New("tx: malformed encoding"), fmt.Errorf("x: %w", errors.New("y"))} {
		if e, ok := protocol.CodeOf(err); ok || e != nil {
			t.Errorf("CodeOf(%v) = %v, %v; want none", err, e, ok)
		}
	}
	if e, ok := protocol.CodeOf(protocol.ErrFeeTooLow); !ok || e != protocol.ErrFeeTooLow {
		t.Errorf("CodeOf(ErrFeeTooLow) = %v, %v", e, ok)
	}
}

func TestFromWireRebuildsKnownErrors(t *testing.T) {
	for _, want := range []*protocol.Error{protocol.ErrMalformed, protocol.ErrBadSignature, protocol.ErrBadTopic, protocol.ErrNotAdmin, protocol.ErrProof} {
		err := protocol.FromWire(want.Space, want.Code, "the log")
		if !errors.Is(err, want) {
			t.Errorf("FromWire(%s, %d) is not %s", want.Space, want.Code, want.Msg)
		}
		if e, ok := protocol.CodeOf(err); !ok || e != want {
			t.Errorf("CodeOf(FromWire(%s, %d)) = %v, want the defined error", want.Space, want.Code, e)
		}
		if err.Error() != "the log" {
			t.Errorf("Error = %q, want the wire log", err.Error())
		}
		if got := protocol.FromWire(want.Space, want.Code, "").Error(); got != want.Error() {
			t.Errorf("without log: Error = %q, want %q", got, want.Error())
		}
	}
	// Same code in another space is another error.
	if errors.Is(protocol.FromWire(protocol.SpaceAccounts, protocol.ErrMalformed.Code, ""), protocol.ErrMalformed) {
		t.Error("accounts/1 matches tx/1")
	}
}

func TestFromWireKeepsUnknownCodesApart(t *testing.T) {
	err := protocol.FromWire("future", 42, "something new")
	e, ok := protocol.CodeOf(err)
	if !ok || e.Space != "future" || e.Code != 42 {
		t.Fatalf("CodeOf = %+v, %v; want future/42", e, ok)
	}
	if !errors.Is(err, &protocol.Error{Space: "future", Code: 42}) {
		t.Error("unknown code does not match its own identity")
	}
	for _, other := range []*protocol.Error{{Space: "future", Code: 43}, {Space: "past", Code: 42}, protocol.ErrMalformed} {
		if errors.Is(err, other) {
			t.Errorf("future/42 matches %s/%d", other.Space, other.Code)
		}
	}
	if err.Error() != "something new" {
		t.Errorf("Error = %q", err.Error())
	}
	if !strings.Contains(protocol.FromWire("tx", 999, "").Error(), "999") {
		t.Error("unknown code without log does not name the code")
	}
}

func TestDefaultParamsAreValid(t *testing.T) {
	if err := protocol.DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParamsValidate(t *testing.T) {
	def := protocol.DefaultParams()
	with := func(f func(p *protocol.Params)) protocol.Params { p := def; f(&p); return p }
	cases := []struct {
		name string
		p    protocol.Params
		ok   bool
	}{
		{"smallest tx limit", with(func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = protocol.MinTxBytes, protocol.MinTxBytes-1 }), true},
		{"largest limits", with(func(p *protocol.Params) {
			p.MaxTxBytes, p.MaxPayloadBytes = protocol.LimitTxBytes, protocol.LimitPayloadBytes
		}), true},
		{"one message per block", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = 1 }), true},
		{"zero fee", with(func(p *protocol.Params) { p.MinFee = 0 }), true},
		{"tx limit below the floor", with(func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = protocol.MinTxBytes-1, 1 }), false},
		{"largest fee", with(func(p *protocol.Params) { p.MinFee = protocol.LimitMinFee }), true},
		{"fee above its limit", with(func(p *protocol.Params) { p.MinFee = protocol.LimitMinFee + 1 }), false},
		{"most messages per block", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.LimitMessagesPerBlock }), true},
		{"too many messages per block", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = protocol.LimitMessagesPerBlock + 1 }), false},
		{"longest serve timeout and rotation interval", with(func(p *protocol.Params) {
			p.ServeTimeout, p.RotationInterval = protocol.LimitBlocks, protocol.LimitBlocks
		}), true},
		{"serve timeout above its limit", with(func(p *protocol.Params) { p.ServeTimeout = protocol.LimitBlocks + 1 }), false},
		{"rotation interval above its limit", with(func(p *protocol.Params) { p.RotationInterval = protocol.LimitBlocks + 1 }), false},
		{"tx limit zero", with(func(p *protocol.Params) { p.MaxTxBytes = 0 }), false},
		{"tx limit above hard limit", with(func(p *protocol.Params) { p.MaxTxBytes = protocol.LimitTxBytes + 1 }), false},
		{"payload limit zero", with(func(p *protocol.Params) { p.MaxPayloadBytes = 0 }), false},
		{"payload limit above hard limit", with(func(p *protocol.Params) {
			p.MaxTxBytes, p.MaxPayloadBytes = protocol.LimitTxBytes, protocol.LimitPayloadBytes+1
		}), false},
		{"payload limit equals tx limit", with(func(p *protocol.Params) { p.MaxPayloadBytes = p.MaxTxBytes }), false},
		{"payload limit above tx limit", with(func(p *protocol.Params) { p.MaxTxBytes, p.MaxPayloadBytes = protocol.MinTxBytes, protocol.MinTxBytes+1 }), false},
		{"no messages per block", with(func(p *protocol.Params) { p.MaxMessagesPerBlock = 0 }), false},
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

func sampleGenesis() protocol.GenesisState {
	return protocol.GenesisState{
		Params: protocol.DefaultParams(),
		Governance: protocol.GovernanceGenesis{
			Admins:    []protocol.HexBytes{pubOf(testKey(1)), pubOf(testKey(2)), pubOf(testKey(3))},
			Threshold: 2,
		},
		Accounts: []protocol.GenesisAccount{
			{Address: protocol.AddressOf(pubOf(testKey(1))), Balance: 100},
			{Address: protocol.AddressOf(pubOf(testKey(2))), Balance: 0},
		},
	}
}

func genesisJSON(t *testing.T, g protocol.GenesisState) []byte {
	t.Helper()
	raw, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseGenesisState(t *testing.T) {
	g := sampleGenesis()
	got, err := protocol.ParseGenesisState(genesisJSON(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if got.Params != g.Params || got.Governance.Threshold != 2 || len(got.Governance.Admins) != 3 ||
		!bytes.Equal(got.Governance.Admins[1], g.Governance.Admins[1]) || len(got.Accounts) != 2 || got.Accounts[0] != g.Accounts[0] {
		t.Fatalf("parsed %+v, want %+v", got, g)
	}
}

func TestParseGenesisStateRefuses(t *testing.T) {
	with := func(f func(g *protocol.GenesisState)) func(*testing.T) []byte {
		return func(t *testing.T) []byte { g := sampleGenesis(); f(&g); return genesisJSON(t, g) }
	}
	text := func(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	cases := map[string]func(*testing.T) []byte{
		"not JSON":               text("{"),
		"empty":                  text(""),
		"all defaults (zeros)":   text("{}"),
		"bad params":             with(func(g *protocol.GenesisState) { g.Params.MaxMessagesPerBlock = 0 }),
		"no admins":              with(func(g *protocol.GenesisState) { g.Governance.Admins = nil; g.Governance.Threshold = 0 }),
		"threshold zero":         with(func(g *protocol.GenesisState) { g.Governance.Threshold = 0 }),
		"threshold above admins": with(func(g *protocol.GenesisState) { g.Governance.Threshold = 4 }),
		"admin key too short":    with(func(g *protocol.GenesisState) { g.Governance.Admins[1] = g.Governance.Admins[1][:31] }),
		"duplicate admin":        with(func(g *protocol.GenesisState) { g.Governance.Admins[2] = g.Governance.Admins[0] }),
		"duplicate account":      with(func(g *protocol.GenesisState) { g.Accounts[1].Address = g.Accounts[0].Address }),
		"more admins than governance transactions can carry": with(func(g *protocol.GenesisState) {
			for i := len(g.Governance.Admins); i <= protocol.MaxAdmins; i++ {
				g.Governance.Admins = append(g.Governance.Admins, pubOf(testKey(byte(10+i))))
			}
		}),
		"admin key not hex": func(t *testing.T) []byte {
			return bytes.Replace(genesisJSON(t, sampleGenesis()), []byte(`"admins":["`), []byte(`"admins":["zz`), 1)
		},
		"address too short": func(t *testing.T) []byte {
			a := protocol.AddressOf(pubOf(testKey(1))).String()
			return bytes.Replace(genesisJSON(t, sampleGenesis()), []byte(a), []byte(a[:38]), 1)
		},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			data := raw(t)
			if g, err := protocol.ParseGenesisState(data); err == nil || g != nil {
				t.Fatalf("ParseGenesisState(%s) = %+v, %v; want an error", data, g, err)
			}
		})
	}
	g := sampleGenesis()
	g.Params.MaxTxBytes = 0
	if _, err := protocol.ParseGenesisState(genesisJSON(t, g)); !errors.Is(err, protocol.ErrBadParams) {
		t.Fatalf("bad params: %v, want ErrBadParams", err)
	}
}
