package meter

import (
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// Section ids of the WebAssembly 2.0 binary format, plus the exception
// handling proposal's tag section (refused).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionOrder ranks the non-custom sections in the order the format
// requires (the data count section comes before the code section).
var sectionOrder = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10,
	secCode: 11, secData: 12,
}

// section is one section of the input, by its payload's byte range.
type section struct {
	id         byte
	start, end int // payload, as offsets into the module
}

// body is one function body in the code section.
type body struct {
	start, end int // the body's bytes (locals and code), after its size
}

// module is what the instrumentation needs to know about a decoded module.
// Sections it does not change are kept as byte ranges and copied out.
type module struct {
	wasm     []byte
	sections []section

	types       []abi.FuncType
	funcs       []uint32 // type index of every function, imported ones first
	imported    int      // how many of funcs are imports
	tables      []table
	memories    int
	memoryPages uint32 // the memory's initial size
	globals     int
	globalsRaw  []byte // the global section's entries, after its count
	exportsRaw  []byte // the export section's entries, after its count
	exports     map[string]export
	elements    int
	dataCount   int // -1 when there is no data count section
	dataSegs    int
	bodies      []body

	cfg         *Config
	instanceGas int64    // what instantiating costs (Metered.InstanceGas)
	totals      shape    // the module's control flow so far, summed over its bodies
	wrapTypes   [][]byte // block type of each defined function's wrapping block (instrument)
}

// table is a table's reference type and size range.
type table struct {
	typ abi.ValType
	limits
	grows bool // some table.grow names it
}

// export is one export: its kind and index.
type export struct {
	kind byte
	idx  uint32
}

// Export kinds.
const (
	kindFunc   = 0x00
	kindTable  = 0x01
	kindMemory = 0x02
	kindGlobal = 0x03
	kindTag    = 0x04
)

// decode parses every section of wasm and checks it against c, except the
// function bodies, which instrument decodes one by one.
func decode(wasm []byte, c *Config) (*module, error) {
	const header = "\x00asm\x01\x00\x00\x00"
	if len(wasm) < len(header) || string(wasm[:4]) != header[:4] {
		return nil, invalidAt(0, "not a WebAssembly binary (bad magic)")
	}
	if string(wasm[4:8]) != header[4:] {
		return nil, invalidAt(4, "unsupported binary version %x", wasm[4:8])
	}
	m := &module{wasm: wasm, cfg: c, dataCount: -1}
	r := newReader(wasm[8:], 8)
	last := 0
	for !r.done() {
		off := r.offset()
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		payload, err := r.bytes(int(size))
		if err != nil {
			return nil, invalidAt(off, "section %d of %d bytes overruns the module", id, size)
		}
		pr := newReader(payload, r.offset()-len(payload))
		if id == secCustom {
			if _, err := pr.name(); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case id == secTag:
			return nil, protocol.Errorf(protocol.ErrNonDeterministic, "tag section (exception handling) at byte %d", off)
		case id == secStart:
			return nil, invalidAt(off, "start section (initialisation must run in the metered _initialize)")
		case int(id) >= len(sectionOrder) || sectionOrder[id] == 0:
			return nil, invalidAt(off, "unknown section id %d", id)
		case sectionOrder[id] <= last:
			return nil, invalidAt(off, "section %d out of order or repeated", id)
		}
		last = sectionOrder[id]
		m.sections = append(m.sections, section{id: id, start: pr.base, end: pr.base + len(payload)})
		if err := m.decodeSection(id, pr, c); err != nil {
			return nil, err
		}
		if !pr.done() {
			return nil, pr.invalid("%d trailing bytes in section %d", pr.remaining(), id)
		}
	}
	return m, m.checkWhole(c)
}

func (m *module) decodeSection(id byte, r *reader, c *Config) error {
	switch id {
	case secType:
		return m.decodeTypes(r)
	case secImport:
		return m.decodeImports(r, c)
	case secFunction:
		return m.decodeFunctions(r, c)
	case secTable:
		return m.decodeTables(r, c)
	case secMemory:
		return m.decodeMemory(r, c)
	case secGlobal:
		return m.decodeGlobals(r)
	case secExport:
		return m.decodeExports(r)
	case secElement:
		return m.decodeElements(r)
	case secDataCount:
		n, err := r.u32()
		m.dataCount = int(n)
		return err
	case secCode:
		return m.decodeCode(r, c)
	case secData:
		return m.decodeData(r)
	}
	return nil
}

