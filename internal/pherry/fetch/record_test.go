package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/protocol"
)

// The fuzz targets start from answers a real node gave, recorded in
// testdata by TestRecordAnswers: blocks recordFrom..recordTo (each as
// commit recordFrom+1.. and its block's messages) and the validator set of
// height recordFrom+1.
const (
	recordFrom = 2
	recordTo   = 4
)

// TestRecordAnswers records the node answers the fuzz targets mutate. It
// runs only with PHERRY_RECORD_ANSWERS=1 (go test ./internal/pherry/fetch
// -run TestRecordAnswers), after a change to what the node answers.
func TestRecordAnswers(t *testing.T) {
	if os.Getenv("PHERRY_RECORD_ANSWERS") == "" {
		t.Skip("set PHERRY_RECORD_ANSWERS=1 to record testdata from a real node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn := nodetest.Start(t, 1, 100*time.Millisecond)
	c := tn.Client(ctx, 0)
	for i := range 3 { // messages in the recorded blocks
		call, _ := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: "chat", Payload: []byte{byte(i)}})
		if _, err := c.Broadcast(ctx, protocol.SignTx(tn.Keys.Dev[0].Private, protocol.Tx{ChainID: c.ChainID(), Nonce: uint64(i), Fee: protocol.DefaultParams().MinFee, Call: call})); err != nil {
			t.Fatal(err)
		}
	}
	tn.WaitHeight(ctx, 0, recordTo+3)
	url := strings.Replace(tn.RPCAddr(0), "tcp://", "http://", 1)
	var batch []string
	for h := int64(recordFrom); h <= recordTo; h++ {
		batch = append(batch,
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"commit","params":{"height":"%d"}}`, 2*(h-recordFrom), h+1),
			fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"abci_query","params":{"path":"%s%d","data":"","height":"0","prove":false}}`, 2*(h-recordFrom)+1, protocol.QueryMessages, h))
	}
	for name, req := range map[string]string{
		"batch.json":      "[" + strings.Join(batch, ",") + "]",
		"validators.json": fmt.Sprintf(`{"jsonrpc":"2.0","id":0,"method":"validators","params":{"height":"%d","page":"1","per_page":"%d"}}`, recordFrom+1, validatorsPerPage),
		"status.json":     `{"jsonrpc":"2.0","id":0,"method":"status","params":{}}`,
	} {
		resp, err := http.Post(url, "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
			t.Fatalf("%s: %v %d %s", name, err, resp.StatusCode, body)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
