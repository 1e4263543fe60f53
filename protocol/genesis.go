package protocol

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"

	"github.com/phala-go/phala/internal/wasm/abi"
)

// Params are the chain parameters governance may change.
type Params struct {
	// MinFee is the least fee a transaction may carry.
	MinFee uint64 `cbor:"min_fee" json:"min_fee"`
	// MaxTxBytes bounds a raw transaction.
	MaxTxBytes uint64 `cbor:"max_tx_bytes" json:"max_tx_bytes"`
	// MaxPayloadBytes bounds a message payload.
	MaxPayloadBytes uint64 `cbor:"max_payload_bytes" json:"max_payload_bytes"`
	// MaxMessagesPerBlock bounds the message list of one block, which
	// bounds what pRuntime must verify per block.
	MaxMessagesPerBlock uint64 `cbor:"max_messages_per_block" json:"max_messages_per_block"`
	// AllowSimAttestation admits workers with the software `sim` TEE. It
	// can only be set at genesis: governance may turn it off, never on.
	AllowSimAttestation bool `cbor:"allow_sim_attestation" json:"allow_sim_attestation"`
	// RotationInterval asks for a key rotation every so many blocks after
	// the last activation; 0 means only when governance asks.
	RotationInterval uint64 `cbor:"rotation_interval" json:"rotation_interval"`
	// AnnounceWindow is how many blocks members have to announce fresh
	// encryption keys before the gatekeepers are asked for a proposal.
	AnnounceWindow uint64 `cbor:"announce_window" json:"announce_window"`
	// ActivationDelay is how many blocks after the canonical proposal lands
	// the new epoch activates (so every member has decrypted its key).
	ActivationDelay uint64 `cbor:"activation_delay" json:"activation_delay"`
	// ServeTimeout is how many blocks a gatekeeper or member may wait for
	// the current epoch's keys before the chain concludes that no live
	// gatekeeper holds the secret and starts an emergency rotation.
	ServeTimeout uint64 `cbor:"serve_timeout" json:"serve_timeout"`
	// MaxCodeBytes bounds an uploaded contract module, uncompressed. The
	// ABI's own limit (abi.MaxCodeBytes) caps it: pRuntime refuses larger
	// modules whatever the chain says.
	MaxCodeBytes uint64 `cbor:"max_code_bytes" json:"max_code_bytes"`
	// CodeByteFee is charged per uncompressed byte of uploaded code, on top
	// of the transaction fee: the message log keeps code for good and every
	// worker of every cluster compiles it.
	CodeByteFee uint64 `cbor:"code_byte_fee" json:"code_byte_fee"`
	// MaxCommandGas bounds the gas limit of a contract's init or command.
	MaxCommandGas uint64 `cbor:"max_command_gas" json:"max_command_gas"`
	// MaxQueryGas bounds the gas of a contract query. Queries never touch
	// the chain: workers enforce it, clients read it to size requests.
	MaxQueryGas uint64 `cbor:"max_query_gas" json:"max_query_gas"`
	// GasPrice is the fee, in fee units per 1,000,000 gas, that an init or
	// a command prepays for its whole gas limit (see GasFee).
	GasPrice uint64 `cbor:"gas_price" json:"gas_price"`
}

// GasPriceUnit is the amount of gas GasPrice is quoted for.
const GasPriceUnit = 1_000_000

// GasFee is what an init or a command with gasLimit prepays:
// ceil(gasLimit × GasPrice / GasPriceUnit), saturating at MaxUint64 (which
// no balance covers).
func (p Params) GasFee(gasLimit uint64) uint64 {
	hi, lo := bits.Mul64(gasLimit, p.GasPrice)
	if hi >= GasPriceUnit {
		return math.MaxUint64
	}
	q, r := bits.Div64(hi, lo, GasPriceUnit)
	if r != 0 {
		if q == math.MaxUint64 {
			return q
		}
		q++
	}
	return q
}

