package jsonmsg

import "errors"

// Errors a handler can tell apart with errors.Is; each comes wrapped in an
// *Error that names the member and the values involved.
var (
	// ErrSyntax: the input is not one valid JSON value, is nested deeper
	// than MaxDepth, or repeats a member name.
	ErrSyntax = errors.New("invalid JSON")
	// ErrMissing: a required member is absent.
	ErrMissing = errors.New("missing member")
	// ErrType: a member has the wrong JSON type, or a number does not fit
	// the type read.
	ErrType = errors.New("wrong type")
	// ErrUnknown: the input has a member the handler did not read.
	ErrUnknown = errors.New("unknown member")
	// ErrMisuse: an Encoder was called out of order (a programming error
	// in the contract, reported by Bytes).
	ErrMisuse = errors.New("jsonmsg: encoder misuse")
)

// Error is a problem with an input: its kind (one of the Err variables),
// where it is (a member path such as "transfer.amount", empty for the
// whole input) and what was found.
type Error struct {
	Path  string
	kind  error
	msg   string
	cause error // from a TextUnmarshaler
}

// Error returns the path, then what is wrong: "transfer.amount: required".
func (e *Error) Error() string {
	s := e.msg
	if e.cause != nil {
		s = e.cause.Error() // it names the value itself
	}
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	return s
}

// Unwrap returns the kind and, for a member a TextUnmarshaler refused, its
// error, so errors.Is finds both.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}
