package app

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/phala-go/phala/protocol"
)

// stateDump returns every key/value of the last committed state.
func (ta *testApp) stateDump() map[string]string {
	out := map[string]string{}
	_, err := ta.app.tree.Iterate(func(k, v []byte) bool {
		out[string(k)] = string(v)
		return false
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return out
}

func changedKeys(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func wantCode(t *testing.T, where string, space string, code uint32, log string, want *protocol.Error) {
	t.Helper()
	got := protocol.FromWire(space, code, log)
	if code == 0 || !errors.Is(got, want) {
		t.Fatalf("%s: got %s/%d %q, want %s/%d (%s)", where, space, code, log, want.Space, want.Code, want.Msg)
	}
	if log == "" {
		t.Fatalf("%s: error has no message", where)
	}
}

// effect says what a rejected transaction may change in FinalizeBlock.
type effect int

const (
	nothing     effect = iota // refused before anything could be charged
	feeAndNonce               // the call failed: only the fee and nonce persist
)

// TestRejections covers every rejection the chain makes of a transaction:
// each is refused by CheckTx and by FinalizeBlock with its own code, and
// FinalizeBlock changes nothing, or only the signer's fee and nonce.
func TestRejections(t *testing.T) {
	longTopic := strings.Repeat("a", protocol.MaxTopicLen+1)
	cases := []struct {
		name   string
		tx     func(a, p *txBuilder) []byte
		want   *protocol.Error
		effect effect
	}{
		{name: "bad signature", want: protocol.ErrBadSignature, tx: func(a, _ *txBuilder) []byte {
			raw := a.transfer(addr(bob), 1)
			var st protocol.SignedTx
			mustUnmarshal(t, raw, &st)
			st.Sig[0] ^= 1
			return protocol.MustMarshal(&st)
		}},
		{name: "signature by another key", want: protocol.ErrBadSignature, tx: func(a, _ *txBuilder) []byte {
			raw := a.transfer(addr(bob), 1)
			var st protocol.SignedTx
			mustUnmarshal(t, raw, &st)
			st.Sig = protocol.Sign(bob, protocol.SigTx, st.Body)
			return protocol.MustMarshal(&st)
		}},
		{name: "signature under another context", want: protocol.ErrBadSignature, tx: func(a, _ *txBuilder) []byte {
			raw := a.transfer(addr(bob), 1)
			var st protocol.SignedTx
			mustUnmarshal(t, raw, &st)
			st.Sig = protocol.Sign(alice, protocol.SigMessage, st.Body)
			return protocol.MustMarshal(&st)
		}},
		{name: "wrong chain id", want: protocol.ErrWrongChainID, tx: func(a, _ *txBuilder) []byte {
			a.chain = "other-chain"
			return a.transfer(addr(bob), 1)
		}},
		{name: "wrong nonce", want: protocol.ErrWrongNonce, tx: func(a, _ *txBuilder) []byte {
			a.nonce = 5
			return a.transfer(addr(bob), 1)
		}},
		{name: "fee below minimum", want: protocol.ErrFeeTooLow, tx: func(a, _ *txBuilder) []byte {
			a.fee = 1
			return a.transfer(addr(bob), 1)
		}},
		{name: "insufficient balance for fee", want: protocol.ErrInsufficientFunds, tx: func(_, p *txBuilder) []byte {
			p.fee = 2_000
			return p.transfer(addr(bob), 1)
		}},
		{name: "insufficient balance for amount", want: protocol.ErrInsufficientBalance, effect: feeAndNonce, tx: func(_, p *txBuilder) []byte {
			return p.transfer(addr(bob), 1_000)
		}},
		{name: "zero amount", want: protocol.ErrBadAmount, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.transfer(addr(bob), 0)
		}},
		{name: "unknown module", want: protocol.ErrUnknownModule, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.tx("bank", "send", map[string]int{"x": 1})
		}},
		{name: "unknown method", want: protocol.ErrUnknownMethod, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.tx(protocol.ModuleAccounts, "mint", map[string]int{"x": 1})
		}},
		{name: "unknown method of an empty module", want: protocol.ErrUnknownMethod, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.tx(protocol.ModuleKeys, "rotate", map[string]int{"x": 1})
		}},
		{name: "bad call arguments", want: protocol.ErrBadArgs, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.tx(protocol.ModuleAccounts, protocol.MethodTransfer, map[string]string{"to": "bob"})
		}},
		{name: "oversized transaction", want: protocol.ErrOversized, tx: func(a, _ *txBuilder) []byte {
			return a.push("t", make([]byte, protocol.DefaultParams().MaxTxBytes))
		}},
		{name: "malformed CBOR", want: protocol.ErrMalformed, tx: func(*txBuilder, *txBuilder) []byte {
			return []byte{0xa2, 0x64, 'b', 'o', 'd', 'y'}
		}},
		{name: "not CBOR at all", want: protocol.ErrMalformed, tx: func(*txBuilder, *txBuilder) []byte {
			return []byte(`{"body":"x"}`)
		}},
		{name: "trailing bytes", want: protocol.ErrMalformed, tx: func(a, _ *txBuilder) []byte {
			return append(a.transfer(addr(bob), 1), 0x00)
		}},
		{name: "non-canonical envelope (non-minimal length)", want: protocol.ErrNonCanonical, tx: func(a, _ *txBuilder) []byte {
			return nonMinimalFirstByteString(t, a.transfer(addr(bob), 1))
		}},
		{name: "non-canonical body (unsorted map)", want: protocol.ErrNonCanonical, tx: func(a, _ *txBuilder) []byte {
			return unsortedBody(t, alice, a.nonce)
		}},
		{name: "bad message topic", want: protocol.ErrBadTopic, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.push("bad topic!", nil)
		}},
		{name: "empty topic segment", want: protocol.ErrBadTopic, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.push("a//b", nil)
		}},
		{name: "topic too long", want: protocol.ErrBadTopic, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.push(longTopic, nil)
		}},
		{name: "topic reserved for a module", want: protocol.ErrReservedTopic, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.push("phala/governance/params", nil)
		}},
		{name: "payload too large", want: protocol.ErrPayloadTooLarge, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.push("t", make([]byte, protocol.DefaultParams().MaxPayloadBytes+1))
		}},
		{name: "duplicate off-chain sequence", want: protocol.ErrDuplicateSeq, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.submit(workerMsg(worker, 0, "echo", []byte("first")))
		}},
		{name: "future off-chain sequence", want: protocol.ErrFutureSeq, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.submit(workerMsg(worker, 2, "echo", nil))
		}},
		{name: "bad message signature", want: protocol.ErrBadMessageSig, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := workerMsg(worker, 1, "echo", nil)
			sm.Message.Payload = []byte("altered")
			return a.submit(sm)
		}},
		{name: "message signed for another chain", want: protocol.ErrBadMessageSig, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := protocol.SignMessage(worker, "other-chain", protocol.Message{Origin: protocol.WorkerOrigin(pub(worker)), Topic: "echo", Seq: 1})
			return a.submit(sm)
		}},
		{name: "message signer is not the origin", want: protocol.ErrSignerMismatch, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := protocol.SignMessage(bob, testChain, protocol.Message{Origin: protocol.WorkerOrigin(pub(worker)), Topic: "echo", Seq: 1})
			return a.submit(sm)
		}},
		{name: "account origin submitted as off-chain", want: protocol.ErrOriginNotAllowed, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := protocol.SignMessage(alice, testChain, protocol.Message{Origin: protocol.AccountOrigin(addr(bob)), Topic: "echo"})
			return a.submit(sm)
		}},
		{name: "malformed origin", want: protocol.ErrBadOrigin, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := protocol.SignMessage(worker, testChain, protocol.Message{Origin: protocol.Origin{Kind: protocol.OriginWorker, ID: []byte{1}}, Topic: "echo", Seq: 1})
			return a.submit(sm)
		}},
		{name: "worker that never registered", want: protocol.ErrSenderUnknown, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			return a.submit(workerMsg(key("unregistered"), 0, "echo", nil))
		}},
		{name: "gatekeeper origin before gatekeepers exist", want: protocol.ErrNotGatekeeper, effect: feeAndNonce, tx: func(a, _ *txBuilder) []byte {
			sm := protocol.SignMessage(worker, testChain, protocol.Message{Origin: protocol.GatekeeperOrigin(), Topic: "echo", Seq: 0})
			return a.submit(sm)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ta := newTestApp(t, testGenesis())
			a, p := newTxBuilder(alice), newTxBuilder(poor)
			// Setup: the worker is registered and its message 0 has landed.
			ta.registerWorker(worker)
			setup := ta.finalize(a.submit(workerMsg(worker, 0, "echo", []byte("first"))))
			if setup.TxResults[0].Code != 0 {
				t.Fatalf("setup: %s", setup.TxResults[0].Log)
			}
			raw := c.tx(a, p)
			signer := addr(alice)
			if bytes.Contains([]byte(c.name), []byte("insufficient balance")) {
				signer = addr(poor)
			}

			ck := ta.checkTx(raw)
			wantCode(t, "CheckTx", ck.Codespace, ck.Code, ck.Log, c.want)

			before := ta.stateDump()
			accBefore := ta.account(signer)
			resp := ta.finalize(raw)
			r := resp.TxResults[0]
			wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, c.want)
			after := ta.stateDump()
			changed := changedKeys(before, after)
			switch c.effect {
			case nothing:
				if len(changed) != 0 {
					t.Fatalf("refused transaction changed state keys %q", changed)
				}
			case feeAndNonce:
				accAfter := ta.account(signer)
				if len(changed) != 1 || accAfter.Nonce != accBefore.Nonce+1 || accAfter.Balance != accBefore.Balance-protocol.DefaultParams().MinFee {
					t.Fatalf("failed call: changed %q, account %+v -> %+v; want only fee and nonce", changed, accBefore, accAfter)
				}
			}
			if len(r.Events) != 0 {
				t.Fatalf("failed transaction emitted %d messages", len(r.Events))
			}
		})
	}
}

func mustUnmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := protocol.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// nonMinimalFirstByteString re-encodes the length of the first byte string
// of a SignedTx (the body) with a longer header than necessary: the same
// value, a different encoding.
func nonMinimalFirstByteString(t *testing.T, raw []byte) []byte {
	t.Helper()
	var st protocol.SignedTx
	mustUnmarshal(t, raw, &st)
	if len(st.Body) >= 1<<16 {
		t.Fatal("body too long for this helper")
	}
	var out []byte
	out = append(out, 0xa2)                     // map(2)
	out = append(out, 0x64, 'b', 'o', 'd', 'y') // "body"
	out = append(out, 0x5a, 0, 0, byte(len(st.Body)>>8), byte(len(st.Body)))
	out = append(out, st.Body...)
	out = append(out, 0x63, 's', 'i', 'g')
	out = append(out, protocol.MustMarshal(st.Sig)...)
	return out
}

// unsortedBody builds a correctly signed transaction whose body map lists
// its keys in struct order rather than canonical order.
func unsortedBody(t *testing.T, k ed25519.PrivateKey, nonce uint64) []byte {
	t.Helper()
	em, err := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	call, _ := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: addr(bob), Amount: 1})
	body, err := em.Marshal(protocol.Tx{ChainID: testChain, Signer: pub(k), Nonce: nonce, Fee: protocol.DefaultParams().MinFee, Call: call})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.MustMarshal(&protocol.SignedTx{Body: body, Sig: protocol.Sign(k, protocol.SigTx, body)})
}
