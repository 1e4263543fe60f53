// Package wasmtest builds WebAssembly modules in tests, byte by byte, so
// that tests can make exact and hostile modules without a wat2wasm tool.
//
// A Module collects types, imports, functions (bodies as raw instruction
// bytes), tables, a memory, globals, exports, element and data segments and
// extra raw sections, and Encode writes the binary. It checks nothing: the
// point is to be able to write malformed modules. Contract starts a module
// that meets host ABI version 1, for tests that need a runnable contract.
//
// Instructions are plain byte slices; the helpers in code.go encode the
// common ones and Code concatenates them:
//
//	m := wasmtest.New()
//	f := m.Func(wasmtest.Sig(nil, abi.I32), nil, wasmtest.Code(wasmtest.I32Const(7)))
//	m.ExportFunc("seven", f)
//	wasm := m.Encode()
//
// Indices are fixed when an item is added, so every import must be added
// before the first function (Import panics otherwise: it is a test bug).
package wasmtest

import (
	"github.com/phala-go/phala/internal/wasm/abi"
)

// Sig returns the signature (params) -> (results).
func Sig(params []abi.ValType, results ...abi.ValType) abi.FuncType {
	return abi.FuncType{Params: params, Results: results}
}

// Export kinds.
const (
	KindFunc   byte = 0x00
	KindTable  byte = 0x01
	KindMemory byte = 0x02
	KindGlobal byte = 0x03
)

// Section ids, for Raw.
const (
	SecCustom    byte = 0
	SecType      byte = 1
	SecImport    byte = 2
	SecFunction  byte = 3
	SecTable     byte = 4
	SecMemory    byte = 5
	SecGlobal    byte = 6
	SecExport    byte = 7
	SecStart     byte = 8
	SecElement   byte = 9
	SecCode      byte = 10
	SecData      byte = 11
	SecDataCount byte = 12
)

// Module is a module under construction.
type Module struct {
	types     [][]byte // encoded function types
	imports   [][]byte
	nimports  uint32
	funcs     []uint32 // type index per defined function
	bodies    [][]byte
	tables    [][]byte
	memories  [][]byte
	globals   [][]byte
	exports   [][]byte
	exported  map[string]bool
	elements  [][]byte
	data      [][]byte
	dataCount bool
	raw       []rawSection
}

type rawSection struct {
	after   byte // emitted after the standard section with this id (0: first)
	id      byte
	payload []byte
}

// New returns an empty module.
func New() *Module { return &Module{exported: map[string]bool{}} }

// Type adds (or finds) a function type and returns its index.
func (m *Module) Type(t abi.FuncType) uint32 {
	enc := []byte{0x60}
	for _, v := range [][]abi.ValType{t.Params, t.Results} {
		enc = append(enc, Vec(len(v))...)
		for _, b := range v {
			enc = append(enc, byte(b))
		}
	}
	for i, have := range m.types {
		if string(have) == string(enc) {
			return uint32(i)
		}
	}
	m.types = append(m.types, enc)
	return uint32(len(m.types) - 1)
}

// RawType adds a type entry exactly as given (e.g. a malformed one).
func (m *Module) RawType(enc []byte) uint32 {
	m.types = append(m.types, enc)
	return uint32(len(m.types) - 1)
}

// Import adds a function import and returns its function index.
func (m *Module) Import(module, name string, t abi.FuncType) uint32 {
	return m.RawImport(module, name, append([]byte{KindFunc}, ULEB(uint64(m.Type(t)))...))
}

// RawImport adds an import with the given descriptor bytes (kind and
// type), e.g. an imported memory, and returns its function index (which is
// meaningful only for function imports).
func (m *Module) RawImport(module, name string, desc []byte) uint32 {
	if len(m.funcs) > 0 {
		panic("wasmtest: import added after a function")
	}
	e := append(Name(module), Name(name)...)
	m.imports = append(m.imports, append(e, desc...))
	m.nimports++
	return m.nimports - 1
}

// ImportABI imports host ABI functions by name (from abi.Module, else
// abi.WASI) with their ABI signatures and returns their function indices.
func (m *Module) ImportABI(names ...string) []uint32 {
	all := abi.Imports()
	out := make([]uint32, len(names))
	for i, n := range names {
		mod := abi.Module
		t, ok := all[mod][n]
		if !ok {
			mod = abi.WASI
			if t, ok = all[mod][n]; !ok {
				panic("wasmtest: " + n + " is not in the host ABI")
			}
		}
		out[i] = m.Import(mod, n, t)
	}
	return out
}

// Func adds a function with extra locals (one declaration per entry) and
// its code (instructions without the final end, which Func appends), and
// returns its function index.
func (m *Module) Func(t abi.FuncType, locals []abi.ValType, code []byte) uint32 {
	decl := Vec(len(locals))
	for _, l := range locals {
		decl = append(decl, 0x01, byte(l))
	}
	return m.RawFunc(m.Type(t), append(append(decl, code...), End))
}

// NextFunc is the index the next function added will get (for recursive
// functions).
func (m *Module) NextFunc() uint32 { return m.nimports + uint32(len(m.funcs)) }

