package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrRPCShape is a node answer that is not a JSON-RPC response object or
// an array of them. CometBFT v1.0.1's JSON-RPC client dereferences nil on
// a response that is JSON null (alone or inside a batch), so a node could
// crash its client with four bytes; such answers never reach it.
var ErrRPCShape = errors.New("sdk: the node's answer is not JSON-RPC")

// shapeChecker is a RoundTripper that refuses answers CometBFT's client
// cannot read safely.
type shapeChecker struct{ next http.RoundTripper }

func (s shapeChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := checkRPCShape(body); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// checkRPCShape reports whether body is a JSON object or a non-empty
// array of JSON objects.
func checkRPCShape(body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var many []json.RawMessage
		if err := json.Unmarshal(body, &many); err != nil {
			return fmt.Errorf("%w: %v", ErrRPCShape, err)
		}
		for i, r := range many {
			if r = bytes.TrimSpace(r); len(r) == 0 || r[0] != '{' {
				return fmt.Errorf("%w: response %d of a batch is not an object", ErrRPCShape, i)
			}
		}
		return nil
	}
	if len(body) == 0 || body[0] != '{' {
		return fmt.Errorf("%w: not an object", ErrRPCShape)
	}
	return nil
}
