package protocol

// Module names. They are the first segment of a call and of a module's
// reserved topics.
const (
	ModuleAccounts   = "accounts"
	ModuleMQ         = "mq"
	ModuleGovernance = "governance"
	ModuleRegistry   = "registry"
	ModuleKeys       = "keys"
	ModuleContracts  = "contracts"
)

// Modules lists every module name, in the order the chain wires them.
var Modules = []string{ModuleAccounts, ModuleMQ, ModuleGovernance, ModuleRegistry, ModuleKeys, ModuleContracts}

// Account is an account's state.
type Account struct {
	Balance uint64 `cbor:"balance"`
	Nonce   uint64 `cbor:"nonce"` // the nonce the next transaction must carry
}

// accounts methods.
const (
	MethodTransfer = "transfer"
)

// TransferArgs moves Amount from the signer to To.
type TransferArgs struct {
	To     Address `cbor:"to"`
	Amount uint64  `cbor:"amount"`
}

// mq methods.
const (
	// MethodPush sends a message from the signer's account; the chain
	// assigns its sequence number.
	MethodPush = "push"
	// MethodSubmit relays a signed message of an off-chain sender; the fee
	// payer (relayer) and the sender are unrelated.
	MethodSubmit = "submit"
)

// PushArgs is an account message.
type PushArgs struct {
	Topic   string `cbor:"topic"`
	Payload []byte `cbor:"payload"`
}

// SubmitArgs relays one signed off-chain message.
type SubmitArgs struct {
	Message SignedMessage `cbor:"message"`
}

// governance methods.
const (
	MethodExecute = "execute"
)

// Governance action kinds.
const (
	ActionSetParams        = "set_params"
	ActionUpdateValidators = "update_validators"
)

// GovAction is one governance decision. Modules register the kinds they
// handle; Args is the kind's canonical CBOR.
type GovAction struct {
	Kind string  `cbor:"kind"`
	Args RawCBOR `cbor:"args"`
}

// Approval is one admin's signature over a governance proposal.
type Approval struct {
	PubKey []byte `cbor:"pubkey"`
	Sig    []byte `cbor:"sig"`
}

// ExecuteArgs carries an action with enough admin approvals. Any account
// may submit it (and pays the fee); the approvals are what authorise it.
type ExecuteArgs struct {
	Action    GovAction  `cbor:"action"`
	GovNonce  uint64     `cbor:"gov_nonce"`
	Approvals []Approval `cbor:"approvals"`
}

// GovProposal is what each admin signs (under SigGovernance): the action,
// bound to the chain and to the governance nonce so it executes once.
type GovProposal struct {
	ChainID  string    `cbor:"chain_id"`
	GovNonce uint64    `cbor:"gov_nonce"`
	Action   GovAction `cbor:"action"`
}

// Bytes is what each admin signs, under SigGovernance, to approve the
// proposal.
func (p *GovProposal) Bytes() []byte { return MustMarshal(p) }

// Governance query paths.
const (
	QueryParams   = "governance/params" // the chain parameters, with proof
	QueryGovNonce = "governance/nonce"  // the nonce the next action must carry, with proof
)

// SetParamsArgs replaces the chain parameters.
type SetParamsArgs struct {
	Params Params `cbor:"params"`
}

// ValidatorUpdate sets an ed25519 validator's voting power; 0 removes it.
type ValidatorUpdate struct {
	PubKey []byte `cbor:"pubkey" json:"pub_key"`
	Power  int64  `cbor:"power" json:"power"`
}

// UpdateValidatorsArgs changes the validator set. CometBFT applies the
// change two blocks later, and light clients see it in the headers.
type UpdateValidatorsArgs struct {
	Updates []ValidatorUpdate `cbor:"updates"`
}
