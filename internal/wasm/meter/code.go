package meter

import (
	"github.com/phala-go/phala/protocol"
)

// What the instrumentation does with an instruction.
const (
	kPlain     = iota // copied as is
	kBlock            // opens a label; does not end a segment
	kLoop             // ends a segment; the next one checks the gas
	kIf               // ends a segment
	kElse             // ends a segment
	kEnd              // ends a segment
	kBrIf             // ends a segment
	kJump             // br, br_table, return, unreachable: ends a segment, the next one is dead
	kGrow             // memory.grow: priced per page, traps when it fails
	kCanon32          // canonicalise the f32 on top of the stack first
	kCanon64          // canonicalise the f64 on top of the stack first
	kBulkMem          // memory.copy/fill/init: priced per byte
	kBulkTable        // table.copy/init/fill: priced per element
	kTableGrow        // table.grow: priced per element, traps beyond the limit
)

// instr is one decoded instruction: its bytes and what to do with it.
type instr struct {
	start, end int // offsets into the module
	kind       uint8
	table      uint32 // kTableGrow: the table
}

// segment is a straight-line run of instructions charged at its start.
type segment struct {
	first int   // index of its first instruction
	cost  int64 // its static price
	check bool  // function entry or loop header: trap if the gas went negative
	dead  bool  // follows an unconditional branch: never runs
}

// funcCode is a decoded function body.
type funcCode struct {
	localsRaw  []byte
	localDecls int // local declaration entries
	locals     int // parameters plus declared locals
	instrs     []instr
	segments   []segment
	pushes     int64 // upper bound of the values the body pushes
	shape      shape
	needI32    bool
	needF32    bool
	needF64    bool
}

// decodeBody decodes function fi's body (locals and instructions) and
// splits it into segments. fc's slices are reused.
func (m *module) decodeBody(fi int, b body, c *Config, fc *funcCode) error {
	idx := m.imported + fi
	typ := m.types[m.funcs[idx]]
	*fc = funcCode{instrs: fc.instrs[:0], segments: fc.segments[:0]}
	r := newReader(m.wasm[b.start:b.end], b.start)
	r.fn = idx
	n, err := r.count(2, "local declaration")
	if err != nil {
		return err
	}
	entries := r.offset()
	total := uint64(len(typ.Params))
	if total > uint64(c.MaxLocals) {
		return r.invalidAt(b.start, "%d parameters, more than %d locals", total, c.MaxLocals)
	}
	for range n {
		off := r.offset()
		k, err := r.u32()
		if err != nil {
			return err
		}
		total += uint64(k) // counted before anything is allocated: a few bytes can declare 2^32 locals
		if total > uint64(c.MaxLocals) {
			return r.invalidAt(off, "declares more than %d locals", c.MaxLocals)
		}
		if _, err := r.valType(); err != nil {
			return err
		}
	}
	fc.localsRaw = m.wasm[entries:r.offset()]
	fc.localDecls = n
	fc.locals = int(total)
	if err := m.decodeInstrs(r, fc); err != nil {
		return err
	}
	fc.split(c, int64(total)-int64(len(typ.Params)))
	return nil
}

// split cuts the instructions into segments and prices them; the first
// segment pays for the declared locals.
func (fc *funcCode) split(c *Config, declared int64) {
	cur := segment{first: 0, cost: declared * c.Costs.Local, check: true}
	for i, in := range fc.instrs {
		cur.cost += c.Costs.Instruction
		switch in.kind {
		case kLoop, kIf, kElse, kEnd, kBrIf, kJump:
			fc.segments = append(fc.segments, cur)
			cur = segment{first: i + 1, check: in.kind == kLoop, dead: in.kind == kJump}
		}
	}
}

// blockKind is an open structured instruction.
type blockKind uint8

const (
	blkBlock blockKind = iota
	blkLoop
	blkIf
	blkElse
)

