// Command probe is a contract that exposes every contractsdk feature as an
// operation, so that contractsdk's tests can check each one in the real
// engine. Every entry point takes the same calls ({"op": {args}}).
package main

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/contractsdk/jsonmsg"
)

func init() {
	contractsdk.Register(contractsdk.Contract{Init: handle, Command: handle, Query: handle})
}

func main() {}

// calls counts the calls of op "calls" this instance has run: the
// mistake contracttest.CheckDeterminism exists to catch.
var calls uint64

var (
	counter = contractsdk.NewItem("counter", contractsdk.Uint64Codec{})
	scores  = contractsdk.NewMap("scores", contractsdk.Int64Codec{}, contractsdk.StringCodec{})
	members = contractsdk.NewSet("members", contractsdk.AddressCodec{})
	picky   = contractsdk.NewMap[string, string]("picky", pickyCodec{}, pickyCodec{})
)

// pickyCodec is a contract's own Codec (not made with NewCodec) that
// writes any string but reads back only "ok", refusing the rest with an
// error of its own.
type pickyCodec struct{}

var errNotOK = errors.New("picky: not ok")

func (pickyCodec) Append(dst []byte, v string) []byte { return append(dst, v...) }

func (pickyCodec) Decode(b []byte) (string, error) {
	if string(b) != "ok" {
		return "", errNotOK
	}
	return "ok", nil
}

func handle(ctx *contractsdk.Context, input []byte) ([]byte, error) {
	op, args, err := jsonmsg.ParseCall(input)
	if err != nil {
		return nil, err
	}
	e := new(jsonmsg.Encoder).BeginObject()
	store := ctx.Store()
	switch op {
	case "env":
		e.Key("entry").String(ctx.Entry().String()).
			Key("read_only").Bool(ctx.ReadOnly()).
			Key("caller").Text(ctx.Caller()).
			Key("contract").Text(ctx.ContractID()).
			Key("height").Int64(ctx.BlockHeight()).
			Key("time").Int64(ctx.BlockTime())
		g1 := ctx.GasLeft()
		g2 := ctx.GasLeft()
		e.Key("gas_decreases").Bool(g2 < g1)
	case "set", "fail":
		err = store.Set([]byte(args.String("key")), []byte(args.String("value")))
		if op == "fail" && err == nil {
			err = errors.New(args.String("message"))
		}
	case "get":
		v, ok := store.Get([]byte(args.String("key")))
		e.Key("found").Bool(ok).Key("value").String(string(v))
		e.Key("has").Bool(store.Has([]byte(args.String("key"))))
	case "delete":
		err = store.Delete([]byte(args.String("key")))
	case "keys":
		prefix, after := []byte(args.String("prefix")), []byte(args.String("after"))
		e.Key("keys").BeginArray()
		for k := range store.KeysAfter(prefix, after) {
			e.String(string(k))
		}
		e.EndArray()
	case "panic":
		panic(args.String("message"))
	case "emit", "emit_then_fail":
		suffix, payload, n := args.String("suffix"), args.String("payload"), args.Uint64("count")
		for i := uint64(0); i < n && err == nil; i++ {
			err = ctx.Emit(suffix, []byte(payload))
		}
		if op == "emit_then_fail" && err == nil {
			err = errors.New("failed after emitting")
		}
	case "output":
		n := args.Uint64("n")
		if err := args.Err(); err != nil {
			return nil, err
		}
		return []byte(strings.Repeat("x", int(n))), nil
	case "error_text":
		n := args.Uint64("n")
		if err := args.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New(strings.Repeat("é", int(n)))
	case "loop":
		for {
			args.Has("x")
		}
	case "alloc":
		hold := make([][]byte, 0)
		for range args.Uint64("mib") {
			hold = append(hold, make([]byte, 1<<20))
		}
		e.Key("chunks").Uint64(uint64(len(hold)))
	case "random":
		a, b := make([]byte, args.Uint64("n")), make([]byte, 16)
		ctx.Random(a)
		ctx.Random(b)
		e.Key("a").String(hex.EncodeToString(a)).Key("b").String(hex.EncodeToString(b))
	case "sha256":
		sum := contractsdk.SHA256([]byte(args.String("data")))
		e.Key("sum").String(hex.EncodeToString(sum[:]))
	case "verify":
		pub, _ := hex.DecodeString(args.String("pub"))
		sig, _ := hex.DecodeString(args.String("sig"))
		e.Key("ok").Bool(contractsdk.VerifyEd25519(pub, []byte(args.String("msg")), sig))
	case "log":
		ctx.Log(args.String("message"))
	case "calls":
		// Wrong on purpose: state outside storage, which a warm query
		// instance keeps from one call to the next.
		calls++
		e.Key("calls").Uint64(calls)
	case "collections":
		err = collections(ctx, e, args)
	case "undecodable":
		err = undecodable(ctx, e)
	default:
		return nil, errors.New("unknown op " + op)
	}
	if err == nil {
		err = args.Err()
	}
	if err != nil {
		return nil, err
	}
	return e.EndObject().Bytes()
}

