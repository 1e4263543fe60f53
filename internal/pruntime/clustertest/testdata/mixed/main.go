// Command mixed is the runner tests' contract: each command is one byte
// naming what to do and an argument, so that a test can mix successes,
// errors, traps, out-of-gas, randomness, deletions and emitted messages.
package main

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"github.com/phala-go/phala/contractsdk"
)

func init() {
	contractsdk.Register(contractsdk.Contract{Init: initialise, Command: command, Query: query})
}

func initialise(ctx *contractsdk.Context, _ []byte) ([]byte, error) {
	return nil, ctx.Store().Set([]byte("count"), []byte("0"))
}

// command runs op in[0] with argument in[1:]:
//
//	s k=v   set k to v            d k   delete k
//	c       increment "count"     r k   store 16 random bytes at rand/k
//	e p     emit p on "note"      x p   write, then fail with error p
//	l       write, then loop until out of gas
//	t       write, then exit the process (a trap)
//	h n     hash n times (compute)
func command(ctx *contractsdk.Context, in []byte) ([]byte, error) {
	if len(in) == 0 {
		return nil, errors.New("empty command")
	}
	st, arg := ctx.Store(), in[1:]
	switch in[0] {
	case 's':
		k, v, _ := bytes.Cut(arg, []byte("="))
		return nil, st.Set(k, v)
	case 'd':
		return nil, st.Delete(arg)
	case 'c':
		v, _ := st.Get([]byte("count"))
		n, _ := strconv.ParseUint(string(v), 10, 64)
		next := strconv.AppendUint(nil, n+1, 10)
		return next, st.Set([]byte("count"), next)
	case 'r':
		b := make([]byte, 16)
		ctx.Random(b)
		return b, st.Set(append([]byte("rand/"), arg...), b)
	case 'e':
		return nil, ctx.Emit("note", arg)
	case 'x':
		st.Set([]byte("junk"), arg)
		return nil, errors.New("refused: " + string(arg))
	case 'l':
		st.Set([]byte("junk"), []byte("loop"))
		for i := 0; ; i++ {
			arg = append(arg[:0], byte(i))
		}
	case 't':
		st.Set([]byte("junk"), []byte("trap"))
		os.Exit(7)
	case 'h':
		n, _ := strconv.Atoi(string(arg))
		sum := contractsdk.SHA256(arg)
		for range n {
			sum = contractsdk.SHA256(sum[:])
		}
		return sum[:], nil
	}
	return nil, errors.New("unknown op " + strconv.Quote(string(in[:1])))
}

// query returns the value at key in.
func query(ctx *contractsdk.Context, in []byte) ([]byte, error) {
	v, ok := ctx.Store().Get(in)
	if !ok {
		return nil, errors.New("no such key")
	}
	return v, nil
}

func main() {}
