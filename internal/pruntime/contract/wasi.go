package contract

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/internal/wasm/abi"
)

// WASI errno values the subset returns.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoInval   = 28
	errnoNotsup  = 58
)

// WASI clocks and subscription tags.
const (
	clockRealtime  = 0
	clockMonotonic = 1
	eventClock     = 0
)

// wasiFuncs are the deterministic WASI subset (docs/contracts.md, "WASI
// subset"): no arguments, no environment, no files, the block time as the
// only clock, the call's random stream. Each costs the host call base price
// plus, where it moves bytes, one per byte.
func wasiFuncs() []hostFunc {
	empty := func(ctx context.Context, mod api.Module, stack []uint64) {
		stateOf(ctx).charge(base)
		stack[0] = errnoSuccess
	}
	sizes := func(ctx context.Context, mod api.Module, stack []uint64) {
		stateOf(ctx).charge(base)
		writeU32(mod, api.DecodeU32(stack[0]), 0)
		writeU32(mod, api.DecodeU32(stack[1]), 0)
		stack[0] = errnoSuccess
	}
	badf := func(ctx context.Context, mod api.Module, stack []uint64) {
		stateOf(ctx).charge(base)
		stack[0] = errnoBadf
	}
	return []hostFunc{
		{"args_sizes_get", sizes},
		{"args_get", empty},
		{"environ_sizes_get", sizes},
		{"environ_get", empty},
		{"clock_time_get", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			s.charge(base)
			switch api.DecodeU32(stack[0]) {
			case clockRealtime, clockMonotonic:
				writeU64(mod, api.DecodeU32(stack[2]), uint64(s.call.Time.UnixNano()))
				stack[0] = errnoSuccess
			default:
				stack[0] = errnoInval
			}
		}},
		{"random_get", func(ctx context.Context, mod api.Module, stack []uint64) {
			s := stateOf(ctx)
			ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
			s.charge(base + 2*uint64(n))
			s.randomBytes(read(mod, ptr, n))
			stack[0] = errnoSuccess
		}},
		{"fd_write", fdWrite},
		{"proc_exit", func(ctx context.Context, mod api.Module, stack []uint64) {
			stateOf(ctx).charge(base)
			raise("exit %d", api.DecodeU32(stack[0]))
		}},
		{"sched_yield", empty},
		{"poll_oneoff", pollOneoff},
		{"fd_close", badf},
		{"fd_fdstat_get", badf},
		{"fd_fdstat_set_flags", badf},
		{"fd_prestat_get", badf},
		{"fd_prestat_dir_name", badf},
	}
}

// fdWrite writes fds 1 and 2 to the debug log (when the call has Debug
// set); other descriptors do not exist. A vector longer than IOV_MAX
// (abi.MaxIovecs) is EINVAL, as in Linux's writev; each iovec is charged
// before the vector is read, so the host's walk costs what the contract
// paid for, and the bytes are charged and read whether or not they are
// logged.
func fdWrite(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	fd, iovs, n, written := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if fd != 1 && fd != 2 {
		s.charge(base)
		stack[0] = errnoBadf
		return
	}
	if n > abi.MaxIovecs {
		s.charge(base)
		stack[0] = errnoInval
		return
	}
	s.charge(base + abi.IovecGas*uint64(n))
	vec := read(mod, iovs, n*8)
	var total uint64
	for i := uint32(0); i < n; i++ {
		total += uint64(binary.LittleEndian.Uint32(vec[8*i+4:]))
	}
	s.charge(total)
	var text []byte
	for i := uint32(0); i < n; i++ {
		p, l := binary.LittleEndian.Uint32(vec[8*i:]), binary.LittleEndian.Uint32(vec[8*i+4:])
		b := read(mod, p, l)
		if s.log != nil && len(text) < 4<<10 {
			text = append(text, b...)
		}
	}
	writeU32(mod, written, uint32(total))
	source := "stdout"
	if fd == 2 {
		source = "stderr"
	}
	s.debug(source, text)
	stack[0] = errnoSuccess
}

// pollOneoff fires every clock subscription at once (time does not pass
// within a call) and fails the others with ENOTSUP in their events.
func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	s := stateOf(ctx)
	in, out, n, nevents := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	s.charge(base)
	if n == 0 {
		stack[0] = errnoInval
		return
	}
	const subSize, eventSize = 48, 32
	if uint64(n)*subSize > uint64(mod.Memory().Size()) {
		panic(&trap{reason: ReasonOutOfBounds})
	}
	s.charge(uint64(n) * (subSize + eventSize))
	subs := clone(read(mod, in, n*subSize))
	events := read(mod, out, n*eventSize)
	clear(events)
	for i := uint32(0); i < n; i++ {
		sub, ev := subs[i*subSize:], events[i*eventSize:]
		copy(ev[0:8], sub[0:8]) // userdata
		tag := sub[8]
		ev[10] = tag
		if tag != eventClock {
			binary.LittleEndian.PutUint16(ev[8:], errnoNotsup)
		}
	}
	writeU32(mod, nevents, n)
	stack[0] = errnoSuccess
}
