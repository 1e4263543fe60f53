package tstest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/pruntime/clustertest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestDAppInARealBrowser serves the wallet (examples/dapp, bundled with
// esbuild) next to a devnet with the token contract deployed, and has
// headless Chromium click through it (examples/dapp/test/browser.mjs):
// import the funded key, verify the worker (refused until the sim TEE is
// accepted), read the balance, create a second key, send it tokens as a
// sealed command, read both balances, and fail to read the first's
// balance from the second. The Go SDK then reads the same balances with
// its own encrypted queries. Set PHALA_SCREENSHOT to a file to keep a
// picture of the page.
func TestDAppInARealBrowser(t *testing.T) {
	chromium := Chromium(t)
	node := Node(t)
	Package(t, "sdk-ts")
	dapp := Package(t, filepath.Join("examples", "dapp"))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	Run(t, ctx, dapp, nil, node, "build.mjs")
	wasm := clustertest.Example(t, "token")

	d := startDevnet(t, ctx)
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.UploadCode(ctx, d.DevKey, wasm)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := c.Instantiate(ctx, d.DevKey, code, protocol.ClusterID(devnet.Cluster), []byte("wallet"), []byte(`{"supply": 1000000}`), 100_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := c.WaitInit(ctx, id, secret); err != nil || res.Outcome != protocol.OutcomeOK {
		t.Fatalf("init: %+v, %v", res, err)
	}
	if err := c.WaitContractKey(ctx, id); err != nil {
		t.Fatal(err)
	}

	site := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dapp, "dist"))))
	defer site.Close()
	rpc := strings.Replace(d.Addr.NodeRPC, "tcp://", "http://", 1)
	screenshot := os.Getenv("PHALA_SCREENSHOT")
	out := Run(t, ctx, dapp, []string{
		fmt.Sprintf("WALLET_URL=%s/?rpc=%s&contract=%x", site.URL, rpc, id),
		"CHROMIUM=" + chromium, "DEV_KEY_FILE=" + d.KeyPath, "PROFILE=" + t.TempDir(), "SCREENSHOT=" + screenshot,
		"WORKER=" + hex.EncodeToString(d.Worker.Runtime.Info().WorkerPubkey),
	}, node, filepath.Join("test", "browser.mjs"))
	t.Logf("browser:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var got struct {
		AliceBefore     int64  `json:"alice_before"`
		AliceAfterReply int64  `json:"alice_after_reply"`
		AliceAfter      int64  `json:"alice_after"`
		Bob             int64  `json:"bob"`
		BobReadsAlice   string `json:"bob_reads_alice"`
		Alice           string `json:"alice"`
		BobKeyFile      string `json:"bob_key_file"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("the browser test's summary: %v", err)
	}
	if got.AliceBefore != 1_000_000 || got.AliceAfterReply != 999_750 || got.AliceAfter != 999_750 || got.Bob != 250 {
		t.Fatalf("balances shown: %+v", got)
	}
	if !strings.Contains(got.BobReadsAlice, "only to their owner") || got.Alice != d.DevKey.Address().String() {
		t.Fatalf("the second account reading the first's balance: %q", got.BobReadsAlice)
	}

	// The page's key file is one `phala keys` reads, and the Go SDK sees
	// the balances the page showed.
	path := filepath.Join(t.TempDir(), "bob.json")
	if err := os.WriteFile(path, []byte(got.BobKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	bob, err := sdk.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[*sdk.Key]string{bob: `{"balance":250}`, d.DevKey: `{"balance":999750}`} {
		q, err := c.QueryContract(ctx, key, id, []byte(`{"balance": {}}`), sdk.QueryOptions{Verify: sdk.VerifyOptions{AllowSim: true}})
		if err != nil || !bytes.Equal(q.Output, []byte(want)) {
			t.Fatalf("%s's balance read in Go: %+v, %v (want %s)", key.Name, q, err, want)
		}
	}
}
