package meter_test

import (
	"bytes"
	"errors"
	"maps"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/internal/wasm/meter"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// contract returns a valid ABI module whose phala_command runs code (with
// one extra i32 local) and which imports the named host functions.
func contract(code []byte, imports ...string) []byte {
	c := NewContract(1, imports...)
	c.Entry(abi.ExportCommand, []abi.ValType{abi.I32}, code)
	return c.Encode()
}

// commandBody returns a contract whose command has exactly the given raw
// body (local declarations, code and end).
func commandBody(body []byte) []byte {
	c := NewContract(1)
	c.ExportFunc(abi.ExportCommand, c.RawFunc(c.Type(EntrySig), body))
	return c.Encode()
}

// withSection returns a valid contract with an extra raw section after the
// standard section after.
func withSection(after, id byte, payload []byte) []byte {
	c := NewContract(1)
	c.Raw(after, id, payload)
	return c.Encode()
}

func TestValidateAcceptsABIModules(t *testing.T) {
	t.Parallel()
	cases := map[string][]byte{
		"minimal contract":      contract(I32Const(0)),
		"every host function":   contract(I32Const(0), allImports()...),
		"custom section":        withSection(SecType, SecCustom, Name("producers")),
		"memory with a maximum": maxMemoryContract(),
		"passive data and memory.init": func() []byte {
			c := NewContract(1)
			d := c.PassiveData([]byte("hello"))
			c.Entry(abi.ExportCommand, nil, Code(I32Const(0), I32Const(0), I32Const(5), MemoryInit(d), I32Const(0)))
			return c.Encode()
		}(),
		"multi-value block type": func() []byte {
			c := NewContract(1)
			bt := c.Type(Sig(nil, abi.I32, abi.I32))
			c.Entry(abi.ExportCommand, nil, Code(byte(0x02), SLEB(int64(bt)), I32Const(1), I32Const(2), End, I32Add))
			return c.Encode()
		}(),
	}
	maps.Copy(cases, constExprModules())
	for name, wasm := range cases {
		if err := meter.Validate(wasm, abi.MaxCodeBytes); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := engineCompile(wasm); err != nil {
			t.Errorf("%s: Validate accepts it, the engine refuses it: %v", name, err)
		}
	}
}

func maxMemoryContract() []byte {
	c := &Contract{Module: New()}
	c.Export(abi.ExportMemory, KindMemory, c.Memory(2, 600))
	return c.Encode()
}

func allImports() []string {
	var names []string
	for _, mod := range []string{abi.Module, abi.WASI} {
		for name := range abi.Imports()[mod] {
			names = append(names, name)
		}
	}
	return names
}

// refusal is a module Validate refuses, with its error and a regular
// expression the message must match.
type refusal struct {
	name   string
	wasm   []byte
	err    error
	detail string
}

// TestValidateRefusals lists every way a module is refused, each with its
// error and a detail naming the offending item.
func TestValidateRefusals(t *testing.T) {
	t.Parallel()
	valid := contract(I32Const(0))
	cases := []refusal{
		{"too large", append(bytes.Clone(valid), make([]byte, abi.MaxCodeBytes)...), protocol.ErrCodeTooLarge, `limit 4194304`},
		{"empty", nil, protocol.ErrInvalidModule, `bad magic\) at byte 0`},
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00"), protocol.ErrInvalidModule, `bad magic`},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), protocol.ErrInvalidModule, `version`},
		{"truncated", valid[:len(valid)-3], protocol.ErrInvalidModule, `overruns the module|unexpected end`},
		{"trailing garbage", append(bytes.Clone(valid), 0x01), protocol.ErrInvalidModule, `unexpected end`},
		{"start section", withSection(SecExport, SecStart, ULEB(0)), protocol.ErrInvalidModule, `start section .* at byte \d+`},
		{"unknown section", withSection(SecData, 14, nil), protocol.ErrInvalidModule, `unknown section id 14`},
		{"section out of order", withSection(SecCode, SecType, Vec(0)), protocol.ErrInvalidModule, `section 1 out of order`},
		{"tag section", withSection(SecMemory, 13, Vec(0)), protocol.ErrNonDeterministic, `tag section`},
		{"bad UTF-8 in a custom section name", withSection(0, SecCustom, []byte{2, 0xc3, 0x28}), protocol.ErrInvalidModule, `UTF-8`},
		{"LEB128 too long", withSection(0, SecCustom, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), protocol.ErrInvalidModule, `too long`},
		{"count larger than the section", withSection(0, SecType, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}), protocol.ErrInvalidModule, `type count 4294967295 exceeds`},

		{"import outside the ABI", importing("env", "abort", Sig(nil)), protocol.ErrModuleImports, `env\.abort is not in the host ABI at byte \d+`},
		{"WASI function outside the subset", importing(abi.WASI, "path_open", Sig(nil)), protocol.ErrModuleImports, `path_open`},
		{"import with the wrong signature", importing(abi.Module, "gas_left", Sig(nil, abi.I32)), protocol.ErrModuleImports, `gas_left has signature \(\) -> \(i32\), the ABI's is \(\) -> \(i64\)`},
		{"imported memory", rawImport([]byte{KindMemory, 0x00, 0x01}), protocol.ErrModuleImports, `not a function \(import kind 2\)`},
		{"imported global", rawImport([]byte{KindGlobal, 0x7f, 0x00}), protocol.ErrModuleImports, `import kind 3`},

		{"missing phala_command", without(abi.ExportCommand), protocol.ErrModuleExports, `no export "phala_command"`},
		{"missing _initialize", without(abi.ExportStart), protocol.ErrModuleExports, `no export "_initialize"`},
		{"no memory export", noMemoryExport(), protocol.ErrModuleExports, `no exported memory "memory"`},
		{"entry with the wrong signature", wrongEntry(), protocol.ErrModuleExports, `"phala_query" has signature \(\) -> \(i32\)`},
		{"reserved export name", reservedExport(meter.GasGlobal), protocol.ErrModuleExports, `reserved prefix "phala_gas"`},
		{"reserved prefix", reservedExport("phala_memory_stats"), protocol.ErrModuleExports, `reserved prefix "phala_mem"`},

		{"SIMD instruction", contract(Code(PrefixSIMD, ULEB(12), make([]byte, 16), Drop, I32Const(0))), protocol.ErrNonDeterministic, `opcode 0xfd \(SIMD\) at byte \d+`},
		{"SIMD value type", contract(Code(Block(0x7b), End, I32Const(0))), protocol.ErrNonDeterministic, `v128`},
		{"atomics", contract(Code(PrefixAtom, ULEB(0x10), I32Const(0))), protocol.ErrNonDeterministic, `threads`},
		{"tail call", contract(Code(Op(0x12, 0), I32Const(0))), protocol.ErrNonDeterministic, `tail calls`},
		{"exceptions", contract(Code(byte(0x06), BlockEmpty, End, I32Const(0))), protocol.ErrNonDeterministic, `exception handling`},
		{"unknown 0xfc instruction", contract(Code(Misc(18), I32Const(0))), protocol.ErrNonDeterministic, `0xfc 18`},
		{"memory index 1", contract(Code(MemorySize, byte(1), Drop, I32Const(0))), protocol.ErrNonDeterministic, `multiple memories`},
		{"memory access with a memory index", contract(Code(I32Const(0), Op(I32Load, 0x40, 1, 0), I32Const(0))), protocol.ErrNonDeterministic, `multiple memories`},
		{"two memories", twoMemories(), protocol.ErrNonDeterministic, `2 memories`},
		{"shared memory", memoryLimits(0x03, 1, 1), protocol.ErrNonDeterministic, `shared memory`},
		{"64-bit memory", memoryLimits(0x04, 1), protocol.ErrNonDeterministic, `64-bit memory`},

		{"unknown opcode", contract(Code(byte(0x27), I32Const(0))), protocol.ErrInvalidModule, `unknown opcode 0x27 at byte \d+`},
		{"2^32-1 locals in a few bytes", commandBody(Code(Vec(1), ULEB(0xffffffff), byte(abi.I64), I32Const(0), End)), protocol.ErrInvalidModule, `more than 50000 locals`},
		{"locals over the limit across entries", commandBody(Code(Vec(2), ULEB(30_000), byte(abi.I64), ULEB(30_000), byte(abi.I32), I32Const(0), End)), protocol.ErrInvalidModule, `more than 50000 locals`},
		{"body over 128 KiB", contract(Code(bytes.Repeat([]byte{Nop}, abi.MaxBodyBytes), I32Const(0))), protocol.ErrInvalidModule, `body of \d+ bytes, limit 131072`},
		{"body ends inside a block", commandBody(Code(Vec(0), Block(BlockEmpty), I32Const(0), End)), protocol.ErrInvalidModule, `ends inside a block`},
		{"bytes after the final end", commandBody(Code(Vec(0), I32Const(0), End, Nop)), protocol.ErrInvalidModule, `1 bytes after the function's end`},
		{"else outside an if", contract(Code(Else, I32Const(0))), protocol.ErrInvalidModule, `else outside an if`},
		{"branch too deep", contract(Code(Br(5))), protocol.ErrInvalidModule, `branch to label 5 at depth 1`},
		{"call of a missing function", contract(Code(Call(999), I32Const(0))), protocol.ErrInvalidModule, `function index 999 out of range`},
		{"local out of range", contract(Code(LocalGet(9))), protocol.ErrInvalidModule, `local 9 of 2`},
		{"memory initial size over the limit", memoryLimits(0x00, abi.MaxMemoryPages+1), protocol.ErrInvalidModule, `starts with 513 pages, limit 512`},
		{"table initial size over the limit", bigTable(), protocol.ErrInvalidModule, `starts with 131073 elements`},
		{"too many functions", manyFunctions(abi.MaxFunctions + 1), protocol.ErrInvalidModule, `100001 functions, limit 100000`},
		{"function and code counts differ", countMismatch(), protocol.ErrInvalidModule, `function bodies for`},
		{"data count mismatch", dataCountMismatch(), protocol.ErrInvalidModule, `data count section says 2 segments, data section has 1`},
		{"data segment outside the initial memory", dataAt(65530, 10), protocol.ErrInvalidModule, `data segment 0 \(bytes 65530\.\.65540\) outside the initial memory of 65536 bytes`},
		{"data segment at a negative offset", dataAt(-1, 1), protocol.ErrInvalidModule, `outside the initial memory`},
		{"element segment outside its table", elemAt(2, 2), protocol.ErrInvalidModule, `element segment 0 \(elements 2\.\.4\) outside table 0 of 3 elements`},
	}
	cases = append(cases, constExprRefusals()...)
	for _, tc := range cases {
		start := time.Now()
		err := meter.Validate(tc.wasm, abi.MaxCodeBytes)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if !regexp.MustCompile(tc.detail).MatchString(err.Error()) {
			t.Errorf("%s: %q does not match %q", tc.name, err, tc.detail)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("%s: refusal took %v", tc.name, d) // logged, never failed on: timings do not decide tests
		}
	}
}

