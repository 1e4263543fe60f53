package pruntime

import "crypto/ed25519"

// SecretsForTest returns every secret the runtime holds in memory, so tests
// can prove none of them reaches the disk.
func (r *Runtime) SecretsForTest() map[string][]byte {
	encPriv, err := r.enc.Private().Bytes()
	if err != nil {
		panic(err)
	}
	sealKey, err := r.cfg.TEE.SealKey()
	if err != nil {
		panic(err)
	}
	return map[string][]byte{
		"identity seed":          r.identity.Seed(),
		"identity private key":   []byte(r.identity),
		"encryption private key": encPriv,
		"seal key":               sealKey,
	}
}

// IdentityForTest exposes the worker identity's public key.
func (r *Runtime) IdentityForTest() ed25519.PublicKey { return r.identity.Public().(ed25519.PublicKey) }
