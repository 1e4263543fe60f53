package jsonmsg

import (
	"encoding"
	"strconv"
)

// state is shared by every Object and Value read from one input: the first
// problem found, and the objects whose unread members Err reports.
type state struct {
	err     error
	objects []*Object
}

func (st *state) record(path string, kind error, msg string) {
	if st.err == nil {
		st.err = &Error{Path: path, kind: kind, msg: msg}
	}
}

// Object is a parsed JSON object whose members a handler reads by name.
// The readers never fail: a missing member or one of the wrong type gives
// the zero value and records the problem, which Err reports.
type Object struct {
	n    *node
	path string
	used []bool
	st   *state
}

// Value is a parsed JSON value of any kind, read with the As methods,
// which record problems as the Object readers do.
type Value struct {
	n    *node // nil for a missing member
	path string
	st   *state
}

// Parse parses data as one JSON value.
func Parse(data []byte) (Value, error) {
	n, err := parse(data)
	if err != nil {
		return Value{}, err
	}
	return Value{n: n, st: &state{}}, nil
}

// ParseObject parses data as a JSON object, such as init arguments
// ({"supply": 1000}).
func ParseObject(data []byte) (*Object, error) {
	v, err := Parse(data)
	if err != nil {
		return nil, err
	}
	o := v.AsObject()
	return o, v.st.err
}

// ParseCall parses the conventional shape of a command or query: an object
// with one member whose name is the method and whose value is an object of
// arguments ({"transfer": {"to": "…", "amount": 5}}, {"balance": {}}).
func ParseCall(data []byte) (method string, args *Object, err error) {
	v, err := Parse(data)
	if err != nil {
		return "", nil, err
	}
	if v.n.kind != KindObject || len(v.n.keys) != 1 {
		return "", nil, &Error{kind: ErrType, msg: `want an object with one member naming the method, such as {"method": {}}`}
	}
	method = v.n.keys[0]
	arg := Value{n: &v.n.elems[0], path: appendPath("", method), st: v.st}
	args = arg.AsObject()
	return method, args, v.st.err
}

// Err returns the first problem found while reading the input this object
// came from; if there is none, it reports a member that was never read, of
// this object or of any object read from the same input. Call it after
// reading every member.
func (o *Object) Err() error {
	if o.st.err != nil {
		return o.st.err
	}
	for _, obj := range o.st.objects {
		for i, used := range obj.used {
			if !used {
				o.st.record(appendPath(obj.path, clip(obj.n.keys[i])), ErrUnknown, "not a member of this message")
				return o.st.err
			}
		}
	}
	return nil
}

// Len returns the number of members.
func (o *Object) Len() int { return len(o.n.keys) }

// Has reports whether the object has a member called name. It does not
// count as reading the member.
func (o *Object) Has(name string) bool { return o.index(name) >= 0 }

func (o *Object) index(name string) int {
	for i, k := range o.n.keys {
		if k == name {
			return i
		}
	}
	return -1
}

// Field returns the member called name, marked as read; if there is none
// it records ErrMissing and returns a Value whose As methods give zero
// values.
func (o *Object) Field(name string) Value {
	path := appendPath(o.path, name)
	i := o.index(name)
	if i < 0 {
		o.st.record(path, ErrMissing, "required")
		return Value{path: path, st: o.st}
	}
	o.used[i] = true
	return Value{n: &o.n.elems[i], path: path, st: o.st}
}

// String reads the string member called name.
func (o *Object) String(name string) string { return o.Field(name).AsString() }

// Uint64 reads the member called name as a non-negative integer.
func (o *Object) Uint64(name string) uint64 { return o.Field(name).AsUint64() }

// Int64 reads the member called name as an integer.
func (o *Object) Int64(name string) int64 { return o.Field(name).AsInt64() }

// Bool reads the boolean member called name.
func (o *Object) Bool(name string) bool { return o.Field(name).AsBool() }

// Text reads the string member called name into dst, such as a
// contractsdk.Address.
func (o *Object) Text(name string, dst encoding.TextUnmarshaler) { o.Field(name).AsText(dst) }

// Object reads the object member called name.
func (o *Object) Object(name string) *Object { return o.Field(name).AsObject() }

// Array reads the array member called name.
func (o *Object) Array(name string) []Value { return o.Field(name).AsArray() }

// Kind returns the value's kind (KindNull for a missing member).
func (v Value) Kind() Kind {
	if v.n == nil {
		return KindNull
	}
	return v.n.kind
}

// is reports whether v has kind k, recording ErrType if it has another.
func (v Value) is(k Kind) bool {
	if v.n == nil {
		return false // already recorded as missing
	}
	if v.n.kind != k {
		v.st.record(v.path, ErrType, "want "+k.String()+", got "+v.n.kind.String())
		return false
	}
	return true
}

// AsString returns the value as a string.
func (v Value) AsString() string {
	if !v.is(KindString) {
		return ""
	}
	return v.n.text
}

// AsBool returns the value as a boolean.
func (v Value) AsBool() bool { return v.is(KindBool) && v.n.b }

// AsUint64 returns the value as a non-negative integer; a number with a
// sign, a fraction or an exponent, or above 2^64-1, records ErrType.
func (v Value) AsUint64() uint64 {
	if !v.is(KindNumber) {
		return 0
	}
	n, err := strconv.ParseUint(v.n.text, 10, 64)
	if err != nil {
		v.st.record(v.path, ErrType, "want an integer in 0..18446744073709551615, got "+clip(v.n.text))
	}
	return n
}

// AsInt64 returns the value as an integer; a number with a fraction or an
// exponent, or outside the int64 range, records ErrType.
func (v Value) AsInt64() int64 {
	if !v.is(KindNumber) {
		return 0
	}
	n, err := strconv.ParseInt(v.n.text, 10, 64)
	if err != nil {
		v.st.record(v.path, ErrType, "want an integer in -9223372036854775808..9223372036854775807, got "+clip(v.n.text))
	}
	return n
}

// AsText reads the string value into dst; an error from dst is recorded
// with ErrType and wraps dst's error.
func (v Value) AsText(dst encoding.TextUnmarshaler) {
	if !v.is(KindString) {
		return
	}
	if err := dst.UnmarshalText([]byte(v.n.text)); err != nil && v.st.err == nil {
		v.st.err = &Error{Path: v.path, kind: ErrType, cause: err}
	}
}

// AsObject returns the value as an object (an empty one if it is not).
func (v Value) AsObject() *Object {
	o := &Object{n: &node{kind: KindObject}, path: v.path, st: v.st}
	if v.is(KindObject) {
		o.n = v.n
		o.used = make([]bool, len(v.n.keys))
		v.st.objects = append(v.st.objects, o)
	}
	return o
}

// AsArray returns the elements of an array value.
func (v Value) AsArray() []Value {
	if !v.is(KindArray) {
		return nil
	}
	out := make([]Value, len(v.n.elems))
	for i := range v.n.elems {
		out[i] = Value{n: &v.n.elems[i], path: v.path + "[" + strconv.Itoa(i) + "]", st: v.st}
	}
	return out
}

// Err returns the first problem recorded while reading the input v came
// from (see Object.Err, which also reports unread members).
func (v Value) Err() error {
	if v.st == nil {
		return nil
	}
	return v.st.err
}

func appendPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// clip bounds how much of an input an error message repeats.
func clip(s string) string {
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}
