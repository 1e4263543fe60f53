// Command kvstore is a private key-value store with per-key access
// control: the first account to write a key owns it, and only the owner
// and the readers it grants can read it.
//
//	command  {"put": {"key": "…", "value": "…"}}      create a key, or overwrite one's own
//	command  {"grant": {"key": "…", "reader": "<address>"}}
//	command  {"revoke": {"key": "…", "reader": "<address>"}}
//	command  {"delete": {"key": "…"}}                 owner only
//	query    {"get": {"key": "…"}}                    owner and readers only
//	query    {"list": {}} or {"list": {"after": "…"}} keys the caller owns or may read
//
// A get of a key the caller may not read gets the same reply as a get of
// a key that does not exist. The reply is all that is hidden: the gas the
// query used, which the querier is told, still reveals whether the key
// exists and about how large its entry is (reading a stored entry costs
// gas per byte; reading an absent one does not). A put of a key someone
// else owns reveals that it exists too: the first writer owns it.
package main

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

// Bounds that keep every reply within the host's 16 KiB output limit:
// JSON escaping at most doubles a key (no control characters) and at most
// sextuples a value.
const (
	maxKeyBytes   = 128
	maxValueBytes = 2048
	maxReaders    = 16
	listPage      = 32
)

// entry is a stored key's owner, readers and value.
type entry struct {
	Owner   contractsdk.Address
	Readers []contractsdk.Address
	Value   string
}

// entries holds every key; visible(a) indexes the keys a owns or may
// read, so that list costs gas in proportion to its answer.
var entries = contractsdk.NewMap("entry", contractsdk.StringCodec{}, contractsdk.NewCodec(appendEntry, decodeEntry))

func visible(a contractsdk.Address) contractsdk.Set[string] {
	return contractsdk.NewSet("visible:"+string(a[:]), contractsdk.StringCodec{})
}

// Errors the contract returns.
var (
	errNotFound     = errors.New("no such key, or you may not read it")
	errNoKey        = errors.New("no such key")
	errNotOwner     = errors.New("the key belongs to another account")
	errOwnerReads   = errors.New("the owner can always read its keys")
	errAlready      = errors.New("already a reader of the key")
	errNotReader    = errors.New("not a reader of the key")
	errTooMany      = errors.New("a key has at most " + strconv.Itoa(maxReaders) + " readers")
	errKey          = errors.New("key must be 1.." + strconv.Itoa(maxKeyBytes) + " bytes of text without control characters")
	errValue        = errors.New("value must be at most " + strconv.Itoa(maxValueBytes) + " bytes")
	errZeroReader   = errors.New("reader cannot be the zero address")
	errCorruptEntry = errors.New("stored entry is malformed")
)

func init() {
	contractsdk.Register(contractsdk.Contract{Init: start, Command: command, Query: query})
}

// start accepts no arguments (an empty input or {}): the store starts
// empty.
func start(_ *contractsdk.Context, input []byte) ([]byte, error) {
	if len(input) == 0 {
		return nil, nil
	}
	args, err := jsonmsg.ParseObject(input)
	if err != nil {
		return nil, err
	}
	return nil, args.Err()
}

func main() {}

