package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// tokenDevnet starts a devnet in a temporary home and deploys the example
// token there, with some of it moved to a second account.
func tokenDevnet(ctx context.Context, port int) (d *devnet.Devnet, c *sdk.Client, id []byte, cleanup func()) {
	dir, err := os.MkdirTemp("", "bench-contracts")
	check(err)
	o := devnet.DefaultOptions()
	o.Home, o.BasePort = dir, port
	d, err = devnet.Start(ctx, o)
	check(err)
	cleanup = func() { d.Stop(); os.RemoveAll(dir) }
	c = dialWait(ctx, d.Addr.NodeRPC)
	wasm, err := contractbuild.Build(ctx, "examples/contracts/token")
	check(err)
	code, err := c.UploadCode(ctx, d.DevKey, wasm)
	check(err)
	id, secret, err := c.Instantiate(ctx, d.DevKey, code, protocol.ClusterID(devnet.Cluster), nil, []byte(`{"supply": 1000000000}`), 100_000_000)
	check(err)
	res, _, err := c.WaitInit(ctx, id, secret)
	check(err)
	if res.Outcome != protocol.OutcomeOK {
		check(fmt.Errorf("token init: %+v", res))
	}
	check(c.WaitContractKey(ctx, id))
	return d, c, id, cleanup
}

// queries measures the devnet worker's contract query throughput (token
// balance queries) against the HPKE open rate of the same machine with
// every core opening: each query costs one HPKE open, so that is its
// bound. It reports the worker's query path called directly (one caller
// per core) and over HTTP with the load generator on the same cores.
func queries() {
	ctx := context.Background()
	fmt.Printf("machine: %s/%s, %d CPUs, GOMAXPROCS=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	d, c, id, cleanup := tokenDevnet(ctx, 36800)
	defer cleanup()

	info := d.Worker.Runtime.Info()
	tip, err := c.Height(ctx)
	check(err)
	const n = 16000
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.NumCPU() {
				h := protocol.QueryHeader{ChainID: c.ChainID(), Contract: id, Worker: info.WorkerPubkey, Expiry: tip + protocol.MaxQueryWindow - 10, GasLimit: 10_000_000}
				q, err := sdk.PrepareQuery(d.DevKey, h, info.EncryptionPubkey, []byte(`{"balance": {}}`))
				check(err)
				bodies[i] = q.Body
			}
		}()
	}
	wg.Wait()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + d.Addr.WorkerPublic + "/v1/query"
	post := func(body []byte) int {
		resp, err := client.Post(url, "application/cbor", bytes.NewReader(body))
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, b := range bodies[:100] { // warm the instance pool and the connections
		post(b)
	}
	// A worker's host runs pRuntime and pherry, not the validator: stop the
	// devnet's node so that it does not compete for the two cores (the
	// worker keeps answering from the state it published; pherry backs off).
	check(d.Node.Stop())
	time.Sleep(2 * time.Second)
	hpkeOpenRate(runtime.GOMAXPROCS(0), time.Second) // warm up
	bound := hpkeOpenRate(1, 2*time.Second)
	allCores := hpkeOpenRate(runtime.GOMAXPROCS(0), 2*time.Second)
	var next, busy, failed atomic.Int64
	next.Store(100)
	clients := 4 * runtime.NumCPU()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n/2 {
					return
				}
				for {
					code := post(bodies[i])
					if code == http.StatusServiceUnavailable {
						busy.Add(1)
						continue
					}
					if code != http.StatusOK {
						failed.Add(1)
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		check(fmt.Errorf("%d queries failed", failed.Load()))
	}
	httpQPS := float64(n/2-100) / elapsed.Seconds()

	// The same queries straight into the worker's query path, one caller
	// per core: what the worker itself sustains, without the HTTP load
	// generator competing for the same two cores.
	next.Store(n / 2)
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if _, err := d.Worker.Runtime.Query(ctx, bodies[i]); err != nil {
					check(err)
				}
			}
		}()
	}
	wg.Wait()
	directQPS := float64(n/2) / time.Since(start).Seconds()

	fmt.Printf("%-52s %8.0f/s\n", "HPKE open (X-Wing), one core (bound)", bound)
	fmt.Printf("%-52s %8.0f/s  %5.2f of the bound\n", "HPKE open, every core", allCores, allCores/bound)
	fmt.Printf("%-52s %8.0f/s  %5.2f of the bound  %5.2f of every core\n", "queries answered by the worker's query path", directQPS, directQPS/bound, directQPS/allCores)
	fmt.Printf("%-52s %8.0f/s  %5.2f of the bound  %5.2f of every core  (%d clients, %d busy retries)\n", "queries over HTTP, load generator on the same cores", httpQPS, httpQPS/bound, httpQPS/allCores, clients, busy.Load())
	fmt.Printf("\ntarget: queries per worker >= 50%% of the HPKE open rate: %s\n", verdict(httpQPS >= bound/2))
}

