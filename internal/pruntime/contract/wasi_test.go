package contract_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/contract"
	"github.com/phala-go/phala/internal/wasm/abi"
	. "github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
)

// TestWASISubsetIsDeterministic checks each WASI function of the subset:
// what it writes and the errno it returns.
func TestWASISubsetIsDeterministic(t *testing.T) {
	t.Parallel()
	// outErrno outputs 8 bytes at 1024 (what the call wrote) and then the
	// errno the call returned, as 4 bytes at 1032.
	outErrno := func(c *Contract, call []byte) []byte {
		return Code(I32Const(1032), call, Mem(I32Store, 2, 0), I32Const(1024), I32Const(12), Call(c.Host("output_write")), I32Const(0))
	}
	sub := make([]byte, 96) // two subscriptions: a clock (tag 0) and an fd_read (tag 1)
	binary.LittleEndian.PutUint64(sub[0:], 0xaa)
	binary.LittleEndian.PutUint64(sub[48:], 0xbb)
	sub[56] = 1
	iov := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 64), 5) // 5 bytes at 64
	cases := []struct {
		name   string
		fn     string
		data   map[int32][]byte
		call   func(c *Contract) []byte
		output []byte // 8 written bytes, then the errno
		reason string // when it traps
	}{
		{"args_sizes_get: no arguments", "args_sizes_get", map[int32][]byte{1024: bytes.Repeat([]byte{9}, 8)},
			func(c *Contract) []byte { return Code(I32Const(1024), I32Const(1028), Call(c.Host("args_sizes_get"))) },
			append(make([]byte, 8), le32(0)...), ""},
		{"environ_sizes_get: no environment", "environ_sizes_get", map[int32][]byte{1024: bytes.Repeat([]byte{9}, 8)},
			func(c *Contract) []byte {
				return Code(I32Const(1024), I32Const(1028), Call(c.Host("environ_sizes_get")))
			},
			append(make([]byte, 8), le32(0)...), ""},
		{"clock_time_get realtime is the block time", "clock_time_get", nil,
			func(c *Contract) []byte {
				return Code(I32Const(0), I64Const(1), I32Const(1024), Call(c.Host("clock_time_get")))
			},
			append(le64(testTime.UnixNano()), le32(0)...), ""},
		{"clock_time_get monotonic is the block time", "clock_time_get", nil,
			func(c *Contract) []byte {
				return Code(I32Const(1), I64Const(1), I32Const(1024), Call(c.Host("clock_time_get")))
			},
			append(le64(testTime.UnixNano()), le32(0)...), ""},
		{"clock_time_get of a CPU clock is EINVAL", "clock_time_get", nil,
			func(c *Contract) []byte {
				return Code(I32Const(2), I64Const(1), I32Const(1024), Call(c.Host("clock_time_get")))
			},
			append(make([]byte, 8), le32(28)...), ""},
		{"random_get is the call's stream", "random_get", nil,
			func(c *Contract) []byte { return Code(I32Const(1024), I32Const(8), Call(c.Host("random_get"))) },
			append(keystream(8), le32(0)...), ""},
		{"fd_write to stdout counts the bytes", "fd_write", map[int32][]byte{0: iov, 64: []byte("hello")},
			func(c *Contract) []byte {
				return Code(I32Const(1), I32Const(0), I32Const(1), I32Const(1024), Call(c.Host("fd_write")))
			},
			append(le64(5), le32(0)...), ""},
		{"fd_write to another descriptor is EBADF", "fd_write", map[int32][]byte{0: iov},
			func(c *Contract) []byte {
				return Code(I32Const(3), I32Const(0), I32Const(1), I32Const(1024), Call(c.Host("fd_write")))
			},
			append(make([]byte, 8), le32(8)...), ""},
		{"fd_write with iovecs outside memory", "fd_write", nil,
			func(c *Contract) []byte {
				return Code(I32Const(1), I32Const(65532), I32Const(1), I32Const(1024), Call(c.Host("fd_write")))
			},
			nil, contract.ReasonOutOfBounds},
		{"sched_yield", "sched_yield", nil,
			func(c *Contract) []byte { return Call(c.Host("sched_yield")) },
			append(make([]byte, 8), le32(0)...), ""},
		{"fd_prestat_get: no preopened directories", "fd_prestat_get", nil,
			func(c *Contract) []byte { return Code(I32Const(3), I32Const(1024), Call(c.Host("fd_prestat_get"))) },
			append(make([]byte, 8), le32(8)...), ""},
		{"fd_fdstat_get: no descriptors", "fd_fdstat_get", nil,
			func(c *Contract) []byte { return Code(I32Const(1), I32Const(1024), Call(c.Host("fd_fdstat_get"))) },
			append(make([]byte, 8), le32(8)...), ""},
		{"poll_oneoff with no subscriptions is EINVAL", "poll_oneoff", nil,
			func(c *Contract) []byte {
				return Code(I32Const(0), I32Const(128), I32Const(0), I32Const(1024), Call(c.Host("poll_oneoff")))
			},
			append(make([]byte, 8), le32(28)...), ""},
		{"proc_exit ends the call", "proc_exit", nil,
			func(c *Contract) []byte { return Code(I32Const(7), Call(c.Host("proc_exit")), I32Const(0)) },
			nil, "exit 7"},
	}
	for _, tc := range cases {
		c := NewContract(1, "output_write", tc.fn)
		for off, b := range tc.data {
			c.Data(off, b)
		}
		body := outErrno(c, tc.call(c))
		if tc.fn == "proc_exit" {
			body = tc.call(c)
		}
		c.Entry(abi.ExportCommand, nil, body)
		wasm := c.Encode()
		for _, m := range modes(t) {
			res := run(t, m.e, compile(t, m.e, wasm), call(contract.EntryCommand, nil, newStore()))
			if tc.reason != "" {
				expect(t, m.name+"/"+tc.name, res, protocol.OutcomeTrap, tc.reason, nil)
				continue
			}
			expect(t, m.name+"/"+tc.name, res, protocol.OutcomeOK, "", tc.output)
		}
	}

	// poll_oneoff: both subscriptions get an event, the clock's without
	// error, the fd_read's with ENOTSUP.
	c := NewContract(1, "output_write", "poll_oneoff")
	c.Data(0, sub)
	c.Entry(abi.ExportCommand, nil, Code(I32Const(0), I32Const(128), I32Const(2), I32Const(1024), Call(c.Host("poll_oneoff")), Drop, I32Const(1024), Mem(I32Load, 2, 0), I32Const(2), I32Eq, If(BlockEmpty), I32Const(128), I32Const(64), Call(c.Host("output_write")), End, I32Const(0)))
	want := make([]byte, 64)
	binary.LittleEndian.PutUint64(want[0:], 0xaa)
	binary.LittleEndian.PutUint64(want[32:], 0xbb)
	binary.LittleEndian.PutUint16(want[40:], 58)
	want[42] = 1
	for _, m := range modes(t) {
		res := run(t, m.e, compile(t, m.e, c.Encode()), call(contract.EntryCommand, nil, newStore()))
		expect(t, m.name+"/poll_oneoff events", res, protocol.OutcomeOK, "", want)
	}
}

