// Package contractsdk is the library a confidential contract is written
// against: it declares the module's entry points and host imports (host
// ABI version 1, docs/contracts.md) and gives handlers typed access to
// storage, the caller's identity, the block, messages, randomness and
// cryptography.
//
// A contract is an ordinary Go main package that registers its handlers
// from an init function and has an empty main:
//
//	package main
//
//	import (
//		"errors"
//		"strconv"
//
//		"github.com/phala-go/phala/contractsdk"
//	)
//
//	// counters holds one counter per account.
//	var counters = contractsdk.NewMap("counter", contractsdk.AddressCodec{}, contractsdk.Uint64Codec{})
//
//	func init() {
//		contractsdk.Register(contractsdk.Contract{
//			Init:    func(*contractsdk.Context, []byte) ([]byte, error) { return nil, nil },
//			Command: increment,
//			Query:   read,
//		})
//	}
//
//	// increment adds one to the caller's counter and returns the new value.
//	func increment(ctx *contractsdk.Context, input []byte) ([]byte, error) {
//		if string(input) != "increment" {
//			return nil, errors.New("unknown command")
//		}
//		n, _, err := counters.Get(ctx, ctx.Caller())
//		if err != nil {
//			return nil, err
//		}
//		if err := counters.Set(ctx, ctx.Caller(), n+1); err != nil {
//			return nil, err
//		}
//		return strconv.AppendUint(nil, n+1, 10), nil
//	}
//
//	// read returns the caller's counter: nobody else can see it.
//	func read(ctx *contractsdk.Context, _ []byte) ([]byte, error) {
//		n, _, err := counters.Get(ctx, ctx.Caller())
//		return strconv.AppendUint(nil, n, 10), err
//	}
//
//	func main() {}
//
// Build it with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -ldflags="-s -w" -o counter.wasm .
//
// and test it in the real engine with contractsdk/contracttest.
//
// A handler's output, or its error's text, goes back encrypted to the
// caller only. A returned error, or a panic, fails the call: its storage
// writes and emitted messages are discarded. Storage is the only state
// that survives a call (every init and command runs in a fresh instance),
// and everything a handler sees is the same on every worker, so every
// worker computes the same result.
//
// The package avoids fmt, time, encoding/hex and crypto, each of which
// would add hundreds of kilobytes to every module; so should contracts
// (strconv and errors are cheap). contractsdk/jsonmsg reads and writes
// JSON messages without encoding/json's 1.4 MB.
//
// Outside GOOS=wasip1 the package compiles, so that contracts build and
// vet on any platform, but every function that needs the host panics:
// contracts run only inside pRuntime.
package contractsdk
