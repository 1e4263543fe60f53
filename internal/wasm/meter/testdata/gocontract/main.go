// Command gocontract is a contract for the meter tests: it exercises the Go
// runtime (allocation and memory growth, goroutines and channels, maps,
// interfaces, panics and recover, floating point, deep calls) and writes a
// report of what it computed, so a test can compare the original module
// with its instrumented version. It imports the host ABI directly.
package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport phala_v1 input_read
func inputRead(ptr unsafe.Pointer)

//go:wasmimport phala_v1 output_write
func outputWrite(ptr unsafe.Pointer, n int32)

type shape interface{ area() float64 }

type square struct{ s float64 }
type circle struct{ r float64 }

func (q square) area() float64 { return q.s * q.s }
func (c circle) area() float64 { return math.Pi * c.r * c.r }

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func depth(n int) int {
	if n == 0 {
		return 0
	}
	return depth(n-1) + 1
}

func recovered() (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	var m map[string]int
	m["x"] = 1
	return "no panic"
}

func report(seed byte) string {
	var b strings.Builder
	h := sha256.Sum256([]byte{seed})
	for i := 0; i < 200; i++ {
		h = sha256.Sum256(h[:])
	}
	fmt.Fprintf(&b, "sha %x\n", h[:8])

	big := make([][]byte, 0, 64)
	for i := range 64 {
		big = append(big, make([]byte, 64<<10)) // grows the heap, hence memory
		big[i][i] = byte(i)
	}
	fmt.Fprintf(&b, "alloc %d\n", len(big))

	ch := make(chan int)
	done := make(chan int)
	go func() {
		s := 0
		for v := range ch {
			s += v
		}
		done <- s
	}()
	for i := range 100 {
		ch <- i * int(seed)
	}
	close(ch)
	fmt.Fprintf(&b, "chan %d\n", <-done)

	m := map[string]int{}
	for i := range 500 {
		m[strconv.Itoa(i%37)] += i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "map %d %s=%d\n", len(keys), keys[3], m[keys[3]])

	shapes := []shape{square{2}, circle{1.5}, square{float64(seed)}}
	total := 0.0
	for _, s := range shapes {
		total += s.area()
	}
	fmt.Fprintf(&b, "area %.6f sqrt %.9f exp %.9f\n", total, math.Sqrt(total), math.Exp(-total/100))
	fmt.Fprintf(&b, "fib %d depth %d\n", fib(20), depth(300))
	fmt.Fprintf(&b, "recover %s\n", recovered())
	return b.String()
}

//go:wasmexport phala_init
func phalaInit(n int32) int32 { return 0 }

//go:wasmexport phala_command
func phalaCommand(n int32) int32 {
	in := make([]byte, n+1)
	inputRead(unsafe.Pointer(&in[0]))
	out := []byte(report(in[0]))
	outputWrite(unsafe.Pointer(&out[0]), int32(len(out)))
	return 0
}

//go:wasmexport phala_query
func phalaQuery(n int32) int32 { return phalaCommand(n) }

func main() {}
