package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestProofOfAnotherRecordIsRefused puts a lying RPC endpoint between the
// SDK and a real node: asked for one account, it answers with another's
// value and its valid proof. The SDK checks proofs against the key the
// protocol assigns the path asked, so it refuses the answer.
func TestProofOfAnotherRecordIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	rich := tn.Keys.Dev[0].Address()
	poor, err := sdk.GenerateKey("poor")
	if err != nil {
		t.Fatal(err)
	}
	asked, lure := protocol.QueryAccount+poor.Address().String(), protocol.QueryAccount+rich.String()

	target, err := url.Parse(strings.Replace(tn.RPCAddr(0), "tcp://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		director(r)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("proxy: %v", err)
		}
		body = bytes.ReplaceAll(body, []byte(asked), []byte(lure))
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	liar := httptest.NewServer(proxy)
	defer liar.Close()

	honest := tn.Client(ctx, 0)
	if acc, _, err := honest.Account(ctx, poor.Address()); err != nil || acc.Balance != 0 {
		t.Fatalf("honest node: %+v, %v", acc, err)
	}
	if acc, _, err := honest.Account(ctx, rich); err != nil || acc.Balance == 0 {
		t.Fatalf("the lure must differ: %+v, %v", acc, err)
	}
	c, err := sdk.Dial(ctx, liar.URL)
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := c.Account(ctx, poor.Address())
	if !errors.Is(err, protocol.ErrProof) || !strings.Contains(err.Error(), "proof is for key") {
		t.Fatalf("a proof of %s accepted as %s: %+v, %v", lure, asked, acc, err)
	}
}
