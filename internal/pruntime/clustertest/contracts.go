package clustertest

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// Contract builds the contract package in dir with the standard toolchain
// (internal/contractbuild) and opens its sources from the test: the build
// runs in a subprocess that go test's cache cannot see, and editing the
// contract or contractsdk must rerun the tests that run it instead of
// replaying a cached pass. Nothing is memoized: go's build cache makes a
// rebuild of unchanged sources take a fraction of a second, next to the
// tens of seconds of a test's chain.
func Contract(t testing.TB, dir string) []byte {
	t.Helper()
	sources, err := contractbuild.Sources(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := contractbuild.Build(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	contractbuild.RecordForTest(sources)
	return wasm
}

// Mixed builds the test contract testdata/mixed: one byte per command
// naming what to do (see its source), so that tests can mix successes,
// errors, traps, out-of-gas, randomness and emitted messages.
func Mixed(t testing.TB) []byte {
	t.Helper()
	return Contract(t, filepath.Join(sourceDir(), "testdata", "mixed"))
}

// Example builds the example contract examples/contracts/<name>.
func Example(t testing.TB, name string) []byte {
	t.Helper()
	return Contract(t, filepath.Join(sourceDir(), "..", "..", "..", "examples", "contracts", name))
}

// sourceDir is this package's source directory, from which the contracts
// are found.
func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Deploy uploads code, returning its hash.
func (e *Env) Deploy(wasm []byte) []byte {
	e.T.Helper()
	hash, err := e.C.UploadCode(e.Ctx, e.User, wasm)
	if err != nil {
		e.T.Fatalf("upload: %v", err)
	}
	return hash
}

// Instantiate creates an instance of code in cluster (by name) with init
// arguments, from the user's account, and waits until its init succeeded
// and its key for the current epoch is published; it returns the
// contract's id and the init's reply.
func (e *Env) Instantiate(code []byte, cluster string, init []byte) ([]byte, []byte) {
	e.T.Helper()
	id, secret, err := e.C.Instantiate(e.Ctx, e.User, code, protocol.ClusterID(cluster), []byte("salt"), init, 100_000_000)
	if err != nil {
		e.T.Fatalf("instantiate: %v", err)
	}
	res, reply, err := e.C.WaitInit(e.Ctx, id, secret)
	if err != nil || res.Outcome != protocol.OutcomeOK {
		e.T.Fatalf("init: %+v %q %v", res, reply, err)
	}
	e.WaitKey(id)
	return id, reply
}

// WaitKey waits up to 90 s (as WaitFor) until a command can be sealed to
// the contract (sdk.Client.WaitContractKey).
func (e *Env) WaitKey(id []byte) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, 90*time.Second)
	defer cancel()
	if err := e.C.WaitContractKey(ctx, id); err != nil {
		e.T.Fatalf("waiting for the contract's key of the current epoch: %v; %s", err, e.state())
	}
}

// Outcome is a command's result as the chain recorded it, with its reply
// opened.
type Outcome struct {
	Index  uint64
	Height int64 // the block the command is in
	Result *protocol.ContractResult
	Reply  []byte
}

// Command sends a command from key and waits until its result lands.
func (e *Env) Command(key *sdk.Key, contract, input []byte) *Outcome {
	e.T.Helper()
	index, res, secret, err := e.C.SendContractCommand(e.Ctx, key, contract, input, 100_000_000)
	if err != nil {
		e.T.Fatalf("command %s: %v", input, err)
	}
	r, reply, err := e.C.WaitResult(e.Ctx, contract, index, secret)
	if err != nil {
		e.T.Fatalf("result of command %d: %v", index, err)
	}
	return &Outcome{Index: index, Height: res.Height, Result: r, Reply: reply}
}

// Query asks worker w a query signed by key, for the state including at
// least block minHeight.
func (e *Env) Query(w *Worker, key *sdk.Key, contract, input []byte, minHeight int64) (*sdk.QueryResult, error) {
	return e.C.QueryContract(e.Ctx, key, contract, input, sdk.QueryOptions{Worker: w.Pub(), MinHeight: minHeight, Verify: sdk.VerifyOptions{AllowSim: true}})
}

// Broadcast sends one command per input from key, with consecutive
// nonces, without waiting for each to be included: the chain orders them
// by nonce. It returns once all are in the mempool.
func (e *Env) Broadcast(key *sdk.Key, contract []byte, inputs [][]byte, gasLimit uint64) {
	e.T.Helper()
	rec, err := e.C.EpochRecord(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	info, ok, err := e.C.Contract(e.Ctx, contract)
	if err != nil || !ok {
		e.T.Fatalf("contract %x: %v", contract, err)
	}
	acc, err := e.C.AccountUnverified(e.Ctx, key.Address())
	if err != nil {
		e.T.Fatal(err)
	}
	fee, err := e.C.MinFee(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	for i, in := range inputs {
		raw, _, err := sdk.SignContractCommand(e.C.ChainID(), rec, &info, key, acc.Nonce+uint64(i), fee, in, gasLimit)
		if err != nil {
			e.T.Fatal(err)
		}
		if _, err := e.C.Broadcast(e.Ctx, raw); err != nil {
			e.T.Fatalf("broadcast command %d: %v", i, err)
		}
	}
}
