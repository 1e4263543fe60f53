package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// requestMemory sends pRuntime, over its private API on loopback, the
// largest request each limit allows — honest syncs at the message cap and
// at the byte limit, the amplification attack, the largest genesis
// and the largest (refused) state transfer — and reports the heap and
// resident memory each costs against its body size and the bound
// docs/pruntime.md states: 4 x body + 64 MiB.
func requestMemory() {
	fmt.Printf("machine: %s/%s, %d CPUs, GOMAXPROCS=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("%-44s %9s %8s %11s %6s %11s %11s %7s\n", "request", "body", "answer", "peak heap", "/body", "peak RSS", "allocated", "bound")
	for _, w := range []struct {
		name string
		run  func() (body int, answer string, m memUse)
	}{
		{"sync: 1000 blocks x 1048 messages (cap)", func() (int, string, memUse) { return syncWorkload(1048, 0) }},
		{"sync: 1000 blocks x 1 message of 63 KiB", func() (int, string, memUse) { return syncWorkload(1, 63<<10) }},
		{"sync: 1000 blocks x 65536 empty messages", hostileSync},
		{"init: 8 MiB genesis", bigGenesis},
		{"state apply: 256 MiB transfer (refused)", bigTransfer},
	} {
		body, answer, m := w.run()
		bound := 4*uint64(body) + 64<<20
		fmt.Printf("%-44s %7.1fMi %8s %9.1fMi %6.2f %9.1fMi %9.1fMi %7s\n", w.name, mib(uint64(body)), answer,
			mib(m.heap), float64(m.heap)/float64(body), float64(m.rss)/(1<<20), mib(m.allocated), verdict(m.heap <= bound && m.rss <= bound))
	}
	fmt.Println("\npeak heap and RSS are above the level before the request (the harness holds the body itself);")
	fmt.Println("allocated is everything allocated meanwhile (an upper bound of the heap growth); bound = 4 x body + 64 MiB")
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// memUse is what one request cost beyond the level before it.
type memUse struct {
	heap, rss, allocated uint64
}

// measure runs f while sampling the heap every 100 µs, and reads the
// resident high-water mark, reset before f.
func measure(f func()) memUse {
	debug.FreeOSMemory() // so that RSS growth is memory the request made the process map
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM
	baseRSS := procStatus("VmRSS:")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: sample[0].Name}}
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&after)
	m := memUse{allocated: after.TotalAlloc - before.TotalAlloc}
	if peak > base {
		m.heap = peak - base
	}
	if hwm := procStatus("VmHWM:"); hwm > baseRSS {
		m.rss = hwm - baseRSS
	}
	return m
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// served is a pRuntime behind its API on loopback.
type served struct {
	rt   *pruntime.Runtime
	ls   *api.Listeners
	dir  string
	base string
}

func serve(genesis []byte) *served {
	dir, err := os.MkdirTemp("", "pruntime-requests")
	check(err)
	provider, err := sim.Open(dir)
	check(err)
	rt, err := pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: 1 << 40})
	check(err)
	if genesis != nil { // else the init workload binds it
		check(rt.Init(genesis))
	}
	ls, err := api.New(rt, logging.Discard(), nil).Listen("127.0.0.1:0", "127.0.0.1:0")
	check(err)
	return &served{rt: rt, ls: ls, dir: dir, base: "http://" + ls.PrivateAddr}
}

func (s *served) close() {
	s.ls.Shutdown(context.Background())
	s.rt.Kill()
	os.RemoveAll(s.dir)
}

// post sends body and returns the answer's status and error code.
func (s *served) post(path string, body []byte) string {
	resp, err := http.Post(s.base+path, "application/octet-stream", bytes.NewReader(body))
	check(err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return "200"
	}
	var eb api.ErrorBody
	json.Unmarshal(out, &eb)
	return fmt.Sprintf("%s/%d", eb.Error.Space, eb.Error.Code)
}

