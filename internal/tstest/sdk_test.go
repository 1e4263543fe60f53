package tstest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/lyingnode"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// startDevnet starts a devnet for a test, stopped when it ends.
func startDevnet(t *testing.T, ctx context.Context) *devnet.Devnet {
	t.Helper()
	o := devnet.DefaultOptions()
	o.Home = t.TempDir()
	o.BasePort = nodetest.FreePortBase(t, 1)
	o.BlockTime = 100 * time.Millisecond
	d, err := devnet.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	return d
}

// TestTypeScriptSDKAgainstADevnet runs the TypeScript SDK's devnet tests
// (sdk-ts/test/devnet.test.ts) against a real devnet: a transfer, the
// token contract uploaded, instantiated, commanded and queried, the
// worker verified. Then the same lying nodes as the Go SDK's attack tests
// (internal/lyingnode, sdk/lying_node_test.go) stand in front of it, and
// each attack must fail in TypeScript with the Go SDK's error code. Go
// then checks what TypeScript did: the balances it reports are the ones
// the Go SDK reads, and no liar got a transaction broadcast.
func TestTypeScriptSDKAgainstADevnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := BuildSDK(t, ctx)
	wasm := clustertest.Example(t, "token")
	d := startDevnet(t, ctx)
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	staleHeight, err := c.VerifiedTip(ctx) // the state the stale liars answer from
	if err != nil {
		t.Fatal(err)
	}
	wasmPath := filepath.Join(t.TempDir(), "token.wasm")
	if err := os.WriteFile(wasmPath, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	acc, _, err := c.Account(ctx, d.DevKey.Address())
	if err != nil {
		t.Fatal(err)
	}
	impostor, _ := lyingnode.Impostor(t, ctx, impostorOf())

	rpc := d.Addr.NodeRPC
	liar := func(rewrites ...any) *lyingnode.Proxy {
		l := lyingnode.New(t, rpc)
		l.Set("", rewrites...)
		return l
	}
	workerHex := hex.EncodeToString(d.Worker.Runtime.Info().WorkerPubkey)
	attacker := make([]byte, 1216)
	liars := map[string]*lyingnode.Proxy{
		"chain":     liar(lyingnode.ClaimChain("phala-mainnet")),
		"stale":     liar(lyingnode.AtHeight(staleHeight, 0)...),
		"stale_tip": liar(lyingnode.AtHeight(staleHeight, staleHeight+1)...),
		"fee":       liar(nil, lyingnode.Forge(protocol.QueryParams, func(p *protocol.Params) { p.MinFee = acc.Balance - 1 })),
		"nonce":     liar(nil, lyingnode.Forge(protocol.QueryAccount+d.DevKey.Address().String(), func(a *protocol.Account) { a.Nonce += 5 })),
		"gov":       liar(nil, lyingnode.Forge(protocol.QueryGovNonce, func(n *uint64) { *n += 7 })),
		"worker_key": liar(nil, lyingnode.Forge(protocol.QueryWorker+workerHex, func(w *protocol.WorkerRecord) {
			w.EncryptionKey = attacker
		})),
		"contract_key": liar(nil, forgeContractKeys(attacker)),
		"cluster": liar(lyingnode.Forge(protocol.QueryCluster+hex.EncodeToString(protocol.ClusterID(devnet.Cluster)), func(cl *protocol.ClusterUpdate) {
			cl.Members = [][]byte{d.Gatekeeper.Runtime.Info().WorkerPubkey}
		})),
	}
	urls := map[string]string{}
	for name, l := range liars {
		urls[name] = l.URL()
	}
	out := filepath.Join(t.TempDir(), "results.json")
	env, err := json.Marshal(map[string]any{
		"rpc": strings.Replace(rpc, "tcp://", "http://", 1), "impostor": strings.Replace(impostor, "tcp://", "http://", 1),
		"dev_key_file": d.KeyPath, "token_wasm": wasmPath, "worker": workerHex,
		"gatekeeper": hex.EncodeToString(d.Gatekeeper.Runtime.Info().WorkerPubkey),
		"liars":      urls, "stale_height": staleHeight, "out": out,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := Run(t, ctx, dir, []string{"PHALA_TS_DEVNET=" + string(env)}, Node(t), "--test", "--test-reporter=spec", filepath.Join("dist", "test", "devnet.test.js"))
	t.Logf("TypeScript:\n%s", log)
	if strings.Contains(log, "# skipped") && !strings.Contains(log, "# skipped 0") {
		t.Fatalf("TypeScript skipped tests")
	}

	for _, name := range []string{"fee", "nonce", "contract_key"} {
		if _, sent := liars[name].Calls("broadcast_tx_sync"); len(sent) != 0 {
			t.Errorf("the %s liar got %d transactions broadcast", name, len(sent))
		}
	}
	checkWhatTypeScriptDid(t, ctx, c, d, out)
}

// checkWhatTypeScriptDid reads, with the Go SDK, the state the TypeScript
// tests left: the chain balance it sent, and the token balances its
// encrypted command moved, by the Go SDK's own encrypted queries.
func checkWhatTypeScriptDid(t *testing.T, ctx context.Context, c *sdk.Client, d *devnet.Devnet, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		BobSeed    string `json:"bob_seed"`
		Contract   string `json:"contract"`
		LastHeight int64  `json:"last_height"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	seed, _ := hex.DecodeString(r.BobSeed)
	bob := &sdk.Key{Name: "bob", Private: ed25519.NewKeyFromSeed(seed)}
	id, _ := hex.DecodeString(r.Contract)
	if acc, _, err := c.Account(ctx, bob.Address()); err != nil || acc.Balance != 5_000_000 {
		t.Fatalf("bob's chain balance after the TypeScript transfer: %d, %v", acc.Balance, err)
	}
	for key, want := range map[*sdk.Key]string{bob: `{"balance":424242}`, d.DevKey: `{"balance":575758}`} {
		q, err := c.QueryContract(ctx, key, id, []byte(`{"balance": {}}`), sdk.QueryOptions{MinHeight: r.LastHeight, Verify: sdk.VerifyOptions{AllowSim: true}})
		if err != nil || !bytes.Equal(q.Output, []byte(want)) {
			t.Fatalf("%s's token balance read in Go: %+v, %v (want %s)", key.Name, q, err, want)
		}
	}
}

// forgeContractKeys replaces the public keys of every contract record a
// node serves with the attacker's, keeping the true proof.
func forgeContractKeys(attacker []byte) lyingnode.Result {
	return func(method string, params map[string]any, result map[string]any) {
		path, _ := params["path"].(string)
		if method != "abci_query" || !strings.HasPrefix(path, protocol.QueryContract) {
			return
		}
		lyingnode.Forge(path, func(info *protocol.ContractInfo) {
			for i := range info.Keys {
				info.Keys[i].Pubkey = attacker
			}
		})(method, params, result)
	}
}

// impostorOf is the home of a chain with the devnet's id and its own
// validators.
func impostorOf() home.Options {
	o := home.DefaultOptions(devnet.ChainID)
	o.AllowSim = true
	o.BlockTime = 100 * time.Millisecond
	return o
}
