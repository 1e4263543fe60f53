package query_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
)

// FuzzPublicAPI drives the public API's two decoders of untrusted requests
// — a contract query (which even) and another member's state request
// (which odd) — on a real member of a real cluster running the token,
// kept at one height (its relay is stopped). Each input starts from a
// genuine request and changes one field (emptied, extreme, from another
// chain, worker or signer, truncated), before or after the ciphertext is
// sealed, and with or without signing it again, so that every check is
// reached, the contract's own parsing of the query input included. Every
// request is answered with a genuine, verifying answer for exactly that
// request, or refused with a query or runtime error; nothing panics and
// the member's contract state never changes.
//
// Longer: go test ./internal/pruntime/query -run '^$' -fuzz FuzzPublicAPI
// (each fuzzing process starts its own chain first, about half a minute).
func FuzzPublicAPI(f *testing.F) {
	for field := range byte(14) {
		for _, which := range []byte{0, 1} {
			f.Add(which, field, []byte{}, int64(0), byte(0), []byte(`{"balance": {}}`))
			f.Add(which, field, bytes.Repeat([]byte{0xff}, 33), int64(-1), byte(3), []byte(`{"balance_of": {"owner": "00"}}`))
			f.Add(which, field, []byte("another-chain"), int64(1<<62), byte(1), []byte("{"))
		}
	}
	e, w, id, _ := tokenCluster(f)
	gk := e.StartWorker("outsider")
	w.StopRelay()
	bob := e.Users[1]
	info := w.Info()
	root, height := info.ContractsRoot, info.ContractsHeight
	memberKey := ed25519.PrivateKey(w.PR.Runtime.SecretsForTest()["identity private key"])
	f.Fuzz(func(t *testing.T, which, field byte, data []byte, n int64, flags byte, input []byte) {
		var err error
		if which%2 == 0 {
			err = fuzzQuery(t, w, protocol.QueryHeader{
				ChainID: e.C.ChainID(), Contract: id, Worker: w.Pub(), Expiry: height + 50, GasLimit: 10_000_000,
			}, info.EncryptionPubkey, bob.Private, gk.Pub(), field, data, n, flags, input)
		} else {
			err = fuzzStateRequest(t, w, protocol.StateRequest{
				ChainID: e.C.ChainID(), Cluster: protocol.ClusterID("alpha"), Requester: w.Pub(), Key: info.EncryptionPubkey,
			}, memberKey, gk.Pub(), field, data, flags)
		}
		if err != nil {
			c, ok := protocol.CodeOf(err)
			if !ok || (c.Space != protocol.SpaceQuery && c.Space != protocol.SpaceRuntime) {
				t.Fatalf("refusal without a query or runtime code: %v", err)
			}
		}
		if got := w.Info().ContractsRoot; !bytes.Equal(got, root) {
			t.Fatalf("the member's contract state changed: %x, was %x", got, root)
		}
	})
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// fuzzQuery builds a query from h as the fuzz input says, asks w, and
// checks an answer against the request it answers.
func fuzzQuery(t *testing.T, w *clustertest.Worker, h protocol.QueryHeader, ek []byte, signer ed25519.PrivateKey, other []byte, field byte, data []byte, n int64, flags byte, input []byte) error {
	sum := sha256.Sum256(ek)
	h.WorkerEK, h.Signer, h.Nonce = sum[:], signer.Public().(ed25519.PublicKey), random(16)
	var req protocol.QueryRequest
	edit := func() {
		switch field % 14 {
		case 0:
			h.ChainID = string(data)
		case 1:
			h.Contract = data
		case 2:
			h.Worker = data
		case 3:
			h.WorkerEK = data
		case 4:
			h.Signer = data
		case 5:
			h.Nonce = data
		case 6:
			h.Expiry = n
		case 7:
			h.MinHeight = n
		case 8:
			h.GasLimit = uint64(n)
		case 9:
			req.Ciphertext = data
		case 10:
			req.Ciphertext = req.Ciphertext[:uint64(n)%uint64(len(req.Ciphertext)+1)]
		case 11:
			req.Sig = data
		case 12:
			h.Worker, h.Signer = other, other // another worker's key, as signer too
		}
		req.Query = h
	}
	before := flags&1 != 0
	if before {
		edit()
	}
	ct, secret, err := protocol.HPKESealExport(ek, protocol.QueryInfo(h.ChainID, h.Worker), protocol.QueryAAD(&h), input)
	if err != nil {
		t.Fatal(err)
	}
	req = protocol.QueryRequest{Query: h, Ciphertext: ct}
	req.Sig = protocol.Sign(signer, protocol.SigQuery, req.SigningBytes())
	if !before {
		edit()
	}
	if flags&2 != 0 {
		req.Sig = protocol.Sign(signer, protocol.SigQuery, req.SigningBytes())
	}
	body, err := protocol.Marshal(&req)
	if err != nil {
		return nil // not encodable (a chain id that is not UTF-8)
	}
	out, err := w.PR.Runtime.Query(context.Background(), body)
	if field%14 == 13 && err == nil {
		if _, again := w.PR.Runtime.Query(context.Background(), body); !errors.Is(again, protocol.ErrQueryReplay) {
			t.Fatalf("the same request twice: %v", again)
		}
	}
	if err != nil {
		return err
	}
	var resp protocol.QueryResponse
	if err := protocol.Unmarshal(out, &resp); err != nil || !resp.Verify(w.Pub()) {
		t.Fatalf("an answer that does not decode or verify: %v", err)
	}
	reqHash := sha256.Sum256(req.SigningBytes())
	a := &resp.Answer
	if !bytes.Equal(a.Signer, req.Query.Signer) || !bytes.Equal(a.Request, reqHash[:]) || a.Height < req.Query.MinHeight {
		t.Fatalf("an answer for another request: %+v", a)
	}
	if _, err := protocol.OpenQueryReply(secret, a.Salt, a.Request, a.Reply); err != nil {
		t.Fatalf("the answer's reply does not open for its caller: %v", err)
	}
	return nil
}

// fuzzStateRequest builds a state request from r as the fuzz input says,
// has w serve it, and checks a transfer against the request.
func fuzzStateRequest(t *testing.T, w *clustertest.Worker, r protocol.StateRequest, key ed25519.PrivateKey, other []byte, field byte, data []byte, flags byte) error {
	r.Nonce = random(16)
	sr := protocol.SignedStateRequest{Request: r}
	sr.Sig = protocol.Sign(key, protocol.SigStateRequest, protocol.MustMarshal(&sr.Request))
	req := &sr.Request
	switch field % 8 {
	case 0:
		req.ChainID = string(data)
	case 1:
		req.Cluster = data
	case 2:
		req.Requester = data
	case 3:
		req.Key = data
	case 4:
		req.Nonce = data
	case 5:
		sr.Sig = data
	case 6:
		req.Requester = other // active, but in no cluster
	}
	if flags&2 != 0 {
		sr.Sig = protocol.Sign(key, protocol.SigStateRequest, protocol.MustMarshal(&sr.Request))
	}
	body, err := protocol.Marshal(&sr)
	if err != nil {
		return nil
	}
	if field%8 == 7 {
		body = body[:len(body)/2]
	}
	out, err := w.PR.Runtime.ServeState(body)
	if err != nil {
		return err
	}
	var st protocol.SignedStateTransfer
	if err := protocol.Unmarshal(out, &st); err != nil || !st.Verify() {
		t.Fatalf("a transfer that does not decode or verify: %v", err)
	}
	tr := &st.Transfer
	if !bytes.Equal(tr.Requester, req.Requester) || !bytes.Equal(tr.Key, req.Key) || !bytes.Equal(tr.Nonce, req.Nonce) || !bytes.Equal(tr.Server, w.Pub()) {
		t.Fatalf("a transfer for another request: %+v", tr)
	}
	return nil
}
