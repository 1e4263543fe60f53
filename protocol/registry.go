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
	LevelQuote      = "quote"      // TDX quote from Intel's TD QE, signature chain to Intel's root; no TCB collateral (dev chains only)
	LevelCollateral = "collateral" // TDX quote, Intel's TCB info and QE identity, and the CRLs, current at the block time
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

// TDXIdentity is what a TD quote says about the TD: its build (MRTD, the
// RTMRs) and the configuration the host chose when it created the TD
// (attributes, XFAM, the three config registers). None of the latter
// changes MRTD or an RTMR, so the measurement must cover them itself.
type TDXIdentity struct {
	MRTD          []byte   // 48 bytes
	RTMRs         [][]byte // RTMR0..3, 48 bytes each
	TDAttributes  []byte   // 8 bytes
	XFAM          []byte   // 8 bytes
	MRConfigID    []byte   // 48 bytes
	MROwner       []byte   // 48 bytes
	MROwnerConfig []byte   // 48 bytes
}

// TDXMeasurement identifies a TD build and configuration: SHA-256 over the
// context "phala/measurement/tdx/v2" and the identity's fields in the order
// of the struct, each length-prefixed (4 bytes, big-endian). The registry's
// allowlist holds these. (Version 1 covered MRTD and RTMR0..3 only, which
// let the host pick the TD's attributes; it is no longer accepted.)
func TDXMeasurement(id TDXIdentity) []byte {
	h := sha256.New()
	h.Write([]byte("phala/measurement/tdx/v2"))
	fields := append(append([][]byte{id.MRTD}, id.RTMRs...), id.TDAttributes, id.XFAM, id.MRConfigID, id.MROwner, id.MROwnerConfig)
	for _, f := range fields {
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
	// RequireCollateral refuses TDX quotes without current TCB collateral
	// (PCK CRL included). A chain that does not allow sim attestation
	// requires collateral whatever this says: only a dev chain may admit
	// `quote`-level workers.
	RequireCollateral bool `cbor:"require_collateral" json:"require_collateral"`
	// MinRuntimeVersion refuses older pRuntimes.
	MinRuntimeVersion uint32 `cbor:"min_runtime_version" json:"min_runtime_version"`
	// MinTCBEvaluationDataNumber refuses collateral older than Intel's TCB
	// recovery event of that number (the lower of the TCB info's and the QE
	// identity's tcbEvaluationDataNumber): collateral stays valid until its
	// nextUpdate, so without it a superseded TCB info still passes for
	// about a month. 0: no minimum.
	MinTCBEvaluationDataNumber uint32 `cbor:"min_tcb_evaluation_data_number" json:"min_tcb_evaluation_data_number"`
}

// DefaultAttestationPolicy is the policy of a new chain.
func DefaultAttestationPolicy() AttestationPolicy {
	return AttestationPolicy{MaxAgeBlocks: 14_400, MinRuntimeVersion: 1, RequireCollateral: true}
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
	// QueryGenesisHash is the genesis hash every attestation must bind, with
	// proof.
	QueryGenesisHash = "registry/genesis_hash"
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
	// Codes 40-59: attestation evidence (TDX quotes and their collateral).
	ErrQEIdentity          = define(SpaceRegistry, 40, "quote was not produced by Intel's TD quoting enclave")
	ErrTDAttributes        = define(SpaceRegistry, 41, "TD attributes are not the required ones")
	ErrTCBEvaluationTooOld = define(SpaceRegistry, 42, "collateral's TCB evaluation data number is below the policy minimum")
	ErrCollateralMalformed = define(SpaceRegistry, 43, "collateral is oversized, not canonical, or answers a request verification does not make")
)
