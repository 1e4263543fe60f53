package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	cfg "github.com/cometbft/cometbft/config"

	"github.com/phala-go/phala/internal/chain/home"
	"github.com/phala-go/phala/internal/chain/node"
	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pherry"
	"github.com/phala-go/phala/internal/pherry/fetch"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/pruntime/api"
	"github.com/phala-go/phala/internal/pruntime/syncbench"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

const relayBlocks = 10_000

// relay measures catch-up sync of 10,000 real blocks from genesis through
// node RPC -> pherry -> pRuntime's HTTP API, and the in-process sync of the
// same blocks; their ratio is the relay overhead.
func relay() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-relay")
	check(err)
	defer os.RemoveAll(dir)
	o := home.DefaultOptions("bench-relay")
	o.AllowSim = true // the benchmark's worker runs on the sim TEE
	o.BlockTime = 0
	o.BasePort = 36656
	nh := filepath.Join(dir, "node")
	_, err = home.Write([]string{nh}, o)
	check(err)

	fmt.Printf("producing %d blocks... ", relayBlocks)
	start := time.Now()
	n, err := node.Start(ctx, node.Options{Home: nh})
	check(err)
	c := dialWait(ctx, o.RPCAddr(0))
	for {
		h, err := c.Height(ctx)
		check(err)
		if h > relayBlocks+1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("%s\n", time.Since(start).Round(time.Second))
	// Restart without empty blocks, so the node is idle while we measure.
	check(n.Stop())
	c2, err := node.LoadConfig(nh)
	check(err)
	c2.Consensus.CreateEmptyBlocks = false
	cfg.WriteConfigFile(filepath.Join(nh, "config", "config.toml"), c2)
	n, err = node.Start(ctx, node.Options{Home: nh})
	check(err)
	defer n.Stop()
	dialWait(ctx, o.RPCAddr(0))

	// Through the relay.
	prDir := filepath.Join(dir, "pruntime")
	provider, err := sim.Open(prDir)
	check(err)
	rt, err := pruntime.Open(pruntime.Config{DataDir: prDir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: 1 << 40})
	check(err)
	ls, err := api.New(rt, logging.Discard(), nil).Listen("127.0.0.1:0", "127.0.0.1:0")
	check(err)
	defer ls.Shutdown(ctx)
	r, err := pherry.New(pherry.Config{NodeRPC: o.RPCAddr(0), PRuntime: ls.PrivateAddr, NoRegister: true, RPCBatchLimit: 200, Batch: 100, Logger: logging.Discard()})
	check(err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- r.Run(rctx) }()
	for rt.Info().SyncedHeight < relayBlocks {
		time.Sleep(5 * time.Millisecond)
	}
	relayTime := time.Since(start)
	cancel()
	check(<-done)

	// In process, the same blocks.
	f, err := fetch.Dial(o.RPCAddr(0), 200)
	check(err)
	genesis, err := f.Genesis(ctx)
	check(err)
	var blocks []protocol.SyncBlock
	for h := int64(0); h < relayBlocks; h += 1000 {
		bs, err := f.Blocks(ctx, h, h+999)
		check(err)
		blocks = append(blocks, bs...)
	}
	rt2, err := syncbench.NewRuntime(filepath.Join(dir, "pruntime2"), genesis)
	check(err)
	start = time.Now()
	for i := 0; i < len(blocks); i += 100 {
		_, err := rt2.Sync(&protocol.SyncRequest{Blocks: blocks[i:min(i+100, len(blocks))]})
		check(err)
	}
	inProc := time.Since(start)
	relayRate := relayBlocks / relayTime.Seconds()
	inRate := relayBlocks / inProc.Seconds()
	fmt.Printf("\n%-44s %10.0f blocks/s  (%s)\n", "node RPC -> pherry -> pRuntime HTTP API", relayRate, relayTime.Round(time.Millisecond))
	fmt.Printf("%-44s %10.0f blocks/s  (%s)\n", "pRuntime in-process, same blocks", inRate, inProc.Round(time.Millisecond))
	fmt.Printf("%-44s %10.2f\n", "relay / in-process", relayRate/inRate)
}

// ping measures the devnet's round trip: from broadcasting a ping to its
// signed answer landing on chain, in block times.
func ping() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ping")
	check(err)
	defer os.RemoveAll(dir)
	o := devnet.DefaultOptions()
	o.Home, o.BasePort = dir, 36700
	d, err := devnet.Start(ctx, o)
	check(err)
	defer d.Stop()
	c := dialWait(ctx, d.Addr.NodeRPC)
	worker := d.Worker.Runtime.Info().WorkerPubkey
	origin := protocol.WorkerOrigin(ed25519.PublicKey(worker))
	const n = 100
	var rtts []time.Duration
	for i := range n {
		next, err := c.NextSeqUnverified(ctx, origin)
		check(err)
		call, err := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: protocol.WorkerPingTopic(ed25519.PublicKey(worker)), Payload: []byte(fmt.Sprint(i))})
		check(err)
		acc, err := c.AccountUnverified(ctx, d.DevKey.Address())
		check(err)
		raw := protocol.SignTx(d.DevKey.Private, protocol.Tx{ChainID: c.ChainID(), Nonce: acc.Nonce, Fee: protocol.DefaultParams().MinFee, Call: call})
		start := time.Now()
		_, err = c.Broadcast(ctx, raw)
		check(err)
		for {
			got, err := c.NextSeqUnverified(ctx, origin)
			check(err)
			if got > next {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		rtts = append(rtts, time.Since(start))
		time.Sleep(time.Duration(i%7) * 29 * time.Millisecond) // spread pings over the block cycle
	}
	slices.Sort(rtts)
	p50, p99 := rtts[n/2], rtts[n*99/100]
	bt := o.BlockTime
	fmt.Printf("devnet ping round trip over %d pings, block time %s:\n", n, bt)
	fmt.Printf("  p50 %s = %.1f block times\n  p99 %s = %.1f block times\n", p50.Round(time.Millisecond), float64(p50)/float64(bt), p99.Round(time.Millisecond), float64(p99)/float64(bt))
}

func dialWait(ctx context.Context, addr string) *sdk.Client {
	for range 200 {
		if c, err := sdk.Dial(ctx, addr); err == nil {
			if h, err := c.Height(ctx); err == nil && h >= 2 {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	check(fmt.Errorf("node %s does not answer", addr))
	return nil
}
