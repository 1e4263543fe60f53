package protocol

import (
	"crypto/sha256"
	"encoding/binary"
)

// TopicWorker carries registry events about workers (registration, key
// change, endpoint, expiry, revocation), emitted by the registry module so
// every pRuntime's verified registry view follows them.
var TopicWorker = ModuleTopic(ModuleRegistry, "worker")

// Worker event kinds.
const (
	WorkerRegistered = "registered" // new worker, a new boot's key, or a refreshed attestation
	WorkerEndpoint   = "endpoint"   // the worker announced its public API URL
	WorkerExpired    = "expired"    // its attestation grew older than the policy allows
	WorkerRevoked    = "revoked"    // governance revoked its measurement
)

// Worker statuses.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Attestation levels: what a registration's evidence was checked against.
const (
	LevelSim        = "sim"        // the insecure software TEE
	LevelQuote      = "quote"      // TDX quote signature chain to Intel's root; no TCB collateral
	LevelCollateral = "collateral" // TDX quote and Intel's TCB info and QE identity, current at the block time
)

// WorkerRecord is the registry's record of a worker.
type WorkerRecord struct {
	Pubkey           []byte `cbor:"pubkey"`         // ed25519 identity key
	EncryptionKey    []byte `cbor:"encryption_key"` // X-Wing public key of the current boot
	AttestationKind  string `cbor:"attestation_kind"`
	AttestationLevel string `cbor:"attestation_level"`
	Measurement      []byte `cbor:"measurement"` // see TDXMeasurement, SimMeasurement
	RuntimeVersion   uint32 `cbor:"runtime_version"`
	AttestedHeight   int64  `cbor:"attested_height"` // the block the attestation binds
	RegisteredHeight int64  `cbor:"registered_height"`
	ExpiresAt        int64  `cbor:"expires_at"` // the height at which it expires unless refreshed; 0: never
	// KeySince is the block from which EncryptionKey has been the worker's
	// registered key: the attested block of a registered key, the block of
	// adoption of an announced one. Only an attestation of a later block
	// may register another key (an older one names an erased key).
	KeySince    int64   `cbor:"key_since"`
	Operator    Address `cbor:"operator"`
	Status      string  `cbor:"status"`
	Endpoint    string  `cbor:"endpoint"`
	EndpointSeq uint64  `cbor:"endpoint_seq"`
	// Attestation is the evidence as registered, so that anyone can verify
	// it again (sdk.VerifyWorker).
	Attestation Attestation `cbor:"attestation"`
	// KeyAnnouncement, when EncryptionKey is not the attested key, is the
	// rotation announcement that replaced it: signed by the attested
	// identity key, it carries trust from the attestation to the current
	// key. A new registration clears it.
	KeyAnnouncement *KeyAnnouncement `cbor:"key_announcement"`
}

// WorkerEvent is the payload of a TopicWorker message. It carries the
// registry's view of the worker without the bulky attestation.
type WorkerEvent struct {
	Kind   string        `cbor:"kind"`
	Worker WorkerSummary `cbor:"worker"`
}

// WorkerSummary is what pRuntime's registry view keeps of a worker.
type WorkerSummary struct {
	Pubkey          []byte `cbor:"pubkey"`
	EncryptionKey   []byte `cbor:"encryption_key"`
	AttestationKind string `cbor:"attestation_kind"`
	Measurement     []byte `cbor:"measurement"`
	AttestedHeight  int64  `cbor:"attested_height"`
	Status          string `cbor:"status"`
	Endpoint        string `cbor:"endpoint"`
}

// Summary is the event form of a record.
func (w *WorkerRecord) Summary() WorkerSummary {
	return WorkerSummary{
		Pubkey: w.Pubkey, EncryptionKey: w.EncryptionKey, AttestationKind: w.AttestationKind,
		Measurement: w.Measurement, AttestedHeight: w.AttestedHeight, Status: w.Status, Endpoint: w.Endpoint,
	}
}

// TDXMeasurement identifies a TD build: SHA-256 over a context, MRTD and
// RTMR0..3 (48 bytes each). The registry's allowlist holds these.
func TDXMeasurement(mrtd []byte, rtmrs [][]byte) []byte {
	h := sha256.New()
	h.Write([]byte("phala/measurement/tdx/v1"))
	for _, f := range append([][]byte{mrtd}, rtmrs...) {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write(f)
	}
	return h.Sum(nil)
}

// SimMeasurement identifies a sim pRuntime build by name.
func SimMeasurement(name string) []byte {
	sum := sha256.Sum256(append([]byte("phala/measurement/sim/v1"), name...))
	return sum[:]
}

// AttestationPolicy is the registry's admission policy.
type AttestationPolicy struct {
	// MaxAgeBlocks bounds how old (in blocks) the block an attestation binds
	// may be at registration, and how long a registration lasts before the
	// worker must re-attest. 0 disables expiry.
	MaxAgeBlocks int64 `cbor:"max_age_blocks" json:"max_age_blocks"`
	// RequireCollateral refuses TDX quotes without current TCB collateral.
	RequireCollateral bool `cbor:"require_collateral" json:"require_collateral"`
	// MinRuntimeVersion refuses older pRuntimes.
	MinRuntimeVersion uint32 `cbor:"min_runtime_version" json:"min_runtime_version"`
}

