package meter

import (
	"maps"
	"slices"
	"strings"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// The global, export, element, data and code sections, and the checks of
// the whole module.

func (m *module) decodeGlobals(r *reader) error {
	n, err := r.count(3, "global")
	if err != nil {
		return err
	}
	m.globalsRaw = r.buf[r.pos:]
	for range n {
		t, err := r.valType()
		if err != nil {
			return err
		}
		mutOff := r.offset()
		mut, err := r.byte()
		if err != nil {
			return err
		}
		if mut > 1 {
			return invalidAt(mutOff, "global mutability 0x%02x", mut)
		}
		if _, err := m.constExpr(r, t); err != nil {
			return err
		}
		m.globals++
	}
	return nil
}

// constExpr reads a constant expression of type want: one constant
// instruction and end. WebAssembly 2.0 lets global.get read imported
// globals only, and the ABI has none, so global.get is refused. It returns
// the value of an i32.const (the offset of a segment).
func (m *module) constExpr(r *reader, want abi.ValType) (uint32, error) {
	off := r.offset()
	op, err := r.byte()
	if err != nil {
		return 0, err
	}
	var got abi.ValType
	var v int64
	switch op {
	case 0x41:
		got = abi.I32
		v, err = r.signed(32)
	case 0x42:
		got = abi.I64
		_, err = r.signed(64)
	case 0x43:
		got = abi.F32
		_, err = r.bytes(4)
	case 0x44:
		got = abi.F64
		_, err = r.bytes(8)
	case 0x23:
		return 0, invalidAt(off, "global.get in a constant expression (it may read only imported globals)")
	case 0xd0:
		got, err = r.refType()
	case 0xd2:
		got = abi.FuncRef
		_, err = m.funcIndex(r)
	case 0xfd:
		return 0, protocol.Errorf(protocol.ErrNonDeterministic, "v128 constant (SIMD) at byte %d", off)
	default:
		return 0, invalidAt(off, "opcode 0x%02x in a constant expression", op)
	}
	if err != nil {
		return 0, err
	}
	endOff := r.offset()
	if end, err := r.byte(); err != nil || end != 0x0b {
		return 0, invalidAt(endOff, "constant expression not terminated by end")
	}
	if got != want {
		return 0, invalidAt(off, "constant expression of type %s, want %s", got, want)
	}
	return uint32(v), nil
}

func (m *module) decodeExports(r *reader) error {
	n, err := r.count(3, "export")
	if err != nil {
		return err
	}
	m.exportsRaw = r.buf[r.pos:]
	m.exports = make(map[string]export, n)
	for range n {
		off := r.offset()
		name, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		idx, err := r.u32()
		if err != nil {
			return err
		}
		var count int
		switch kind {
		case kindFunc:
			count = len(m.funcs)
		case kindTable:
			count = len(m.tables)
		case kindMemory:
			count = m.memories
		case kindGlobal:
			count = m.globals
		case kindTag:
			return protocol.Errorf(protocol.ErrNonDeterministic, "export %q of a tag (exception handling) at byte %d", name, off)
		default:
			return invalidAt(off, "export %q has kind %d", name, kind)
		}
		if int64(idx) >= int64(count) {
			return invalidAt(off, "export %q refers to index %d of %d", name, idx, count)
		}
		if _, dup := m.exports[name]; dup {
			return invalidAt(off, "export %q repeated", name)
		}
		for _, p := range ReservedPrefixes {
			if strings.HasPrefix(name, p) {
				return protocol.Errorf(protocol.ErrModuleExports, "export %q uses the reserved prefix %q at byte %d", name, p, off)
			}
		}
		m.exports[name] = export{kind: kind, idx: idx}
	}
	return nil
}

func (m *module) decodeElements(r *reader) error {
	n, err := r.count(3, "element segment")
	if err != nil {
		return err
	}
	for i := range n {
		off := r.offset()
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return invalidAt(off, "element segment %d has flags %d", i, flags)
		}
		active := flags&1 == 0
		var elemOffset, elemTable uint32
		if active {
			if flags&2 != 0 {
				if elemTable, err = r.u32(); err != nil {
					return err
				}
			}
			if int64(elemTable) >= int64(len(m.tables)) {
				return invalidAt(off, "element segment %d targets table %d of %d", i, elemTable, len(m.tables))
			}
			if elemOffset, err = m.constExpr(r, abi.I32); err != nil {
				return err
			}
		}
		exprs := flags&4 != 0
		typ := abi.FuncRef
		if flags&3 != 0 { // an explicit element kind or reference type
			if exprs {
				if typ, err = r.refType(); err != nil {
					return err
				}
			} else if kind, err := r.byte(); err != nil {
				return err
			} else if kind != 0x00 {
				return invalidAt(r.offset()-1, "element segment %d has element kind 0x%02x", i, kind)
			}
		}
		if active && typ != m.tables[elemTable].typ {
			return invalidAt(off, "element segment %d of %s targets table %d of %s", i, typ, elemTable, m.tables[elemTable].typ)
		}
		count, err := r.count(1, "element")
		if err != nil {
			return err
		}
		// Instantiation would trap on a segment outside its table (wazero
		// does not check): refuse it here, so instantiating never fails.
		if end := uint64(elemOffset) + uint64(count); active && end > uint64(m.tables[elemTable].min) {
			return invalidAt(off, "element segment %d (elements %d..%d) outside table %d of %d elements", i, elemOffset, end, elemTable, m.tables[elemTable].min)
		}
		m.instanceGas += int64(count) * m.cfg.Costs.TableElement
		for range count {
			if exprs {
				_, err = m.constExpr(r, typ)
			} else {
				_, err = m.funcIndex(r)
			}
			if err != nil {
				return err
			}
		}
	}
	m.elements = n
	return nil
}