func command(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	key := args.String("key")
	var value string
	var reader contractsdk.Address
	switch method {
	case "put":
		value = args.String("value")
	case "grant", "revoke":
		args.Text("reader", &reader)
	case "delete":
	default:
		return nil, errors.New("unknown command " + strconv.Quote(method) + " (want put, grant, revoke or delete)")
	}
	if err := args.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	switch method {
	case "put":
		err = put(ctx, key, value)
	case "grant":
		err = grant(ctx, key, reader)
	case "revoke":
		err = revoke(ctx, key, reader)
	default:
		err = remove(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

func checkKey(k string) error {
	if len(k) == 0 || len(k) > maxKeyBytes {
		return errKey
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return errKey
		}
	}
	return nil
}

func put(ctx *contractsdk.Context, key, value string) error {
	if len(value) > maxValueBytes {
		return errValue
	}
	e, ok, err := entries.Get(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		e = entry{Owner: ctx.Caller()}
		if err := visible(e.Owner).Add(ctx, key); err != nil {
			return err
		}
	} else if e.Owner != ctx.Caller() {
		return errNotOwner
	}
	e.Value = value
	return entries.Set(ctx, key, e)
}

// owned loads key for a change only its owner may make.
func owned(ctx *contractsdk.Context, key string) (entry, error) {
	e, ok, err := entries.Get(ctx, key)
	switch {
	case err != nil:
		return e, err
	case !ok:
		return e, errNoKey
	case e.Owner != ctx.Caller():
		return e, errNotOwner
	}
	return e, nil
}

func grant(ctx *contractsdk.Context, key string, reader contractsdk.Address) error {
	e, err := owned(ctx, key)
	switch {
	case err != nil:
		return err
	case reader.IsZero():
		return errZeroReader
	case reader == e.Owner:
		return errOwnerReads
	case indexOf(e.Readers, reader) >= 0:
		return errAlready
	case len(e.Readers) >= maxReaders:
		return errTooMany
	}
	e.Readers = append(e.Readers, reader)
	if err := visible(reader).Add(ctx, key); err != nil {
		return err
	}
	return entries.Set(ctx, key, e)
}

func revoke(ctx *contractsdk.Context, key string, reader contractsdk.Address) error {
	e, err := owned(ctx, key)
	if err != nil {
		return err
	}
	i := indexOf(e.Readers, reader)
	if i < 0 {
		return errNotReader
	}
	e.Readers = append(e.Readers[:i], e.Readers[i+1:]...)
	if err := visible(reader).Remove(ctx, key); err != nil {
		return err
	}
	return entries.Set(ctx, key, e)
}

func remove(ctx *contractsdk.Context, key string) error {
	e, err := owned(ctx, key)
	if err != nil {
		return err
	}
	for _, a := range append(e.Readers, e.Owner) {
		if err := visible(a).Remove(ctx, key); err != nil {
			return err
		}
	}
	return entries.Delete(ctx, key)
}

func indexOf(list []contractsdk.Address, a contractsdk.Address) int {
	for i, x := range list {
		if x == a {
			return i
		}
	}
	return -1
}

func query(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	method, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	switch method {
	case "get":
		key := args.String("key")
		if err := args.Err(); err != nil {
			return nil, err
		}
		return get(ctx, key)
	case "list":
		var after string
		if args.Has("after") {
			after = args.String("after")
		}
		if err := args.Err(); err != nil {
			return nil, err
		}
		return list(ctx, after)
	}
	return nil, errors.New("unknown query " + strconv.Quote(method) + " (want get or list)")
}

// get answers {"key", "value", "owner"} to the owner and the readers, and
// everyone else as if the key did not exist (in its reply, not its gas:
// see the package documentation).
func get(ctx *contractsdk.Context, key string) ([]byte, error) {
	e, ok, err := entries.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if !ok || e.Owner != ctx.Caller() && indexOf(e.Readers, ctx.Caller()) < 0 {
		return nil, errNotFound
	}
	return new(jsonmsg.Encoder).BeginObject().
		Key("key").String(key).
		Key("value").String(e.Value).
		Key("owner").Text(e.Owner).
		EndObject().Bytes()
}

// list answers {"keys": [...], "more": bool}: the first listPage keys
// after `after` that the caller owns or may read, in byte order; "more"
// says whether another page follows (ask again with the last key as
// "after").
func list(ctx *contractsdk.Context, after string) ([]byte, error) {
	e := new(jsonmsg.Encoder).BeginObject().Key("keys").BeginArray()
	n, more := 0, false
	for key, err := range visible(ctx.Caller()).AllAfter(ctx, after) {
		if err != nil {
			return nil, err
		}
		if n == listPage {
			more = true
			break
		}
		e.String(key)
		n++
	}
	return e.EndArray().Key("more").Bool(more).EndObject().Bytes()
}

// The stored entry: owner(20) readers(1) reader(20)×readers value.
func appendEntry(dst []byte, e entry) []byte {
	dst = append(dst, e.Owner[:]...)
	dst = append(dst, byte(len(e.Readers)))
	for _, r := range e.Readers {
		dst = append(dst, r[:]...)
	}
	return append(dst, e.Value...)
}

func decodeEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < 21 || len(b) < 21+20*int(b[20]) {
		return e, errCorruptEntry
	}
	copy(e.Owner[:], b[:20])
	n := int(b[20])
	for i := range n {
		var r contractsdk.Address
		copy(r[:], b[21+20*i:])
		e.Readers = append(e.Readers, r)
	}
	e.Value = string(b[21+20*n:])
	return e, nil
}