// hpkeOpenRate opens query-sized ciphertexts from the given number of
// goroutines for d.
func hpkeOpenRate(callers int, d time.Duration) float64 {
	ek, err := keys.NewEncryption()
	check(err)
	sealed, err := protocol.HPKESeal(ek.Public(), []byte("info"), []byte("aad"), []byte(`{"balance": {}}`))
	check(err)
	var opened atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := protocol.HPKEOpen(ek.Private(), []byte("info"), []byte("aad"), sealed); err != nil {
					check(err)
				}
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(opened.Load()) / d.Seconds()
}

// commands measures the devnet's end-to-end command latency: from
// broadcasting an encrypted token transfer to its result being on chain,
// in block times (the devnet's block time, and the mean interval the
// chain actually kept during the run).
func commands() {
	ctx := context.Background()
	d, c, id, cleanup := tokenDevnet(ctx, 36900)
	defer cleanup()
	bob, err := sdk.GenerateKey("bob")
	check(err)
	rec, err := c.EpochRecord(ctx)
	check(err)
	info, _, err := c.Contract(ctx, id)
	check(err)
	fee, err := c.MinFee(ctx)
	check(err)
	startHeight, err := c.Height(ctx)
	check(err)
	runStart := time.Now()
	const n = 100
	var lat []time.Duration
	for i := range n {
		acc, err := c.AccountUnverified(ctx, d.DevKey.Address())
		check(err)
		plain := fmt.Appendf(nil, `{"transfer": {"to": "%s", "amount": 1}}`, bob.Address())
		raw, _, err := sdk.SignContractCommand(c.ChainID(), rec, &info, d.DevKey, acc.Nonce, fee, plain, 100_000_000)
		check(err)
		start := time.Now()
		_, err = c.Broadcast(ctx, raw)
		check(err)
		// The result is on chain once a committed block holds it; reading
		// it with a proof takes one block more (the proof's app hash is in
		// the next header), which is the client's cost, not the system's.
		for {
			st, ok, err := c.CommandStatusUnverified(ctx, id, uint64(i))
			check(err)
			if ok && st.Result != nil {
				if st.Result.Outcome != protocol.OutcomeOK {
					check(fmt.Errorf("command %d: %+v", i, st.Result))
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(time.Duration(i%7) * 29 * time.Millisecond) // spread commands over the block cycle
	}
	endHeight, err := c.Height(ctx)
	check(err)
	interval := time.Since(runStart) / time.Duration(endHeight-startHeight)
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	bt := devnet.DefaultOptions().BlockTime
	fmt.Printf("devnet command latency (broadcast -> executed -> result on chain) over %d token transfers\n", n)
	fmt.Printf("block time %s (mean interval kept: %s)\n", bt, interval.Round(time.Millisecond))
	fmt.Printf("  p50 %s = %.2f block times (%.2f intervals)\n", p50.Round(time.Millisecond), float64(p50)/float64(bt), float64(p50)/float64(interval))
	fmt.Printf("  p99 %s = %.2f block times (%.2f intervals)\n", p99.Round(time.Millisecond), float64(p99)/float64(bt), float64(p99)/float64(interval))
	fmt.Printf("\ntarget: p50 <= 2 block times: %s\n", verdict(float64(p50) <= 2*float64(bt)))
}
