package pruntime

import "crypto/ed25519"

// SecretsForTest returns every secret the runtime holds in memory, so tests
// can prove none of them reaches the disk.
func (r *Runtime) SecretsForTest() map[string][]byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sealKey, err := r.cfg.TEE.SealKey()
	if err != nil {
		panic(err)
	}
	out := map[string][]byte{
		"identity seed":        r.identity.Seed(),
		"identity private key": []byte(r.identity),
		"seal key":             sealKey,
	}
	if b, err := r.boot.Private().Bytes(); err == nil {
		out["boot encryption private key"] = b
	}
	if r.keyring != nil {
		for k, v := range r.keyring.SecretsForTest() {
			out[k] = v
		}
	}
	return out
}

// IdentityForTest exposes the worker identity's public key.
func (r *Runtime) IdentityForTest() ed25519.PublicKey { return r.identity.Public().(ed25519.PublicKey) }