// syncWorkload builds 1,000 blocks of n messages with payloads of size
// bytes (0: as large as the body limit allows) and syncs them in one
// request.
func syncWorkload(n, size int) (int, string, memUse) {
	c := testchain.New("bench-requests", 4)
	// Short module origins and topic: the smallest messages, so the most
	// of them fit.
	origins := make([]protocol.Origin, 8)
	for i := range origins {
		origins[i] = protocol.ModuleOrigin(string(rune('a' + i)))
	}
	if size == 0 {
		probe := protocol.Message{Origin: origins[0], Topic: "b", Seq: 1 << 20}
		room := (api.MaxSyncBody - 4<<20) / (protocol.MaxSyncBlocks * n)
		size = room - len(probe.Encode()) - 3
	}
	blocks := make([]protocol.SyncBlock, protocol.MaxSyncBlocks)
	payload := make([]byte, size)
	for h := range blocks {
		msgs := make([]protocol.Message, n)
		for i := range msgs {
			msgs[i] = c.Msg(origins[i%len(origins)], "b", payload)
		}
		blocks[h] = c.Next(msgs...)
	}
	body := protocol.MustMarshal(&protocol.SyncRequest{Blocks: blocks})
	blocks = nil
	if len(body) > api.MaxSyncBody {
		check(fmt.Errorf("sync body of %d bytes is over the limit", len(body)))
	}
	s := serve(c.GenesisJSON())
	defer s.close()
	var answer string
	m := measure(func() { answer = s.post("/v1/sync", body) })
	return len(body), answer, m
}

// hostileSync is the attack: 1,000 blocks of 65,536 empty
// messages, one byte each on the wire, under the body limit.
func hostileSync() (int, string, memUse) {
	var b []byte
	head := func(major byte, v uint64) {
		switch {
		case v < 24:
			b = append(b, major<<5|byte(v))
		case v <= 0xff:
			b = append(b, major<<5|24, byte(v))
		case v <= 0xffff:
			b = append(b, major<<5|25)
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		default:
			b = append(b, major<<5|26)
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
	}
	key := func(k string) { head(3, uint64(len(k))); b = append(b, k...) }
	head(5, 1)
	key("blocks")
	head(4, protocol.MaxSyncBlocks)
	empty := bytes.Repeat([]byte{0x40}, protocol.MaxBlockMessages)
	for h := range protocol.MaxSyncBlocks {
		head(5, 4)
		key("height")
		head(0, uint64(h))
		key("messages")
		head(5, 2)
		key("messages")
		head(4, protocol.MaxBlockMessages)
		b = append(b, empty...)
		key("state_root")
		head(2, 0)
		key("signed_header")
		head(2, 0)
		key("next_validators")
		head(2, 0)
	}
	c := testchain.New("bench-hostile", 4)
	s := serve(c.GenesisJSON())
	defer s.close()
	var answer string
	m := measure(func() { answer = s.post("/v1/sync", b) })
	return len(b), answer, m
}

// bigGenesis is a valid genesis padded to the init body limit by its
// app_state.
func bigGenesis() (int, string, memUse) {
	c := testchain.New("bench-genesis", 4)
	var doc map[string]json.RawMessage
	check(json.Unmarshal(c.GenesisJSON(), &doc))
	pad := api.MaxInitBody - len(c.GenesisJSON()) - 64
	doc["app_state"] = json.RawMessage(`{"pad":"` + strings.Repeat("x", pad) + `"}`)
	body, err := json.Marshal(doc)
	check(err)
	s := serve(nil)
	defer s.close()
	var answer string
	m := measure(func() { answer = s.post("/v1/init", body) })
	return len(body), answer, m
}

// bigTransfer is a state transfer of the largest size, signed by a server
// no registry knows: refused after it is decoded and its signature checked.
func bigTransfer() (int, string, memUse) {
	c := testchain.New("bench-transfer", 4)
	s := serve(c.GenesisJSON())
	defer s.close()
	server := ed25519.NewKeyFromSeed(make([]byte, 32))
	t := protocol.StateTransfer{ChainID: c.ID, Server: server.Public().(ed25519.PublicKey), Height: 1, Sealed: make([]byte, protocol.MaxStateTransfer-1024)}
	body := protocol.MustMarshal(&protocol.SignedStateTransfer{Transfer: t, Sig: protocol.Sign(server, protocol.SigSnapshot, protocol.MustMarshal(&t))})
	var answer string
	m := measure(func() { answer = s.post("/v1/state/apply", body) })
	return len(body), answer, m
}
