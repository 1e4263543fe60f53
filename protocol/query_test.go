package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// TestQueryEncodingsAreTheDocumentedOnes: the fast paths that encode a
// query's header, or a response's answer, once produce exactly the bytes
// of the documented structures.
func TestQueryEncodingsAreTheDocumentedOnes(t *testing.T) {
	req := protocol.QueryRequest{
		Query:      protocol.QueryHeader{ChainID: "c", Contract: bytes.Repeat([]byte{1}, 32), Worker: bytes.Repeat([]byte{2}, 32), Nonce: bytes.Repeat([]byte{3}, 16), Expiry: 9, MinHeight: 4, GasLimit: 7},
		Ciphertext: []byte("ciphertext"),
	}
	d := sha256.Sum256(req.Ciphertext)
	want := protocol.MustMarshal(&protocol.QuerySigned{Header: req.Query, CiphertextDigest: d[:]})
	aad, signing := req.Bindings()
	if !bytes.Equal(signing, want) || !bytes.Equal(req.SigningBytes(), want) {
		t.Fatal("signing bytes are not the encoding of QuerySigned")
	}
	if !bytes.Equal(aad, protocol.QueryAAD(&req.Query)) {
		t.Fatal("Bindings' aad is not QueryAAD")
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	ans := protocol.QueryAnswer{ChainID: "c", Contract: req.Query.Contract, Worker: priv.Public().(ed25519.PublicKey), Request: d[:], Height: 5, Reply: []byte("r")}
	raw := protocol.SignQueryAnswer(priv, &ans)
	var resp protocol.QueryResponse
	if err := protocol.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(protocol.MustMarshal(&resp), raw) || !resp.Verify(ans.Worker) {
		t.Fatal("SignQueryAnswer is not a canonical, verifying QueryResponse")
	}
}
