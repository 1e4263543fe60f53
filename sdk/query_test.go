package sdk

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
)

// queryWorker is a worker in-process: its identity and encryption keys,
// answering a request the way pRuntime does (internal/pruntime/query), or
// in whatever way a test makes it lie.
type queryWorker struct {
	t  testing.TB
	id ed25519.PrivateKey
	ek *keys.Encryption
}

func newQueryWorker(t testing.TB) *queryWorker {
	t.Helper()
	_, id, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := keys.NewEncryption()
	if err != nil {
		t.Fatal(err)
	}
	return &queryWorker{t: t, id: id, ek: ek}
}

func (w *queryWorker) pub() []byte { return w.id.Public().(ed25519.PublicKey) }

func (w *queryWorker) header() protocol.QueryHeader {
	return protocol.QueryHeader{ChainID: "c", Contract: bytes.Repeat([]byte{1}, 32), Worker: w.pub(), Expiry: 150, MinHeight: 70, GasLimit: 1000}
}

func (w *queryWorker) prepare(key *Key, input string) *PreparedQuery {
	w.t.Helper()
	q, err := PrepareQuery(key, w.header(), w.ek.Public(), []byte(input))
	if err != nil {
		w.t.Fatal(err)
	}
	return q
}

// open opens a request as the worker does and returns it with its reply
// secret.
func (w *queryWorker) open(body []byte) (*protocol.QueryRequest, []byte) {
	w.t.Helper()
	var req protocol.QueryRequest
	if err := protocol.Unmarshal(body, &req); err != nil {
		w.t.Fatal(err)
	}
	aad, _ := req.Bindings()
	_, secret, err := protocol.HPKEOpenExport(w.ek.Private(), protocol.QueryInfo(req.Query.ChainID, w.pub()), aad, req.Ciphertext)
	if err != nil {
		w.t.Fatal(err)
	}
	return &req, secret
}

// answer is the worker's honest answer to req, computed at height, with
// reply output: an answer whose fields edit may change before it is
// signed.
func (w *queryWorker) answer(req *protocol.QueryRequest, secret []byte, height int64, output string, edit func(*protocol.QueryAnswer)) []byte {
	w.t.Helper()
	sum := sha256.Sum256(req.SigningBytes())
	salt := make([]byte, protocol.QueryReplySalt)
	rand.Read(salt)
	reply := protocol.MustMarshal(&protocol.QueryReply{Outcome: protocol.OutcomeOK, Output: []byte(output), GasUsed: 7})
	sealed, err := protocol.SealQueryReply(secret, salt, sum[:], reply)
	if err != nil {
		w.t.Fatal(err)
	}
	a := protocol.QueryAnswer{ChainID: req.Query.ChainID, Contract: req.Query.Contract, Worker: w.pub(), Signer: req.Query.Signer, Request: sum[:], Height: height, Salt: salt, Reply: sealed}
	if edit != nil {
		edit(&a)
	}
	return protocol.SignQueryAnswer(w.id, &a)
}

// TestQueryAnswerForAnotherSignerIsRefused: bob's SDK accepts only an
// answer to his own request, by his signer. A worker (or whoever holds
// its key) that answers a copy of bob's request re-signed by alice — even
// with bob's own reply secret — or that names another signer, is refused,
// and so is every other way an answer can fail to be bob's; the genuine
// answer opens.
func TestQueryAnswerForAnotherSignerIsRefused(t *testing.T) {
	w := newQueryWorker(t)
	bob, _ := GenerateKey("bob")
	alice, _ := GenerateKey("alice")
	q := w.prepare(bob, `{"balance": {}}`)
	req, secret := w.open(q.Body)

	copied := *req
	copied.Query.Signer = alice.Public()
	copied.Sig = protocol.Sign(alice.Private, protocol.SigQuery, copied.SigningBytes())
	otherWorker := newQueryWorker(t)
	cases := []struct {
		name string
		raw  []byte
	}{
		{"the answer to a re-signed copy", w.answer(&copied, secret, 80, `{"balance":750}`, nil)},
		{"another signer named", w.answer(req, secret, 80, `{"balance":750}`, func(a *protocol.QueryAnswer) { a.Signer = alice.Public() })},
		{"no signer named", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Signer = nil })},
		{"another request", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Request = make([]byte, 32) })},
		{"another contract", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Contract = make([]byte, 32) })},
		{"another chain", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.ChainID = "d" })},
		{"below the minimum height", w.answer(req, secret, 69, "x", nil)},
		{"a short salt", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Salt = a.Salt[:16] })},
		{"another salt", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Salt = make([]byte, protocol.QueryReplySalt) })},
		{"a tampered reply", w.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Reply[0] ^= 1 })},
		{"signed by another worker", otherWorker.answer(req, secret, 80, "x", func(a *protocol.QueryAnswer) { a.Worker = w.pub() })},
		{"not CBOR", []byte("not cbor")},
		{"empty", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if res, err := q.Open(c.raw); !errors.Is(err, protocol.ErrQueryAnswer) {
				t.Fatalf("got %+v, %v; want %v", res, err, protocol.ErrQueryAnswer)
			}
		})
	}
	res, err := q.Open(w.answer(req, secret, 80, `{"balance":250}`, nil))
	if err != nil || string(res.Output) != `{"balance":250}` || res.Height != 80 {
		t.Fatalf("the genuine answer: %+v %v", res, err)
	}
}

