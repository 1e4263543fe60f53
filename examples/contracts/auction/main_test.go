//go:build !wasip1

package main_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var module *contracttest.Module

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if module, err = contracttest.Build(ctx, ".", contracttest.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	module.Close(ctx)
	os.Exit(code)
}

var (
	seller = contracttest.Account("seller")
	ann    = contracttest.Account("ann")
	ben    = contracttest.Account("ben")
	cat    = contracttest.Account("cat")
)

const openStatus = `{"item":"lamp","min_bid":10,"open":true}`

func open(t *testing.T) *contracttest.Instance {
	t.Helper()
	c, res := module.Instantiate(t, seller, []byte(`{"item": "lamp", "min_bid": 10}`))
	if out := contracttest.Output(t, res); string(out) != openStatus {
		t.Fatalf("init reply %s", out)
	}
	return c
}

func bid(amount uint64) []byte { return fmt.Appendf(nil, `{"bid": {"amount": %d}}`, amount) }

var closeCmd = []byte(`{"close": {}}`)

func placeBids(t *testing.T, c *contracttest.Instance, bids ...any) {
	t.Helper()
	for i := 0; i < len(bids); i += 2 {
		who, amount := bids[i].(protocol.Address), bids[i+1].(int)
		out := contracttest.Output(t, c.Command(t, who, bid(uint64(amount))))
		if want := fmt.Sprintf(`{"bid":%d}`, amount); string(out) != want {
			t.Fatalf("bid reply %s, want %s", out, want)
		}
	}
}

// closeAndCheck closes the auction and checks the reply, the one message
// emitted on "winner", and the status everyone then sees.
func closeAndCheck(t *testing.T, c *contracttest.Instance, result string) {
	t.Helper()
	res := c.Command(t, seller, closeCmd)
	if out := contracttest.Output(t, res); string(out) != result {
		t.Fatalf("close reply %s, want %s", out, result)
	}
	want := []contracttest.Emitted{{Suffix: "winner", Payload: []byte(result)}}
	if !reflect.DeepEqual(res.Emitted, want) {
		t.Fatalf("emitted %+v, want %+v", res.Emitted, want)
	}
	status := `{"item":"lamp","min_bid":10,"open":false` + result[len(`{"item":"lamp"`):]
	for _, who := range []protocol.Address{seller, ann, cat} {
		if out := contracttest.Output(t, c.Query(t, who, []byte(`{"status": {}}`))); string(out) != status {
			t.Fatalf("status for %v: %s, want %s", who, out, status)
		}
	}
}

func TestHighestBidWins(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 10, ben, 25, cat, 20)
	closeAndCheck(t, c, fmt.Sprintf(`{"item":"lamp","winner":"%s","amount":25}`, ben))
}

func TestEqualBidsGoToTheEarliest(t *testing.T) {
	c := open(t)
	placeBids(t, c, ben, 30, ann, 30, cat, 30)
	closeAndCheck(t, c, fmt.Sprintf(`{"item":"lamp","winner":"%s","amount":30}`, ben))
}

func TestAReplacedBidRanksFromItsReplacement(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 40, ben, 50, ann, 50) // ann's 50 comes after ben's
	if out := contracttest.Output(t, c.Query(t, ann, []byte(`{"my_bid": {}}`))); string(out) != `{"bid":50}` {
		t.Fatalf("ann's bid %s", out)
	}
	closeAndCheck(t, c, fmt.Sprintf(`{"item":"lamp","winner":"%s","amount":50}`, ben))
}

func TestABidMayBeLoweredWhileOpen(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 90, ben, 50, ann, 20)
	closeAndCheck(t, c, fmt.Sprintf(`{"item":"lamp","winner":"%s","amount":50}`, ben))
}

func TestClosingWithoutBidsHasNoWinner(t *testing.T) {
	c := open(t)
	closeAndCheck(t, c, `{"item":"lamp","winner":null,"amount":0}`)
}

func TestBidsAreVisibleOnlyToTheirBidder(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 11, ben, 12)
	for who, want := range map[protocol.Address]string{ann: `{"bid":11}`, ben: `{"bid":12}`} {
		if out := contracttest.Output(t, c.Query(t, who, []byte(`{"my_bid": {}}`))); string(out) != want {
			t.Fatalf("my_bid: %s, want %s", out, want)
		}
	}
	contracttest.ErrorText(t, c.Query(t, cat, []byte(`{"my_bid": {}}`)), "you have no bid")
	contracttest.ErrorText(t, c.Query(t, seller, []byte(`{"my_bid": {}}`)), "you have no bid")
	for _, who := range []protocol.Address{seller, ann, cat} {
		if out := contracttest.Output(t, c.Query(t, who, []byte(`{"status": {}}`))); string(out) != openStatus {
			t.Fatalf("open status %s reveals more than %s", out, openStatus)
		}
	}
}