// CodeFee is what uploading size bytes of (uncompressed) code costs beyond
// the transaction fee, saturating at MaxUint64.
func (p Params) CodeFee(size uint64) uint64 {
	hi, lo := bits.Mul64(size, p.CodeByteFee)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// DefaultParams are the parameters of a new dev chain, without sim
// attestation (a dev home turns it on explicitly).
func DefaultParams() Params {
	return Params{
		MinFee: 1_000,
		// A gzipped Go contract is 0.5-1 MiB: uploads must fit.
		MaxTxBytes:          2 << 20,
		MaxPayloadBytes:     64 << 10,
		MaxMessagesPerBlock: 10_000,
		AnnounceWindow:      3,
		ActivationDelay:     3,
		ServeTimeout:        100,
		MaxCodeBytes:        abi.MaxCodeBytes,
		CodeByteFee:         1,
		MaxCommandGas:       1_000_000_000,
		MaxQueryGas:         100_000_000,
		GasPrice:            100,
	}
}

// Hard limits that no parameter may exceed: they keep CometBFT's own limits
// (mempool, block size) from refusing transactions our app would accept.
const (
	LimitTxBytes      = 4 << 20
	LimitPayloadBytes = 1 << 20
)

// Bounds that keep governance able to act whatever parameters it sets: a
// set_params transaction carrying MaxAdmins approvals, the largest
// threshold a genesis may set, is about 12 KB and fits in MinTxBytes; a
// fee of LimitMinFee stays payable (1000 times the default); and the
// block-count parameters stay far from overflowing a height.
const (
	// MinTxBytes is the floor of max_tx_bytes.
	MinTxBytes = 16 << 10
	// LimitMinFee is the ceiling of min_fee.
	LimitMinFee = 1_000_000
	// LimitMessagesPerBlock is the ceiling of max_messages_per_block, the
	// quota of messages transactions may emit in a block. It is half of
	// MaxBlockMessages, the most pRuntime accepts in one block: the other
	// half is kept for what the modules emit outside the quota (end-of-block
	// retirements, governance, key events), so an honest block never
	// exceeds what every pRuntime verifies.
	LimitMessagesPerBlock = MaxBlockMessages / 2
	// LimitBlocks is the ceiling of rotation_interval and serve_timeout.
	LimitBlocks = 1 << 32
	// MaxAdmins bounds the admins named at genesis, so that a governance
	// transaction at any threshold fits in MinTxBytes.
	MaxAdmins = 100
)

// Bounds of the contract parameters. The gas bounds keep one call's budget
// within what a worker runs in minutes (about 10^8-10^9 metered
// instructions a second); the price bounds keep every fee computation
// far from overflow.
const (
	MinCodeBytes     = 1024
	LimitCodeByteFee = 1_000_000_000
	LimitGas         = 1_000_000_000_000
	LimitGasPrice    = 1_000_000_000
)

// Validate checks the parameters' ranges.
func (p Params) Validate() error {
	switch {
	case p.MinFee > LimitMinFee:
		return Errorf(ErrBadParams, "min_fee %d above %d", p.MinFee, LimitMinFee)
	case p.MaxTxBytes < MinTxBytes || p.MaxTxBytes > LimitTxBytes:
		return Errorf(ErrBadParams, "max_tx_bytes %d outside %d..%d", p.MaxTxBytes, MinTxBytes, LimitTxBytes)
	case p.MaxPayloadBytes == 0 || p.MaxPayloadBytes > LimitPayloadBytes || p.MaxPayloadBytes >= p.MaxTxBytes:
		return Errorf(ErrBadParams, "max_payload_bytes %d outside 1..min(%d, max_tx_bytes)", p.MaxPayloadBytes, LimitPayloadBytes)
	case p.MaxMessagesPerBlock == 0 || p.MaxMessagesPerBlock > LimitMessagesPerBlock:
		return Errorf(ErrBadParams, "max_messages_per_block %d outside 1..%d", p.MaxMessagesPerBlock, LimitMessagesPerBlock)
	case p.AnnounceWindow == 0 || p.AnnounceWindow > 10_000 || p.ActivationDelay == 0 || p.ActivationDelay > 10_000:
		return Errorf(ErrBadParams, "announce_window %d and activation_delay %d must be within 1..10000", p.AnnounceWindow, p.ActivationDelay)
	case p.ServeTimeout == 0 || p.ServeTimeout > LimitBlocks:
		return Errorf(ErrBadParams, "serve_timeout %d outside 1..%d", p.ServeTimeout, uint64(LimitBlocks))
	case p.RotationInterval > LimitBlocks:
		return Errorf(ErrBadParams, "rotation_interval %d above %d", p.RotationInterval, uint64(LimitBlocks))
	case p.RotationInterval != 0 && p.RotationInterval <= p.AnnounceWindow+p.ActivationDelay:
		return Errorf(ErrBadParams, "rotation_interval %d must exceed announce_window + activation_delay", p.RotationInterval)
	}
	return p.validateContracts()
}

// validateContracts checks the contract parameters' ranges.
func (p Params) validateContracts() error {
	switch {
	case p.MaxCodeBytes < MinCodeBytes || p.MaxCodeBytes > abi.MaxCodeBytes:
		return Errorf(ErrBadParams, "max_code_bytes %d outside %d..%d", p.MaxCodeBytes, MinCodeBytes, abi.MaxCodeBytes)
	case p.CodeByteFee > LimitCodeByteFee:
		return Errorf(ErrBadParams, "code_byte_fee %d above %d", p.CodeByteFee, LimitCodeByteFee)
	case p.MaxCommandGas == 0 || p.MaxCommandGas > LimitGas:
		return Errorf(ErrBadParams, "max_command_gas %d outside 1..%d", p.MaxCommandGas, uint64(LimitGas))
	case p.MaxQueryGas == 0 || p.MaxQueryGas > LimitGas:
		return Errorf(ErrBadParams, "max_query_gas %d outside 1..%d", p.MaxQueryGas, uint64(LimitGas))
	case p.GasPrice > LimitGasPrice:
		return Errorf(ErrBadParams, "gas_price %d above %d", p.GasPrice, LimitGasPrice)
	}
	return nil
}

// GovernanceGenesis names the admins and how many must approve an action.
type GovernanceGenesis struct {
	Admins    []HexBytes `json:"admins"` // ed25519 public keys
	Threshold uint32     `json:"threshold"`
}

// Validate checks keys and threshold.
func (g GovernanceGenesis) Validate() error {
	if len(g.Admins) == 0 || len(g.Admins) > MaxAdmins {
		return fmt.Errorf("governance: %d admins, want 1..%d", len(g.Admins), MaxAdmins)
	}
	if g.Threshold == 0 || int(g.Threshold) > len(g.Admins) {
		return fmt.Errorf("governance: threshold %d with %d admins", g.Threshold, len(g.Admins))
	}
	seen := map[string]bool{}
	for i, k := range g.Admins {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("governance: admin %d: key has %d bytes", i, len(k))
		}
		if seen[string(k)] {
			return fmt.Errorf("governance: admin %d: duplicate key", i)
		}
		seen[string(k)] = true
	}
	return nil
}

