package meter

import (
	"github.com/phala-go/phala/protocol"
)

// CompileLimits bound what a module's control flow can cost an optimising
// compiler (docs/contracts.md, "Limits"). wazero's compiler has passes
// superlinear in a function's basic blocks (dominator walks, value lookups
// along chains of blocks) and in (merge points × variables) (block
// parameters): without these bounds a module of 36 KB took minutes and
// gigabytes to compile on every member of a cluster. They are counted
// while decoding, so Validate refuses a module as soon as it crosses one,
// after work linear in the bytes read. A timeout could not do this: it
// would differ between members.
type CompileLimits struct {
	// Controls bounds a function's control instructions: block, loop, if,
	// else, br_if and br_table (each makes basic blocks; br, return and
	// end do not).
	Controls int
	// Nesting bounds how deep blocks, loops and ifs nest in a function.
	Nesting int
	// BrTableLabels bounds the labels of a function's br_tables, each
	// one's default included.
	BrTableLabels int
	// ControlLocals bounds a function's controls × locals (parameters
	// included): each merge or loop header can need a block parameter per
	// local.
	ControlLocals int64

	// The same counts summed over the module's functions.
	ModuleControls      int
	ModuleBrTableLabels int
	ModuleControlLocals int64
}

// shape counts a body's control flow, or a module's so far.
type shape struct {
	controls int
	nesting  int
	labels   int
	ctlLocal int64 // controls × locals
}

// control counts a control instruction at off; an opening one (block,
// loop, if) starts nesting level depth, the others pass 0.
func (m *module) control(r *reader, fc *funcCode, off, depth int) error {
	l := &m.cfg.Limits
	fc.shape.controls++
	m.totals.controls++
	fc.shape.nesting = max(fc.shape.nesting, depth)
	fc.shape.ctlLocal += int64(fc.locals)
	m.totals.ctlLocal += int64(fc.locals)
	switch {
	case fc.shape.controls > l.Controls:
		return r.refuse(protocol.ErrModuleTooComplex, off, "more than %d control instructions", l.Controls)
	case depth > l.Nesting:
		return r.refuse(protocol.ErrModuleTooComplex, off, "blocks nested more than %d deep", l.Nesting)
	case fc.shape.ctlLocal > l.ControlLocals:
		return r.refuse(protocol.ErrModuleTooComplex, off, "%d control instructions × %d locals, more than %d", fc.shape.controls, fc.locals, l.ControlLocals)
	case m.totals.controls > l.ModuleControls:
		return r.refuse(protocol.ErrModuleTooComplex, off, "module has more than %d control instructions", l.ModuleControls)
	case m.totals.ctlLocal > l.ModuleControlLocals:
		return r.refuse(protocol.ErrModuleTooComplex, off, "module's control instructions × locals, summed over its functions, exceed %d", l.ModuleControlLocals)
	}
	return nil
}

// brTable counts a br_table of n labels (the default included) at off,
// before its labels are read.
func (m *module) brTable(r *reader, fc *funcCode, off, n int) error {
	if err := m.control(r, fc, off, 0); err != nil {
		return err
	}
	l := &m.cfg.Limits
	fc.shape.labels += n
	m.totals.labels += n
	switch {
	case fc.shape.labels > l.BrTableLabels:
		return r.refuse(protocol.ErrModuleTooComplex, off, "more than %d br_table labels", l.BrTableLabels)
	case m.totals.labels > l.ModuleBrTableLabels:
		return r.refuse(protocol.ErrModuleTooComplex, off, "module has more than %d br_table labels", l.ModuleBrTableLabels)
	}
	return nil
}
