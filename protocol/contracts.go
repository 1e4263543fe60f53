package protocol

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Confidential contracts (DESIGN section 4.4, docs/contracts.md).
//
// The chain stores code, records instances and their per-epoch public keys,
// orders encrypted commands on each contract's topic and records the
// results the contract's cluster reports. It never sees a plaintext.
//
// Message flow:
//   - module contracts → pRuntimes: TopicCode (code uploads),
//     TopicInstantiate (new instances), ContractCommandTopic(id) (commands);
//   - worker → chain: TopicContractKeys (a cluster member publishes the
//     public keys of its cluster's contracts for an epoch), under the
//     worker's own origin;
//   - contract → chain: ContractResultTopic(id) (one result per init and per
//     command) and ContractOutputTopic(id, suffix) (messages the contract
//     emits), under the origin Contract(id) with the contract's own
//     sequence. Every member of the cluster computes the same messages; the
//     first copy of each sequence number to land is canonical.

// CodeHash is the SHA-256 of a module's (uncompressed) bytes: code is
// stored and referred to by it.
func CodeHash(wasm []byte) [32]byte { return sha256.Sum256(wasm) }

// ContractID names an instance: H(deployer, code hash, cluster, salt), so a
// deployer can compute it before instantiating and encrypt init arguments
// bound to it.
func ContractID(deployer Address, codeHash, cluster, salt []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("phala/contract/v1"))
	for _, f := range [][]byte{deployer[:], codeHash, cluster, salt} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write(f)
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// ContractOrigin is the origin of the messages a contract's workers emit
// for it.
func ContractOrigin(id []byte) Origin {
	return Origin{Kind: OriginContract, ID: append([]byte(nil), id...)}
}

// Topics of the contracts module and of contracts.
var (
	TopicCode        = ModuleTopic(ModuleContracts, "code")        // CodeUploaded
	TopicInstantiate = ModuleTopic(ModuleContracts, "instantiate") // ContractInstantiated
)

// TopicContractKeys is where cluster members publish contract public keys
// (ContractKeys), each under its own worker origin.
const TopicContractKeys = TopicPrefix + "/contract/keys"

// ContractCommandTopic is the topic of a contract's commands, in chain
// order (ContractCommand, emitted by module contracts).
func ContractCommandTopic(id []byte) string {
	return ModuleTopic(ModuleContracts, hex.EncodeToString(id)+"/command")
}

// contractPrefix is the namespace of the messages a contract emits.
func contractPrefix(id []byte) string {
	return TopicPrefix + "/contract/" + hex.EncodeToString(id) + "/"
}

// ContractResultTopic is where a contract's results land (ContractResult,
// origin Contract(id)).
func ContractResultTopic(id []byte) string { return contractPrefix(id) + "result" }

// ContractOutputTopic is the topic of a message a contract emits on its
// topic suffix (origin Contract(id)).
func ContractOutputTopic(id []byte, suffix string) string {
	return contractPrefix(id) + "out/" + suffix
}

// MaxOutputSuffix bounds the topic suffix a contract may emit on, so that
// the full topic stays within MaxTopicLen.
const MaxOutputSuffix = MaxTopicLen - len("phala/contract/") - 64 - len("/out/")

// contracts methods.
const (
	MethodUploadCode  = "upload_code"
	MethodInstantiate = "instantiate"
	MethodCommand     = "command"
)

// Code compressions accepted by upload_code.
const (
	CompressionNone = ""
	CompressionGzip = "gzip"
)

// UploadCodeArgs uploads a WebAssembly module, optionally gzip-compressed
// (Go modules shrink about 3×). The chain validates the module against the
// host ABI before storing it.
type UploadCodeArgs struct {
	Code        []byte `cbor:"code"`
	Compression string `cbor:"compression"`
}

// CodeUploaded tells pRuntimes about new code. Code is as uploaded
// (compressed when Compression says so); Hash is of the uncompressed module.
type CodeUploaded struct {
	Hash        []byte `cbor:"hash"`
	Size        uint64 `cbor:"size"` // uncompressed
	Compression string `cbor:"compression"`
	Code        []byte `cbor:"code"`
}

// CodeInfo is the chain's record of uploaded code (query contracts/code/).
type CodeInfo struct {
	Hash     []byte  `cbor:"hash"`
	Size     uint64  `cbor:"size"`
	Uploader Address `cbor:"uploader"`
	Height   int64   `cbor:"height"`
}

