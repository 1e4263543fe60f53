package contractsdk

// Context is one call's view of the host: who called, in which block, the
// contract's storage, and what the call may do. The SDK makes a new one
// for every call and passes it to the handler; it is valid only until the
// handler returns, and must not be kept or shared with goroutines (a
// contract runs on one thread, and a goroutine still running when the
// handler returns never runs again).
type Context struct {
	entry Entry
	emits int // messages emitted so far

	// The caller and the contract id, read from the host on first use.
	callerAddr   Address
	contractID   ContractID
	haveCaller   bool
	haveContract bool
}

// Entry returns the entry point the call came in through.
func (c *Context) Entry() Entry { return c.entry }

// ReadOnly reports whether the call is a query, in which storage writes
// and emits fail with ErrReadOnly.
func (c *Context) ReadOnly() bool { return c.entry == EntryQuery }

// Caller returns the address the call is from: the deployer for init, the
// command's sender (the signer of its transaction), or the query's signer.
// The chain and pRuntime have verified it; a contract can rely on it for
// access control.
func (c *Context) Caller() Address {
	if !c.haveCaller {
		hostCaller(c.callerAddr[:])
		c.haveCaller = true
	}
	return c.callerAddr
}

// ContractID returns the id of the contract instance being called.
func (c *Context) ContractID() ContractID {
	if !c.haveContract {
		hostContractID(c.contractID[:])
		c.haveContract = true
	}
	return c.contractID
}

// BlockHeight returns the height of the block the init or command is in;
// for a query, the height the answer is computed at.
func (c *Context) BlockHeight() int64 { return hostBlockHeight() }

// BlockTime returns the verified time of that block in Unix nanoseconds
// (time.Unix(0, ctx.BlockTime()) makes it a time.Time). It is the only
// clock a contract has, and it is the same on every worker. It is not a
// time.Time because the time package adds about 250 KB to a module.
func (c *Context) BlockTime() int64 { return hostBlockTime() }

// GasLeft returns the gas the call has left.
func (c *Context) GasLeft() uint64 { return uint64(hostGasLeft()) }

// Random fills p with bytes that are the same on every worker of the
// contract's cluster and unpredictable to anyone outside it: the host
// derives them from the contract's key, the block and the call. Successive
// calls continue the stream.
func (c *Context) Random(p []byte) {
	for len(p) > 0 {
		n := min(len(p), maxRandomPerCall)
		hostRandom(p[:n])
		p = p[n:]
	}
}

// Emit sends payload as a message on the topic
// "phala/contract/<id>/out/<suffix>". The contract's workers sign it and
// it lands on chain after the call's result, in emission order; it is
// public. The suffix is one or more '/'-separated segments of
// [A-Za-z0-9_.:-], at most MaxTopicSuffix bytes in all. Messages emitted
// by a call that then fails are discarded with its state changes.
func (c *Context) Emit(suffix string, payload []byte) error {
	if c.ReadOnly() {
		return errorOf(ErrReadOnly, "emit on "+quote(suffix))
	}
	if err := validSuffix(suffix); err != nil {
		return err
	}
	if len(payload) > MaxEmitPayload {
		return errorOf(ErrLimit, "emit payload is "+itoa(len(payload))+" bytes, limit "+itoa(MaxEmitPayload))
	}
	if c.emits >= MaxEmits {
		return errorOf(ErrLimit, "more than "+itoa(MaxEmits)+" messages emitted in one call")
	}
	hostEmit([]byte(suffix), payload)
	c.emits++
	return nil
}

// validSuffix applies the topic rules of protocol.ValidateTopic to an
// emitted message's suffix.
func validSuffix(s string) error {
	if len(s) == 0 || len(s) > MaxTopicSuffix {
		return errorOf(ErrLimit, "topic suffix "+quote(s)+" is "+itoa(len(s))+" bytes, want 1.."+itoa(MaxTopicSuffix))
	}
	seg := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '/':
			if seg == 0 {
				return errorOf(ErrLimit, "topic suffix "+quote(s)+" has an empty segment")
			}
			seg = 0
			continue
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '_', ch == '.', ch == ':', ch == '-':
		default:
			return errorOf(ErrLimit, "topic suffix "+quote(s)+" has a character outside [A-Za-z0-9_.:-/]")
		}
		seg++
	}
	if seg == 0 {
		return errorOf(ErrLimit, "topic suffix "+quote(s)+" has an empty segment")
	}
	return nil
}

// Log writes msg to pRuntime's log, on development chains (the sim TEE)
// only; on a real TEE it does nothing, so it can never leak a secret from
// production. It is for debugging.
func (c *Context) Log(msg string) { hostDebugLog([]byte(msg)) }

// Store returns the contract's storage.
func (c *Context) Store() Store { return Store{readOnly: c.ReadOnly()} }

// SHA256 returns the SHA-256 digest of data, computed by the host (far
// cheaper in gas than hashing in WebAssembly, and crypto/sha256 would add
// about 550 KB to the module). Call it from a handler.
func SHA256(data []byte) [32]byte {
	var out [32]byte
	hostSHA256(data, out[:])
	return out
}

// VerifyEd25519 reports whether sig is pub's ed25519 signature of msg
// (RFC 8032, as crypto/ed25519.Verify), computed by the host. Keys that are
// not 32 bytes and signatures that are not 64 bytes do not verify. Call it
// from a handler.
func VerifyEd25519(pub, msg, sig []byte) bool {
	if len(pub) != 32 || len(sig) != 64 {
		return false
	}
	return hostEd25519Verify(pub, msg, sig)
}
