// Package keys owns gatekeepers, epoch keys and key rotation.
//
// Status: wired but empty; the keys issue fills it in.
package keys

import (
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/protocol"
)

// Module is the keys module.
type Module struct{}

// New returns the keys module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleKeys }

// Call implements module.Module; the keys module has no methods yet.
func (*Module) Call(_ *module.Context, method string, _ []byte) error {
	return protocol.Errorf(protocol.ErrUnknownMethod, "keys.%s", method)
}
