package meter

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/phala-go/phala/internal/wasm/abi"
)

// Opcodes the instrumentation emits.
const (
	opBlock       = 0x02
	opEnd         = 0x0b
	opBr          = 0x0c
	opReturn      = 0x0f
	opDrop        = 0x1a
	opSelect      = 0x1b
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Const    = 0x41
	opI64Const    = 0x42
	opF32Const    = 0x43
	opF64Const    = 0x44
	opI32Eqz      = 0x45
	opI32Eq       = 0x46
	opI32LeU      = 0x4d
	opI64GeS      = 0x59
	opI64GtU      = 0x56
	opF32Eq       = 0x5b
	opF64Eq       = 0x61
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI32DivU     = 0x6e
	opI32And      = 0x71
	opI64Add      = 0x7c
	opI64Sub      = 0x7d
	opI64Mul      = 0x7e
	opI64ShrU     = 0x88
	opI64ExtendU  = 0xad
	opMisc        = 0xfc
	miscTableSize = 16
	blockEmpty    = 0x40
)

// Canonical quiet NaNs (docs/contracts.md, "Determinism").
const (
	CanonicalNaN32 uint32 = 0x7fc00000
	CanonicalNaN64 uint64 = 0x7ff8000000000000
)

// instrument re-encodes m with the instrumentation globals, their exports
// and the metered function bodies. Sections it does not change are copied.
func (m *module) instrument(c *Config) ([]byte, error) {
	out := make([]byte, 0, len(m.wasm)+len(m.wasm)/2)
	out = append(out, m.wasm[:8]...)
	added := m.blockTypes()
	var globalsDone, exportsDone bool
	ensure := func(upTo int) {
		if !globalsDone && upTo >= sectionOrder[secGlobal] {
			out = appendSection(out, secGlobal, m.globalSection(nil))
			globalsDone = true
		}
		if !exportsDone && upTo >= sectionOrder[secExport] {
			out = appendSection(out, secExport, m.exportSection(nil))
			exportsDone = true
		}
	}
	for _, s := range m.sections {
		switch s.id {
		case secType:
			out = appendSection(out, secType, m.typeSection(s, added))
		case secGlobal:
			globalsDone = true
			out = appendSection(out, secGlobal, m.globalSection(nil))
		case secExport:
			ensure(sectionOrder[secGlobal])
			exportsDone = true
			out = appendSection(out, secExport, m.exportSection(nil))
		case secCode:
			ensure(sectionOrder[secExport])
			code, err := m.codeSection(c, s)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, code)
		default:
			ensure(sectionOrder[s.id] - 1)
			out = appendSection(out, s.id, m.wasm[s.start:s.end])
		}
	}
	ensure(sectionOrder[secExport])
	return out, nil
}

// blockTypes sets m.wrapTypes, the block type of each defined function's
// wrapping block (its results), and returns the types () -> results that
// functions of several results need and the type section lacks; they go
// after the module's own, so no index changes.
func (m *module) blockTypes() []abi.FuncType {
	var added []abi.FuncType
	m.wrapTypes = make([][]byte, len(m.funcs)-m.imported)
	for i := range m.wrapTypes {
		res := m.types[m.funcs[m.imported+i]].Results
		switch len(res) {
		case 0:
			m.wrapTypes[i] = []byte{blockEmpty}
			continue
		case 1:
			m.wrapTypes[i] = []byte{byte(res[0])}
			continue
		}
		want := abi.FuncType{Results: res}
		idx := slices.IndexFunc(m.types, func(t abi.FuncType) bool { return sameSig(t, want) })
		if idx < 0 {
			if j := slices.IndexFunc(added, func(t abi.FuncType) bool { return sameSig(t, want) }); j >= 0 {
				idx = len(m.types) + j
			} else {
				idx = len(m.types) + len(added)
				added = append(added, want)
			}
		}
		m.wrapTypes[i] = appendS64(nil, int64(idx))
	}
	return added
}