func importing(module, name string, sig abi.FuncType) []byte {
	c := &Contract{Module: New()}
	c.Import(module, name, sig)
	c.Export(abi.ExportMemory, KindMemory, c.Memory(1, 0))
	return c.Encode()
}

func rawImport(desc []byte) []byte {
	c := &Contract{Module: New()}
	c.RawImport("env", "x", desc)
	c.Export(abi.ExportMemory, KindMemory, c.Memory(1, 0))
	return c.Encode()
}

// without is a contract lacking one required export.
func without(export string) []byte {
	c := NewContract(1)
	m := c.Module
	for _, e := range []string{abi.ExportStart, abi.ExportInit, abi.ExportCommand, abi.ExportQuery} {
		if e == export {
			continue
		}
		sig := EntrySig
		code := I32Const(0)
		if e == abi.ExportStart {
			sig, code = Sig(nil), nil
		}
		m.ExportFunc(e, m.Func(sig, nil, code))
	}
	return m.Encode()
}

func noMemoryExport() []byte {
	c := &Contract{Module: New()}
	c.Memory(1, 0)
	return c.Encode()
}

func wrongEntry() []byte {
	c := NewContract(1)
	c.ExportFunc(abi.ExportQuery, c.Func(Sig(nil, abi.I32), nil, I32Const(0)))
	return c.Encode()
}

