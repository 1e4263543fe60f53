package jsonmsg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

const alice = "00112233445566778899aabbccddeeff00112233"

func TestParseCallReturnsTheMethodAndItsArguments(t *testing.T) {
	method, args, err := jsonmsg.ParseCall([]byte(`{"transfer": {"to": "` + alice + `", "amount": 5, "memo": "hi", "fast": true, "delta": -3}}`))
	if err != nil {
		t.Fatal(err)
	}
	var to contractsdk.Address
	args.Text("to", &to)
	amount := args.Uint64("amount")
	memo := args.String("memo")
	fast := args.Bool("fast")
	delta := args.Int64("delta")
	if err := args.Err(); err != nil {
		t.Fatal(err)
	}
	if method != "transfer" || to.String() != alice || amount != 5 || memo != "hi" || !fast || delta != -3 {
		t.Fatalf("got %q %v %d %q %v %d", method, to, amount, memo, fast, delta)
	}
}

func TestParseCallRefusesOtherShapesWithErrType(t *testing.T) {
	for _, in := range []string{`[]`, `"transfer"`, `{}`, `{"a": {}, "b": {}}`, `{"a": 1}`, `{"a": []}`, `{"a": null}`} {
		_, _, err := jsonmsg.ParseCall([]byte(in))
		if !errors.Is(err, jsonmsg.ErrType) {
			t.Errorf("ParseCall(%s) = %v, want ErrType", in, err)
		}
	}
	if _, _, err := jsonmsg.ParseCall([]byte(`{"a": {}`)); !errors.Is(err, jsonmsg.ErrSyntax) {
		t.Errorf("unterminated call: %v, want ErrSyntax", err)
	}
}

func TestParseObjectRefusesNonObjects(t *testing.T) {
	if _, err := jsonmsg.ParseObject([]byte(`[1]`)); !errors.Is(err, jsonmsg.ErrType) {
		t.Fatalf("got %v, want ErrType", err)
	}
}

func readErr(t *testing.T, in string, read func(*jsonmsg.Object)) error {
	t.Helper()
	_, args, err := jsonmsg.ParseCall([]byte(in))
	if err != nil {
		t.Fatalf("ParseCall(%s): %v", in, err)
	}
	read(args)
	return args.Err()
}

func TestObjectReadersReportProblemsWithTheirPath(t *testing.T) {
	uint64Field := func(o *jsonmsg.Object) { o.Uint64("amount") }
	int64Field := func(o *jsonmsg.Object) { o.Int64("amount") }
	cases := []struct {
		name string
		in   string
		read func(*jsonmsg.Object)
		kind error
		path string
	}{
		{"missing", `{"m": {}}`, uint64Field, jsonmsg.ErrMissing, "m.amount"},
		{"string for a number", `{"m": {"amount": "5"}}`, uint64Field, jsonmsg.ErrType, "m.amount"},
		{"negative uint", `{"m": {"amount": -1}}`, uint64Field, jsonmsg.ErrType, "m.amount"},
		{"fraction", `{"m": {"amount": 1.5}}`, uint64Field, jsonmsg.ErrType, "m.amount"},
		{"exponent", `{"m": {"amount": 1e3}}`, uint64Field, jsonmsg.ErrType, "m.amount"},
		{"uint overflow", `{"m": {"amount": 18446744073709551616}}`, uint64Field, jsonmsg.ErrType, "m.amount"},
		{"int overflow", `{"m": {"amount": 9223372036854775808}}`, int64Field, jsonmsg.ErrType, "m.amount"},
		{"int underflow", `{"m": {"amount": -9223372036854775809}}`, int64Field, jsonmsg.ErrType, "m.amount"},
		{"bool", `{"m": {"b": 1}}`, func(o *jsonmsg.Object) { o.Bool("b") }, jsonmsg.ErrType, "m.b"},
		{"string", `{"m": {"s": null}}`, func(o *jsonmsg.Object) { o.String("s") }, jsonmsg.ErrType, "m.s"},
		{"object", `{"m": {"o": []}}`, func(o *jsonmsg.Object) { o.Object("o") }, jsonmsg.ErrType, "m.o"},
		{"array", `{"m": {"a": {}}}`, func(o *jsonmsg.Object) { o.Array("a") }, jsonmsg.ErrType, "m.a"},
		{"array element", `{"m": {"a": [1, "x"]}}`, func(o *jsonmsg.Object) {
			for _, v := range o.Array("a") {
				v.AsUint64()
			}
		}, jsonmsg.ErrType, "m.a[1]"},
		{"unknown", `{"m": {"amount": 1, "extra": 2}}`, uint64Field, jsonmsg.ErrUnknown, "m.extra"},
		{"unknown nested", `{"m": {"o": {"x": 1, "y": 2}}}`, func(o *jsonmsg.Object) { o.Object("o").Uint64("x") }, jsonmsg.ErrUnknown, "m.o.y"},
		{"unread object", `{"m": {"o": {"x": 1}}}`, func(*jsonmsg.Object) {}, jsonmsg.ErrUnknown, "m.o"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := readErr(t, c.in, c.read)
			if !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want %v", err, c.kind)
			}
			var e *jsonmsg.Error
			if !errors.As(err, &e) || e.Path != c.path {
				t.Fatalf("error %v has path %q, want %q", err, e.Path, c.path)
			}
		})
	}
}

func TestObjectTextWrapsTheUnmarshalerError(t *testing.T) {
	err := readErr(t, `{"m": {"to": "xyz"}}`, func(o *jsonmsg.Object) {
		var a contractsdk.Address
		o.Text("to", &a)
	})
	if !errors.Is(err, jsonmsg.ErrType) || !errors.Is(err, contractsdk.ErrBadAddress) {
		t.Fatalf("got %v, want ErrType wrapping contractsdk.ErrBadAddress", err)
	}
	if !strings.HasPrefix(err.Error(), "m.to: ") {
		t.Fatalf("error %q does not start with the path", err)
	}
}

func TestObjectErrReportsTheFirstProblem(t *testing.T) {
	err := readErr(t, `{"m": {"a": "x", "c": 1}}`, func(o *jsonmsg.Object) {
		o.Uint64("a")
		o.Uint64("b")
	})
	var e *jsonmsg.Error
	if !errors.As(err, &e) || e.Path != "m.a" || !errors.Is(err, jsonmsg.ErrType) {
		t.Fatalf("got %v, want the type error of m.a", err)
	}
}

func TestObjectHasDoesNotCountAsReading(t *testing.T) {
	_, args, err := jsonmsg.ParseCall([]byte(`{"m": {"opt": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !args.Has("opt") || args.Has("other") || args.Len() != 1 {
		t.Fatal("Has or Len wrong")
	}
	if err := args.Err(); !errors.Is(err, jsonmsg.ErrUnknown) {
		t.Fatalf("got %v, want ErrUnknown for the member only tested with Has", err)
	}
}

func TestErrorMessagesClipLongInput(t *testing.T) {
	long := strings.Repeat("9", 500)
	err := readErr(t, `{"m": {"n": `+long+`}}`, func(o *jsonmsg.Object) { o.Uint64("n") })
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error %q is not clipped", err)
	}
}
