// Package abi is the contract host ABI, version 1, as data: the imports a
// module may name (with their exact signatures), the exports it must
// provide, and the limits every engine enforces (docs/contracts.md, "Host
// ABI"). The chain validates uploads against it and pRuntime compiles
// against it, so both refuse exactly the same modules.
package abi

import (
	"fmt"
	"strings"
)

// Module is the host module name; it is also the ABI version.
const Module = "phala_v1"

// WASI is the WASI module whose deterministic subset the ABI includes.
const WASI = "wasi_snapshot_preview1"

// ValType is a WebAssembly value type, by its binary encoding.
type ValType byte

// Value types.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
	F32 ValType = 0x7d
	F64 ValType = 0x7c
)

// Reference types: a module may use them in its own tables, globals and
// functions, but no host function takes or returns one.
const (
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
)

// String names the type as the WebAssembly text format does (a byte that
// is no type of WebAssembly 2.0 in hexadecimal), for error messages.
func (t ValType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case FuncRef:
		return "funcref"
	case ExternRef:
		return "externref"
	}
	return fmt.Sprintf("0x%02x", byte(t))
}

// FuncType is a function signature.
type FuncType struct {
	Params  []ValType
	Results []ValType
}

// String formats the signature as "(i32, i32) -> (i64)", for error
// messages.
func (t FuncType) String() string {
	names := func(v []ValType) string {
		s := make([]string, len(v))
		for i, b := range v {
			s[i] = b.String()
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(t.Params) + ") -> (" + names(t.Results) + ")"
}

func sig(params []ValType, results ...ValType) FuncType {
	return FuncType{Params: params, Results: results}
}

func i32s(n int) []ValType {
	out := make([]ValType, n)
	for i := range out {
		out[i] = I32
	}
	return out
}

// Imports returns every function a module may import, by module and name.
func Imports() map[string]map[string]FuncType {
	return map[string]map[string]FuncType{
		Module: {
			"input_read":     sig(i32s(1)),
			"output_write":   sig(i32s(2)),
			"return_read":    sig(i32s(1)),
			"storage_get":    sig(i32s(2), I64),
			"storage_set":    sig(i32s(4)),
			"storage_delete": sig(i32s(2)),
			"storage_next":   sig(i32s(4), I64),
			"caller":         sig(i32s(1)),
			"contract_id":    sig(i32s(1)),
			"block_height":   sig(nil, I64),
			"block_time":     sig(nil, I64),
			"random":         sig(i32s(2)),
			"emit":           sig(i32s(4)),
			"sha256":         sig(i32s(3)),
			"ed25519_verify": sig(i32s(4), I32),
			"debug_log":      sig(i32s(2)),
			"gas_left":       sig(nil, I64),
		},
		WASI: {
			"args_sizes_get":    sig(i32s(2), I32),
			"args_get":          sig(i32s(2), I32),
			"environ_sizes_get": sig(i32s(2), I32),
			"environ_get":       sig(i32s(2), I32),
			"clock_time_get":    sig([]ValType{I32, I64, I32}, I32),
			"random_get":        sig(i32s(2), I32),
			"fd_write":          sig(i32s(4), I32),
			"proc_exit":         sig(i32s(1)),
			"sched_yield":       sig(nil, I32),
			"poll_oneoff":       sig(i32s(4), I32),
			// Go's syscall and os packages import these (any program using
			// fmt or crypto/* links them) and call some during
			// initialisation; there are no file descriptors, so each
			// returns EBADF.
			"fd_close":            sig(i32s(1), I32),
			"fd_fdstat_get":       sig(i32s(2), I32),
			"fd_fdstat_set_flags": sig(i32s(2), I32),
			"fd_prestat_get":      sig(i32s(2), I32),
			"fd_prestat_dir_name": sig(i32s(3), I32),
		},
	}
}

// Entry points every module exports, each (i32) -> i32, besides the
// reactor's _initialize () -> () and its memory.
const (
	ExportInit    = "phala_init"
	ExportCommand = "phala_command"
	ExportQuery   = "phala_query"
	ExportStart   = "_initialize"
	ExportMemory  = "memory"
)

// Exports returns the function exports a module must have.
func Exports() map[string]FuncType {
	return map[string]FuncType{
		ExportStart:   sig(nil),
		ExportInit:    sig(i32s(1), I32),
		ExportCommand: sig(i32s(1), I32),
		ExportQuery:   sig(i32s(1), I32),
	}
}

// Limits of ABI version 1.
const (
	MaxCodeBytes   = 4 << 20 // uncompressed module
	MaxFunctions   = 100_000
	MaxLocals      = 50_000 // per function
	MaxBodyBytes   = 128 << 10
	MaxMemoryPages = 512 // 32 MiB
	MaxTables      = 8
	// MaxTableElements bounds each table's initial size, and table.grow
	// traps beyond it; it exceeds MaxFunctions, so any module's functions
	// fit one table.
	MaxTableElements = 1 << 17
	// Compile limits (meter.CompileLimits), per function and per module.
	// The Go toolchain's modules reach at most 994 controls, nesting 549,
	// 896 br_table labels and 8,019 controls × locals in a function, and
	// 69,575 controls, 62,244 labels and 501,741 controls × locals in a
	// 2.8 MB module (meter's TestGoModulesMeetTheCompileLimits).
	MaxControls            = 2048
	MaxNesting             = 1024
	MaxBrTableLabels       = 4096
	MaxControlLocals       = 1 << 15
	MaxModuleControls      = 1 << 18
	MaxModuleBrTableLabels = 1 << 18
	MaxModuleControlLocals = 1 << 21
	MaxCallDepth           = 1000 // in frame units
	// FrameUnit is the number of value slots per unit of call depth: 1,000
	// units × 2,500 slots × 8 bytes bound the engine's stack to 20 MB.
	FrameUnit      = 2_500
	MaxOutputBytes = 16 << 10
	MaxEmits       = 16
	MaxEmitPayload = 16 << 10
	MaxKeyBytes    = 256
	MaxValueBytes  = 64 << 10
	MaxRandomBytes = 1024
	GrowPageGas    = 1000
	// BulkByteShift prices memory.copy, memory.fill and memory.init at
	// 1 gas per 2^BulkByteShift bytes, on top of their instruction.
	BulkByteShift   = 3
	HostCallBaseGas = 100
	// MaxIovecs is fd_write's IOV_MAX (Linux's value): a longer vector is
	// EINVAL. IovecGas is the price of each iovec, charged before the
	// vector is read, on top of the base price and 1 per byte written.
	MaxIovecs      = 1024
	IovecGas       = 8
	InstructionGas = 1
)