// decodeInstrs decodes the instructions of a body up to its final end,
// which must be its last byte.
func (m *module) decodeInstrs(r *reader, fc *funcCode) error {
	blocks := []blockKind{blkBlock} // the function's own label
	for {
		if r.done() {
			return r.invalid("body ends inside a block")
		}
		off := r.offset()
		op, _ := r.byte()
		in := instr{start: off, kind: kPlain}
		var err error
		pushes := int64(1)
		switch {
		case op == 0x00: // unreachable
			in.kind = kJump
		case op == 0x01: // nop
		case op == 0x02, op == 0x03, op == 0x04: // block, loop, if
			if err = r.blockType(len(m.types)); err == nil {
				err = m.control(r, fc, off, len(blocks))
			}
			switch op {
			case 0x02:
				in.kind = kBlock
				blocks = append(blocks, blkBlock)
			case 0x03:
				in.kind = kLoop
				blocks = append(blocks, blkLoop)
			default:
				in.kind = kIf
				blocks = append(blocks, blkIf)
			}
		case op == 0x05: // else
			if blocks[len(blocks)-1] != blkIf {
				return r.invalidAt(off, "else outside an if")
			}
			blocks[len(blocks)-1] = blkElse
			in.kind = kElse
			err = m.control(r, fc, off, 0)
		case op == 0x0b: // end
			blocks = blocks[:len(blocks)-1]
			in.kind = kEnd
		case op == 0x0c, op == 0x0d: // br, br_if
			err = label(r, len(blocks))
			in.kind = kJump
			if op == 0x0d {
				in.kind = kBrIf
				if err == nil {
					err = m.control(r, fc, off, 0)
				}
			}
		case op == 0x0e: // br_table
			var n int
			if n, err = r.count(1, "br_table label"); err == nil {
				err = m.brTable(r, fc, off, n+1)
				for i := 0; i <= n && err == nil; i++ {
					err = label(r, len(blocks))
				}
			}
			in.kind = kJump
		case op == 0x0f: // return
			in.kind = kJump
		case op == 0x10: // call
			var f uint32
			if f, err = m.funcIndex(r); err == nil {
				pushes = max(1, int64(len(m.types[m.funcs[f]].Results)))
			}
		case op == 0x11: // call_indirect
			var t uint32
			if t, err = m.typeIndex(r); err == nil {
				pushes = max(1, int64(len(m.types[t].Results)))
				_, err = m.tableIndex(r)
			}
		case op == 0x1a, op == 0x1b: // drop, select
		case op == 0x1c: // select t*
			var n int
			if n, err = r.count(1, "select type"); err == nil {
				for i := 0; i < n && err == nil; i++ {
					_, err = r.valType()
				}
			}
		case op >= 0x20 && op <= 0x22: // local.get/set/tee
			_, err = r.index(fc.locals, "local %d of %d")
		case op == 0x23, op == 0x24: // global.get/set
			_, err = r.index(m.globals, "global %d of %d")
		case op == 0x25, op == 0x26: // table.get/set
			_, err = m.tableIndex(r)
		case op >= 0x28 && op <= 0x3e: // loads and stores
			err = r.memarg()
			switch op {
			case 0x38:
				in.kind = kCanon32
			case 0x39:
				in.kind = kCanon64
			}
		case op == 0x3f, op == 0x40: // memory.size, memory.grow
			err = r.memIndex()
			if op == 0x40 {
				in.kind = kGrow
			}
		case op == 0x41:
			_, err = r.signed(32)
		case op == 0x42:
			_, err = r.signed(64)
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op >= 0x45 && op <= 0xc4: // numeric, sign extension
			switch op {
			case 0x98, 0xbc: // f32.copysign, i32.reinterpret_f32
				in.kind = kCanon32
			case 0xa6, 0xbd: // f64.copysign, i64.reinterpret_f64
				in.kind = kCanon64
			}
		case op == 0xd0: // ref.null
			_, err = r.refType()
		case op == 0xd1: // ref.is_null
		case op == 0xd2: // ref.func
			_, err = m.funcIndex(r)
		case op == 0xfc:
			err = m.decodeMisc(r, &in)
		default:
			return r.unsupported(off, op)
		}
		if err != nil {
			return err
		}
		if m.memories == 0 && needsMemory(op, in.kind) {
			return r.invalidAt(off, "memory instruction 0x%02x without a memory", op)
		}
		in.end = r.offset()
		fc.pushes += pushes
		switch in.kind {
		case kGrow, kBulkMem, kBulkTable, kTableGrow:
			fc.needI32 = true
		case kCanon32:
			fc.needF32 = true
		case kCanon64:
			fc.needF64 = true
		}
		fc.instrs = append(fc.instrs, in)
		if len(blocks) == 0 {
			if !r.done() {
				return r.invalid("%d bytes after the function's end", r.remaining())
			}
			return nil
		}
	}
}

func needsMemory(op byte, kind uint8) bool {
	return (op >= 0x28 && op <= 0x40) || kind == kBulkMem
}

