package wasmtest

import (
	"github.com/phala-go/phala/internal/wasm/abi"
)

// Contract is a Module that meets host ABI version 1 once encoded: it
// imports the named host functions, has one memory exported as "memory",
// and Encode adds whatever of _initialize, phala_init, phala_command and
// phala_query the test did not define (each doing nothing and returning 0).
type Contract struct {
	*Module
	host map[string]uint32
}

// EntrySig is the signature of phala_init, phala_command and phala_query.
var EntrySig = Sig([]abi.ValType{abi.I32}, abi.I32)

// NewContract starts a contract importing the named host functions (see
// Module.ImportABI) with a memory of pages pages (at least 1).
func NewContract(pages uint32, imports ...string) *Contract {
	c := &Contract{Module: New(), host: map[string]uint32{}}
	for i, f := range c.ImportABI(imports...) {
		c.host[imports[i]] = f
	}
	c.Export(abi.ExportMemory, KindMemory, c.Memory(max(pages, 1), 0))
	return c
}

// Host returns the function index of an imported host function.
func (c *Contract) Host(name string) uint32 {
	f, ok := c.host[name]
	if !ok {
		panic("wasmtest: host function " + name + " not imported")
	}
	return f
}

// Entry defines and exports an entry point (abi.ExportInit, ExportCommand
// or ExportQuery): local 0 is the input length, extra locals follow, and
// code must leave the i32 result.
func (c *Contract) Entry(export string, locals []abi.ValType, code []byte) uint32 {
	f := c.Func(EntrySig, locals, code)
	c.ExportFunc(export, f)
	return f
}

// Encode completes the required exports and returns the module's binary.
func (c *Contract) Encode() []byte {
	if !c.Exported(abi.ExportStart) {
		c.ExportFunc(abi.ExportStart, c.Func(Sig(nil), nil, nil))
	}
	for _, e := range []string{abi.ExportInit, abi.ExportCommand, abi.ExportQuery} {
		if !c.Exported(e) {
			c.Entry(e, nil, I32Const(0))
		}
	}
	return c.Module.Encode()
}
