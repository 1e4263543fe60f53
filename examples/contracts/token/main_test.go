//go:build !wasip1

package main_test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/protocol"
)

var module *contracttest.Module

func TestMain(m *testing.M) { contracttest.Main(m, &module, ".", contracttest.Options{}) }

var (
	alice = contracttest.Account("alice")
	bob   = contracttest.Account("bob")
	carol = contracttest.Account("carol")
)

func deploy(t *testing.T, supply uint64) *contracttest.Instance {
	t.Helper()
	c, res := module.Instantiate(t, alice, fmt.Appendf(nil, `{"supply": %d}`, supply))
	if got := string(contracttest.Output(t, res)); got != fmt.Sprintf(`{"balance":%d}`, supply) {
		t.Fatalf("init output %s", got)
	}
	return c
}

func transfer(to protocol.Address, amount uint64) []byte {
	return fmt.Appendf(nil, `{"transfer": {"to": %q, "amount": %d}}`, to, amount)
}

func balanceOf(t *testing.T, c *contracttest.Instance, who protocol.Address) uint64 {
	t.Helper()
	out := string(contracttest.Output(t, c.Query(t, who, []byte(`{"balance": {}}`))))
	var n uint64
	if _, err := fmt.Sscanf(out, `{"balance":%d}`, &n); err != nil {
		t.Fatalf("balance reply %s: %v", out, err)
	}
	return n
}

func TestInitMintsTheSupplyToTheDeployer(t *testing.T) {
	c := deploy(t, 1000)
	if got := balanceOf(t, c, alice); got != 1000 {
		t.Fatalf("deployer has %d", got)
	}
	if got := balanceOf(t, c, bob); got != 0 {
		t.Fatalf("bob has %d", got)
	}
}

func TestInitRefusesBadArguments(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                        "supply: required",
		`{"supply": -1}`:            "supply: want an integer",
		`{"supply": "5"}`:           "supply: want a number, got a string",
		`{"supply": 5, "owner": 1}`: "owner: not a member",
		`supply=5`:                  "invalid JSON",
	} {
		c, res := module.Instantiate(t, alice, []byte(in))
		contracttest.ErrorText(t, res, want)
		if !c.Failed || c.State.Len() != 0 {
			t.Errorf("init %s: failed %v, %d keys stored", in, c.Failed, c.State.Len())
		}
	}
}

func TestTransfersMoveBalancesAndConserveTheSupply(t *testing.T) {
	c := deploy(t, 1000)
	steps := []struct {
		from, to protocol.Address
		amount   uint64
		left     uint64 // sender's balance after
	}{
		{alice, bob, 300, 700},
		{bob, carol, 100, 200},
		{carol, alice, 100, 0},
		{alice, bob, 800, 0},
	}
	for _, s := range steps {
		out := contracttest.Output(t, c.Command(t, s.from, transfer(s.to, s.amount)))
		if want := `{"balance":` + strconv.FormatUint(s.left, 10) + `}`; string(out) != want {
			t.Fatalf("transfer reply %s, want %s", out, want)
		}
	}
	got := map[protocol.Address]uint64{alice: balanceOf(t, c, alice), bob: balanceOf(t, c, bob), carol: balanceOf(t, c, carol)}
	want := map[protocol.Address]uint64{alice: 0, bob: 1000, carol: 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("balances %v, want %v", got, want)
	}
}

func TestTransferToOneselfChangesNothing(t *testing.T) {
	c := deploy(t, 50)
	before := c.State.Clone()
	if out := contracttest.Output(t, c.Command(t, alice, transfer(alice, 20))); string(out) != `{"balance":50}` {
		t.Fatalf("reply %s", out)
	}
	if !c.State.Equal(before) {
		t.Fatal("state changed")
	}
	contracttest.ErrorText(t, c.Command(t, alice, transfer(alice, 51)), "insufficient balance")
}

