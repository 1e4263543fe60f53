package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

const testChain = "phala-test"

// testGenesisHash stands for the hash of the test chain's genesis document.
var testGenesisHash = bytes.Repeat([]byte{0x6e}, 32)

// key returns a deterministic ed25519 key named by seed.
func key(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func addr(k ed25519.PrivateKey) protocol.Address {
	return protocol.AddressOf(k.Public().(ed25519.PublicKey))
}

func pub(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

var (
	alice  = key("alice")
	bob    = key("bob")
	poor   = key("poor")
	admin1 = key("admin1")
	admin2 = key("admin2")
	admin3 = key("admin3")
	val1   = key("validator1")
	val2   = key("validator2")
	worker = key("worker")
)

func testGenesis() *protocol.GenesisState {
	p := protocol.DefaultParams()
	p.AllowSimAttestation = true
	return &protocol.GenesisState{
		Params: p,
		Governance: protocol.GovernanceGenesis{
			Admins:    []protocol.HexBytes{pub(admin1), pub(admin2), pub(admin3)},
			Threshold: 2,
		},
		Accounts: []protocol.GenesisAccount{
			{Address: addr(alice), Balance: 1_000_000_000},
			{Address: addr(bob), Balance: 1_000_000_000},
			{Address: addr(poor), Balance: 1_500},
			{Address: addr(key("registrar")), Balance: 1_000_000_000},
		},
		Registry: protocol.RegistryGenesis{
			Policy:       protocol.DefaultAttestationPolicy(),
			Measurements: []protocol.HexBytes{sim.DefaultMeasurement, measurementB},
		},
	}
}

// buildB and measurementB stand for a second allowed pRuntime build.
const buildB = "pruntime-sim-b"

var measurementB = protocol.SimMeasurement(buildB)

// testApp is an App driven directly through its ABCI methods, one block per
// call to finalize, with a clock that advances one second per block.
type testApp struct {
	t   testing.TB
	app *App
	now time.Time
	// appHashes[h] is the app hash returned for block h (0: genesis).
	appHashes map[int64][]byte
}

func newTestApp(t testing.TB, g *protocol.GenesisState) *testApp {
	t.Helper()
	return newTestAppOnDB(t, g, dbm.NewMemDB())
}

func newTestAppOnDB(t testing.TB, g *protocol.GenesisState, db dbm.DB) *testApp {
	t.Helper()
	return newTestAppConfig(t, g, Config{DB: db})
}

// newTestAppConfig is newTestApp with cfg's DB (a fresh one if nil) and
// its other options (such as a TDX verifier rooted at a test PKI).
func newTestAppConfig(t testing.TB, g *protocol.GenesisState, cfg Config) *testApp {
	t.Helper()
	cfg.ChainID, cfg.GenesisHash = testChain, testGenesisHash
	if cfg.DB == nil {
		cfg.DB = dbm.NewMemDB()
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ta := &testApp{t: t, app: a, now: time.Unix(1_700_000_000, 0).UTC(), appHashes: map[int64][]byte{}}
	if g == nil {
		return ta
	}
	state, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.InitChain(context.Background(), &abci.InitChainRequest{
		Time:          ta.now,
		ChainId:       testChain,
		Validators:    []abci.ValidatorUpdate{{PubKeyType: "ed25519", PubKeyBytes: pub(val1), Power: 10}},
		AppStateBytes: state,
		InitialHeight: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ta.appHashes[0] = resp.AppHash
	return ta
}

// finalize runs one block of txs and commits it.
func (ta *testApp) finalize(txs ...[]byte) *abci.FinalizeBlockResponse {
	ta.t.Helper()
	ta.now = ta.now.Add(time.Second)
	h := ta.app.LastHeight() + 1
	resp, err := ta.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Txs: txs, Height: h, Time: ta.now, Hash: blockHash(h)})
	if err != nil {
		ta.t.Fatal(err)
	}
	if _, err := ta.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		ta.t.Fatal(err)
	}
	ta.appHashes[h] = resp.AppHash
	return resp
}

func (ta *testApp) checkTx(raw []byte) *abci.CheckTxResponse {
	ta.t.Helper()
	resp, err := ta.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		ta.t.Fatal(err)
	}
	return resp
}

func (ta *testApp) query(path string, height int64) *abci.QueryResponse {
	ta.t.Helper()
	resp, err := ta.app.Query(context.Background(), &abci.QueryRequest{Path: path, Height: height, Prove: true})
	if err != nil {
		ta.t.Fatal(err)
	}
	return resp
}

func (ta *testApp) account(a protocol.Address) protocol.Account {
	ta.t.Helper()
	resp := ta.query(protocol.QueryAccount+a.String(), 0)
	if resp.Code != 0 {
		ta.t.Fatalf("query account: %s", resp.Log)
	}
	var acc protocol.Account
	if resp.Value != nil {
		if err := protocol.Unmarshal(resp.Value, &acc); err != nil {
			ta.t.Fatal(err)
		}
	}
	return acc
}

func (ta *testApp) stateRoot() []byte {
	return ta.app.tree.Hash()
}

// blockHash is the synthetic header hash of test block h.
func blockHash(h int64) []byte {
	sum := sha256.Sum256([]byte(fmt.Sprintf("block %d", h)))
	return sum[:]
}

// registerWorker commits a block, then registers k with a sim attestation
// binding it (two blocks).
func (ta *testApp) registerWorker(k ed25519.PrivateKey) {
	ta.t.Helper()
	ta.finalize()
	a := simAttestation(ta.t, k, []byte("enc-"+fmt.Sprint(ta.app.LastHeight())), ta.app.LastHeight(), sim.DefaultBuild)
	b := newTxBuilder(key("registrar"))
	b.nonce = ta.account(addr(key("registrar"))).Nonce
	if r := ta.finalize(b.register(a)).TxResults[0]; r.Code != 0 {
		ta.t.Fatalf("register worker: %s", r.Log)
	}
}

// simAttestation is what a pRuntime with the sim TEE (naming build) would
// answer on /v1/attestation for worker and encKey, synced to height.
func simAttestation(t testing.TB, worker ed25519.PrivateKey, encKey []byte, height int64, build string) protocol.Attestation {
	t.Helper()
	p, err := sim.OpenBuild(t.TempDir(), build)
	if err != nil {
		t.Fatal(err)
	}
	a := protocol.Attestation{TEE: sim.Kind, ChainID: testChain, GenesisHash: testGenesisHash, WorkerPubkey: pub(worker),
		EncryptionPubkey: encKey, RuntimeVersion: 1, Height: height, BlockHash: blockHash(height)}
	if a.Quote, err = p.Quote(a.ReportData()); err != nil {
		t.Fatal(err)
	}
	return a
}

func (b *txBuilder) register(a protocol.Attestation) []byte {
	return b.tx(protocol.ModuleRegistry, protocol.MethodRegisterWorker, protocol.RegisterWorkerArgs{Attestation: a})
}

// txBuilder signs transactions for one account, tracking its nonce.
type txBuilder struct {
	key   ed25519.PrivateKey
	nonce uint64
	fee   uint64
	chain string
}

func newTxBuilder(k ed25519.PrivateKey) *txBuilder {
	return &txBuilder{key: k, fee: protocol.DefaultParams().MinFee, chain: testChain}
}

// tx signs a call with the builder's next nonce and advances it.
func (b *txBuilder) tx(module, method string, args any) []byte {
	call, err := protocol.NewCall(module, method, args)
	if err != nil {
		panic(err)
	}
	raw := protocol.SignTx(b.key, protocol.Tx{ChainID: b.chain, Nonce: b.nonce, Fee: b.fee, Call: call})
	b.nonce++
	return raw
}

func (b *txBuilder) transfer(to protocol.Address, amount uint64) []byte {
	return b.tx(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: to, Amount: amount})
}

