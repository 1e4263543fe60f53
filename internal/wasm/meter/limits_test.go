package meter_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// withBodies is a contract with one extra function per body, each
// (i32) -> () with locals extra i64 locals.
func withBodies(locals int, bodies ...[]byte) []byte {
	c := NewContract(1)
	for _, b := range bodies {
		decl := Vec(0)
		if locals > 0 {
			decl = Code(Vec(1), ULEB(uint64(locals)), byte(abi.I64))
		}
		c.RawFunc(c.Type(Sig(i32)), Code(decl, b, End))
	}
	return c.Encode()
}

// repeat returns n copies of the instructions.
func repeat(n int, parts ...any) []byte { return []byte(strings.Repeat(string(Code(parts...)), n)) }

// TestValidationRefusesCompileBombs is the compile-bomb attack (contracts
// review 2026-12, finding 1): an author uploads a small module whose
// control flow costs wazero's optimising compiler minutes and gigabytes on
// every member of the cluster. Each compile limit admits a module exactly
// at it and refuses one past it with ErrModuleTooComplex, and the review's
// bombs are all refused. The refusal comes from counts kept while
// decoding, so it costs a pass over the bytes; the engine benchmark
// (go run ./bench engine) measures what modules at the limits cost to
// compile.
func TestValidationRefusesCompileBombs(t *testing.T) {
	t.Parallel()
	blocks := func(n int) []byte { return repeat(n, Block(BlockEmpty), End) }
	nested := func(n int) []byte { return Code(repeat(n, Block(BlockEmpty)), repeat(n, End)) }
	table := func(labels int) []byte {
		return Code(Block(BlockEmpty), LocalGet(0), BrTable(0, make([]uint32, labels-1)...), End) // one block, one br_table
	}
	many := func(n int, body []byte) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = body
		}
		return out
	}
	// Locals of a function: its parameter and the declared i64s.
	const pairsLocals = 128
	pairs := blocks(abi.MaxControlLocals / pairsLocals) // controls × locals = the limit exactly
	tooComplex, invalid := protocol.ErrModuleTooComplex, protocol.ErrInvalidModule
	cases := []struct {
		name   string
		wasm   []byte
		err    error // nil: accepted
		detail string
	}{
		{"controls at the limit", withBodies(0, blocks(abi.MaxControls)), nil, ""},
		{"controls past the limit", withBodies(0, blocks(abi.MaxControls+1)), tooComplex, `more than 2048 control instructions`},
		{"nesting at the limit", withBodies(0, nested(abi.MaxNesting)), nil, ""},
		{"nesting past the limit", withBodies(0, nested(abi.MaxNesting+1)), tooComplex, `nested more than 1024 deep`},
		{"br_table labels at the limit", withBodies(0, table(abi.MaxBrTableLabels)), nil, ""},
		{"br_table labels past the limit", withBodies(0, table(abi.MaxBrTableLabels+1)), tooComplex, `more than 4096 br_table labels`},
		{"controls x locals at the limit", withBodies(pairsLocals-1, pairs), nil, ""},
		{"controls x locals past the limit", withBodies(pairsLocals-1, Code(pairs, blocks(1))), tooComplex, `257 control instructions × 128 locals, more than 32768`},
		{"module controls at the limit", withBodies(0, many(abi.MaxModuleControls/abi.MaxControls, blocks(abi.MaxControls))...), nil, ""},
		{"module controls past the limit", withBodies(0, append(many(abi.MaxModuleControls/abi.MaxControls, blocks(abi.MaxControls)), blocks(1))...), tooComplex, `module has more than 262144 control instructions`},
		{"module br_table labels at the limit", withBodies(0, many(abi.MaxModuleBrTableLabels/abi.MaxBrTableLabels, table(abi.MaxBrTableLabels))...), nil, ""},
		{"module br_table labels past the limit", withBodies(0, append(many(abi.MaxModuleBrTableLabels/abi.MaxBrTableLabels, table(abi.MaxBrTableLabels)), table(1))...), tooComplex, `module has more than 262144 br_table labels`},
		{"module controls x locals at the limit", withBodies(pairsLocals-1, many(abi.MaxModuleControlLocals/abi.MaxControlLocals, pairs)...), nil, ""},
		{"module controls x locals past the limit", withBodies(pairsLocals-1, append(many(abi.MaxModuleControlLocals/abi.MaxControlLocals, pairs), blocks(1))...), tooComplex, `control instructions × locals, summed over its functions, exceed 2097152`},

		// The review's measured bombs.
		{"review: nested block x 100,000", withBodies(0, nested(100_000)), invalid, `body of \d+ bytes, limit 131072`},
		{"review: nested block x 40,000", withBodies(0, nested(40_000)), tooComplex, `nested more than 1024 deep`},
		{"review: 500 nested ifs x 500 locals", bomb(t, "if merges x locals", 500), tooComplex, `more than 32768`},
		{"review: block end x 40,000 then reads", withBodies(0, Code(blocks(40_000), repeat(80_000, LocalGet(0), Drop))), invalid, `body of \d+ bytes, limit 131072`},
		{"review: 4,000 nested loops x 4,000 locals", bomb(t, "nested loops x locals", 4_000), tooComplex, `nested more than 1024 deep|more than 32768`},
		{"review: 2,000 nested loops x 2,000 locals", bomb(t, "nested loops x locals", 2_000), tooComplex, `nested more than 1024 deep|more than 32768`},
		{"review: br_table of 200,000 labels", withBodies(0, table(200_000)), invalid, `body of \d+ bytes, limit 131072`},
		{"review: 500 loops x 280 locals", bomb(t, "nested loops x locals", 280), tooComplex, `more than 32768`},
	}
	for _, tc := range cases {
		err := meter.Validate(tc.wasm, abi.MaxCodeBytes)
		if tc.err == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if !regexp.MustCompile(tc.detail).MatchString(err.Error()) {
			t.Errorf("%s: %q does not match %q", tc.name, err, tc.detail)
		}
	}
}

// bomb builds the wasmtest bomb of that name at size n.
func bomb(t *testing.T, name string, n int) []byte {
	t.Helper()
	for _, b := range Bombs() {
		if b.Name == name {
			return b.Build(n)
		}
	}
	t.Fatalf("no bomb %q", name)
	return nil
}