// InstantiateArgs creates an instance of uploaded code in a cluster.
// InitArgs is HPKE-sealed to the cluster's key of Epoch (ContractInitInfo,
// the deployer's address as aad); the contract's init handler receives the
// plaintext.
type InstantiateArgs struct {
	CodeHash []byte `cbor:"code_hash"`
	Cluster  []byte `cbor:"cluster"`
	Salt     []byte `cbor:"salt"`
	Epoch    uint64 `cbor:"epoch"`
	GasLimit uint64 `cbor:"gas_limit"`
	InitArgs []byte `cbor:"init_args"`
}

// ContractInstantiated tells pRuntimes about a new instance; the cluster's
// members run its init handler.
type ContractInstantiated struct {
	Contract []byte  `cbor:"contract"`
	CodeHash []byte  `cbor:"code_hash"`
	Cluster  []byte  `cbor:"cluster"`
	Deployer Address `cbor:"deployer"`
	Epoch    uint64  `cbor:"epoch"`
	GasLimit uint64  `cbor:"gas_limit"`
	InitArgs []byte  `cbor:"init_args"`
}

// CommandArgs sends an encrypted command to a contract. Ciphertext is HPKE
// (enc || ct) to the contract's public key of Epoch, with info
// ContractCommandInfo and the sender's address as aad. The fee is the
// transaction fee plus GasLimit at the chain's gas price.
type CommandArgs struct {
	Contract   []byte `cbor:"contract"`
	Epoch      uint64 `cbor:"epoch"`
	GasLimit   uint64 `cbor:"gas_limit"`
	Ciphertext []byte `cbor:"ciphertext"`
}

// ContractCommand is a command on its contract's topic. Index numbers the
// contract's commands from 0 in chain order; results refer to it.
type ContractCommand struct {
	Contract   []byte  `cbor:"contract"`
	Index      uint64  `cbor:"index"`
	Epoch      uint64  `cbor:"epoch"`
	Sender     Address `cbor:"sender"`
	GasLimit   uint64  `cbor:"gas_limit"`
	Ciphertext []byte  `cbor:"ciphertext"`
}

// ContractPubkey is a contract's public key for an epoch.
type ContractPubkey struct {
	Contract []byte `cbor:"contract"`
	Epoch    uint64 `cbor:"epoch"`
	Pubkey   []byte `cbor:"pubkey"`
}

// ContractKeys is a cluster member's publication of contract public keys
// (X-Wing, derived from the cluster key of Epoch) for one epoch. The chain
// records the first key published for each (contract, epoch); later copies
// are accepted and ignored.
type ContractKeys struct {
	Epoch uint64           `cbor:"epoch"`
	Keys  []ContractPubkey `cbor:"keys"`
}

// MaxKeysPerPublication bounds a ContractKeys message.
const MaxKeysPerPublication = 32

// Result kinds.
const (
	ResultInit    = "init"
	ResultCommand = "command"
)

// Outcomes of an init or a command.
const (
	OutcomeOK       = "ok"         // the handler succeeded; its state changes are kept
	OutcomeError    = "error"      // the handler returned an error (the error text is in the reply)
	OutcomeOutOfGas = "out_of_gas" // gas ran out; state changes discarded
	OutcomeTrap     = "trap"       // the module trapped (Reason says how); state changes discarded
	OutcomeBadInput = "bad_input"  // the ciphertext does not open under the contract's key
)

// ContractResult is what a contract's cluster reports for an init or a
// command, under the origin Contract(id) on ContractResultTopic. Every
// member computes the same bytes. Reply is the handler's output (or error
// text) sealed with the HPKE export secret of the command's (or init
// arguments') encryption, so only the sender reads it.
type ContractResult struct {
	Kind      string `cbor:"kind"`
	Index     uint64 `cbor:"index"` // the command index (0 for init)
	Outcome   string `cbor:"outcome"`
	Reason    string `cbor:"reason"` // public, deterministic: why a trap, out-of-gas or bad input happened
	Reply     []byte `cbor:"reply"`
	GasUsed   uint64 `cbor:"gas_used"`
	StateRoot []byte `cbor:"state_root"` // the contract's state root after this event
	Emitted   uint32 `cbor:"emitted"`    // messages the handler emitted; they follow this one
}

// Contract statuses.
const (
	ContractPending = "pending" // instantiated; init has not reported yet
	ContractActive  = "active"  // init succeeded; commands are accepted
	ContractFailed  = "failed"  // init failed; the instance takes no commands
)

