package contract_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/pruntime/contract"
)

// faults are commands that end in each way a call can fail.
var faults = [][]byte{cmd('P'), cmd('C', 5000), cmd('L'), cmd('A', 48), cmd('O', 20_000), cmd('X', 4), cmd('R', 2000), cmd('E', "bad topic", "x"), cmd('F', "no"), cmd('S', "big", string(make([]byte, 70_000)))}

// mixedCalls is a fixed, pseudo-random sequence of commands covering every
// kind of outcome, with varying heights, seeds and gas limits (some too
// small to finish).
func mixedCalls(n int) []*contract.Call {
	rng := rand.New(rand.NewPCG(1, 2))
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	key := func() string { return fmt.Sprintf("k%d", rng.IntN(12)) }
	var calls []*contract.Call
	for i := range n {
		var in []byte
		switch rng.IntN(20) {
		case 0, 1, 2:
			in = cmd('S', key(), fmt.Sprintf("v%d", rng.Uint64()))
		case 3:
			in = cmd('G', key())
		case 4:
			in = cmd('D', key())
		case 5:
			in = cmd('I', "k1")
		case 6:
			in = cmd('T', "counter")
		case 7:
			in = cmd('E', fmt.Sprintf("topic.%d", rng.IntN(3)), fmt.Sprintf("payload %d", i))
		case 8:
			in = cmd('R', rng.IntN(64))
		case 9:
			msg := []byte(fmt.Sprint(i))
			sig := ed25519.Sign(priv, msg)
			if rng.IntN(2) == 0 {
				msg = append(msg, '!')
			}
			in = cmd('V', []byte(pub), msg, sig)
		case 10:
			in = cmd('W')
		case 11:
			in = cmd('F', "refused")
		case 12:
			in = cmd('C', []int{50, 5000}[rng.IntN(2)])
		case 13:
			in = cmd('A', []int{1, 48}[rng.IntN(2)])
		case 14:
			in = cmd('B', "seed", rng.IntN(20))
		case 15:
			in = cmd('g')
		case 16:
			in = cmd('L')
		case 17:
			in = [][]byte{cmd('P'), cmd('X', 4), cmd('R', 2000)}[rng.IntN(3)]
		case 18:
			in = [][]byte{cmd('O', 100), cmd('O', 20_000)}[rng.IntN(2)]
		case 19:
			in = cmd('E', "bad topic", "x")
		}
		c := call(contract.EntryCommand, in, nil)
		c.Height = int64(10 + i)
		c.Time = testTime.Add(time.Duration(i) * time.Second)
		c.Seed = [32]byte{byte(i), byte(i >> 8), 0xee}
		c.GasLimit = []uint64{2_000_000, 3_000_000, 6_000_000}[rng.IntN(3)]
		if i%20 == 0 { // and every kind of fault, whatever the draw
			c.Input, c.GasLimit = faults[i/20%len(faults)], testGas
		}
		calls = append(calls, c)
	}
	return calls
}

// TestSameCallsGiveIdenticalResultsInBothModes runs 300 mixed commands in
// order on each engine mode, with the store settled after each as pRuntime
// does: every Result (outcome, reason, output, gas used, emitted) and the
// final storage must be identical.
func TestSameCallsGiveIdenticalResultsInBothModes(t *testing.T) {
	t.Parallel()
	calls := mixedCalls(300)
	results := map[string][]*contract.Result{}
	stores := map[string]string{}
	outcomes := map[string]int{}
	for _, m := range modes(t) {
		code := compile(t, m.e, kitchen(t))
		store := newStore()
		for _, c := range calls {
			cc := *c
			cc.Store = store
			res := run(t, m.e, code, &cc)
			store.settle(res)
			results[m.name] = append(results[m.name], res)
			if m.name == "compiler" {
				outcomes[res.Outcome+" "+res.Reason]++
			}
		}
		stores[m.name] = store.dump()
	}
	for i := range calls {
		a, b := results["compiler"][i], results["interpreter"][i]
		if !reflect.DeepEqual(a, b) {
			t.Errorf("call %d %q: compiler %+v, interpreter %+v", i, calls[i].Input, a, b)
		}
	}
	if stores["compiler"] != stores["interpreter"] {
		t.Errorf("storage differs:\ncompiler:\n%s\ninterpreter:\n%s", stores["compiler"], stores["interpreter"])
	}
	if len(outcomes) < 11 {
		t.Errorf("the mix produced only %v; want every kind of outcome", outcomes)
	}
	t.Logf("outcomes: %v", outcomes)
}
