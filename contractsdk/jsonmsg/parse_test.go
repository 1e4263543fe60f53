package jsonmsg_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

func TestParseAcceptsRFC8259Values(t *testing.T) {
	for _, in := range []string{
		`0`, `-0`, `12`, `-3.25e+10`, `1E-2`, `true`, `false`, `null`, `""`,
		`"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, `"héllo 😀"`,
		`[]`, `{}`, ` { "a" : [ 1 , { "b" : null } ] } `, "\t\r\n[1]\n",
		strings.Repeat("[", jsonmsg.MaxDepth) + strings.Repeat("]", jsonmsg.MaxDepth),
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9}`,
	} {
		if _, err := jsonmsg.Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

func TestParseRefusesInvalidInputWithErrSyntax(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `01`, `-`, `1.`, `.5`, `1e`, `+1`,
		`NaN`, `Infinity`, `tru`, `nul`, `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\x01\"",
		`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, "\"\xff\"", "\"\xc3\"", `1 2`, `{} x`, `'a'`,
		`{"a":1,"a":2}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k3":3}`,
		strings.Repeat("[", jsonmsg.MaxDepth+1) + strings.Repeat("]", jsonmsg.MaxDepth+1),
		strings.Repeat(`{"a":`, jsonmsg.MaxDepth+1) + "1" + strings.Repeat("}", jsonmsg.MaxDepth+1),
	} {
		_, err := jsonmsg.Parse([]byte(in))
		if !errors.Is(err, jsonmsg.ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func TestParseErrorNamesTheOffset(t *testing.T) {
	_, err := jsonmsg.Parse([]byte(`{"a": tru}`))
	if err == nil || !strings.Contains(err.Error(), "at byte 6") {
		t.Fatalf("error %v does not name byte 6", err)
	}
}

func TestParseDecodesStringsAsEncodingJSONDoes(t *testing.T) {
	in := `"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 plain é"`
	v, err := jsonmsg.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if got := v.AsString(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzParse checks the parser against encoding/json: whatever Parse accepts
// is valid JSON that decodes to the same value, re-encoding is stable, and
// every refusal is ErrSyntax.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"transfer":{"to":"00112233445566778899aabbccddeeff00112233","amount":5}}`,
		`{"m":{"s":"x","u":1,"i":-1,"b":true,"o":{"x":2},"a":["s",{"y":1}]}}`,
		`{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00"],"b":{}}`,
		`"\ud800"`, `{"a":1,"a":2}`, "\"\xff\"", `[[[[[[]]]]]]`, `01`, ` 1 `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readAll(t, data)
		v, err := jsonmsg.Parse(data)
		if err != nil {
			if !errors.Is(err, jsonmsg.ErrSyntax) {
				t.Fatalf("Parse(%q) = %v, not ErrSyntax", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Parse accepted %q, which encoding/json says is invalid", data)
		}
		out, err := new(jsonmsg.Encoder).Value(v).Bytes()
		if err != nil {
			t.Fatalf("re-encoding %q: %v", data, err)
		}
		want, err := decodeStd(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStd(out)
		if err != nil {
			t.Fatalf("re-encoded %q is invalid: %v", out, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q re-encoded as %q: decodes to %v, want %v", data, out, got, want)
		}
		v2, err := jsonmsg.Parse(out)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", out, err)
		}
		out2, _ := new(jsonmsg.Encoder).Value(v2).Bytes()
		if string(out2) != string(out) {
			t.Fatalf("re-encoding is not stable: %q then %q", out, out2)
		}
	})
}

// readAll reads data the way a handler would, through every reader, and
// checks that problems come out as errors of the documented kinds, never as
// panics.
func readAll(t *testing.T, data []byte) {
	_, args, err := jsonmsg.ParseCall(data)
	if err != nil {
		if !errors.Is(err, jsonmsg.ErrSyntax) && !errors.Is(err, jsonmsg.ErrType) {
			t.Fatalf("ParseCall(%q) = %v", data, err)
		}
		return
	}
	args.String("s")
	args.Uint64("u")
	args.Int64("i")
	args.Bool("b")
	args.Object("o").Uint64("x")
	for _, v := range args.Array("a") {
		v.AsString()
		v.AsObject().Has("y")
	}
	err = args.Err()
	for _, kind := range []error{nil, jsonmsg.ErrMissing, jsonmsg.ErrType, jsonmsg.ErrUnknown} {
		if errors.Is(err, kind) {
			return
		}
	}
	t.Fatalf("reading %q: %v", data, err)
}

// decodeStd decodes with encoding/json, keeping numbers as their literals
// (1E700 is valid JSON that overflows a float64).
func decodeStd(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