// collections writes to every kind of collection and reports what reads
// and iterations then see.
func collections(ctx *contractsdk.Context, e *jsonmsg.Encoder, args *jsonmsg.Object) error {
	if args.Bool("write") {
		n, _, err := counter.Get(ctx)
		if err != nil {
			return err
		}
		for _, err := range []error{
			counter.Set(ctx, n+1),
			scores.Set(ctx, 7, "seven"), scores.Set(ctx, -5, "minus five"), scores.Set(ctx, 0, "zero"),
			scores.Set(ctx, -1, "minus one"), scores.Set(ctx, 3, "three"), scores.Delete(ctx, 3),
			members.Add(ctx, ctx.Caller()), members.Add(ctx, contractsdk.Address{1}), members.Remove(ctx, contractsdk.Address{1}),
		} {
			if err != nil {
				return err
			}
		}
	}
	n, ok, err := counter.Get(ctx)
	if err != nil {
		return err
	}
	e.Key("counter").Uint64(n).Key("counter_set").Bool(ok)
	e.Key("scores").BeginArray()
	for k, err := range scores.Keys(ctx) {
		if err != nil {
			return err
		}
		v, _, err := scores.Get(ctx, k)
		if err != nil {
			return err
		}
		e.BeginArray().Int64(k).String(v).EndArray()
	}
	e.EndArray().Key("scores_after_minus_one").BeginArray()
	for k, err := range scores.KeysAfter(ctx, -1) {
		if err != nil {
			return err
		}
		e.Int64(k)
	}
	e.EndArray().Key("has_three").Bool(scores.Has(ctx, 3))
	e.Key("members").BeginArray()
	for m, err := range members.All(ctx) {
		if err != nil {
			return err
		}
		e.Text(m)
	}
	e.EndArray().Key("caller_is_member").Bool(members.Has(ctx, ctx.Caller()))
	return nil
}

// undecodable stores a key and a value pickyCodec refuses to read, and
// reports the errors Get and Keys then return: their text, and whether
// errors.Is finds ErrDecode and the codec's own error in them.
func undecodable(ctx *contractsdk.Context, e *jsonmsg.Encoder) error {
	if err := picky.Set(ctx, "bad", "bad"); err != nil {
		return err
	}
	_, _, getErr := picky.Get(ctx, "bad")
	var keysErr error
	for _, err := range picky.Keys(ctx) {
		keysErr = err
	}
	for _, r := range []struct {
		name string
		err  error
	}{{"get", getErr}, {"keys", keysErr}} {
		if r.err == nil {
			return errors.New(r.name + " decoded what the codec refuses")
		}
		e.Key(r.name).BeginObject().
			Key("error").String(r.err.Error()).
			Key("decode").Bool(errors.Is(r.err, contractsdk.ErrDecode)).
			Key("own").Bool(errors.Is(r.err, errNotOK)).
			EndObject()
	}
	return nil
}
