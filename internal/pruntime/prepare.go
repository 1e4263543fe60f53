package pruntime

import (
	"fmt"
	"log/slog"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/protocol"
)

// Hashing and decoding each block's messages is independent of checking
// headers and signatures, so a second goroutine prepares blocks ahead of
// the verifier. It runs ahead by at most prepareBudget bytes of estimated
// decoded messages (and always by at least one block), so a request's
// decoded messages never all sit in memory at once: what a request costs
// beyond its body stays bounded (docs/pruntime.md, "Memory").
const (
	prepareBudget = 32 << 20
	// messageOverhead is what a decoded message holds beyond its encoding
	// (the Message, its origin id and topic, the Merkle leaf), rounded up.
	messageOverhead = 192
)

// preparer runs dispatch.Prepare over a request's blocks ahead of Sync.
// Sync owns it: it calls next and done once per block, in order, then stop.
type preparer struct {
	costs  []int
	out    chan prepared
	freed  chan int
	quit   chan struct{}
	exited chan struct{}
	halted bool
}

type prepared struct {
	p   *dispatch.Prepared
	err error
}

func startPreparing(blocks []protocol.SyncBlock, log *slog.Logger) *preparer {
	pr := &preparer{
		costs: make([]int, len(blocks)),
		// Both buffered for every block, so that neither side ever blocks
		// on a send.
		out:    make(chan prepared, len(blocks)),
		freed:  make(chan int, len(blocks)),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for i := range blocks {
		c := 1
		for _, m := range blocks[i].Messages.Messages {
			c += len(m) + messageOverhead
		}
		pr.costs[i] = c
	}
	go pr.run(blocks, log)
	return pr
}

func (pr *preparer) run(blocks []protocol.SyncBlock, log *slog.Logger) {
	defer close(pr.exited)
	held := 0
	for i := range blocks {
		for held > 0 && held+pr.costs[i] > prepareBudget {
			select {
			case n := <-pr.freed:
				held -= n
			case <-pr.quit:
				return
			}
		}
		select {
		case <-pr.quit:
			return
		default:
		}
		pr.out <- prepareBlock(&blocks[i], log)
		held += pr.costs[i]
	}
}

// prepareBlock is dispatch.Prepare with a panic contained: this goroutine
// is not a request handler, and a panic here would end the process.
func prepareBlock(b *protocol.SyncBlock, log *slog.Logger) (res prepared) {
	defer func() {
		if v := recover(); v != nil {
			res = prepared{err: internalError(log, fmt.Sprintf("preparing block %d", b.Height), v)}
		}
	}()
	return prepared{p: dispatch.Prepare(&b.Messages)}
}

// next waits for the next block's prepared message list.
func (pr *preparer) next() (*dispatch.Prepared, error) {
	r := <-pr.out
	return r.p, r.err
}

// done says block i has been applied (or refused): its prepared messages
// no longer count against the budget.
func (pr *preparer) done(i int) { pr.freed <- pr.costs[i] }

// stop ends the preparer and waits for its goroutine.
func (pr *preparer) stop() {
	if !pr.halted {
		pr.halted = true
		close(pr.quit)
		<-pr.exited
	}
}