func (m *module) decodeData(r *reader) error {
	n, err := r.count(2, "data segment")
	if err != nil {
		return err
	}
	for i := range n {
		off := r.offset()
		flags, err := r.u32()
		if err != nil {
			return err
		}
		var dataOffset uint32
		active := false
		switch flags {
		case 0, 2:
			if flags == 2 {
				mem, err := r.u32()
				if err != nil {
					return err
				}
				if mem != 0 {
					return protocol.Errorf(protocol.ErrNonDeterministic, "data segment %d targets memory %d (multiple memories) at byte %d", i, mem, off)
				}
			}
			if m.memories == 0 {
				return invalidAt(off, "active data segment %d without a memory", i)
			}
			if dataOffset, err = m.constExpr(r, abi.I32); err != nil {
				return err
			}
			active = true
		case 1:
		default:
			return invalidAt(off, "data segment %d has flags %d", i, flags)
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		// Instantiation would trap on a segment outside the initial
		// memory: refuse it here, so instantiating never fails.
		if end := uint64(dataOffset) + uint64(size); active && end > uint64(m.memoryPages)<<16 {
			return invalidAt(off, "data segment %d (bytes %d..%d) outside the initial memory of %d bytes", i, dataOffset, end, uint64(m.memoryPages)<<16)
		}
		if _, err := r.bytes(int(size)); err != nil {
			return err
		}
		m.instanceGas += int64(size) >> m.cfg.Costs.BulkByteShift
	}
	m.dataSegs = n
	return nil
}

func (m *module) decodeCode(r *reader, c *Config) error {
	n, err := r.count(2, "function body")
	if err != nil {
		return err
	}
	if n != len(m.funcs)-m.imported {
		return r.invalid("%d function bodies for %d functions", n, len(m.funcs)-m.imported)
	}
	m.bodies = make([]body, n)
	for i := range m.bodies {
		off := r.offset()
		size, err := r.u32()
		if err != nil {
			return err
		}
		if int64(size) > int64(c.MaxBodyBytes) {
			return invalidAt(off, "function %d body of %d bytes, limit %d", m.imported+i, size, c.MaxBodyBytes)
		}
		start := r.offset()
		if _, err := r.bytes(int(size)); err != nil {
			return err
		}
		m.bodies[i] = body{start: start, end: start + int(size)}
	}
	return nil
}

// checkWhole checks what only the whole module can tell: matching counts
// and the required exports.
func (m *module) checkWhole(c *Config) error {
	end := len(m.wasm)
	if len(m.bodies) != len(m.funcs)-m.imported {
		return invalidAt(end, "%d functions declared, %d bodies", len(m.funcs)-m.imported, len(m.bodies))
	}
	if m.dataCount >= 0 && m.dataCount != m.dataSegs {
		return invalidAt(end, "data count section says %d segments, data section has %d", m.dataCount, m.dataSegs)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Exports)) { // sorted: the error reported first is deterministic
		want := c.Exports[name]
		e, ok := m.exports[name]
		if !ok {
			return protocol.Errorf(protocol.ErrModuleExports, "no export %q", name)
		}
		if e.kind != kindFunc {
			return protocol.Errorf(protocol.ErrModuleExports, "export %q is not a function (kind %d)", name, e.kind)
		}
		if got := m.types[m.funcs[e.idx]]; !sameSig(got, want) {
			return protocol.Errorf(protocol.ErrModuleExports, "export %q has signature %s, want %s", name, got, want)
		}
	}
	if c.Memory != "" {
		e, ok := m.exports[c.Memory]
		if !ok || m.memories == 0 {
			return protocol.Errorf(protocol.ErrModuleExports, "no exported memory %q", c.Memory)
		}
		if e.kind != kindMemory {
			return protocol.Errorf(protocol.ErrModuleExports, "export %q is not a memory (kind %d)", c.Memory, e.kind)
		}
	}
	return nil
}