// typeSection returns the type section's payload with added appended.
func (m *module) typeSection(s section, added []abi.FuncType) []byte {
	payload := m.wasm[s.start:s.end]
	if len(added) == 0 {
		return payload
	}
	_, n := binary.Uvarint(payload) // the count, which decode read
	b := binary.AppendUvarint(nil, uint64(len(m.types)+len(added)))
	b = append(b, payload[n:]...)
	for _, t := range added {
		b = append(b, 0x60)
		b = binary.AppendUvarint(b, uint64(len(t.Params)))
		b = binary.AppendUvarint(b, uint64(len(t.Results)))
		for _, r := range t.Results {
			b = append(b, byte(r))
		}
	}
	return b
}

// The instrumentation's globals, after the module's own.
func (m *module) gasIndex() uint32   { return uint32(m.globals) }
func (m *module) depthIndex() uint32 { return uint32(m.globals) + 1 }
func (m *module) flagIndex() uint32  { return uint32(m.globals) + 2 }

func (m *module) globalSection(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(m.globals+3))
	b = append(b, m.globalsRaw...)
	b = append(b, byte(abi.I64), 0x01, opI64Const, 0x00, opEnd) // gas
	b = append(b, byte(abi.I32), 0x01, opI32Const, 0x00, opEnd) // depth
	b = append(b, byte(abi.I32), 0x01, opI32Const, 0x00, opEnd) // memory failure flag
	return b
}

func (m *module) exportSection(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.exports)+3))
	b = append(b, m.exportsRaw...)
	for i, name := range []string{GasGlobal, DepthGlobal, MemFailedGlobal} {
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = append(b, kindGlobal)
		b = binary.AppendUvarint(b, uint64(m.gasIndex())+uint64(i))
	}
	return b
}