// GenesisAccount is a funded account at genesis.
type GenesisAccount struct {
	Address Address `json:"address"`
	Balance uint64  `json:"balance"`
}

// GenesisState is the application part (`app_state`) of the CometBFT
// genesis document.
type GenesisState struct {
	Params     Params            `json:"params"`
	Governance GovernanceGenesis `json:"governance"`
	Accounts   []GenesisAccount  `json:"accounts"`
	Registry   RegistryGenesis   `json:"registry"`
}

// ParseGenesisState reads and validates app_state.
func ParseGenesisState(raw []byte) (*GenesisState, error) {
	var g GenesisState
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("app_state: %w", err)
	}
	if err := g.Params.Validate(); err != nil {
		return nil, fmt.Errorf("app_state: %w", err)
	}
	if err := g.Governance.Validate(); err != nil {
		return nil, fmt.Errorf("app_state: %w", err)
	}
	seen := map[Address]bool{}
	for _, a := range g.Accounts {
		if seen[a.Address] {
			return nil, fmt.Errorf("app_state: account %s listed twice", a.Address)
		}
		seen[a.Address] = true
	}
	return &g, nil
}

// HexBytes is a byte string written as hex in JSON.
type HexBytes []byte

// MarshalText encodes as lowercase hex.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText decodes hex.
func (h *HexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	if err != nil {
		return err
	}
	*h = d
	return nil
}
