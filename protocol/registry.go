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

// registry methods.
const (
	MethodRegisterWorker = "register_worker"
)

// RegisterWorkerArgs registers (or re-registers, after a restart) the worker
// an attestation names. The sender becomes the worker's operator.
type RegisterWorkerArgs struct {
	Attestation Attestation `cbor:"attestation"`
}

// QueryWorker is the query path of a worker record: registry/worker/<pubkey hex>.
const QueryWorker = "registry/worker/"

// registry module errors.
var (
	ErrAttestationChain = define(SpaceRegistry, 1, "attestation is bound to another chain")
	ErrSimNotAllowed    = define(SpaceRegistry, 2, "sim attestation is not allowed on this chain")
	ErrBadQuote         = define(SpaceRegistry, 3, "quote does not verify")
	ErrReportData       = define(SpaceRegistry, 4, "quote's report data does not bind the claimed keys")
	ErrUnsupportedTEE   = define(SpaceRegistry, 5, "unsupported TEE kind")
	ErrBadWorkerKeys    = define(SpaceRegistry, 6, "invalid worker keys")
)
