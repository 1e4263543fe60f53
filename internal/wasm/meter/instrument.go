package meter

import (
	"encoding/binary"
	"math"

	"github.com/phala-go/phala/internal/wasm/abi"
)

// Opcodes the instrumentation emits.
const (
	opUnreachable = 0x00
	opIf          = 0x04
	opEnd         = 0x0b
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
	opI32Eq       = 0x46
	opI32GtU      = 0x4b
	opI64LtS      = 0x53
	opI64GtU      = 0x56
	opF32Eq       = 0x5b
	opF64Eq       = 0x61
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
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
		body = m.emitBody(body[:0], &fc, c)
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
	i32, i64         uint32 // scratch locals
	f32, f64         uint32
	weight           int32 // the function's frame weight
	gas, depth, flag uint32
}

// emitBody appends fc's instrumented body (locals and code) to b.
func (m *module) emitBody(b []byte, fc *funcCode, c *Config) []byte {
	e := &emitter{b: b, m: m, c: c, gas: m.gasIndex(), depth: m.depthIndex(), flag: m.flagIndex()}
	// Scratch locals go after the function's own: i64 always (the gas
	// check), the others when an instruction needs them.
	extra := []byte{byte(abi.I64)}
	next := uint32(fc.locals)
	e.i64 = next
	next++
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
	units := (int64(fc.locals) + fc.pushes) / int64(c.FrameUnit)
	e.weight = int32(min(1+units, math.MaxInt32/2))

	wasm := m.wasm
	seg := 0
	for i, in := range fc.instrs {
		if seg < len(fc.segments) && fc.segments[seg].first == i {
			if s := fc.segments[seg]; !s.dead {
				e.charge(s.cost, s.check)
			}
			seg++
		}
		raw := wasm[in.start:in.end]
		switch in.kind {
		case kCall:
			e.callWrapped(raw)
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
		default:
			e.b = append(e.b, raw...)
		}
	}
	return e.b
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
	if !check {
		e.op(opGlobalSet, e.gas)
		return
	}
	e.setGasAndCheck()
}

// setGasAndCheck stores the i64 on the stack as the gas and traps if it is
// negative.
func (e *emitter) setGasAndCheck() {
	e.op(opLocalTee, e.i64)
	e.op(opGlobalSet, e.gas)
	e.op(opLocalGet, e.i64)
	e.b = append(e.b, opI64Const, 0x00, opI64LtS, opIf, blockEmpty, opUnreachable, opEnd)
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
	e.setGasAndCheck()
}

// callWrapped adds the function's frame weight to the depth around a call,
// trapping before the call when the depth would exceed the limit.
func (e *emitter) callWrapped(call []byte) {
	e.op(opGlobalGet, e.depth)
	e.b = append(e.b, opI32Const)
	e.b = appendS64(e.b, int64(e.weight))
	e.b = append(e.b, opI32Add)
	e.op(opLocalTee, e.i32)
	e.op(opGlobalSet, e.depth)
	e.op(opLocalGet, e.i32)
	e.b = append(e.b, opI32Const)
	e.b = appendS64(e.b, int64(e.c.MaxCallDepth))
	e.b = append(e.b, opI32GtU, opIf, blockEmpty, opUnreachable, opEnd)
	e.b = append(e.b, call...)
	e.op(opGlobalGet, e.depth)
	e.b = append(e.b, opI32Const)
	e.b = appendS64(e.b, int64(e.weight))
	e.b = append(e.b, opI32Sub)
	e.op(opGlobalSet, e.depth)
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

// failIf pops a condition and, when it holds, sets the memory failure flag
// and traps.
func (e *emitter) failIf() {
	e.b = append(e.b, opIf, blockEmpty, opI32Const, 0x01)
	e.op(opGlobalSet, e.flag)
	e.b = append(e.b, opUnreachable, opEnd)
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
