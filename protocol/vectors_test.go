package protocol_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/fxamacker/cbor/v2"

	"github.com/phala-go/phala/protocol"
)

// The cross-language test vectors (docs/sdk-ts.md, "Test vectors"): Go's
// protocol package computes them, testdata/vectors.json keeps them, and
// the TypeScript SDK's tests (sdk-ts/test/vectors.test.ts) check every
// one of them. They are generated from a fixed seed, so a run reproduces
// the committed file byte for byte; a change to an encoding, a context or
// a derivation makes this test fail until the file is regenerated with
//
//	go test ./protocol -run TestCrossLanguageVectors -update-vectors
//
// and the TypeScript SDK follows.

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

func TestCrossLanguageVectorsAreCurrent(t *testing.T) {
	// Every random draw (HPKE's ephemeral keys, ML-KEM's encapsulation)
	// comes from this seed, so the vectors are reproducible.
	cryptotest.SetGlobalRandom(t, 16)
	v := buildVectors(t)
	got, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *updateVectors {
		if err := os.WriteFile(vectorsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with -update-vectors)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what protocol computes now: regenerate it with\n\tgo test ./protocol -run TestCrossLanguageVectors -update-vectors\nand run the TypeScript SDK's tests (sdk-ts: npm test)", filepath.Clean(vectorsFile))
	}
}

// vectors is the file's content.
type vectors struct {
	Comment    string            `json:"comment"`
	Encodings  []encodingVector  `json:"encodings"`
	Signatures []signatureVector `json:"signatures"`
	Addresses  []addressVector   `json:"addresses"`
	Derived    []derivedVector   `json:"derived"`
	StateKeys  []stateKeyVector  `json:"state_keys"`
	HPKE       []hpkeVector      `json:"hpke"`
	Replies    []replyVector     `json:"replies"`
	Queries    []queryVector     `json:"queries"`
	Comet      []derivedVector   `json:"comet"`
	Errors     []errorVector     `json:"errors"`
	KeyFiles   []keyFileVector   `json:"key_files"`
	SimQuotes  []simQuoteVector  `json:"sim_quotes"`
}

// encodingVector is a value of a protocol type (in the JSON form below)
// and its canonical CBOR encoding.
type encodingVector struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
	CBOR  string `json:"cbor"`
}

type signatureVector struct {
	Context   string `json:"context"`
	Seed      string `json:"seed"`
	Public    string `json:"public"`
	Data      string `json:"data"`
	Signature string `json:"signature"`
}

type addressVector struct {
	Public  string `json:"public"`
	Address string `json:"address"`
}

// derivedVector is a named derivation: its inputs and its output (hex).
type derivedVector struct {
	Name   string            `json:"name"`
	Inputs map[string]string `json:"inputs"`
	Output string            `json:"output"`
}

type stateKeyVector struct {
	Path string `json:"path"`
	Key  string `json:"key"`
}

type hpkeVector struct {
	PrivateKey string `json:"private_key"` // the 32-byte X-Wing private key
	PublicKey  string `json:"public_key"`
	Info       string `json:"info"`
	AAD        string `json:"aad"`
	Plaintext  string `json:"plaintext"`
	Sealed     string `json:"sealed"`
	Secret     string `json:"secret"` // the exported reply secret
}

type replyVector struct {
	Kind      string `json:"kind"` // "command" (SealReply) or "query" (SealQueryReply)
	Secret    string `json:"secret"`
	Salt      string `json:"salt,omitempty"`
	AAD       string `json:"aad"` // the request hash for a query
	Plaintext string `json:"plaintext"`
	Sealed    string `json:"sealed"`
}

type errorVector struct {
	Space   string `json:"space"`
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

type keyFileVector struct {
	File    string `json:"file"`
	Address string `json:"address"`
}

type simQuoteVector struct {
	Quote       string `json:"quote"`
	ReportData  string `json:"report_data"`
	Measurement string `json:"measurement"`
}

// jsonForm renders a protocol value the way the vectors describe values:
// structs as objects keyed by their CBOR field names, byte strings
// (including addresses and raw CBOR) as hex, uint64 as decimal strings
// (they exceed JavaScript's safe integers), other integers as numbers,
// nil pointers as null, origins as [kind, hex id].
func jsonForm(v reflect.Value) any {
	switch t := v.Type(); {
	case t == reflect.TypeFor[protocol.Origin]():
		o := v.Interface().(protocol.Origin)
		return []any{int(o.Kind), hex.EncodeToString(o.ID)}
	case t == reflect.TypeFor[cbor.RawMessage]():
		return hex.EncodeToString(v.Bytes())
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return hex.EncodeToString(v.Bytes())
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		b := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(b), v)
		return hex.EncodeToString(b)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return jsonForm(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("cbor"), ",")
			if f.Anonymous && name == "" {
				for k, x := range jsonForm(v.Field(i)).(map[string]any) {
					out[k] = x
				}
				continue
			}
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			out[name] = jsonForm(v.Field(i))
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonForm(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[k.String()] = jsonForm(v.MapIndex(k))
		}
		return out
	case reflect.Uint64:
		return fmt.Sprint(v.Uint())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return v.Uint()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return v.Int()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	}
	panic(fmt.Sprintf("vectors: no JSON form for %s", v.Type()))
}

// encoding makes the vector of v, named typ.
func encoding(t *testing.T, typ string, v any) encodingVector {
	t.Helper()
	raw, err := protocol.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	// The encoding must also be the one protocol.Unmarshal accepts.
	back := reflect.New(reflect.TypeOf(v).Elem())
	if err := protocol.Unmarshal(raw, back.Interface()); err != nil {
		t.Fatalf("%s does not decode: %v", typ, err)
	}
	return encodingVector{Type: typ, Value: jsonForm(reflect.ValueOf(v)), CBOR: hex.EncodeToString(raw)}
}
