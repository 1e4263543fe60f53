// Package dispatch applies verified blocks to pRuntime: it recomputes each
// block's app hash from its state root and message list, compares it with
// the verified header, enforces contiguous per-origin sequence numbers, and
// delivers the messages in order to the subscribers that claim their topics
// (the registry view, egress, and later keys and contracts). A block is
// applied atomically: on any error nothing changes.
//
// dispatch never verifies headers (package light does) and never interprets
// payloads (subscribers do).
package dispatch

import (
	"bytes"
	"fmt"
	"time"

	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// Block is what subscribers know of the block being applied.
type Block struct {
	Height int64
	// Time is the verified time of block Height: pRuntime's only clock.
	Time time.Time
}

// Subscriber receives the verified messages it claims.
type Subscriber interface {
	// Wants reports whether the subscriber handles m.
	Wants(m *protocol.Message) bool
	// Deliver applies m within the block's transaction. An error fails the
	// whole block.
	Deliver(b Block, m *protocol.Message) error
}

// BlockHook runs after every message of a block was delivered, within the
// block's transaction.
type BlockHook interface {
	EndBlock(b Block) error
}

// Engine is the dispatcher.
type Engine struct {
	tx    *state.Tx
	seqs  *state.Map[string, uint64] // origin key -> next sequence number
	subs  []Subscriber
	hooks []BlockHook
}

// New returns an engine whose changes, and those of every table created on
// tx, commit or roll back together with each block.
func New(tx *state.Tx) *Engine {
	return &Engine{tx: tx, seqs: state.NewMap[string, uint64](tx)}
}

// Subscribe adds a subscriber. Subscribers see each message in the order they
// were added.
func (e *Engine) Subscribe(s Subscriber) { e.subs = append(e.subs, s) }

// OnEndBlock adds a hook run at the end of each block.
func (e *Engine) OnEndBlock(h BlockHook) { e.hooks = append(e.hooks, h) }

// Prepared is a block's message list, hashed and decoded, not yet checked.
type Prepared struct {
	appHash []byte
	msgs    []*protocol.Message
	err     error // the first decoding error
	count   int
}

// Prepare computes the app hash a message list commits to and decodes its
// messages. It is pure, so it can run while the header is being verified.
func Prepare(bm *protocol.BlockMessages) *Prepared {
	p := &Prepared{appHash: bm.AppHash(), count: len(bm.Messages)}
	p.msgs = make([]*protocol.Message, len(bm.Messages))
	for i, enc := range bm.Messages {
		m, err := protocol.DecodeMessage(enc)
		if err != nil {
			p.err = fmt.Errorf("message %d: %w", i, err)
			break
		}
		p.msgs[i] = m
	}
	return p
}

// Matches reports whether the prepared message list rebuilds appHash.
func (p *Prepared) Matches(appHash []byte) bool { return bytes.Equal(p.appHash, appHash) }

// Apply applies block b, whose prepared message list must rebuild appHash,
// the app hash that the verified header b.Height+1 carries. A decoding
// error counts only after that check, so every byte delivered is a byte the
// validators committed to.
func (e *Engine) Apply(b Block, p *Prepared, appHash []byte) error {
	if !bytes.Equal(p.appHash, appHash) {
		return protocol.Errorf(protocol.ErrAppHashMismatch, "block %d: state root and %d messages give %X, header %d says %X", b.Height, p.count, p.appHash, b.Height+1, appHash)
	}
	if p.err != nil {
		return fmt.Errorf("block %d: %w", b.Height, p.err)
	}
	if err := e.deliver(b, p.msgs); err != nil {
		e.tx.Rollback()
		return err
	}
	e.tx.Commit()
	return nil
}

func (e *Engine) deliver(b Block, msgs []*protocol.Message) error {
	for i, m := range msgs {
		key := string(m.Origin.Key())
		next, _ := e.seqs.Get(key)
		switch {
		case m.Seq < next:
			return protocol.Errorf(protocol.ErrSeqRepeat, "block %d message %d: %s seq %d, next %d", b.Height, i, m.Origin, m.Seq, next)
		case m.Seq > next:
			return protocol.Errorf(protocol.ErrSeqGap, "block %d message %d: %s seq %d, next %d", b.Height, i, m.Origin, m.Seq, next)
		}
		e.seqs.Set(key, next+1)
		for _, s := range e.subs {
			if !s.Wants(m) {
				continue
			}
			if err := s.Deliver(b, m); err != nil {
				if _, ok := protocol.CodeOf(err); !ok {
					err = protocol.Errorf(protocol.ErrApply, "%v", err)
				}
				return fmt.Errorf("block %d message %d (%s seq %d on %q): %w", b.Height, i, m.Origin, m.Seq, m.Topic, err)
			}
		}
	}
	for _, h := range e.hooks {
		if err := h.EndBlock(b); err != nil {
			if _, ok := protocol.CodeOf(err); !ok {
				err = protocol.Errorf(protocol.ErrApply, "%v", err)
			}
			return fmt.Errorf("block %d: end block: %w", b.Height, err)
		}
	}
	return nil
}

// PendingNextSeq returns origin's next sequence number as seen by the block
// being applied.
func (e *Engine) PendingNextSeq(o protocol.Origin) uint64 {
	n, _ := e.seqs.Get(string(o.Key()))
	return n
}

// NextSeq returns the committed next sequence number of origin.
func (e *Engine) NextSeq(o protocol.Origin) uint64 {
	n, _ := e.seqs.CommittedGet(string(o.Key()))
	return n
}

// Seqs returns the committed sequence table (for checkpoints).
func (e *Engine) Seqs() map[string]uint64 { return e.seqs.Snapshot() }

// LoadSeqs restores the sequence table from a checkpoint.
func (e *Engine) LoadSeqs(m map[string]uint64) { e.seqs.Load(m) }
