package contractsdk

import (
	"errors"
	"unicode/utf8"
)

// Handler handles one entry point: it receives the call's context and the
// decrypted input, and returns the output, or an error whose text becomes
// the output. Outputs and error texts reach only the caller (the reply is
// encrypted to them).
type Handler func(ctx *Context, input []byte) ([]byte, error)

// Contract is what a contract registers: one handler per entry point.
// A nil handler makes its entry point fail with an error (never a trap), so
// a contract without Init cannot be instantiated and one without Query
// answers every query with an error.
type Contract struct {
	// Init runs once, in the instantiation's block, with the deployer as
	// caller. If it fails the instance is marked failed and takes no
	// commands.
	Init Handler
	// Command runs for each command, in chain order; it may write storage
	// and emit messages.
	Command Handler
	// Query answers a read-only query; storage writes and emits return
	// ErrReadOnly.
	Query Handler
}

// registered is the module's contract. It is the SDK's one package-level
// variable, written once by Register during package initialisation (which
// runs in _initialize, before any entry point) and only read afterwards:
// the exported entry points are package-level functions, so this is where
// they find the handlers.
var registered *Contract

// Register makes c the module's contract. Call it exactly once, from an
// init function of the contract's main package. It panics if called twice
// or with no handler at all: both are programming errors that would
// otherwise surface only when the contract runs.
func Register(c Contract) {
	if registered != nil {
		panic("contractsdk: Register called twice")
	}
	if c.Init == nil && c.Command == nil && c.Query == nil {
		panic("contractsdk: Register called with no handler")
	}
	registered = &c
}

// Entry is the entry point a call came in through.
type Entry uint8

// Entry points (docs/contracts.md, "Entry points").
const (
	EntryInit Entry = iota + 1
	EntryCommand
	EntryQuery
)

// String returns the entry point's name: "init", "command" or "query".
func (e Entry) String() string {
	switch e {
	case EntryInit:
		return "init"
	case EntryCommand:
		return "command"
	case EntryQuery:
		return "query"
	}
	return "entry(" + itoa(int(e)) + ")"
}

// Limits of the host ABI, version 1 (docs/contracts.md, "Limits"), which
// the SDK checks before calling the host so that exceeding one is an error
// a handler can report rather than a trap.
const (
	MaxOutputBytes = 16 << 10 // output or error text
	MaxEmits       = 16       // messages per call
	MaxEmitPayload = 16 << 10 // bytes per message
	MaxTopicSuffix = 44       // bytes of an emitted message's topic suffix
	MaxKeyBytes    = 256      // storage key
	MaxValueBytes  = 64 << 10 // storage value
)

const (
	// maxRandomPerCall is the most bytes one random host call returns.
	maxRandomPerCall = 1024
	// emptyErrorMessage replaces the text of an error that has none, so
	// that a failed call always tells its caller something.
	emptyErrorMessage = "contract handler failed without a message"
)

// run is the body of every exported entry point: it reads the input, runs
// the handler, and writes the output or the error text. The return value
// is the entry point's: 0 on success, 1 on error.
func run(entry Entry, n int32) int32 {
	var input []byte
	if n > 0 {
		input = make([]byte, n)
		hostInputRead(input)
	}
	ctx := &Context{entry: entry}
	out, err := dispatch(ctx, input)
	if err == nil && len(out) > MaxOutputBytes {
		err = errorOf(ErrLimit, "output is "+itoa(len(out))+" bytes, limit "+itoa(MaxOutputBytes))
	}
	if err != nil {
		hostOutputWrite(errorText(err))
		return 1
	}
	if len(out) > 0 {
		hostOutputWrite(out)
	}
	return 0
}

// dispatch calls the handler for ctx's entry point. A panic in the handler
// is recovered into an error, so that it fails the call the way a returned
// error does (state discarded, message to the caller) instead of exiting
// the module.
func dispatch(ctx *Context, input []byte) (out []byte, err error) {
	h, err := handlerFor(ctx.entry)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, panicError(r)
		}
	}()
	return h(ctx, input)
}

func handlerFor(entry Entry) (Handler, error) {
	if registered == nil {
		return nil, errors.New("contractsdk: no contract registered (call contractsdk.Register from an init function)")
	}
	var h Handler
	switch entry {
	case EntryInit:
		h = registered.Init
	case EntryCommand:
		h = registered.Command
	case EntryQuery:
		h = registered.Query
	}
	if h == nil {
		return nil, errors.New("contract has no " + entry.String() + " handler")
	}
	return h, nil
}

// panicError turns a recovered panic value into an error without fmt.
func panicError(r any) error {
	switch v := r.(type) {
	case error:
		return errors.New("panic: " + v.Error())
	case string:
		return errors.New("panic: " + v)
	}
	return errors.New("panic")
}

// errorText is the output of a failed call: the error's text, never empty,
// cut to MaxOutputBytes on a UTF-8 boundary.
func errorText(err error) []byte {
	msg := err.Error()
	if msg == "" {
		msg = emptyErrorMessage
	}
	if len(msg) > MaxOutputBytes {
		cut := MaxOutputBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return []byte(msg)
}