func reservedExport(name string) []byte {
	c := NewContract(1)
	c.ExportFunc(name, c.Func(Sig(nil), nil, nil))
	return c.Encode()
}

func twoMemories() []byte {
	c := NewContract(1)
	c.Memory(1, 0)
	return c.Encode()
}

func memoryLimits(flag byte, limits ...uint32) []byte {
	m := New()
	enc := Vec(1)
	enc = append(enc, flag)
	for _, l := range limits {
		enc = append(enc, ULEB(uint64(l))...)
	}
	m.Raw(SecFunction, SecMemory, enc)
	return m.Encode()
}

func bigTable() []byte {
	c := NewContract(1)
	c.Table(abi.MaxTableElements+1, 0)
	return c.Encode()
}

func manyFunctions(n int) []byte {
	m := New()
	enc := Vec(n)
	for range n {
		enc = append(enc, 0)
	}
	m.Type(Sig(nil))
	m.Raw(SecType, SecFunction, enc)
	return m.Encode()
}

func countMismatch() []byte {
	// One declared function, no bodies.
	m := New()
	m.Type(Sig(nil))
	m.Raw(SecType, SecFunction, Code(Vec(1), ULEB(0)))
	m.Raw(SecFunction, SecCode, Vec(0))
	return m.Encode()
}