func (b *txBuilder) push(topic string, payload []byte) []byte {
	return b.tx(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: topic, Payload: payload})
}

func (b *txBuilder) submit(sm protocol.SignedMessage) []byte {
	return b.tx(protocol.ModuleMQ, protocol.MethodSubmit, protocol.SubmitArgs{Message: sm})
}

// govTx builds a governance execution approved by signers.
func (b *txBuilder) govTx(nonce uint64, kind string, args any, signers ...ed25519.PrivateKey) []byte {
	action := protocol.GovAction{Kind: kind, Args: protocol.MustMarshal(args)}
	proposal := (&protocol.GovProposal{ChainID: testChain, GovNonce: nonce, Action: action}).Bytes()
	var aps []protocol.Approval
	for _, s := range signers {
		aps = append(aps, protocol.Approval{PubKey: pub(s), Sig: protocol.Sign(s, protocol.SigGovernance, proposal)})
	}
	return b.tx(protocol.ModuleGovernance, protocol.MethodExecute, protocol.ExecuteArgs{Action: action, GovNonce: nonce, Approvals: aps})
}

// wantRefusal fails unless err is a deliberate refusal: a protocol error
// with its code, and not ErrInternal, which is what a handler's panic (the
// crash a fuzz target exists to find) becomes.
func wantRefusal(t *testing.T, err error) {
	t.Helper()
	if _, ok := protocol.CodeOf(err); !ok {
		t.Fatalf("refusal without a code: %v", err)
	}
	if errors.Is(err, protocol.ErrInternal) {
		t.Fatalf("internal error (a handler panicked?): %v", err)
	}
}

// workerMsg signs a worker message with the given sequence number.
func workerMsg(k ed25519.PrivateKey, seq uint64, topic string, payload []byte) protocol.SignedMessage {
	return protocol.SignMessage(k, testChain, protocol.Message{
		Origin: protocol.WorkerOrigin(k.Public().(ed25519.PublicKey)), Topic: topic, Seq: seq, Payload: payload,
	})
}