// RawFunc adds a function of type index typ whose body (local declarations
// and code, final end included) is exactly body.
func (m *Module) RawFunc(typ uint32, body []byte) uint32 {
	m.funcs = append(m.funcs, typ)
	m.bodies = append(m.bodies, body)
	return m.nimports + uint32(len(m.funcs)) - 1
}

// Memory adds a memory of min pages (and at most max pages if max > 0).
func (m *Module) Memory(min, max uint32) uint32 {
	m.memories = append(m.memories, limits(min, max))
	return uint32(len(m.memories) - 1)
}

// Table adds a funcref table of min elements (at most max if max > 0).
func (m *Module) Table(min, max uint32) uint32 {
	m.tables = append(m.tables, append([]byte{0x70}, limits(min, max)...))
	return uint32(len(m.tables) - 1)
}

// Global adds a global of type t whose initialiser is init (a constant
// instruction, without end) and returns its index.
func (m *Module) Global(t abi.ValType, mutable bool, init []byte) uint32 {
	mut := byte(0)
	if mutable {
		mut = 1
	}
	g := append([]byte{byte(t), mut}, init...)
	m.globals = append(m.globals, append(g, End))
	return uint32(len(m.globals) - 1)
}

// Export exports item idx of the given kind as name.
func (m *Module) Export(name string, kind byte, idx uint32) {
	e := append(Name(name), kind)
	m.exports = append(m.exports, append(e, ULEB(uint64(idx))...))
	m.exported[name] = true
}

// ExportFunc exports function f as name.
func (m *Module) ExportFunc(name string, f uint32) { m.Export(name, KindFunc, f) }

// Exported reports whether name has been exported.
func (m *Module) Exported(name string) bool { return m.exported[name] }

// Elem adds an active element segment putting funcs into table 0 at
// offset.
func (m *Module) Elem(offset int32, funcs ...uint32) {
	e := append([]byte{0x00}, I32Const(offset)...)
	e = append(append(e, End), Vec(len(funcs))...)
	for _, f := range funcs {
		e = append(e, ULEB(uint64(f))...)
	}
	m.elements = append(m.elements, e)
}

// Data adds an active data segment writing b to memory 0 at offset.
func (m *Module) Data(offset int32, b []byte) {
	d := append([]byte{0x00}, I32Const(offset)...)
	d = append(append(d, End), ULEB(uint64(len(b)))...)
	m.data = append(m.data, append(d, b...))
}

// PassiveData adds a passive data segment (for memory.init) and makes
// Encode write a data count section.
func (m *Module) PassiveData(b []byte) uint32 {
	m.data = append(m.data, append(append([]byte{0x01}, ULEB(uint64(len(b)))...), b...))
	m.dataCount = true
	return uint32(len(m.data) - 1)
}

// Raw adds a section with the given id and payload, written after the
// standard section whose id is after (0: before all of them). Use it for
// custom sections, start sections and deliberately misplaced sections.
func (m *Module) Raw(after, id byte, payload []byte) {
	m.raw = append(m.raw, rawSection{after: after, id: id, payload: payload})
}

// Encode returns the module's binary.
func (m *Module) Encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = m.rawAfter(out, 0)
	funcs := Vec(len(m.funcs))
	for _, t := range m.funcs {
		funcs = append(funcs, ULEB(uint64(t))...)
	}
	code := Vec(len(m.bodies))
	for _, b := range m.bodies {
		code = append(append(code, ULEB(uint64(len(b)))...), b...)
	}
	std := []struct {
		id      byte
		payload []byte
		present bool
	}{
		{SecType, vec(m.types), len(m.types) > 0},
		{SecImport, vec(m.imports), len(m.imports) > 0},
		{SecFunction, funcs, len(m.funcs) > 0},
		{SecTable, vec(m.tables), len(m.tables) > 0},
		{SecMemory, vec(m.memories), len(m.memories) > 0},
		{SecGlobal, vec(m.globals), len(m.globals) > 0},
		{SecExport, vec(m.exports), len(m.exports) > 0},
		{SecElement, vec(m.elements), len(m.elements) > 0},
		{SecDataCount, ULEB(uint64(len(m.data))), m.dataCount},
		{SecCode, code, len(m.bodies) > 0},
		{SecData, vec(m.data), len(m.data) > 0},
	}
	for _, s := range std {
		if s.present {
			out = Section(out, s.id, s.payload)
		}
		out = m.rawAfter(out, s.id)
	}
	return out
}

func (m *Module) rawAfter(out []byte, id byte) []byte {
	for _, r := range m.raw {
		if r.after == id {
			out = Section(out, r.id, r.payload)
		}
	}
	return out
}

// Section appends a section (id, size, payload) to b.
func Section(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = append(b, ULEB(uint64(len(payload)))...)
	return append(b, payload...)
}

// Name encodes a length-prefixed name.
func Name(s string) []byte { return append(ULEB(uint64(len(s))), s...) }

// Vec encodes a vector length.
func Vec(n int) []byte { return ULEB(uint64(n)) }

func vec(items [][]byte) []byte {
	out := Vec(len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func limits(min, max uint32) []byte {
	if max == 0 {
		return append([]byte{0x00}, ULEB(uint64(min))...)
	}
	return append(append([]byte{0x01}, ULEB(uint64(min))...), ULEB(uint64(max))...)
}
