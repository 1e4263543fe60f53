package jsonmsg_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

func TestEncoderWritesCompactJSONInCallOrder(t *testing.T) {
	var a contractsdk.Address
	a[19] = 0xab
	out, err := new(jsonmsg.Encoder).BeginObject().
		Key("z").Uint64(18446744073709551615).
		Key("a").Int64(-9223372036854775808).
		Key("s").String("q\"\\\n\r\t\x01\u2028é\xff").
		Key("t").Bool(true).
		Key("n").Null().
		Key("addr").Text(a).
		Key("list").BeginArray().Uint64(1).BeginObject().EndObject().BeginArray().EndArray().String("x").EndArray().
		EndObject().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":18446744073709551615,"a":-9223372036854775808,"s":"q\"\\\n\r\t\u0001\u2028é\ufffd","t":true,"n":null,` +
		`"addr":"00000000000000000000000000000000000000ab","list":[1,{},[],"x"]}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("output is not valid JSON")
	}
}

func TestEncoderWritesTopLevelScalars(t *testing.T) {
	out, err := new(jsonmsg.Encoder).String("x").Bytes()
	if err != nil || string(out) != `"x"` {
		t.Fatalf("got %s, %v", out, err)
	}
}

func TestEncoderReportsMisuse(t *testing.T) {
	cases := map[string]func(e *jsonmsg.Encoder){
		"nothing written":       func(e *jsonmsg.Encoder) {},
		"unclosed object":       func(e *jsonmsg.Encoder) { e.BeginObject() },
		"value without key":     func(e *jsonmsg.Encoder) { e.BeginObject().Uint64(1).EndObject() },
		"key outside object":    func(e *jsonmsg.Encoder) { e.BeginArray().Key("a").EndArray() },
		"key at top level":      func(e *jsonmsg.Encoder) { e.Key("a") },
		"two keys":              func(e *jsonmsg.Encoder) { e.BeginObject().Key("a").Key("b").Null().EndObject() },
		"end after key":         func(e *jsonmsg.Encoder) { e.BeginObject().Key("a").EndObject() },
		"wrong end":             func(e *jsonmsg.Encoder) { e.BeginObject().EndArray() },
		"end at top level":      func(e *jsonmsg.Encoder) { e.EndObject() },
		"two top-level values":  func(e *jsonmsg.Encoder) { e.Null().Null() },
		"failing TextMarshaler": func(e *jsonmsg.Encoder) { e.Text(badText{}) },
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			var e jsonmsg.Encoder
			write(&e)
			if out, err := e.Bytes(); !errors.Is(err, jsonmsg.ErrMisuse) {
				t.Fatalf("got %q, %v; want ErrMisuse", out, err)
			}
		})
	}
}

type badText struct{}

func (badText) MarshalText() ([]byte, error) { return nil, errors.New("no text") }

func TestEncoderValueReproducesParsedInput(t *testing.T) {
	in := `{"b":[1,-2.5e3,true,null,"x"],"a":{"c":{}}}`
	v, err := jsonmsg.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := new(jsonmsg.Encoder).Value(v).Bytes()
	if err != nil || string(out) != in {
		t.Fatalf("got %s, %v; want %s", out, err, in)
	}
}