// TestQueryAnswersNeverShareAKey: two answers to the same request, with
// the same plaintext, are sealed under different keys: their sealed
// replies differ, and one's salt does not open the other.
func TestQueryAnswersNeverShareAKey(t *testing.T) {
	w := newQueryWorker(t)
	bob, _ := GenerateKey("bob")
	q := w.prepare(bob, "x")
	req, secret := w.open(q.Body)
	var a, b protocol.QueryResponse
	if err := protocol.Unmarshal(w.answer(req, secret, 80, "same", nil), &a); err != nil {
		t.Fatal(err)
	}
	if err := protocol.Unmarshal(w.answer(req, secret, 80, "same", nil), &b); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Answer.Salt, b.Answer.Salt) || bytes.Equal(a.Answer.Reply, b.Answer.Reply) {
		t.Fatal("two answers to one request are sealed alike")
	}
	if _, err := protocol.OpenQueryReply(secret, a.Answer.Salt, q.Request, b.Answer.Reply); err == nil {
		t.Fatal("one answer's reply opens under the other's salt")
	}
}

// TestQueryMinHeightFollowsTheTip: by default a query asks for the state
// of the tip minus protocol.QueryMaxLag, or the caller's own minimum if
// that is higher; a negative MaxLag leaves only the caller's.
func TestQueryMinHeightFollowsTheTip(t *testing.T) {
	cases := []struct {
		tip  int64
		o    QueryOptions
		want int64
	}{
		{1000, QueryOptions{}, 1000 - protocol.QueryMaxLag},
		{1000, QueryOptions{MinHeight: 995}, 995},
		{1000, QueryOptions{MinHeight: 10}, 1000 - protocol.QueryMaxLag},
		{1000, QueryOptions{MaxLag: 5}, 995},
		{1000, QueryOptions{MaxLag: -1}, 0},
		{1000, QueryOptions{MaxLag: -1, MinHeight: 10}, 10},
		{3, QueryOptions{}, 0},
	}
	for _, c := range cases {
		if got := queryMinHeight(c.tip, c.o); got != c.want {
			t.Errorf("tip %d, %+v: %d, want %d", c.tip, c.o, got, c.want)
		}
	}
}

// FuzzQueryAnswer feeds bob's SDK answers a lying worker could send:
// arbitrary bytes (raw set), or the genuine answer with one field changed
// — emptied, extreme, swapped with alice's answer's, truncated — and
// signed again with the worker's key, so that every check after the
// signature is reached. Open never panics, refuses with ErrQueryAnswer,
// and accepts only what is, field for field, the genuine answer.
func FuzzQueryAnswer(f *testing.F) {
	w := newQueryWorker(f)
	bob, _ := GenerateKey("bob")
	alice, _ := GenerateKey("alice")
	q := w.prepare(bob, `{"balance": {}}`)
	req, secret := w.open(q.Body)
	aq := w.prepare(alice, `{"balance": {}}`)
	areq, asecret := w.open(aq.Body)
	var theirs protocol.QueryResponse
	if err := protocol.Unmarshal(w.answer(areq, asecret, 80, `{"balance":750}`, nil), &theirs); err != nil {
		f.Fatal(err)
	}
	genuine := w.answer(req, secret, 80, `{"balance":250}`, nil)
	f.Add(false, byte(0), []byte{}, int64(0))
	f.Add(true, byte(0), genuine, int64(0))
	f.Add(true, byte(0), []byte{0xa2}, int64(0))
	for field := range byte(12) {
		f.Add(false, field, []byte{}, int64(-1))
		f.Add(false, field, bytes.Repeat([]byte{0xff}, 33), int64(1<<62))
	}
	f.Fuzz(func(t *testing.T, raw bool, field byte, data []byte, n int64) {
		body := data
		if !raw {
			w := &queryWorker{t: t, id: w.id, ek: w.ek}
			body = w.answer(req, secret, 80, `{"balance":250}`, func(a *protocol.QueryAnswer) {
				o := &theirs.Answer
				switch field % 12 {
				case 0:
					a.ChainID = string(data)
				case 1:
					a.Contract = data
				case 2:
					a.Worker = data
				case 3:
					a.Signer = data
				case 4:
					a.Request = data
				case 5:
					a.Height = n
				case 6:
					a.Salt = data
				case 7:
					a.Reply = data
				case 8:
					a.Reply = a.Reply[:uint64(n)%uint64(len(a.Reply)+1)]
				case 9:
					a.Salt, a.Reply = o.Salt, o.Reply // alice's reply, under bob's request
				case 10:
					a.Signer, a.Request = o.Signer, o.Request
				}
			})
		}
		res, err := q.Open(body)
		if err != nil {
			if !errors.Is(err, protocol.ErrQueryAnswer) {
				t.Fatalf("refusal without ErrQueryAnswer: %v", err)
			}
			return
		}
		if string(res.Output) != `{"balance":250}` || res.Height < 70 || !bytes.Equal(res.Worker, w.pub()) {
			t.Fatalf("accepted an answer that is not the genuine one: %+v", res)
		}
	})
}
