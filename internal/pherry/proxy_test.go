package pherry_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// startTamperingProxy stands between pherry and a node's RPC and alters the
// state root of every message list the node serves: what a malicious
// network path or node would do. It returns the proxy's RPC address.
func startTamperingProxy(t *testing.T, nodeRPC string) string {
	t.Helper()
	target, err := url.Parse(strings.Replace(nodeRPC, "tcp://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusSwitchingProtocols || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = tamperJSON(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// tamperJSON rewrites every abci_query answer that holds a message list,
// in a single JSON-RPC response or a batch.
func tamperJSON(body []byte) []byte {
	var batch []map[string]any
	if json.Unmarshal(body, &batch) == nil {
		for _, r := range batch {
			tamperResult(r)
		}
		out, _ := json.Marshal(batch)
		return out
	}
	var single map[string]any
	if json.Unmarshal(body, &single) == nil {
		tamperResult(single)
		out, _ := json.Marshal(single)
		return out
	}
	return body
}

func tamperResult(r map[string]any) {
	result, _ := r["result"].(map[string]any)
	response, _ := result["response"].(map[string]any)
	value, _ := response["value"].(string)
	raw, err := base64.StdEncoding.DecodeString(value)
	if value == "" || err != nil {
		return
	}
	var bm protocol.BlockMessages
	if protocol.Unmarshal(raw, &bm) != nil || len(bm.StateRoot) == 0 {
		return
	}
	bm.StateRoot[0] ^= 0xff
	response["value"] = base64.StdEncoding.EncodeToString(protocol.MustMarshal(&bm))
}