// codeSection returns the instrumented code section's payload; s is the
// input's, whose size estimates it.
func (m *module) codeSection(c *Config, s section) ([]byte, error) {
	out := make([]byte, 0, 2*(s.end-s.start))
	out = binary.AppendUvarint(out, uint64(len(m.bodies)))
	var fc funcCode
	var body []byte
	for i, b := range m.bodies {
		if err := m.decodeBody(i, b, c, &fc); err != nil {
			return nil, err
		}
		body = m.emitBody(body[:0], &fc, c, i)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

// emitter writes one instrumented body.
type emitter struct {
	b                []byte
	m                *module
	c                *Config
	i32              uint32 // scratch locals
	f32, f64         uint32
	weight           int32 // the function's frame weight
	fi               int   // the defined function's index
	gas, depth, flag uint32
}

// frameWeight is a function's weight in call-depth units: 1 + (params +
// locals + values the body can push + controls × locals) / FrameUnit. The
// last term bounds the block parameters an SSA compiler can create (one
// per merge or loop header and local), each of which may get a stack slot
// of its own in wazero's compiler: without it a function of few locals and
// many nested loops had frames of ~800 KB there, overflowing its stack
// after ~63 calls where the interpreter went on (contracts review 2026-12,
// finding 3).
func frameWeight(fc *funcCode, unit uint32) int32 {
	units := (int64(fc.locals) + fc.pushes + fc.shape.ctlLocal) / int64(unit)
	return int32(min(1+units, math.MaxInt32/2))
}

// emitBody appends fc's instrumented body (locals and code) to b. The
// body becomes
//
//	entry: depth += weight; charge the first segment; trap unless
//	       gas >= 0 and depth <= MaxCallDepth
//	block (result the function's results)
//	  the body, each segment charged at its start, return as br to this block
//	end
//	depth -= weight
//
// so the depth is accounted once per function, not around every call
// site (a body of calls then compiles as fast as without metering), and
// every way out of the function (its end, return, a branch to its label)
// passes the decrement.
func (m *module) emitBody(b []byte, fc *funcCode, c *Config, fi int) []byte {
	e := &emitter{b: b, m: m, c: c, fi: fi, gas: m.gasIndex(), depth: m.depthIndex(), flag: m.flagIndex()}
	// Scratch locals go after the function's own, when an instruction
	// needs them.
	var extra []byte
	next := uint32(fc.locals)
	for _, s := range []struct {
		need bool
		typ  abi.ValType
		idx  *uint32
	}{{fc.needI32, abi.I32, &e.i32}, {fc.needF32, abi.F32, &e.f32}, {fc.needF64, abi.F64, &e.f64}} {
		if s.need {
			extra = append(extra, byte(s.typ))
			*s.idx = next
			next++
		}
	}
	e.b = binary.AppendUvarint(e.b, uint64(fc.localDecls+len(extra)))
	e.b = append(e.b, fc.localsRaw...)
	for _, t := range extra {
		e.b = append(e.b, 0x01, t)
	}
	e.weight = frameWeight(fc, c.FrameUnit)

	wasm := m.wasm
	seg, depth, last := 0, 0, len(fc.instrs)-1
	for i, in := range fc.instrs {
		if seg < len(fc.segments) && fc.segments[seg].first == i {
			if s := fc.segments[seg]; i == 0 {
				e.enter(s.cost)
			} else if !s.dead {
				e.charge(s.cost, s.check)
			}
			seg++
		}
		raw := wasm[in.start:in.end]
		switch in.kind {
		case kGrow:
			e.grow(raw)
		case kCanon32:
			e.canon32()
			e.b = append(e.b, raw...)
		case kCanon64:
			e.canon64()
			e.b = append(e.b, raw...)
		case kBulkMem:
			e.dynamicCharge(1, c.Costs.BulkByteShift)
			e.b = append(e.b, opLocalGet)
			e.b = binary.AppendUvarint(e.b, uint64(e.i32))
			e.b = append(e.b, raw...)
		case kBulkTable:
			e.dynamicCharge(c.Costs.TableElement, 0)
			e.b = append(e.b, opLocalGet)
			e.b = binary.AppendUvarint(e.b, uint64(e.i32))
			e.b = append(e.b, raw...)
		case kTableGrow:
			e.tableGrow(raw, in.table)
		case kBlock, kLoop, kIf:
			depth++
			e.b = append(e.b, raw...)
		case kEnd:
			if i == last {
				e.b = append(e.b, opEnd) // the wrapping block
				e.op(opGlobalGet, e.depth)
				e.b = append(e.b, opI32Const)
				e.b = appendS64(e.b, int64(e.weight))
				e.b = append(e.b, opI32Sub)
				e.op(opGlobalSet, e.depth)
			}
			depth--
			e.b = append(e.b, raw...)
		case kJump:
			if raw[0] == opReturn {
				e.op(opBr, uint32(depth)) // to the wrapping block, which has the function's results
				break
			}
			e.b = append(e.b, raw...)
		default:
			e.b = append(e.b, raw...)
		}
	}
	return e.b
}

// enter is a function's entry: it adds the weight to the depth, charges
// the first segment, traps unless the gas is not negative and the depth
// within the limit, and opens the wrapping block.
func (e *emitter) enter(cost int64) {
	e.op(opGlobalGet, e.depth)
	e.b = append(e.b, opI32Const)
	e.b = appendS64(e.b, int64(e.weight))
	e.b = append(e.b, opI32Add)
	e.op(opGlobalSet, e.depth)
	e.op(opGlobalGet, e.gas)
	e.b = append(e.b, opI64Const)
	e.b = appendS64(e.b, cost)
	e.b = append(e.b, opI64Sub)
	e.op(opGlobalSet, e.gas)
	e.b = append(e.b, opI32Const, 0x01)
	e.op(opGlobalGet, e.gas)
	e.b = append(e.b, opI64Const, 0x00, opI64GeS)
	e.op(opGlobalGet, e.depth)
	e.b = append(e.b, opI32Const)
	e.b = appendS64(e.b, int64(e.c.MaxCallDepth))
	e.b = append(e.b, opI32LeU, opI32And)
	e.trapUnless()
	e.b = append(e.b, opBlock)
	e.b = append(e.b, e.m.wrapTypes[e.fi]...)
}

// charge subtracts cost from the gas global and, when check is set, traps
// if the result is negative.
func (e *emitter) charge(cost int64, check bool) {
	if cost == 0 && !check {
		return
	}
	e.op(opGlobalGet, e.gas)
	e.b = append(e.b, opI64Const)
	e.b = appendS64(e.b, cost)
	e.b = append(e.b, opI64Sub)
	e.op(opGlobalSet, e.gas)
	if check {
		e.checkGas()
	}
}

// checkGas traps if the gas is negative.
func (e *emitter) checkGas() {
	e.b = append(e.b, opI32Const, 0x01)
	e.op(opGlobalGet, e.gas)
	e.b = append(e.b, opI64Const, 0x00, opI64GeS)
	e.trapUnless()
}

// trapUnless pops an i32 condition, under the dividend 1 its caller
// pushed, and traps when the condition is 0: by dividing by it. A check
// that way adds no branch, so no basic block, to the compiled code; with
// `if … unreachable end` around every call, grow and loop header a
// module of 25,000 calls took wazero's optimising compiler 26 s instead of
// 1 s (its passes are superlinear in blocks). The trap is an engine's
// "integer divide by zero"; the engine classifies it by the globals first
// (negative gas, the depth over the limit, the failure flag), so the
// reason reported is the same as before.
func (e *emitter) trapUnless() {
	e.b = append(e.b, opI32DivU, opDrop)
}

// dynamicCharge pops the i32 count on the stack into the i32 scratch local
// and charges (count × price) >> shift, trapping when the gas runs out.
// The caller pushes the count back.
func (e *emitter) dynamicCharge(price int64, shift uint8) {
	e.op(opLocalSet, e.i32)
	e.op(opGlobalGet, e.gas)
	e.op(opLocalGet, e.i32)
	e.b = append(e.b, opI64ExtendU)
	if price != 1 {
		e.b = append(e.b, opI64Const)
		e.b = appendS64(e.b, price)
		e.b = append(e.b, opI64Mul)
	}
	if shift != 0 {
		e.b = append(e.b, opI64Const)
		e.b = appendS64(e.b, int64(shift))
		e.b = append(e.b, opI64ShrU)
	}
	e.b = append(e.b, opI64Sub)
	e.op(opGlobalSet, e.gas)
	e.checkGas()
}

// grow prices memory.grow per page and turns its failure into a trap that
// the flag global explains.
func (e *emitter) grow(raw []byte) {
	e.dynamicCharge(e.c.Costs.GrowPage, 0)
	e.op(opLocalGet, e.i32)
	e.b = append(e.b, raw...)
	e.op(opLocalTee, e.i32)
	e.b = append(e.b, opI32Const, 0x7f, opI32Eq) // -1: the grow failed
	e.failIf()
	e.op(opLocalGet, e.i32)
}

// tableGrow prices table.grow per element and traps, with the flag global
// set, when the table would exceed the element limit.
func (e *emitter) tableGrow(raw []byte, table uint32) {
	e.dynamicCharge(e.c.Costs.TableElement, 0)
	e.b = append(e.b, opMisc, miscTableSize)
	e.b = binary.AppendUvarint(e.b, uint64(table))
	e.b = append(e.b, opI64ExtendU)
	e.op(opLocalGet, e.i32)
	e.b = append(e.b, opI64ExtendU, opI64Add, opI64Const)
	e.b = appendS64(e.b, int64(e.c.MaxTableElements))
	e.b = append(e.b, opI64GtU)
	e.failIf()
	e.op(opLocalGet, e.i32)
	e.b = append(e.b, raw...)
}

// failIf pops a condition into the memory failure flag and traps when it
// holds. The flag is 0 whenever the condition does not hold (it is reset
// before each call and set only here).
func (e *emitter) failIf() {
	e.op(opGlobalSet, e.flag)
	e.b = append(e.b, opI32Const, 0x01)
	e.op(opGlobalGet, e.flag)
	e.b = append(e.b, opI32Eqz)
	e.trapUnless()
}

// canon32 replaces the f32 on top of the stack by the canonical NaN if it
// is a NaN, without a branch: select(x, nan, x == x).
func (e *emitter) canon32() {
	e.op(opLocalTee, e.f32)
	e.b = append(e.b, opF32Const)
	e.b = binary.LittleEndian.AppendUint32(e.b, CanonicalNaN32)
	e.op(opLocalGet, e.f32)
	e.op(opLocalGet, e.f32)
	e.b = append(e.b, opF32Eq, opSelect)
}

// canon64 is canon32 for f64.
func (e *emitter) canon64() {
	e.op(opLocalTee, e.f64)
	e.b = append(e.b, opF64Const)
	e.b = binary.LittleEndian.AppendUint64(e.b, CanonicalNaN64)
	e.op(opLocalGet, e.f64)
	e.op(opLocalGet, e.f64)
	e.b = append(e.b, opF64Eq, opSelect)
}

func (e *emitter) op(op byte, idx uint32) {
	e.b = append(e.b, op)
	e.b = binary.AppendUvarint(e.b, uint64(idx))
}

func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