// TestContractCannotWriteMillionsOfIovecsForOneCharge is the fd_write gas
// escape (contracts review 2026-12, finding 2): one call naming the
// 4,194,304 zero-length iovecs a 32 MiB memory holds walked them all for
// the base price. A vector longer than IOV_MAX is EINVAL, and each iovec
// is charged before the vector is read.
func TestContractCannotWriteMillionsOfIovecsForOneCharge(t *testing.T) {
	t.Parallel()
	// fdWrite calls fd_write(1, 0, n, 0) on zero-length iovecs and outputs
	// its errno.
	fdWrite := func(n int32) []byte {
		c := NewContract(abi.MaxMemoryPages, "output_write", "fd_write")
		c.Entry(abi.ExportCommand, nil, Code(I32Const(1024), I32Const(1), I32Const(0), I32Const(n), I32Const(2048), Call(c.Host("fd_write")),
			Mem(I32Store, 2, 0), I32Const(1024), I32Const(4), Call(c.Host("output_write")), I32Const(0)))
		return c.Encode()
	}
	for _, m := range modes(t) {
		gas := func(n int32, errno int32) uint64 {
			res := run(t, m.e, compile(t, m.e, fdWrite(n)), call(contract.EntryCommand, nil, newStore()))
			expect(t, fmt.Sprintf("%s/fd_write of %d iovecs", m.name, n), res, protocol.OutcomeOK, "", le32(errno))
			return res.GasUsed
		}
		none := gas(0, 0)
		if got := gas(abi.MaxIovecs, 0) - none; got != abi.MaxIovecs*abi.IovecGas {
			t.Errorf("%s: %d iovecs cost %d more than none, want %d", m.name, abi.MaxIovecs, got, abi.MaxIovecs*abi.IovecGas)
		}
		if got := gas(abi.MaxIovecs+1, 28) - none; got != 0 {
			t.Errorf("%s: %d iovecs (EINVAL) cost %d more than none, want 0", m.name, abi.MaxIovecs+1, got)
		}
		if got := gas(abi.MaxMemoryPages<<16/8, 28) - none; got != 0 {
			t.Errorf("%s: a whole memory of iovecs (EINVAL) cost %d more than none, want 0", m.name, got)
		}
	}
}
