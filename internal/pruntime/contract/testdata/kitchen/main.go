// Command kitchen is the engine tests' contract: one command per host
// function and per way a contract can fail. It imports the host ABI
// directly (//go:wasmimport), so it depends on nothing but the toolchain.
//
// Input: an opcode byte, then fields, each a 4-byte big-endian length and
// its bytes. Numbers are 8-byte big-endian fields. Output: the command's
// result; a non-zero return is an error whose text is the output.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"sort"
	"strconv"
	"unsafe"
)

//go:wasmimport phala_v1 input_read
func inputRead(ptr unsafe.Pointer)

//go:wasmimport phala_v1 output_write
func outputWrite(ptr unsafe.Pointer, n int32)

//go:wasmimport phala_v1 return_read
func returnRead(ptr unsafe.Pointer)

//go:wasmimport phala_v1 storage_get
func storageGet(k unsafe.Pointer, kn int32) int64

//go:wasmimport phala_v1 storage_set
func storageSet(k unsafe.Pointer, kn int32, v unsafe.Pointer, vn int32)

//go:wasmimport phala_v1 storage_delete
func storageDelete(k unsafe.Pointer, kn int32)

//go:wasmimport phala_v1 storage_next
func storageNext(a unsafe.Pointer, an int32, p unsafe.Pointer, pn int32) int64

//go:wasmimport phala_v1 caller
func caller(p unsafe.Pointer)

//go:wasmimport phala_v1 contract_id
func contractID(p unsafe.Pointer)

//go:wasmimport phala_v1 block_height
func blockHeight() int64

//go:wasmimport phala_v1 block_time
func blockTime() int64

//go:wasmimport phala_v1 random
func random(p unsafe.Pointer, n int32)

//go:wasmimport phala_v1 emit
func emit(t unsafe.Pointer, tn int32, p unsafe.Pointer, pn int32)

//go:wasmimport phala_v1 sha256
func hostSHA256(p unsafe.Pointer, n int32, out unsafe.Pointer)

//go:wasmimport phala_v1 ed25519_verify
func ed25519Verify(pk, msg unsafe.Pointer, n int32, sig unsafe.Pointer) int32

//go:wasmimport phala_v1 debug_log
func debugLog(p unsafe.Pointer, n int32)

//go:wasmimport phala_v1 gas_left
func gasLeft() int64

var zero [1]byte

// ptr is a pointer to b's bytes (any valid pointer when b is empty).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&zero[0])
	}
	return unsafe.Pointer(&b[0])
}

type fields []byte

func (f *fields) next() []byte {
	if len(*f) < 4 {
		return nil
	}
	n := int(binary.BigEndian.Uint32(*f))
	b := (*f)[4 : 4+n]
	*f = (*f)[4+n:]
	return b
}

func (f *fields) num() int { return int(binary.BigEndian.Uint64(f.next())) }

func get(k []byte) ([]byte, bool) {
	n := storageGet(ptr(k), int32(len(k)))
	if n < 0 {
		return nil, false
	}
	v := make([]byte, n)
	returnRead(ptr(v))
	return v, true
}

func set(k, v []byte) { storageSet(ptr(k), int32(len(k)), ptr(v), int32(len(v))) }

func rec(n int) int {
	if n == 0 {
		return 0
	}
	return rec(n-1) + 1
}

var sink [][]byte

func handle(n int32) (out []byte, ok bool) {
	in := make([]byte, n)
	inputRead(ptr(in))
	if len(in) == 0 {
		return []byte("empty input"), false
	}
	f := fields(in[1:])
	switch in[0] {
	case 'S': // set key value
		k, v := f.next(), f.next()
		set(k, v)
		return []byte("ok"), true
	case 'G': // get key
		v, found := get(f.next())
		if !found {
			return []byte("absent"), false
		}
		return v, true
	case 'D': // delete key
		k := f.next()
		storageDelete(ptr(k), int32(len(k)))
		return []byte("ok"), true
	case 'I': // iterate prefix: the keys, comma-separated
		prefix := f.next()
		var keys []byte
		after := []byte{}
		for {
			kn := storageNext(ptr(after), int32(len(after)), ptr(prefix), int32(len(prefix)))
			if kn < 0 {
				return keys, true
			}
			after = make([]byte, kn)
			returnRead(ptr(after))
			keys = append(append(keys, after...), ',')
		}
	case 'T': // increment the counter at key, by the block height
		k := f.next()
		v, _ := get(k)
		c, _ := strconv.Atoi(string(v))
		c += int(blockHeight())
		set(k, []byte(strconv.Itoa(c)))
		return []byte(strconv.Itoa(c)), true
	case 'E': // emit suffix payload
		s, p := f.next(), f.next()
		emit(ptr(s), int32(len(s)), ptr(p), int32(len(p)))
		return []byte("ok"), true
	case 'R': // random n bytes
		b := make([]byte, f.num())
		random(ptr(b), int32(len(b)))
		return b, true
	case 'H': // host sha256 of data
		d := f.next()
		out := make([]byte, 32)
		hostSHA256(ptr(d), int32(len(d)), ptr(out))
		return out, true
	case 'V': // ed25519 verify pk msg sig
		pk, msg, sig := f.next(), f.next(), f.next()
		return []byte{'0' + byte(ed25519Verify(ptr(pk), ptr(msg), int32(len(msg)), ptr(sig)))}, true
	case 'W': // who and when: caller, contract id, height, time
		out := make([]byte, 20+32+16)
		caller(ptr(out))
		contractID(ptr(out[20:]))
		binary.BigEndian.PutUint64(out[52:], uint64(blockHeight()))
		binary.BigEndian.PutUint64(out[60:], uint64(blockTime()))
		return out, true
	case 'g': // gas left
		return binary.BigEndian.AppendUint64(nil, uint64(gasLeft())), true
	case 'd': // debug text, through debug_log and stderr
		t := f.next()
		debugLog(ptr(t), int32(len(t)))
		println(string(t))
		return []byte("ok"), true
	case 'L': // loop until out of gas
		for i := 0; ; i++ {
			sink = sink[:0]
		}
	case 'P': // panic: the Go runtime prints it and, in a c-shared build, crashes (unreachable)
		panic("boom")
	case 'X': // os.Exit(n)
		os.Exit(f.num())
	case 'C': // recurse n deep
		return []byte(strconv.Itoa(rec(f.num()))), true
	case 'A': // allocate n MiB and touch every page
		b := make([]byte, f.num()<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		sink = append(sink, b)
		return []byte("allocated"), true
	case 'F': // fail with text
		return f.next(), false
	case 'O': // output n bytes
		return make([]byte, f.num()), true
	case 'B': // burn CPU: n rounds of sha256 and a sort, no host calls
		h := sha256.Sum256(f.next())
		xs := make([]int, 256)
		for r := f.num(); r > 0; r-- {
			h = sha256.Sum256(h[:])
			for i := range xs {
				xs[i] = int(h[i%32]) * (i + 1) % 1009
			}
			sort.Ints(xs)
			h[0] ^= byte(xs[len(xs)/2])
		}
		return h[:], true
	}
	return []byte("unknown command " + strconv.Quote(string(in[:1]))), false
}

func entry(n int32) int32 {
	out, ok := handle(n)
	outputWrite(ptr(out), int32(len(out)))
	if !ok {
		return 1
	}
	return 0
}

//go:wasmexport phala_init
func phalaInit(n int32) int32 { return entry(n) }

//go:wasmexport phala_command
func phalaCommand(n int32) int32 { return entry(n) }

//go:wasmexport phala_query
func phalaQuery(n int32) int32 { return entry(n) }

func main() {}