// DefaultAttestationPolicy is the policy of a new chain.
func DefaultAttestationPolicy() AttestationPolicy {
	return AttestationPolicy{MaxAgeBlocks: 14_400, MinRuntimeVersion: 1}
}

// registry methods.
const (
	MethodRegisterWorker = "register_worker"
	MethodUpdateEndpoint = "update_endpoint"
)

// registry governance actions.
const (
	ActionAllowMeasurement     = "allow_measurement"
	ActionRevokeMeasurement    = "revoke_measurement"
	ActionSetAttestationPolicy = "set_attestation_policy"
)

// RegisterWorkerArgs registers (or re-registers, after a restart or to
// refresh its attestation) the worker an attestation names. The sender
// becomes the worker's operator.
type RegisterWorkerArgs struct {
	Attestation Attestation `cbor:"attestation"`
}

// EndpointUpdate is what a worker signs (under SigEndpoint) to announce its
// public API URL. Seq must exceed the previous update's.
type EndpointUpdate struct {
	ChainID string `cbor:"chain_id"`
	Worker  []byte `cbor:"worker"`
	URL     string `cbor:"url"`
	Seq     uint64 `cbor:"seq"`
}

// UpdateEndpointArgs carries a worker-signed endpoint update; anyone may
// relay it.
type UpdateEndpointArgs struct {
	Update EndpointUpdate `cbor:"update"`
	Sig    []byte         `cbor:"sig"`
}

// MeasurementArgs names a measurement for allow_measurement and
// revoke_measurement.
type MeasurementArgs struct {
	Measurement []byte `cbor:"measurement"`
	Note        string `cbor:"note"`
}

// SetAttestationPolicyArgs replaces the attestation policy.
type SetAttestationPolicyArgs struct {
	Policy AttestationPolicy `cbor:"policy"`
}

// Registry query paths.
const (
	QueryWorker  = "registry/worker/" // registry/worker/<pubkey hex>: a record, with proof
	QueryWorkers = "registry/workers" // every record, without proof
	QueryPolicy  = "registry/policy"  // the attestation policy, with proof
	// QueryMeasurement is registry/measurement/<hash hex>: an allowlist
	// entry, with proof. A revocation shows here in the revoking block,
	// before every worker record under it has been rewritten.
	QueryMeasurement = "registry/measurement/"
)

// MeasurementEntry is an allowlist entry.
type MeasurementEntry struct {
	Measurement []byte `cbor:"measurement" json:"measurement"`
	Note        string `cbor:"note" json:"note"`
	Revoked     bool   `cbor:"revoked" json:"revoked"`
}

// RegistryGenesis is the registry part of app_state.
type RegistryGenesis struct {
	Policy AttestationPolicy `json:"policy"`
	// Measurements are allowed at genesis (hex in JSON).
	Measurements []HexBytes `json:"measurements"`
}

// registry module errors.
var (
	ErrAttestationChain      = define(SpaceRegistry, 1, "attestation is bound to another chain")
	ErrSimNotAllowed         = define(SpaceRegistry, 2, "sim attestation is not allowed on this chain")
	ErrBadQuote              = define(SpaceRegistry, 3, "quote does not verify")
	ErrReportData            = define(SpaceRegistry, 4, "quote's report data does not bind the claimed keys")
	ErrUnsupportedTEE        = define(SpaceRegistry, 5, "unsupported TEE kind")
	ErrBadWorkerKeys         = define(SpaceRegistry, 6, "invalid worker keys")
	ErrQuoteMalformed        = define(SpaceRegistry, 7, "quote is malformed")
	ErrQuoteCertChain        = define(SpaceRegistry, 8, "quote's certificate chain does not lead to Intel's root")
	ErrQuoteSignature        = define(SpaceRegistry, 9, "quote's signature does not verify")
	ErrQuoteCollateral       = define(SpaceRegistry, 10, "quote's collateral does not verify")
	ErrCollateralRequired    = define(SpaceRegistry, 11, "policy requires TCB collateral")
	ErrDebugTD               = define(SpaceRegistry, 12, "quote comes from a debug TD")
	ErrMeasurementNotAllowed = define(SpaceRegistry, 13, "measurement is not allowed")
	ErrMeasurementRevoked    = define(SpaceRegistry, 14, "measurement was revoked")
	ErrAttestationTooOld     = define(SpaceRegistry, 15, "attestation is too old")
	ErrAttestationFork       = define(SpaceRegistry, 16, "attestation binds a block this chain does not have")
	ErrRuntimeTooOld         = define(SpaceRegistry, 17, "runtime version below the policy minimum")
	ErrStaleRegistration     = define(SpaceRegistry, 18, "registration carries an earlier boot's key")
	ErrUnknownWorker         = define(SpaceRegistry, 19, "unknown worker")
	ErrBadEndpoint           = define(SpaceRegistry, 20, "invalid endpoint update")
	ErrBadPolicy             = define(SpaceRegistry, 21, "invalid attestation policy")
	ErrBadMeasurement        = define(SpaceRegistry, 22, "invalid measurement")
	ErrWorkerRevoked         = define(SpaceRegistry, 23, "worker identity was revoked")
)
