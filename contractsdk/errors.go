package contractsdk

import "errors"

// Sentinel errors a handler can test for with errors.Is. The SDK returns
// them (wrapped with the values involved) where the host would otherwise
// trap, so that a handler can report a clean error to its caller instead of
// failing the whole call with a trap.
var (
	// ErrReadOnly: a query tried to write storage or emit a message.
	// Queries are answered by one worker outside the chain's order, so
	// nothing they do may change state.
	ErrReadOnly = errors.New("read-only: queries cannot write storage or emit messages")

	// ErrLimit: a key, value, payload, topic suffix or output exceeds a
	// limit of the host ABI (docs/contracts.md, "Limits").
	ErrLimit = errors.New("host ABI limit exceeded")

	// ErrDecode: stored bytes do not decode with the collection's codec,
	// which means the contract changed an encoding without migrating its
	// state.
	ErrDecode = errors.New("stored value does not decode")

	// ErrBadAddress: text is not a 40-character hex account address.
	ErrBadAddress = errors.New("bad address")
)

// sdkError is an error of one of the sentinel kinds, with a message naming
// the values involved. It avoids fmt, which would add about 750 KB to every
// contract.
type sdkError struct {
	kind  error
	msg   string
	cause error // the error this one reports, if any
}

func (e *sdkError) Error() string { return e.msg + ": " + e.kind.Error() }

func (e *sdkError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func errorOf(kind error, msg string) error { return &sdkError{kind: kind, msg: msg} }

// decodeFailed makes a codec's refusal of stored bytes an ErrDecode, as
// the collections document, while errors.Is still finds the codec's own
// error in it.
func decodeFailed(err error) error {
	if err == nil || errors.Is(err, ErrDecode) {
		return err
	}
	return &sdkError{kind: ErrDecode, msg: err.Error(), cause: err}
}
