package protocol_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Every untrusted input has one decoder; each fuzz target below checks that
// its decoder never panics, that every refusal carries a protocol error code,
// and that whatever it accepts re-encodes to exactly the input: one accepted
// encoding per value.

func mustCode(t *testing.T, err error) {
	t.Helper()
	if _, ok := protocol.CodeOf(err); !ok {
		t.Fatalf("refusal without a protocol error code: %v", err)
	}
}

func FuzzDecodeTx(f *testing.F) {
	tx := sampleTx(f)
	f.Add(protocol.SignTx(testKey(1), tx))
	push, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, &protocol.PushArgs{Topic: "a/b", Payload: []byte{1}})
	f.Add(protocol.SignTx(testKey(2), protocol.Tx{ChainID: testChainID, Nonce: 1 << 33, Fee: 1, Call: push}))
	f.Add(protocol.SignTx(testKey(3), protocol.Tx{Call: protocol.Call{Args: protocol.RawCBOR{cborNull}}}))
	f.Add(protocol.MustMarshal(&protocol.SignedTx{}))
	f.Add([]byte{})
	sig, body := signedTxFields()
	f.Add(cMap(body, sig))

	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := protocol.DecodeTx(raw, testMaxTx)
		if err != nil {
			mustCode(t, err)
			if d != nil {
				t.Fatal("DecodeTx returned a tx with an error")
			}
			return
		}
		if got := protocol.MustMarshal(&protocol.SignedTx{Body: d.Body, Sig: d.Sig}); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		if got := protocol.MustMarshal(&d.Tx); !bytes.Equal(got, d.Body) {
			t.Fatalf("accepted body %x, which re-encodes as %x", d.Body, got)
		}
		if len(d.Signer) != 32 || len(d.Sig) != 64 || d.Hash != sha256.Sum256(raw) || d.Address != protocol.AddressOf(d.Signer) {
			t.Fatalf("accepted a malformed tx: %+v", d)
		}
		if err := d.VerifySignature(); err != nil && !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("VerifySignature = %v", err)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, o := range originsOfEveryKind() {
		m := protocol.Message{Origin: o, Topic: "phala/x/y", Seq: 1 << 20, Payload: []byte("p")}
		f.Add(m.Encode())
	}
	f.Add(canonicalMessage())
	for _, r := range messageRefusals() {
		f.Add(r.data)
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := protocol.DecodeMessage(raw)
		if err != nil {
			mustCode(t, err)
			return
		}
		if got := m.Encode(); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		if m.Origin.Validate() != nil || protocol.ValidateTopic(m.Topic) != nil {
			t.Fatalf("accepted an invalid message: %+v", m)
		}
	})
}

func FuzzDecodeBlockMessages(f *testing.F) {
	f.Add(protocol.MustMarshal(sampleBlockMessages()))
	f.Add(protocol.MustMarshal(&protocol.BlockMessages{}))
	f.Add(protocol.MustMarshal(&protocol.BlockMessages{StateRoot: []byte{1}, Messages: [][]byte{canonicalMessage()}}))
	f.Add(protocol.MustMarshal(&protocol.BlockMessages{Messages: [][]byte{{0xa0}}}))

	f.Fuzz(func(t *testing.T, raw []byte) {
		b, msgs, err := protocol.DecodeBlockMessages(raw)
		if err != nil {
			mustCode(t, err)
			return
		}
		if got := protocol.MustMarshal(b); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		if len(msgs) != len(b.Messages) {
			t.Fatalf("%d messages decoded from %d", len(msgs), len(b.Messages))
		}
		for i, m := range msgs {
			if !bytes.Equal(m.Encode(), b.Messages[i]) {
				t.Fatalf("message %d re-encodes differently", i)
			}
		}
		_ = b.AppHash()
	})
}

func sampleExecuteArgs(f *testing.F) []protocol.ExecuteArgs {
	params, err := protocol.Marshal(&protocol.SetParamsArgs{Params: protocol.DefaultParams()})
	if err != nil {
		f.Fatal(err)
	}
	vals, err := protocol.Marshal(&protocol.UpdateValidatorsArgs{Updates: []protocol.ValidatorUpdate{{PubKey: pubOf(testKey(8)), Power: 10}, {PubKey: pubOf(testKey(9)), Power: -1}}})
	if err != nil {
		f.Fatal(err)
	}
	var out []protocol.ExecuteArgs
	for i, action := range []protocol.GovAction{{Kind: protocol.ActionSetParams, Args: params}, {Kind: protocol.ActionUpdateValidators, Args: vals}} {
		proposal := protocol.MustMarshal(&protocol.GovProposal{ChainID: testChainID, GovNonce: uint64(i), Action: action})
		var approvals []protocol.Approval
		for _, k := range []byte{1, 2} {
			approvals = append(approvals, protocol.Approval{PubKey: pubOf(testKey(k)), Sig: protocol.Sign(testKey(k), protocol.SigGovernance, proposal)})
		}
		out = append(out, protocol.ExecuteArgs{Action: action, GovNonce: uint64(i), Approvals: approvals})
	}
	return out
}

func FuzzUnmarshalExecuteArgs(f *testing.F) {
	for _, a := range sampleExecuteArgs(f) {
		f.Add(protocol.MustMarshal(&a))
	}
	f.Add(protocol.MustMarshal(&protocol.ExecuteArgs{Action: protocol.GovAction{Args: protocol.RawCBOR{0x80}}}))

	f.Fuzz(func(t *testing.T, raw []byte) {
		var a protocol.ExecuteArgs
		if err := protocol.Unmarshal(raw, &a); err != nil {
			mustCode(t, err)
			return
		}
		if got := protocol.MustMarshal(&a); !bytes.Equal(got, raw) {
			t.Fatalf("accepted %x, which re-encodes as %x", raw, got)
		}
		// The action's arguments are read by their module, with the same rule.
		var sp protocol.SetParamsArgs
		if err := protocol.Unmarshal(a.Action.Args, &sp); err == nil && !bytes.Equal(protocol.MustMarshal(&sp), a.Action.Args) {
			t.Fatalf("accepted set_params args %x, which re-encode differently", a.Action.Args)
		}
		var uv protocol.UpdateValidatorsArgs
		if err := protocol.Unmarshal(a.Action.Args, &uv); err == nil && !bytes.Equal(protocol.MustMarshal(&uv), a.Action.Args) {
			t.Fatalf("accepted update_validators args %x, which re-encode differently", a.Action.Args)
		}
	})
}

func FuzzParseOrigin(f *testing.F) {
	for _, o := range originsOfEveryKind() {
		f.Add(o.String())
	}
	for _, s := range []string{"", "gatekeeper:", "module:", "account:zz", "unknown(7):00", "worker:" + sampleAddress().String()} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		o, err := protocol.ParseOrigin(s)
		if err != nil {
			if !errors.Is(err, protocol.ErrBadOrigin) {
				t.Fatalf("ParseOrigin(%q) = %v, want ErrBadOrigin", s, err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("ParseOrigin(%q) accepted an invalid origin: %v", s, err)
		}
		text := o.String()
		back, err := protocol.ParseOrigin(text)
		if err != nil {
			t.Fatalf("ParseOrigin(%q) = %v, but %q parses", text, err, s)
		}
		if back.Kind != o.Kind || !bytes.Equal(back.ID, o.ID) || back.String() != text {
			t.Fatalf("%q parses as %v, whose text %q parses as %v", s, o, text, back)
		}
	})
}