// decodeMisc decodes the 0xfc-prefixed instructions: saturating
// truncation, bulk memory and table operations.
func (m *module) decodeMisc(r *reader, in *instr) error {
	off := r.offset()
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // i32/i64.trunc_sat_f32/f64_s/u
		return nil
	case sub == 8: // memory.init
		in.kind = kBulkMem
		if err := m.dataIndex(r); err != nil {
			return err
		}
		return r.memIndex()
	case sub == 9: // data.drop
		return m.dataIndex(r)
	case sub == 10: // memory.copy
		in.kind = kBulkMem
		if err := r.memIndex(); err != nil {
			return err
		}
		return r.memIndex()
	case sub == 11: // memory.fill
		in.kind = kBulkMem
		return r.memIndex()
	case sub == 12: // table.init
		in.kind = kBulkTable
		if _, err := m.elemIndex(r); err != nil {
			return err
		}
		_, err = m.tableIndex(r)
	case sub == 13: // elem.drop
		_, err = m.elemIndex(r)
	case sub == 14: // table.copy
		in.kind = kBulkTable
		if _, err := m.tableIndex(r); err != nil {
			return err
		}
		_, err = m.tableIndex(r)
	case sub == 15: // table.grow
		in.kind = kTableGrow
		if in.table, err = m.tableIndex(r); err == nil {
			m.tables[in.table].grows = true
		}
	case sub == 16: // table.size
		_, err = m.tableIndex(r)
	case sub == 17: // table.fill
		in.kind = kBulkTable
		_, err = m.tableIndex(r)
	default:
		return r.refuse(protocol.ErrNonDeterministic, off, "instruction 0xfc %d (unsupported proposal)", sub)
	}
	return err
}

// label reads a branch's label, which must be one of the depth enclosing
// blocks.
func label(r *reader, depth int) error {
	_, err := r.index(depth, "branch to label %d at depth %d")
	return err
}

func (m *module) typeIndex(r *reader) (uint32, error) {
	return r.index(len(m.types), "type index %d out of range (%d types)")
}

func (m *module) funcIndex(r *reader) (uint32, error) {
	return r.index(len(m.funcs), "function index %d out of range (%d functions)")
}

func (m *module) tableIndex(r *reader) (uint32, error) {
	return r.index(len(m.tables), "table %d of %d")
}

func (m *module) elemIndex(r *reader) (uint32, error) {
	return r.index(m.elements, "element segment %d of %d")
}

// dataIndex reads the data segment of memory.init or data.drop; the format
// requires a data count section before the code for them.
func (m *module) dataIndex(r *reader) error {
	if m.dataCount < 0 {
		return r.invalid("data segment instruction without a data count section")
	}
	_, err := r.index(m.dataCount, "data segment %d of %d")
	return err
}

// memIndex reads the memory index byte of memory.size/grow/fill/copy/init,
// which WebAssembly 2.0 fixes at 0x00; anything else is the multi-memory
// proposal.
func (r *reader) memIndex() error {
	off := r.offset()
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b != 0x00 {
		return r.refuse(protocol.ErrNonDeterministic, off, "memory index byte 0x%02x (multiple memories)", b)
	}
	return nil
}

// memarg reads a load or store's alignment and offset; the alignment's
// bit 6 announces a memory index (multiple memories).
func (r *reader) memarg() error {
	off := r.offset()
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		return r.refuse(protocol.ErrNonDeterministic, off, "memory access with a memory index (multiple memories)")
	}
	if align >= 32 {
		return r.invalidAt(off, "alignment 2^%d", align)
	}
	_, err = r.u32()
	return err
}

// unsupported refuses an opcode: those of proposals the ABI leaves out are
// ErrNonDeterministic, the rest are malformed.
func (r *reader) unsupported(off int, op byte) error {
	var what string
	switch op {
	case 0xfd:
		what = "SIMD"
	case 0xfe:
		what = "threads/atomics"
	case 0x12, 0x13:
		what = "tail calls"
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		what = "exception handling"
	case 0x14, 0x15, 0xd3, 0xd4, 0xd5, 0xd6, 0xfb:
		what = "typed function references / GC"
	default:
		return r.invalidAt(off, "unknown opcode 0x%02x", op)
	}
	return r.refuse(protocol.ErrNonDeterministic, off, "opcode 0x%02x (%s)", op, what)
}