// ContractInfo is the chain's record of an instance (query
// contracts/contract/).
type ContractInfo struct {
	ID        []byte           `cbor:"id"`
	CodeHash  []byte           `cbor:"code_hash"`
	Cluster   []byte           `cbor:"cluster"`
	Deployer  Address          `cbor:"deployer"`
	Salt      []byte           `cbor:"salt"`
	CreatedAt int64            `cbor:"created_at"`
	Status    string           `cbor:"status"`
	Init      *ContractResult  `cbor:"init"`     // the init result, once landed
	Keys      []ContractPubkey `cbor:"keys"`     // public keys of the current (and, during a rotation, next) epoch
	Commands  uint64           `cbor:"commands"` // commands accepted so far (the next index)
}

// KeyFor returns the contract's public key of epoch, if published.
func (c *ContractInfo) KeyFor(epoch uint64) ([]byte, bool) {
	for _, k := range c.Keys {
		if k.Epoch == epoch {
			return k.Pubkey, true
		}
	}
	return nil, false
}

// CommandStatus is the chain's record of one command (query
// contracts/command/): accepted at Height, and its result once it landed.
type CommandStatus struct {
	Contract     []byte          `cbor:"contract"`
	Index        uint64          `cbor:"index"`
	Epoch        uint64          `cbor:"epoch"`
	Sender       Address         `cbor:"sender"`
	Height       int64           `cbor:"height"`
	Result       *ContractResult `cbor:"result"`
	ResultHeight int64           `cbor:"result_height"`
}

// Contracts query paths.
const (
	QueryCode     = "contracts/code/"     // contracts/code/<hash hex>: CodeInfo, with proof
	QueryContract = "contracts/contract/" // contracts/contract/<id hex>: ContractInfo, with proof
	QueryCommand  = "contracts/command/"  // contracts/command/<id hex>/<index>: CommandStatus, with proof
)

// ContractCommandInfo is the HPKE info of a command to contract under its
// key of epoch.
func ContractCommandInfo(chainID string, contract []byte, epoch uint64) []byte {
	return fmt.Appendf(nil, "phala/contract-command/v1/%s/%x/%d", chainID, contract, epoch)
}

// ContractInitInfo is the HPKE info of a contract's init arguments, sealed
// to its cluster's key of epoch.
func ContractInitInfo(chainID string, contract, cluster []byte, epoch uint64) []byte {
	return fmt.Appendf(nil, "phala/contract-init/v1/%s/%x/%x/%d", chainID, contract, cluster, epoch)
}

// ContractSeed derives a contract's key seed from its cluster's seed
// (DESIGN section 4.3); DeriveKeyPair turns it into the contract key.
func ContractSeed(clusterSeed, contract []byte) []byte {
	return DeriveSeed(clusterSeed, "contract", contract)
}

// contracts module errors. Module validation errors (2..5) are also what
// pRuntime's engine reports for the same faults.
var (
	ErrCodeTooLarge       = define(SpaceContracts, 1, "code too large")
	ErrInvalidModule      = define(SpaceContracts, 2, "invalid WebAssembly module")
	ErrModuleImports      = define(SpaceContracts, 3, "module imports outside the host ABI")
	ErrModuleExports      = define(SpaceContracts, 4, "module lacks a required export")
	ErrNonDeterministic   = define(SpaceContracts, 5, "module uses a non-deterministic feature")
	ErrCodeExists         = define(SpaceContracts, 6, "code already uploaded")
	ErrUnknownCode        = define(SpaceContracts, 7, "unknown code")
	ErrUnknownContract    = define(SpaceContracts, 8, "unknown contract")
	ErrContractExists     = define(SpaceContracts, 9, "contract already exists")
	ErrContractNotActive  = define(SpaceContracts, 10, "contract is not active")
	ErrNoContractKey      = define(SpaceContracts, 11, "contract has no published key for the epoch")
	ErrBadGasLimit        = define(SpaceContracts, 12, "gas limit outside the allowed range")
	ErrBadContractMessage = define(SpaceContracts, 13, "invalid contract message")
	ErrBadCompression     = define(SpaceContracts, 14, "code does not decompress")
	ErrContractTooLarge   = define(SpaceContracts, 15, "contract command or init arguments too large")
	ErrBadSalt            = define(SpaceContracts, 16, "salt longer than 64 bytes")
	ErrNotClusterWorker   = define(SpaceContracts, 17, "signer is not an active member of the contract's cluster")
	// ErrModuleTooComplex: a function's (or the module's) control flow is
	// beyond the compile limits of docs/contracts.md, "Limits".
	ErrModuleTooComplex = define(SpaceContracts, 30, "module's control flow exceeds the compile limits")
)

