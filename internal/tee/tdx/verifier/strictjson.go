package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// canonicalBody parses a PCS response body {"<member>":{…},"signature":"…"}
// strictly and re-emits it canonically.
//
// Why: go-tdx-guest (v0.3.1) checks Intel's signature over the exact bytes
// of the "tcbInfo" or "enclaveIdentity" member, but reads the values it
// checks with encoding/json, which matches object keys without regard to
// case and lets the last of equal keys win. A body with a second,
// case-variant member ("TCBINFO") appended after the signed one would
// verify Intel's signature and check the attacker's TCB levels or QE
// identity. So: no object anywhere in the body may hold two keys that are
// equal under Unicode case folding (encoding/json's matching rule), the top
// level must hold exactly the member and "signature", and the library sees
// only the canonical re-encoding.
func canonicalBody(member string, body []byte) ([]byte, error) {
	if err := checkKeys(body); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	signed, ok := top[member]
	sigRaw, sigOK := top["signature"]
	if len(top) != 2 || !ok || !sigOK {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, fmt.Sprintf("%q", k))
		}
		return nil, fmt.Errorf("body has members %s, want exactly %q and \"signature\"", strings.Join(keys, ", "), member)
	}
	if len(signed) == 0 || signed[0] != '{' {
		return nil, fmt.Errorf("%q is not an object", member)
	}
	var sig string
	if err := json.Unmarshal(sigRaw, &sig); err != nil {
		return nil, fmt.Errorf("signature is not a string")
	}
	sigJSON, _ := json.Marshal(sig)
	var out bytes.Buffer
	out.WriteString(`{"` + member + `":`)
	out.Write(signed) // the exact bytes Intel signed
	out.WriteString(`,"signature":`)
	out.Write(sigJSON)
	out.WriteByte('}')
	return out.Bytes(), nil
}

// maxJSONDepth bounds the nesting of collateral JSON (Intel's is 5 deep).
const maxJSONDepth = 16

// checkKeys walks one JSON value and refuses trailing data, nesting deeper
// than maxJSONDepth, and any object with two keys equal under case folding.
func checkKeys(body []byte) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := walk(d, 0); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

func walk(d *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	t, err := d.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]string{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			k := kt.(string)
			f := fold(k)
			if prev, dup := seen[f]; dup {
				return fmt.Errorf("keys %q and %q are the same to encoding/json", prev, k)
			}
			seen[f] = k
			if err := walk(d, depth+1); err != nil {
				return err
			}
		}
		_, err = d.Token() // '}'
	case json.Delim('['):
		for d.More() {
			if err := walk(d, depth+1); err != nil {
				return err
			}
		}
		_, err = d.Token() // ']'
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

// fold maps s to a canonical representative of its case-folding class:
// fold(a) == fold(b) exactly when encoding/json would match the keys a
// and b (Unicode simple folding, as bytes.EqualFold).
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// evaluationDataNumber reads tcbEvaluationDataNumber from a canonical
// TCB info or QE identity body (false for anything else, such as a DER
// CRL).
func evaluationDataNumber(body []byte) (uint32, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return 0, false
	}
	for _, member := range []string{"tcbInfo", "enclaveIdentity"} {
		var v struct {
			N *uint32 `json:"tcbEvaluationDataNumber"`
		}
		if raw, ok := top[member]; ok && json.Unmarshal(raw, &v) == nil && v.N != nil {
			return *v.N, true
		}
	}
	return 0, false
}
