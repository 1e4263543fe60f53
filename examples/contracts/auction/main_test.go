//go:build !wasip1

package main_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var module *contracttest.Module

func TestMain(m *testing.M) { contracttest.Main(m, &module, ".", contracttest.Options{}) }

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
			contracttest.ErrorText(t, c.Command(t, tc.from, tc.input), tc.want)
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
	contracttest.ErrorText(t, c.Command(t, ben, bid(1000)), "the auction is closed")
	contracttest.ErrorText(t, c.Command(t, ann, bid(20)), "the auction is closed")
	contracttest.ErrorText(t, c.Command(t, seller, closeCmd), "the auction is closed")
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
	_, res := module.Instantiate(t, seller, fmt.Appendf(nil, `{"item": %q, "min_bid": 1}`, strings.Repeat("x", 201)))
	contracttest.ErrorText(t, res, "item must be 1..200 bytes")
}

func TestQueryRejections(t *testing.T) {
	c := open(t)
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`{"bids": {}}`)), `unknown query "bids"`)
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`{"status": {"all": true}}`)), "status.all: not a member")
	contracttest.ErrorText(t, c.Query(t, ann, []byte(`status`)), "invalid JSON")
}

// TestEveryWorkerComputesTheSameResults: every worker of a cluster must
// compute the same replies, gas and state, whichever engine mode it runs
// and whether its query instance is fresh or warm.
func TestEveryWorkerComputesTheSameResults(t *testing.T) {
	status, myBid := []byte(`{"status": {}}`), []byte(`{"my_bid": {}}`)
	module.CheckDeterminism(t, seller, []byte(`{"item": "lamp", "min_bid": 10}`), []contracttest.Step{
		{From: ann, Input: bid(20)},
		{From: ann, Input: myBid, Query: true},
		{From: ben, Input: bid(5)},
		{From: ben, Input: bid(20)},
		{From: cat, Input: bid(19)},
		{From: cat, Input: status, Query: true},
		{From: ann, Input: closeCmd},
		{From: seller, Input: closeCmd},
		{From: cat, Input: bid(50)},
		{From: cat, Input: status, Query: true},
		{From: ben, Input: myBid, Query: true},
	})
}

func TestModuleFitsInOneUploadTransaction(t *testing.T) { module.CheckUploadSize(t) }

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
