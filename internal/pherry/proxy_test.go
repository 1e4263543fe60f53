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
	"sync/atomic"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// startTamperingProxy stands between pherry and a node's RPC and alters the
// state root of every message list the node serves: what a malicious
// network path or node would do. It returns the proxy's RPC address.
func startTamperingProxy(t *testing.T, nodeRPC string) string {
	t.Helper()
	return startRPCProxy(t, nodeRPC, tamperResult)
}

// startRPCProxy stands between pherry and a node's RPC and passes every
// JSON-RPC response (alone or in a batch) to edit, which reports whether
// it changed it. It returns the proxy's RPC address.
func startRPCProxy(t *testing.T, nodeRPC string, edit func(response map[string]any) bool) string {
	t.Helper()
	return startBodyProxy(t, nodeRPC, func(body []byte) []byte { return editJSON(body, edit) })
}

// startBodyProxy stands between pherry and a node's RPC and replaces the
// body of every JSON-RPC answer by edit's. It returns the proxy's RPC
// address.
func startBodyProxy(t *testing.T, nodeRPC string, edit func(body []byte) []byte) string {
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
		body = edit(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// editJSON passes each JSON-RPC response in body, a single one or a
// batch, to edit, and re-encodes body only if edit changed one.
func editJSON(body []byte, edit func(map[string]any) bool) []byte {
	var batch []map[string]any
	if json.Unmarshal(body, &batch) == nil {
		changed := false
		for _, r := range batch {
			changed = edit(r) || changed
		}
		if !changed {
			return body
		}
		out, _ := json.Marshal(batch)
		return out
	}
	var single map[string]any
	if json.Unmarshal(body, &single) == nil && edit(single) {
		out, _ := json.Marshal(single)
		return out
	}
	return body
}

// tamperResult alters the state root of an abci_query answer that holds a
// message list.
func tamperResult(r map[string]any) bool {
	result, _ := r["result"].(map[string]any)
	response, _ := result["response"].(map[string]any)
	value, _ := response["value"].(string)
	raw, err := base64.StdEncoding.DecodeString(value)
	if value == "" || err != nil {
		return false
	}
	var bm protocol.BlockMessages
	if protocol.Unmarshal(raw, &bm) != nil || len(bm.StateRoot) == 0 {
		return false
	}
	bm.StateRoot[0] ^= 0xff
	response["value"] = base64.StdEncoding.EncodeToString(protocol.MustMarshal(&bm))
	return true
}

// capHeight makes a node's status report at most *limit as its latest
// height (no cap while it is 0): a relayer behind it syncs no further.
func capHeight(limit *atomic.Int64) func(map[string]any) bool {
	return func(r map[string]any) bool {
		result, _ := r["result"].(map[string]any)
		info, _ := result["sync_info"].(map[string]any)
		s, _ := info["latest_block_height"].(string)
		h, err := strconv.ParseInt(s, 10, 64)
		most := limit.Load()
		if err != nil || most == 0 || h <= most {
			return false
		}
		info["latest_block_height"] = strconv.FormatInt(most, 10)
		return true
	}
}

// startForgingMember stands in front of a member's public API and alters
// the ciphertext of every state transfer it serves, keeping the member's
// signature: a transfer forged on the way. It returns the proxy's URL and
// the count of transfers it forged.
func startForgingMember(t *testing.T, publicAddr string) (string, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse("http://" + publicAddr)
	if err != nil {
		t.Fatal(err)
	}
	forged := &atomic.Int64{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/state" || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var st protocol.SignedStateTransfer
		if err := protocol.Unmarshal(body, &st); err != nil {
			return err
		}
		st.Transfer.Sealed[len(st.Transfer.Sealed)-1] ^= 1
		body = protocol.MustMarshal(&st)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		forged.Add(1)
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL, forged
}

// startHangingMember is a member's public API that takes every request and
// never answers it. It returns its URL and the count of requests it took.
func startHangingMember(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	asked := &atomic.Int64{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv.URL, asked
}
