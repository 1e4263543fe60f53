// Package contracts owns contract code, instances and encrypted commands.
//
// Status: wired but empty; the contracts issue fills it in.
package contracts

import (
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/protocol"
)

// Module is the contracts module.
type Module struct{}

// New returns the contracts module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleContracts }

// Call implements module.Module; the contracts module has no methods yet.
func (*Module) Call(_ *module.Context, method string, _ []byte) error {
	return protocol.Errorf(protocol.ErrUnknownMethod, "contracts.%s", method)
}
