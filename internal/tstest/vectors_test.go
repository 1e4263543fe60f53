package tstest

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phala-go/phala/protocol"
)

// TestGoOpensWhatTypeScriptSealed is the other direction of the
// cross-language vectors (protocol/testdata/vectors.json, which the
// TypeScript tests check): what the TypeScript SDK seals, signs and
// encodes with the vectors' keys must open, verify and decode in Go —
// HPKE boxes with their reply secrets, a signed transaction, a v2 query
// (signature, header binding, sealed input) and a sealed reply.
func TestGoOpensWhatTypeScriptSealed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := BuildSDK(t, ctx)
	out := Run(t, ctx, dir, nil, Node(t), filepath.Join("dist", "test", "emit-vectors.js"))
	var got struct {
		HPKE []struct {
			Vector                    int
			Plaintext, Sealed, Secret string
		}
		Tx    string
		Query struct {
			Request     string `json:"request"`
			RequestHash string `json:"request_hash"`
			EKVector    int    `json:"ek_vector"`
			Input       string `json:"input"`
		}
		Reply struct{ Secret, AAD, Plaintext, Sealed string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	var vec struct {
		HPKE []struct {
			PrivateKey string `json:"private_key"`
			Info, AAD  string
		} `json:"hpke"`
	}
	raw, err := os.ReadFile(filepath.Join(Root(), "protocol", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	x := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	priv := func(i int) hpke.PrivateKey {
		k, err := hpke.MLKEM768X25519().NewPrivateKey(x(vec.HPKE[i].PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	if len(got.HPKE) != len(vec.HPKE) {
		t.Fatalf("%d HPKE boxes from TypeScript, want %d", len(got.HPKE), len(vec.HPKE))
	}
	for _, h := range got.HPKE {
		v := vec.HPKE[h.Vector]
		pt, secret, err := protocol.HPKEOpenExport(priv(h.Vector), x(v.Info), x(v.AAD), x(h.Sealed))
		if err != nil || !bytes.Equal(pt, x(h.Plaintext)) || !bytes.Equal(secret, x(h.Secret)) {
			t.Fatalf("box %d: %q %x, %v", h.Vector, pt, secret, err)
		}
	}

	tx, err := protocol.DecodeTx(x(got.Tx), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	var transfer protocol.TransferArgs
	if err := protocol.Unmarshal(tx.Call.Args, &transfer); err != nil || transfer.Amount != 1<<63+7 || tx.Nonce != 9 || tx.ChainID != "phala-devnet" {
		t.Fatalf("transaction from TypeScript: %+v %+v %v", tx.Tx, transfer, err)
	}

	var req protocol.QueryRequest
	if err := protocol.Unmarshal(x(got.Query.Request), &req); err != nil {
		t.Fatal(err)
	}
	aad, signing := req.Bindings()
	if !protocol.Verify(req.Query.Signer, protocol.SigQuery, signing, req.Sig) {
		t.Fatal("the query's signature does not verify in Go")
	}
	if sum := sha256.Sum256(signing); !bytes.Equal(sum[:], x(got.Query.RequestHash)) {
		t.Fatalf("request hash %x, Go computes %x", x(got.Query.RequestHash), sum)
	}
	ek := priv(got.Query.EKVector)
	if sum := sha256.Sum256(ek.PublicKey().Bytes()); !bytes.Equal(req.Query.WorkerEK, sum[:]) {
		t.Fatal("the query names another encryption key")
	}
	input, _, err := protocol.HPKEOpenExport(ek, protocol.QueryInfo(req.Query.ChainID, req.Query.Worker), aad, req.Ciphertext)
	if err != nil || !bytes.Equal(input, x(got.Query.Input)) {
		t.Fatalf("the query's input: %q, %v", input, err)
	}

	r := got.Reply
	if pt, err := protocol.OpenReply(x(r.Secret), x(r.AAD), x(r.Sealed)); err != nil || !bytes.Equal(pt, x(r.Plaintext)) {
		t.Fatalf("reply: %q, %v", pt, err)
	}
}

// TestTypeScriptUnitTests runs the TypeScript SDK's tests that need no
// devnet: the cross-language vectors in TypeScript's direction
// (sdk-ts/test/vectors.test.ts) and its decoders fed mutated inputs
// (sdk-ts/test/decoders.test.ts).
func TestTypeScriptUnitTests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := BuildSDK(t, ctx)
	out := Run(t, ctx, dir, nil, Node(t), "--test", "--test-reporter=spec",
		filepath.Join("dist", "test", "vectors.test.js"), filepath.Join("dist", "test", "decoders.test.js"))
	t.Logf("TypeScript:\n%s", out)
}