func TestTransferRejections(t *testing.T) {
	c := deploy(t, 100)
	contracttest.Output(t, c.Command(t, alice, transfer(bob, 10)))
	cases := []struct {
		name  string
		from  protocol.Address
		input string
		want  string
	}{
		{"insufficient balance", bob, string(transfer(carol, 11)), "insufficient balance: have 10, need 11"},
		{"no balance at all", carol, string(transfer(bob, 1)), "insufficient balance: have 0, need 1"},
		{"zero amount", alice, string(transfer(bob, 0)), "amount must be positive"},
		{"short address", alice, `{"transfer": {"to": "abcd", "amount": 1}}`, `transfer.to: "abcd" has 4 characters`},
		{"non-hex address", alice, `{"transfer": {"to": "` + strings.Repeat("z", 40) + `", "amount": 1}}`, "is not hex"},
		{"zero address", alice, `{"transfer": {"to": "` + strings.Repeat("0", 40) + `", "amount": 1}}`, "cannot transfer to the zero address"},
		{"missing amount", alice, `{"transfer": {"to": "` + bob.String() + `"}}`, "transfer.amount: required"},
		{"negative amount", alice, `{"transfer": {"to": "` + bob.String() + `", "amount": -5}}`, "transfer.amount: want an integer"},
		{"extra member", alice, `{"transfer": {"to": "` + bob.String() + `", "amount": 1, "memo": "x"}}`, "transfer.memo: not a member"},
		{"unknown command", alice, `{"mint": {"amount": 1}}`, `unknown command "mint"`},
		{"not a call", alice, `{"transfer": {}, "mint": {}}`, "want an object with one member"},
		{"not JSON", alice, `transfer 5`, "invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			contracttest.ErrorText(t, c.Command(t, tc.from, []byte(tc.input)), tc.want)
		})
	}
	if balanceOf(t, c, alice) != 90 || balanceOf(t, c, bob) != 10 {
		t.Fatal("balances changed")
	}
}

func TestBalancesAreVisibleOnlyToTheirOwner(t *testing.T) {
	c := deploy(t, 100)
	contracttest.Output(t, c.Command(t, alice, transfer(bob, 40)))
	own := fmt.Appendf(nil, `{"balance_of": {"owner": %q}}`, bob)
	if out := contracttest.Output(t, c.Query(t, bob, own)); string(out) != `{"balance":40}` {
		t.Fatalf("own balance_of: %s", out)
	}
	contracttest.ErrorText(t, c.Query(t, alice, own), "balances are visible only to their owner")
	contracttest.ErrorText(t, c.Query(t, carol, own), "balances are visible only to their owner")
	contracttest.ErrorText(t, c.Query(t, bob, []byte(`{"balance_of": {"owner": "bob"}}`)), "balance_of.owner")
	contracttest.ErrorText(t, c.Query(t, bob, []byte(`{"balance_of": {}}`)), "balance_of.owner: required")
	contracttest.ErrorText(t, c.Query(t, bob, []byte(`{"balance": {"owner": "x"}}`)), "balance.owner: not a member")
	contracttest.ErrorText(t, c.Query(t, bob, []byte(`{"supply": {}}`)), `unknown query "supply"`)
}

// TestEveryWorkerComputesTheSameResults: every worker of a cluster must
// compute the same replies, gas and state, whichever engine mode it runs
// and whether its query instance is fresh or warm.
func TestEveryWorkerComputesTheSameResults(t *testing.T) {
	module.CheckDeterminism(t, alice, []byte(`{"supply": 500}`), []contracttest.Step{
		{From: alice, Input: transfer(bob, 100)},
		{From: bob, Input: []byte(`{"balance": {}}`), Query: true},
		{From: bob, Input: transfer(carol, 30)},
		{From: carol, Input: transfer(alice, 31)},
		{From: bob, Input: []byte(`{"transfer": {}}`)},
		{From: bob, Input: []byte(`{"balance": {}}`), Query: true},
		{From: carol, Input: fmt.Appendf(nil, `{"balance_of": {"owner": %q}}`, bob), Query: true},
	})
}

func TestModuleFitsInOneUploadTransaction(t *testing.T) { module.CheckUploadSize(t) }

// BenchmarkTransfer measures a command: a fresh instance, the Go
// runtime's start-up and the transfer, all metered.
func BenchmarkTransfer(b *testing.B) {
	c, _ := module.Instantiate(b, alice, []byte(`{"supply": 1000000000}`))
	in := transfer(bob, 1)
	var gas uint64
	for b.Loop() {
		res := c.Command(b, alice, in)
		contracttest.Output(b, res)
		gas = res.GasUsed
	}
	b.ReportMetric(float64(gas), "gas/op")
}

// BenchmarkBalanceQuery measures a query in a warm instance.
func BenchmarkBalanceQuery(b *testing.B) {
	c, _ := module.Instantiate(b, alice, []byte(`{"supply": 1000}`))
	in := []byte(`{"balance": {}}`)
	var gas uint64
	for b.Loop() {
		res := c.Query(b, alice, in)
		contracttest.Output(b, res)
		gas = res.GasUsed
	}
	b.ReportMetric(float64(gas), "gas/op")
}
