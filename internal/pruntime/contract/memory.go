package contract

import (
	"github.com/tetratelabs/wazero/experimental"
)

// reservation is an instance's linear memory, reserved at its maximum when
// the instance is made (an anonymous mapping where the platform has them:
// the kernel commits its pages as they are touched), so that memory.grow
// only lengthens a slice. wazero's own memory appends, copying the whole
// memory on a reallocation: growing 511 times by one page cost 60-240×
// what the same pages cost in one grow (contracts review 2026-12,
// finding 5).
//
// wazero calls Free when it closes the module, which it may do while a
// call still runs (a cancelled context closes the module from another
// goroutine); Free therefore does nothing, and the engine releases the
// mapping in instance.close, after the module is closed and no call runs
// in it.
type reservation struct {
	buf    []byte // the reservation; its length is the memory's maximum
	mapped bool   // buf is a mapping to release, not Go memory
}

func (r *reservation) Reallocate(size uint64) []byte {
	if size > uint64(len(r.buf)) {
		return nil
	}
	return r.buf[:size]
}

func (r *reservation) Free() {}

// reserver makes the reservation of one instantiation.
type reserver struct{ r *reservation }

func (a *reserver) Allocate(_, max uint64) experimental.LinearMemory {
	a.r = reserve(max)
	return a.r
}

// release returns a mapped reservation to the system; the instance must be
// closed and no call may run in it.
func (r *reservation) release() {
	if r != nil && r.mapped {
		unmap(r.buf)
		r.buf, r.mapped = nil, false
	}
}
