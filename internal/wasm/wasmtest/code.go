package wasmtest

import (
	"encoding/binary"
	"math"
)

// Single-byte instructions and instruction prefixes, by their opcodes.
const (
	Unreachable byte = 0x00
	Nop         byte = 0x01
	Else        byte = 0x05
	End         byte = 0x0b
	Return      byte = 0x0f
	Drop        byte = 0x1a
	Select      byte = 0x1b
	MemorySize  byte = 0x3f
	MemoryGrow  byte = 0x40
	I32Eqz      byte = 0x45
	I32Eq       byte = 0x46
	I32LtS      byte = 0x48
	I32GtS      byte = 0x4a
	I64Eqz      byte = 0x50
	I32Add      byte = 0x6a
	I32Sub      byte = 0x6b
	I32Mul      byte = 0x6c
	I32DivS     byte = 0x6d
	I32DivU     byte = 0x6e
	I32And      byte = 0x71
	I64Add      byte = 0x7c
	I64Sub      byte = 0x7d
	I64Mul      byte = 0x7e
	F32Div      byte = 0x95
	F32Copysign byte = 0x98
	F64Add      byte = 0xa0
	F64Sub      byte = 0xa1
	F64Mul      byte = 0xa2
	F64Div      byte = 0xa3
	F64Copysign byte = 0xa6
	I32WrapI64  byte = 0xa7
	I32TruncF64 byte = 0xaa // i32.trunc_f64_s
	I64ExtendU  byte = 0xad // i64.extend_i32_u
	I32ReinterF byte = 0xbc // i32.reinterpret_f32
	I64ReinterF byte = 0xbd // i64.reinterpret_f64
	PrefixMisc  byte = 0xfc
	PrefixSIMD  byte = 0xfd
	PrefixAtom  byte = 0xfe
)

// Block types.
const (
	BlockEmpty byte = 0x40
)

// Code concatenates instructions (byte slices and single bytes).
func Code(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			out = append(out, v...)
		case byte:
			out = append(out, v)
		default:
			panic("wasmtest: Code takes []byte and byte")
		}
	}
	return out
}

// Op encodes an opcode followed by unsigned LEB128 immediates.
func Op(op byte, imm ...uint32) []byte {
	out := []byte{op}
	for _, v := range imm {
		out = append(out, ULEB(uint64(v))...)
	}
	return out
}

// Misc encodes a 0xfc-prefixed instruction with its immediates.
func Misc(sub uint32, imm ...uint32) []byte {
	return append([]byte{PrefixMisc}, Op(0, append([]uint32{sub}, imm...)...)[1:]...)
}

// Block opens a block of type bt (BlockEmpty or a value type byte).
func Block(bt byte) []byte { return []byte{0x02, bt} }

// Loop opens a loop of type bt.
func Loop(bt byte) []byte { return []byte{0x03, bt} }

// If opens an if of type bt.
func If(bt byte) []byte { return []byte{0x04, bt} }

// Br branches to label.
func Br(label uint32) []byte { return Op(0x0c, label) }

// BrIf branches to label if the i32 on the stack is not zero.
func BrIf(label uint32) []byte { return Op(0x0d, label) }

// Call calls function f.
func Call(f uint32) []byte { return Op(0x10, f) }

// CallIndirect calls the function of type typ at the table index on the
// stack.
func CallIndirect(typ, table uint32) []byte { return Op(0x11, typ, table) }

// BrTable encodes br_table with the given labels and default.
func BrTable(def uint32, labels ...uint32) []byte {
	out := append([]byte{0x0e}, Vec(len(labels))...)
	for _, l := range labels {
		out = append(out, ULEB(uint64(l))...)
	}
	return append(out, ULEB(uint64(def))...)
}

// LocalGet pushes local i.
func LocalGet(i uint32) []byte { return Op(0x20, i) }

// LocalSet pops into local i.
func LocalSet(i uint32) []byte { return Op(0x21, i) }

// LocalTee copies the top of the stack into local i.
func LocalTee(i uint32) []byte { return Op(0x22, i) }

// GlobalGet pushes global i.
func GlobalGet(i uint32) []byte { return Op(0x23, i) }

// GlobalSet pops into global i.
func GlobalSet(i uint32) []byte { return Op(0x24, i) }

// Memory access opcodes, for Mem.
const (
	I32Load   byte = 0x28
	I64Load   byte = 0x29
	F32Load   byte = 0x2a
	F64Load   byte = 0x2b
	I32Store  byte = 0x36
	I64Store  byte = 0x37
	F32Store  byte = 0x38
	F64Store  byte = 0x39
	I32Store8 byte = 0x3a
)

// Mem encodes a load or store with alignment exponent align and offset.
func Mem(op byte, align, offset uint32) []byte { return Op(op, align, offset) }

// I32Const pushes v.
func I32Const(v int32) []byte { return append([]byte{0x41}, SLEB(int64(v))...) }

// I64Const pushes v.
func I64Const(v int64) []byte { return append([]byte{0x42}, SLEB(v)...) }

// F32Bits pushes the f32 with exactly the bits b (e.g. a chosen NaN).
func F32Bits(b uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{0x43}, b) }

// F64Bits pushes the f64 with exactly the bits b.
func F64Bits(b uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x44}, b) }

// F32Const pushes v.
func F32Const(v float32) []byte { return F32Bits(math.Float32bits(v)) }

// F64Const pushes v.
func F64Const(v float64) []byte { return F64Bits(math.Float64bits(v)) }

// MemoryCopy is memory.copy (dst, src, n on the stack).
func MemoryCopy() []byte { return Misc(10, 0, 0) }

// MemoryFill is memory.fill (dst, byte, n on the stack).
func MemoryFill() []byte { return Misc(11, 0) }

// MemoryInit is memory.init of a passive data segment (dst, src, n).
func MemoryInit(data uint32) []byte { return Misc(8, data, 0) }

// TableGrow is table.grow (initial reference, n on the stack).
func TableGrow(table uint32) []byte { return Misc(15, table) }

// TableSize is table.size.
func TableSize(table uint32) []byte { return Misc(16, table) }

// RefNull pushes a null funcref.
func RefNull() []byte { return []byte{0xd0, 0x70} }

// ULEB encodes v as unsigned LEB128 (Go's unsigned varint is the same
// encoding).
func ULEB(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// SLEB encodes v as signed LEB128.
func SLEB(v int64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}