func (m *module) decodeTypes(r *reader) error {
	n, err := r.count(3, "type")
	if err != nil {
		return err
	}
	m.types = make([]abi.FuncType, n)
	for i := range m.types {
		if m.types[i], err = r.funcType(); err != nil {
			return err
		}
	}
	return nil
}

func (m *module) decodeImports(r *reader, c *Config) error {
	n, err := r.count(4, "import")
	if err != nil {
		return err
	}
	if n > c.MaxFunctions {
		return r.invalid("%d imports, limit %d functions", n, c.MaxFunctions)
	}
	for range n {
		off := r.offset()
		mod, err := r.name()
		if err != nil {
			return err
		}
		name, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		if kind != kindFunc {
			return protocol.Errorf(protocol.ErrModuleImports, "%s.%s is not a function (import kind %d) at byte %d", mod, name, kind, off)
		}
		ti, err := m.typeIndex(r)
		if err != nil {
			return err
		}
		want, ok := c.Imports[mod][name]
		if !ok {
			return protocol.Errorf(protocol.ErrModuleImports, "%s.%s is not in the host ABI at byte %d", mod, name, off)
		}
		if !sameSig(m.types[ti], want) {
			return protocol.Errorf(protocol.ErrModuleImports, "%s.%s has signature %s, the ABI's is %s at byte %d",
				mod, name, m.types[ti], want, off)
		}
		m.funcs = append(m.funcs, ti)
	}
	m.imported = len(m.funcs)
	return nil
}

func (m *module) decodeFunctions(r *reader, c *Config) error {
	off := r.offset()
	n, err := r.count(1, "function")
	if err != nil {
		return err
	}
	if m.imported+n > c.MaxFunctions {
		return invalidAt(off, "%d functions, limit %d", m.imported+n, c.MaxFunctions)
	}
	for range n {
		ti, err := m.typeIndex(r)
		if err != nil {
			return err
		}
		m.funcs = append(m.funcs, ti)
	}
	return nil
}

func (m *module) decodeTables(r *reader, c *Config) error {
	off := r.offset()
	n, err := r.count(3, "table")
	if err != nil {
		return err
	}
	if n > c.MaxTables {
		return invalidAt(off, "%d tables, limit %d", n, c.MaxTables)
	}
	for i := range n {
		toff := r.offset()
		if !r.done() && r.buf[r.pos] == 0x40 {
			return protocol.Errorf(protocol.ErrNonDeterministic, "table %d with an initialiser (function references) at byte %d", i, toff)
		}
		t, err := r.refType()
		if err != nil {
			return err
		}
		l, err := r.limits("table")
		if err != nil {
			return err
		}
		if l.min > c.MaxTableElements {
			return invalidAt(toff, "table %d starts with %d elements, limit %d", i, l.min, c.MaxTableElements)
		}
		m.tables = append(m.tables, table{typ: t, limits: l})
		m.instanceGas += int64(l.min) * c.Costs.TableElement
	}
	return nil
}

func (m *module) decodeMemory(r *reader, c *Config) error {
	off := r.offset()
	n, err := r.count(2, "memory")
	if err != nil {
		return err
	}
	if n > 1 {
		return protocol.Errorf(protocol.ErrNonDeterministic, "%d memories (multiple memories) at byte %d", n, off)
	}
	for range n {
		moff := r.offset()
		l, err := r.limits("memory")
		if err != nil {
			return err
		}
		if l.min > c.MaxMemoryPages {
			return invalidAt(moff, "memory starts with %d pages, limit %d", l.min, c.MaxMemoryPages)
		}
		if l.hasMax && l.max > 1<<16 {
			return invalidAt(moff, "memory maximum %d pages exceeds 65536", l.max)
		}
		m.memoryPages = l.min
		m.instanceGas += int64(l.min) * c.Costs.GrowPage
	}
	m.memories = n
	return nil
}