// ReplyAAD is the authenticated data of a contract result's Reply: it binds
// the reply to its contract, kind and command index, so a reply cannot be
// presented as the answer to another command.
func ReplyAAD(contract []byte, kind string, index uint64) []byte {
	return fmt.Appendf(nil, "phala/contract-reply/v1/%x/%s/%d", contract, kind, index)
}

// QueryContractEpoch serves the keys module's epoch record (an
// EpochRecord) with its proof, so that clients seal init arguments to a
// cluster key, and pick a contract key of an epoch, that they verified
// rather than took from a node's word (keys/epoch is assembled from
// several records and has no proof).
const QueryContractEpoch = "contracts/epoch"

// EpochRecord is the keys module's stored record of the key epochs: the
// part of EpochInfo that one state key holds.
type EpochRecord struct {
	Current     uint64          `cbor:"current"`
	ActivatedAt int64           `cbor:"activated_at"`
	Clusters    []ClusterPubkey `cbor:"clusters"`
	Lost        bool            `cbor:"lost"` // the current secret was lost; a rotation is under way
	Pending     *PendingEpoch   `cbor:"pending"`
}

// CheckSealedFor applies the rule every encrypted command and init obeys,
// on the chain and in clients before sealing: it is sealed to a key of the
// current epoch, whose secret is not lost. Anything sealed to a retired
// epoch is refused so that, once its keys are erased, nothing sealed to
// them is ever run again.
func (r *EpochRecord) CheckSealedFor(epoch uint64) error {
	switch {
	case r.Current == 0:
		return Errorf(ErrNoEpoch, "no key epoch has been activated")
	case epoch < r.Current:
		return Errorf(ErrRetiredEpoch, "epoch %d retired; current is %d", epoch, r.Current)
	case epoch > r.Current:
		return Errorf(ErrFutureEpoch, "epoch %d, current is %d", epoch, r.Current)
	case r.Lost:
		return Errorf(ErrEpochLost, "epoch %d", epoch)
	}
	return nil
}

// ClusterKey returns cluster's public key in the current epoch, if it has
// one.
func (r *EpochRecord) ClusterKey(cluster []byte) ([]byte, bool) {
	for _, c := range r.Clusters {
		if bytes.Equal(c.Cluster, cluster) {
			return c.Pubkey, true
		}
	}
	return nil, false
}

// DecompressCode returns the module an upload carries; the chain and
// pRuntime both read uploads through it. A gzip stream inflates into one
// buffer of at most max+1 bytes, sized by the stream's own length field
// (untrusted, so capped): an honest upload costs one allocation of its
// size, and a gzip bomb is refused (ErrCodeTooLarge) after inflating just
// past the limit, whatever it claims.
func DecompressCode(compression string, code []byte, max int) ([]byte, error) {
	limit := uint64(max)
	switch compression {
	case CompressionNone:
		if uint64(len(code)) > limit {
			return nil, Errorf(ErrCodeTooLarge, "%d bytes, limit %d", len(code), limit)
		}
		return code, nil
	case CompressionGzip:
		return gunzip(code, limit)
	}
	return nil, Errorf(ErrBadCompression, "compression %q; want %q or %q", compression, CompressionNone, CompressionGzip)
}

func gunzip(code []byte, limit uint64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(code))
	if err != nil {
		return nil, Errorf(ErrBadCompression, "gzip header: %v", err)
	}
	size := limit + 1
	if claimed := uint64(binary.LittleEndian.Uint32(code[len(code)-4:])); claimed < limit { // ISIZE; NewReader read more than 4 bytes
		size = claimed + 1 // +1: reading one byte past it finds the end
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if uint64(len(buf)) > limit {
				return nil, Errorf(ErrCodeTooLarge, "gzip stream of %d bytes inflates beyond the %d-byte limit", len(code), limit)
			}
			// The length field lied low: grow, never past limit+1.
			grown := make([]byte, len(buf), min(2*uint64(cap(buf)), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := zr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errorf(ErrBadCompression, "gzip stream: %v", err)
		}
	}
	if uint64(len(buf)) > limit {
		return nil, Errorf(ErrCodeTooLarge, "gzip stream of %d bytes inflates beyond the %d-byte limit", len(code), limit)
	}
	return buf, nil
}
