package meter

import (
	"slices"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// valType reads a value type. The types of later proposals are refused as
// unsupported features; any other byte is malformed.
func (r *reader) valType() (abi.ValType, error) {
	off := r.offset()
	b, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch t := abi.ValType(b); t {
	case abi.I32, abi.I64, abi.F32, abi.F64, abi.FuncRef, abi.ExternRef:
		return t, nil
	}
	return 0, r.typeError(b, off)
}

// refType reads a reference type (tables, element segments, ref.null).
func (r *reader) refType() (abi.ValType, error) {
	off := r.offset()
	b, err := r.byte()
	if err != nil {
		return 0, err
	}
	if t := abi.ValType(b); t == abi.FuncRef || t == abi.ExternRef {
		return t, nil
	}
	return 0, r.typeError(b, off)
}

func (r *reader) typeError(b byte, off int) error {
	switch {
	case b == 0x7b:
		return r.refuse(protocol.ErrNonDeterministic, off, "value type v128 (SIMD)")
	case b == 0x69 || b == 0x74:
		return r.refuse(protocol.ErrNonDeterministic, off, "exception reference type 0x%02x", b)
	case b == 0x63 || b == 0x64 || (b >= 0x6a && b <= 0x6e) || (b >= 0x71 && b <= 0x73):
		return r.refuse(protocol.ErrNonDeterministic, off, "typed/GC reference type 0x%02x", b)
	}
	return r.invalidAt(off, "unknown value type 0x%02x", b)
}

// sameSig reports whether two signatures are the same.
func sameSig(a, b abi.FuncType) bool {
	return slices.Equal(a.Params, b.Params) && slices.Equal(a.Results, b.Results)
}

func (r *reader) funcType() (abi.FuncType, error) {
	off := r.offset()
	form, err := r.byte()
	if err != nil {
		return abi.FuncType{}, err
	}
	switch form {
	case 0x60:
	case 0x4e, 0x4f, 0x50, 0x5e, 0x5f:
		return abi.FuncType{}, r.refuse(protocol.ErrNonDeterministic, off, "GC composite type 0x%02x", form)
	default:
		return abi.FuncType{}, r.invalidAt(off, "type form 0x%02x, want 0x60", form)
	}
	var t abi.FuncType
	for _, dst := range []*[]abi.ValType{&t.Params, &t.Results} {
		n, err := r.count(1, "value type")
		if err != nil {
			return abi.FuncType{}, err
		}
		v := make([]abi.ValType, n)
		for i := range v {
			if v[i], err = r.valType(); err != nil {
				return abi.FuncType{}, err
			}
		}
		*dst = v
	}
	return t, nil
}

// limits is a memory or table size range.
type limits struct {
	min    uint32
	max    uint32
	hasMax bool
}

// limits reads a limits pair. Shared (threads) and 64-bit limits are
// refused as unsupported features.
func (r *reader) limits(what string) (limits, error) {
	off := r.offset()
	flag, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	switch {
	case flag == 0x02 || flag == 0x03:
		return limits{}, r.refuse(protocol.ErrNonDeterministic, off, "shared %s (threads)", what)
	case flag >= 0x04 && flag <= 0x07:
		return limits{}, r.refuse(protocol.ErrNonDeterministic, off, "64-bit %s", what)
	case flag > 0x01:
		return limits{}, r.invalidAt(off, "%s limits flag 0x%02x", what, flag)
	}
	var l limits
	if l.min, err = r.u32(); err != nil {
		return limits{}, err
	}
	if flag == 0x01 {
		l.hasMax = true
		if l.max, err = r.u32(); err != nil {
			return limits{}, err
		}
		if l.max < l.min {
			return limits{}, r.invalidAt(off, "%s maximum %d below minimum %d", what, l.max, l.min)
		}
	}
	return l, nil
}

// blockType reads the type of a block, loop or if: empty, one value type
// or (multi-value) a type index.
func (r *reader) blockType(ntypes int) error {
	off := r.offset()
	if r.done() {
		return r.invalid("unexpected end")
	}
	b := r.buf[r.pos]
	if b == 0x40 {
		r.pos++
		return nil
	}
	if b&0xc0 == 0x40 { // a one-byte negative s33: a value type
		_, err := r.valType()
		return err
	}
	idx, err := r.signed(33)
	if err != nil {
		return err
	}
	if idx < 0 || idx >= int64(ntypes) {
		return r.invalidAt(off, "block type index %d out of range (%d types)", idx, ntypes)
	}
	return nil
}
