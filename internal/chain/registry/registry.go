// Package registry owns the worker registry: attested workers, their keys
// and endpoints, the attestation policy and the allowed pRuntime
// measurements. It decides which off-chain workers the mq module accepts
// messages from.
//
// Status: wired but empty. Registration arrives with the pherry/devnet and
// attestation issues; until then no method exists, and every worker key
// with a valid signature may send (the README status table says so).
package registry

import (
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/protocol"
)

// Module is the registry module.
type Module struct{}

// New returns the registry module.
func New() *Module { return &Module{} }

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleRegistry }

// Call implements module.Module; the registry has no methods yet.
func (*Module) Call(_ *module.Context, method string, _ []byte) error {
	return protocol.Errorf(protocol.ErrUnknownMethod, "registry.%s", method)
}

// AuthorizeSender implements mq.Authorizer for worker origins. The message
// signature and the signer-origin match were checked by mq.
func (*Module) AuthorizeSender(_ *module.Context, sm *protocol.SignedMessage) error {
	switch sm.Message.Origin.Kind {
	case protocol.OriginWorker:
		return nil
	case protocol.OriginGatekeeper:
		return protocol.Errorf(protocol.ErrNotGatekeeper, "no gatekeepers exist yet")
	}
	return protocol.Errorf(protocol.ErrOriginNotAllowed, "origin %s cannot send yet", sm.Message.Origin)
}