func dataAt(offset int32, n int) []byte {
	c := NewContract(1)
	c.Data(offset, make([]byte, n))
	return c.Encode()
}

func elemAt(offset int32, n int) []byte {
	c := NewContract(1)
	c.Table(3, 0)
	funcs := make([]uint32, n)
	c.Elem(offset, funcs...)
	return c.Encode()
}

func dataCountMismatch() []byte {
	c := NewContract(1)
	c.Data(0, []byte("x"))
	c.Raw(SecElement, SecDataCount, ULEB(2))
	return c.Encode()
}

// TestRefusalsNameTheirByteOffset checks that an error in a function body
// names the function and an offset inside it.
func TestRefusalsNameTheirByteOffset(t *testing.T) {
	t.Parallel()
	wasm := contract(Code(byte(0x27), I32Const(0)))
	err := meter.Validate(wasm, abi.MaxCodeBytes)
	m := regexp.MustCompile(`function (\d+): unknown opcode 0x27 at byte (\d+)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("%v", err)
	}
	off := bytes.LastIndexByte(wasm, 0x27)
	if m[2] != strconv.Itoa(off) {
		t.Errorf("offset %s, the opcode is at %d", m[2], off)
	}
}

// TestInstrumentIsDeterministic checks that the same input gives the same
// bytes, so every member compiles the same code.
func TestInstrumentIsDeterministic(t *testing.T) {
	t.Parallel()
	wasm := contract(Code(I32Const(0), I32Const(0), Call(0), I32Const(0)), "input_read", "output_write")
	a, err := meter.Instrument(wasm, meter.ABIConfig(abi.MaxCodeBytes))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, _ := meter.Instrument(wasm, meter.ABIConfig(abi.MaxCodeBytes))
		if !bytes.Equal(a, b) {
			t.Fatal("two instrumentations differ")
		}
	}
}
