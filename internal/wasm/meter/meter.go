// Package meter validates contract modules against the host ABI and
// instruments them for gas metering, call-depth limiting and NaN
// canonicalisation (docs/contracts.md, "Host ABI", "Gas" and
// "Determinism").
//
// Its input is untrusted: anyone may upload code, and every validator runs
// Validate on it. The decoder therefore never panics, bounds its work and
// memory by the input's size and the limits of the Config, and refuses with
// a protocol error (ErrCodeTooLarge, ErrInvalidModule, ErrModuleImports,
// ErrModuleExports, ErrNonDeterministic or ErrModuleTooComplex) that names
// the offending item and its byte offset. Its limits also bound what the
// output costs wazero's compiler (CompileLimits).
//
// It decodes exactly what ABI version 1 allows and does not type-check
// function bodies: the engine's compiler does that, and Instrument keeps a
// valid module valid. It must never add an import (that would renumber
// functions) and never let instrumentation change what a module computes,
// only when it stops.
package meter

import (
	"fmt"

	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

// Names of the globals Instrument adds and exports. The engine sets and
// reads them; a module may not export anything whose name begins with one
// of ReservedPrefixes.
const (
	// GasGlobal is the mutable i64 gas counter: the engine sets it to the
	// call's limit, segments subtract from it, a negative value means out
	// of gas.
	GasGlobal = "phala_gas"
	// DepthGlobal is the mutable i32 call depth, in frame units (see
	// Config.FrameUnit); it exceeds Config.MaxCallDepth only when a call
	// was refused.
	DepthGlobal = "phala_depth"
	// MemFailedGlobal is the mutable i32 flag set to 1 just before the trap
	// of a memory.grow that failed or a table.grow over the limit.
	MemFailedGlobal = "phala_mem_failed"
)

// ReservedPrefixes are the export-name prefixes kept for the
// instrumentation.
var ReservedPrefixes = []string{"phala_gas", "phala_depth", "phala_mem"}

// Costs are the gas prices the instrumentation charges.
type Costs struct {
	// Instruction is the price of every instruction of the input.
	Instruction int64
	// Local is the price, at function entry, of each declared local (the
	// engine zeroes them on every call).
	Local int64
	// GrowPage is the price of each page memory.grow requests, charged
	// before it runs.
	GrowPage int64
	// BulkByteShift prices memory.copy, memory.fill and memory.init at
	// len >> BulkByteShift on top of their instruction price, so that one
	// instruction cannot move megabytes for a unit of gas.
	BulkByteShift uint8
	// TableElement is the price of each element table.copy, table.init,
	// table.fill and table.grow touch.
	TableElement int64
}

// Config says what Instrument accepts and how it meters.
type Config struct {
	MaxCodeBytes     int    // module size
	MaxFunctions     int    // imported plus defined
	MaxLocals        int    // per function, parameters included
	MaxBodyBytes     int    // per function body
	MaxMemoryPages   uint32 // the memory's initial size
	MaxTables        int
	MaxTableElements uint32 // per table: initial size, and table.grow traps beyond it
	Limits           CompileLimits

	// MaxCallDepth bounds the depth global. Each call adds the calling
	// function's frame weight: 1 + (params + locals + values the body can
	// push) / FrameUnit, which is 1 for all but big functions. So the limit
	// is MaxCallDepth nested calls of ordinary functions and, whatever the
	// functions, bounds the engine's stack to about
	// MaxCallDepth × FrameUnit value slots: an engine with a byte-sized
	// stack (wazero's compiler gives up near 50 MB) and one with a
	// frame-count limit (its interpreter, 2,000 frames) then refuse at the
	// same call.
	MaxCallDepth uint32
	FrameUnit    uint32

	// Imports is every function a module may import, with its signature.
	Imports map[string]map[string]abi.FuncType
	// Exports is every function a module must export, with its signature.
	Exports map[string]abi.FuncType
	// Memory, when set, is the name under which the module must export its
	// memory.
	Memory string

	Costs Costs
}

// ABIConfig is the configuration of host ABI version 1 (package abi), with
// the chain's code size limit (at most abi.MaxCodeBytes).
func ABIConfig(maxCodeBytes int) Config {
	return Config{
		MaxCodeBytes:     min(maxCodeBytes, abi.MaxCodeBytes),
		MaxFunctions:     abi.MaxFunctions,
		MaxLocals:        abi.MaxLocals,
		MaxBodyBytes:     abi.MaxBodyBytes,
		MaxMemoryPages:   abi.MaxMemoryPages,
		MaxTables:        abi.MaxTables,
		MaxTableElements: abi.MaxTableElements,
		Limits: CompileLimits{
			Controls:            abi.MaxControls,
			Nesting:             abi.MaxNesting,
			BrTableLabels:       abi.MaxBrTableLabels,
			ControlLocals:       abi.MaxControlLocals,
			ModuleControls:      abi.MaxModuleControls,
			ModuleBrTableLabels: abi.MaxModuleBrTableLabels,
			ModuleControlLocals: abi.MaxModuleControlLocals,
		},
		MaxCallDepth: abi.MaxCallDepth,
		FrameUnit:    abi.FrameUnit,
		Imports:      abi.Imports(),
		Exports:      abi.Exports(),
		Memory:       abi.ExportMemory,
		Costs: Costs{
			Instruction:   abi.InstructionGas,
			Local:         abi.InstructionGas,
			GrowPage:      abi.GrowPageGas,
			BulkByteShift: abi.BulkByteShift,
			TableElement:  abi.InstructionGas,
		},
	}
}

// Validate checks a module against ABI version 1: what upload_code refuses
// and pRuntime's compiler refuses are the same modules.
func Validate(wasm []byte, maxCodeBytes int) error {
	_, err := Instrument(wasm, ABIConfig(maxCodeBytes))
	return err
}

// Instrument validates wasm against c and returns the metered module. The
// output is a function of the input and c only, so every member of a
// cluster runs byte-identical code. Custom sections are dropped.
func Instrument(wasm []byte, c Config) ([]byte, error) {
	m, err := Meter(wasm, c)
	if err != nil {
		return nil, err
	}
	return m.Code, nil
}

// Metered is an instrumented module and the price of instantiating it.
type Metered struct {
	Code []byte
	// InstanceGas is what an instance costs before any of its code runs,
	// charged by the engine before it instantiates: the initial memory at
	// Costs.GrowPage per page, the tables' initial elements and every
	// element segment's entries at Costs.TableElement each, and the data
	// segments' bytes as memory.init prices them. Without it a module of
	// 512 pages and eight full tables cost every member milliseconds per
	// 1-gas command.
	InstanceGas uint64
	// TableElements bounds the elements an instance's tables can hold:
	// their initial sizes, or for a table some table.grow names, its
	// maximum (at most MaxTableElements).
	TableElements uint64
}

// Meter is Instrument that also returns the instance's price.
func Meter(wasm []byte, c Config) (*Metered, error) {
	if len(wasm) > c.MaxCodeBytes {
		return nil, protocol.Errorf(protocol.ErrCodeTooLarge, "%d bytes, limit %d", len(wasm), c.MaxCodeBytes)
	}
	if c.FrameUnit == 0 {
		return nil, fmt.Errorf("meter: Config.FrameUnit is 0")
	}
	m, err := decode(wasm, &c)
	if err != nil {
		return nil, err
	}
	code, err := m.instrument(&c)
	if err != nil {
		return nil, err
	}
	var elems uint64
	for _, t := range m.tables {
		n := t.min
		if t.grows {
			n = c.MaxTableElements
			if t.hasMax {
				n = max(t.min, min(t.max, n))
			}
		}
		elems += uint64(n)
	}
	return &Metered{Code: code, InstanceGas: uint64(m.instanceGas), TableElements: elems}, nil
}
