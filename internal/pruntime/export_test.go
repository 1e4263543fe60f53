package pruntime

import "crypto/ed25519"

// IdentityForTest exposes the worker identity's public key.
func (r *Runtime) IdentityForTest() ed25519.PublicKey { return r.identity.Public().(ed25519.PublicKey) }
