package protocol

// TopicWorker carries registry events about workers (registration, key
// change, expiry, revocation), emitted by the registry module so every
// pRuntime's verified registry view follows them.
var TopicWorker = ModuleTopic(ModuleRegistry, "worker")

// Worker event kinds.
const (
	WorkerRegistered = "registered" // new worker, or a new boot's key
	WorkerExpired    = "expired"
	WorkerRevoked    = "revoked"
)

// WorkerRecord is the registry's record of a worker.
type WorkerRecord struct {
	Pubkey           []byte  `cbor:"pubkey"`         // ed25519 identity key
	EncryptionKey    []byte  `cbor:"encryption_key"` // X-Wing public key of the current boot
	AttestationKind  string  `cbor:"attestation_kind"`
	RuntimeVersion   uint32  `cbor:"runtime_version"`
	RegisteredHeight int64   `cbor:"registered_height"`
	Operator         Address `cbor:"operator"`
}

// WorkerEvent is the payload of a TopicWorker message.
type WorkerEvent struct {
	Kind   string       `cbor:"kind"`
	Worker WorkerRecord `cbor:"worker"`
}
