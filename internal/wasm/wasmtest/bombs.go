package wasmtest

import (
	"bytes"

	"github.com/phala-go/phala/internal/wasm/abi"
)

// Bomb is a shape of function body made to cost an optimising compiler
// far more per byte than ordinary code (contracts review 2026-12, finding
// 1): wazero's compiler has passes superlinear in basic blocks, dominator
// depth and (loop headers or merges) × variables. Build returns a contract
// whose phala_command holds the shape at size n; the module grows linearly
// in n, so a compile cost per byte that grows with n is superlinear.
// The meter's tests build them at and past its limits, the engine
// benchmark (go run ./bench engine) measures what they cost to compile.
type Bomb struct {
	Name  string
	Build func(n int) []byte
}

// Bombs returns every shape.
func Bombs() []Bomb {
	return []Bomb{
		{"calls", func(n int) []byte {
			// One body of n calls of an empty function: each call was a
			// basic block of its own once wrapped in `if … unreachable end`.
			c := NewContract(1)
			g := c.Func(Sig(nil), nil, nil)
			return command(c, 0, rep(n, Call(g)), nil)
		}},
		{"nested blocks", func(n int) []byte {
			return command(NewContract(1), 0, rep(n, Block(BlockEmpty)), rep(n, End))
		}},
		{"block chain then reads", func(n int) []byte {
			// A chain of single-predecessor blocks, then reads of a
			// variable defined before it: each read walks the chain.
			return command(NewContract(1), 0, rep(n, Block(BlockEmpty), End), rep(2*n, LocalGet(0), Drop))
		}},
		{"br_if chain then reads", func(n int) []byte {
			body := Code(Block(BlockEmpty), rep(n, LocalGet(0), BrIf(0)), End)
			return command(NewContract(1), 0, body, rep(n, LocalGet(0), Drop))
		}},
		{"nested loops x locals", func(n int) []byte {
			// n nested loops whose innermost reads and writes n locals
			// and branches back to its header: a block parameter per
			// (header, local).
			var inner []byte
			for i := 1; i <= n; i++ {
				inner = Code(inner, LocalGet(uint32(i)), I64Const(1), I64Add, LocalSet(uint32(i)))
			}
			body := Code(rep(n, Loop(BlockEmpty)), inner, LocalGet(0), BrIf(0), rep(n, End))
			return command(NewContract(1), n, body, nil)
		}},
		{"if merges x locals", func(n int) []byte {
			// n ifs, each defining one of n locals, then a read of every
			// local: a value lookup per (merge, local).
			var body []byte
			for i := 1; i <= n; i++ {
				body = Code(body, LocalGet(0), If(BlockEmpty), I64Const(int64(i)), LocalSet(uint32(i)), End)
			}
			var reads []byte
			for i := 1; i <= n; i++ {
				reads = Code(reads, LocalGet(uint32(i)), Drop)
			}
			return command(NewContract(1), n, body, reads)
		}},
		{"live locals across calls", func(n int) []byte {
			// n i64 locals set, a call, then all summed: the compiler
			// keeps n values live across the call.
			c := NewContract(1)
			g := c.Func(Sig(nil), nil, nil)
			var set, sum []byte
			for i := 1; i <= n; i++ {
				set = Code(set, LocalGet(0), I64ExtendU, I64Const(int64(i)), I64Add, LocalSet(uint32(i)))
				sum = Code(sum, LocalGet(uint32(i)), I64Add)
			}
			return command(c, n, Code(set, Call(g), I64Const(0), sum, Drop), nil)
		}},
		{"loads", func(n int) []byte {
			// n bounds-checked loads: each is a check and an exit path.
			return command(NewContract(1), 0, rep(n, LocalGet(0), Mem(I32Load, 2, 0), Drop), nil)
		}},
		{"divisions", func(n int) []byte {
			// n divisions: each is a zero check and an exit path.
			return command(NewContract(1), 0, rep(n, LocalGet(0), LocalGet(0), I32DivU, Drop), nil)
		}},
		{"many functions", func(n int) []byte {
			// n empty functions: the compiler's fixed cost per function.
			c := NewContract(1)
			for range n {
				c.Func(Sig(nil), nil, nil)
			}
			return command(c, 0, nil, nil)
		}},
		{"br_table", func(n int) []byte {
			labels := make([]uint32, n)
			return command(NewContract(1), 0, Code(Block(BlockEmpty), LocalGet(0), BrTable(0, labels...), End), nil)
		}},
	}
}

// command defines c's phala_command as locals i64 locals, code, then tail
// (after which it returns 0), and encodes c.
func command(c *Contract, locals int, code, tail []byte) []byte {
	var decl []byte
	if locals > 0 {
		decl = Code(ULEB(1), ULEB(uint64(locals)), byte(abi.I64))
	} else {
		decl = ULEB(0)
	}
	f := c.RawFunc(c.Type(EntrySig), Code(decl, code, tail, I32Const(0), End))
	c.ExportFunc(abi.ExportCommand, f)
	return c.Encode()
}

// rep repeats the instructions (as Code takes them) n times.
func rep(n int, parts ...any) []byte {
	return bytes.Repeat(Code(parts...), n)
}