func TestBidRejections(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 15)
	for _, tc := range []struct {
		name  string
		from  protocol.Address
		input []byte
		want  string
	}{
		{"below the minimum", ben, bid(9), "bid below the minimum of 10"},
		{"zero", ben, bid(0), "bid below the minimum of 10"},
		{"by the seller", seller, bid(100), "the seller cannot bid"},
		{"negative", ben, []byte(`{"bid": {"amount": -20}}`), "bid.amount: want an integer"},
		{"missing amount", ben, []byte(`{"bid": {}}`), "bid.amount: required"},
		{"extra member", ben, []byte(`{"bid": {"amount": 20, "for": "lamp"}}`), "bid.for: not a member"},
		{"close by a bidder", ann, closeCmd, "only the seller may close the auction"},
		{"close with arguments", seller, []byte(`{"close": {"now": true}}`), "close.now: not a member"},
		{"unknown command", ann, []byte(`{"withdraw": {}}`), `unknown command "withdraw"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.State.Clone()
			contracttest.ErrorText(t, c.Command(t, tc.from, tc.input), tc.want)
			if !c.State.Equal(before) {
				t.Fatal("a refused command changed the state")
			}
		})
	}
	if out := contracttest.Output(t, c.Query(t, ann, []byte(`{"my_bid": {}}`))); string(out) != `{"bid":15}` {
		t.Fatalf("ann's bid changed: %s", out)
	}
}

func TestAClosedAuctionRefusesBidsAndSecondCloses(t *testing.T) {
	c := open(t)
	placeBids(t, c, ann, 15)
	closeAndCheck(t, c, fmt.Sprintf(`{"item":"lamp","winner":"%s","amount":15}`, ann))
	before := c.State.Clone()
	contracttest.ErrorText(t, c.Command(t, ben, bid(1000)), "the auction is closed")
	contracttest.ErrorText(t, c.Command(t, ann, bid(20)), "the auction is closed")
	contracttest.ErrorText(t, c.Command(t, seller, closeCmd), "the auction is closed")
	if !c.State.Equal(before) {
		t.Fatal("refused commands changed the state")
	}
	if out := contracttest.Output(t, c.Query(t, ann, []byte(`{"my_bid": {}}`))); string(out) != `{"bid":15}` {
		t.Fatalf("ann's bid after close: %s", out)
	}
}

func TestInitRefusesBadArguments(t *testing.T) {
	for in, want := range map[string]string{
		`{"item": "", "min_bid": 1}`:                   "item must be 1..200 bytes",
		`{"item": "lamp"}`:                             "min_bid: required",
		`{"min_bid": 1}`:                               "item: required",
		`{"item": "lamp", "min_bid": 1, "reserve": 5}`: "reserve: not a member",
	} {
		c, res := module.Instantiate(t, seller, []byte(in))
		contracttest.ErrorText(t, res, want)
		if !c.Failed {
			t.Errorf("init %s did not fail the instance", in)
		}
	}
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'x'
	}
	_, res := module.Instantiate(t, seller, fmt.Appendf(nil, `{"item": %q, "min_bid": 1}`, long))
	contracttest.ErrorText(t, res, "item must be 1..200 bytes")
}

func TestQueryRejections(t *testing.T) {
	c := open(t)
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`{"bids": {}}`)), `unknown query "bids"`)
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`{"status": {"all": true}}`)), "status.all: not a member")
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`status`)), "invalid JSON")
}

func TestSameHistoryGivesIdenticalResults(t *testing.T) {
	run := func() ([]*contracttest.Result, *contracttest.Store) {
		c := open(t)
		var results []*contracttest.Result
		for _, call := range []struct {
			from  protocol.Address
			input []byte
		}{
			{ann, bid(20)}, {ben, bid(5)}, {ben, bid(20)}, {cat, bid(19)}, {ann, closeCmd}, {seller, closeCmd}, {cat, bid(50)},
		} {
			res := c.Command(t, call.from, call.input)
			if res.GasUsed == 0 {
				t.Errorf("command %s used no gas", call.input)
			}
			results = append(results, res)
		}
		results = append(results, contracttest.Answer(c.Query(t, cat, []byte(`{"status": {}}`))))
		return results, c.State
	}
	r1, s1 := run()
	r2, s2 := run()
	if !reflect.DeepEqual(r1, r2) || !s1.Equal(s2) {
		t.Fatal("results or state differ between identical runs")
	}
}

// TestModuleFitsInOneUploadTransaction checks the module against the
// upload budget: gzip-compressed (as sdk.UploadCode sends it) it must stay
// well under 1 MiB.
func TestModuleFitsInOneUploadTransaction(t *testing.T) {
	if n := contracttest.GzipSize(t, module.Wasm); n > 1<<20 {
		t.Fatalf("module is %d bytes gzipped, budget 1 MiB", n)
	}
}

// BenchmarkClose measures closing an auction with 100 standing bids
// (close reads every bid).
func BenchmarkClose(b *testing.B) {
	c, _ := module.Instantiate(b, seller, []byte(`{"item": "lamp", "min_bid": 10}`))
	for i := range 100 {
		contracttest.Output(b, c.Command(b, contracttest.Account(fmt.Sprint("bidder", i)), bid(uint64(10+i%7))))
	}
	var gas uint64
	for b.Loop() {
		res := c.Clone().Command(b, seller, closeCmd)
		contracttest.Output(b, res)
		gas = res.GasUsed
	}
	b.ReportMetric(float64(gas), "gas/op")
}
