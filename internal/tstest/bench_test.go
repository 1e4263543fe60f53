package tstest

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// BenchmarkQueryPath measures the client's query path — seal and sign a
// request, then verify and open the worker's answer — in the Go SDK
// (sdk.PrepareQuery, PreparedQuery.Open) and in the TypeScript SDK on
// Node (sdk-ts/test/bench-query.ts), in the same run, with the same keys.
// The worker's side runs between the two halves, untimed. docs/perf.md
// records the ratio:
//
//	go test ./internal/tstest -run XXX -bench QueryPath -benchtime 200x
func BenchmarkQueryPath(b *testing.B) {
	seed := sha256.Sum256([]byte("phala vector worker encryption key"))
	ek, err := hpke.MLKEM768X25519().NewPrivateKey(seed[:])
	if err != nil {
		b.Fatal(err)
	}
	signer := &sdk.Key{Name: "signer", Private: ed25519.NewKeyFromSeed(sha256Sum("phala vector key 2"))}
	worker := ed25519.NewKeyFromSeed(sha256Sum("phala vector key 1"))
	workerPub := worker.Public().(ed25519.PublicKey)
	output := protocol.MustMarshal(&protocol.QueryReply{Outcome: protocol.OutcomeOK, Output: []byte(`{"balance":424243}`), GasUsed: 1234})
	b.Run("go", func(b *testing.B) {
		for i := range b.N {
			h := protocol.QueryHeader{ChainID: "phala-devnet", Contract: make([]byte, 32), Worker: workerPub, Expiry: 1100, MinHeight: 970, GasLimit: 10_000_000}
			q, err := sdk.PrepareQuery(signer, h, ek.PublicKey().Bytes(), []byte(`{"balance": {}}`))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer() // the worker's side
			var req protocol.QueryRequest
			if err := protocol.Unmarshal(q.Body, &req); err != nil {
				b.Fatal(err)
			}
			aad, _ := req.Bindings()
			_, secret, err := protocol.HPKEOpenExport(ek, protocol.QueryInfo(h.ChainID, workerPub), aad, req.Ciphertext)
			if err != nil {
				b.Fatal(err)
			}
			salt := make([]byte, 32)
			salt[0] = byte(i)
			reply, err := protocol.SealQueryReply(secret, salt, q.Request, output)
			if err != nil {
				b.Fatal(err)
			}
			raw := protocol.SignQueryAnswer(worker, &protocol.QueryAnswer{ChainID: h.ChainID, Contract: h.Contract, Worker: workerPub, Signer: q.Header.Signer, Request: q.Request, Height: 990, Salt: salt, Reply: reply})
			b.StartTimer()
			if _, err := q.Open(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typescript", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		dir := BuildSDK(b, ctx)
		out := Run(b, ctx, dir, nil, Node(b), filepath.Join("dist", "test", "bench-query.js"), fmt.Sprint(max(b.N, 20)))
		var r struct {
			NsPerOp   float64 `json:"ns_per_op"`
			PrepareNs float64 `json:"prepare_ns"`
			OpenNs    float64 `json:"open_ns"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.ReportMetric(r.NsPerOp, "ns/op")
		b.ReportMetric(r.PrepareNs, "prepare-ns/op")
		b.ReportMetric(r.OpenNs, "open-ns/op")
	})
}

// BenchmarkBrowserBundle reports the minified and gzipped size of the
// whole TypeScript SDK bundled for browsers (sdk-ts/test/bundlesize.ts).
func BenchmarkBrowserBundle(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := BuildSDK(b, ctx)
	out := Run(b, ctx, dir, nil, Node(b), filepath.Join("dist", "test", "bundlesize.js"))
	var r struct{ Minified, Gzipped float64 }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	b.ReportMetric(r.Minified, "minified-bytes")
	b.ReportMetric(r.Gzipped, "gzipped-bytes")
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
