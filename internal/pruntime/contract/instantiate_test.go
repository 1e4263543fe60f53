package contract_test

import (
	"testing"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// TestCommandCannotInstantiateAHugeModuleForOneGas is the uncharged
// instantiation (contracts review 2026-12, finding 4): a command with a
// gas limit of 1 made every member instantiate a module of 512 pages and
// eight tables of 131,072 elements (3-13 ms in the compiler) before the
// limit was looked at. The instance's price is charged first; a limit that
// does not cover it is out of gas without an instance. Not parallel: it
// counts the shared engines' instantiations.
func TestCommandCannotInstantiateAHugeModuleForOneGas(t *testing.T) {
	huge := NewContract(abi.MaxMemoryPages)
	for range abi.MaxTables {
		huge.Table(abi.MaxTableElements, 0)
	}
	hugeWasm, smallWasm := huge.Encode(), NewContract(1).Encode()
	const price = abi.MaxMemoryPages*abi.GrowPageGas + abi.MaxTables*abi.MaxTableElements
	for _, m := range modes(t) {
		code, small := compile(t, m.e, hugeWasm), compile(t, m.e, smallWasm)
		if code.InstanceGas() != price || small.InstanceGas() != abi.GrowPageGas {
			t.Errorf("%s: instance prices %d and %d, want %d and %d", m.name, code.InstanceGas(), small.InstanceGas(), price, abi.GrowPageGas)
		}
		before := m.e.Instantiations()
		c := call(contract.EntryCommand, nil, newStore())
		c.GasLimit = 1
		res := run(t, m.e, code, c)
		expect(t, m.name+"/limit 1", res, protocol.OutcomeOutOfGas, contract.ReasonOutOfGas, nil)
		if res.GasUsed != 1 || m.e.Instantiations() != before {
			t.Errorf("%s: gas %d, %d instances made; want 1 and none", m.name, res.GasUsed, m.e.Instantiations()-before)
		}
		c.GasLimit = price - 1
		if res := run(t, m.e, code, c); res.Outcome != protocol.OutcomeOutOfGas || m.e.Instantiations() != before {
			t.Errorf("%s: a limit 1 below the price: %s with %d instances made", m.name, res.Outcome, m.e.Instantiations()-before)
		}
		c.GasLimit = testGas
		big, little := run(t, m.e, code, c), run(t, m.e, small, c)
		expect(t, m.name+"/ample gas", big, protocol.OutcomeOK, "", nil)
		if big.GasUsed-little.GasUsed != price-abi.GrowPageGas {
			t.Errorf("%s: the huge instance cost %d more than a one-page one, want %d", m.name, big.GasUsed-little.GasUsed, price-abi.GrowPageGas)
		}
	}
}

// TestGrowingMemoryPageByPageCopiesNothing is memory.grow's hidden cost
// (contracts review 2026-12, finding 5): wazero's memory appended on every
// grow, so 511 one-page grows copied the memory over and over for 1,000
// gas a page (60-240x an ordinary contract's CPU per gas). The engine
// reserves each instance's maximum up front, so a grow never moves it.
func TestGrowingMemoryPageByPageCopiesNothing(t *testing.T) {
	t.Parallel()
	wasm := NewContract(1).Encode()
	for _, m := range modes(t) {
		moved, err := m.e.GrowthMoves(t.Context(), compile(t, m.e, wasm), abi.MaxMemoryPages-1)
		if err != nil || moved {
			t.Errorf("%s: growing to %d pages one at a time: moved %v, err %v", m.name, abi.MaxMemoryPages, moved, err)
		}
	}
}
