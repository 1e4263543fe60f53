// Package mq owns the chain's ordered message queue: per-origin sequence
// numbers, the rules for who may send what on which topic, and the per-block
// message list that the app hash commits to. The chain is a dumb ordered
// bus: mq never interprets payloads.
package mq

import (
	"bytes"

	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Authorizer decides whether the signer of an off-chain message may speak
// for its origin (a registered worker, a current gatekeeper). The registry
// and keys modules implement it.
type Authorizer interface {
	AuthorizeSender(ctx *module.Context, sm *protocol.SignedMessage) error
}

// Observer sees every accepted off-chain message, within the transaction
// that submits it, and may refuse it: the keys module reads gatekeeper
// messages and key announcements this way. Observers must ignore topics
// they do not own.
type Observer interface {
	ObserveMessage(ctx *module.Context, sm *protocol.SignedMessage) error
}

// Module is the mq module.
type Module struct {
	auth      map[protocol.OriginKind]Authorizer
	observers []Observer
}

// New returns the mq module. auth decides, per origin kind, whose signed
// messages are accepted (an origin kind without an authorizer sends
// nothing); observers see accepted messages.
func New(auth map[protocol.OriginKind]Authorizer, observers ...Observer) *Module {
	return &Module{auth: auth, observers: observers}
}

// Name implements module.Module.
func (*Module) Name() string { return protocol.ModuleMQ }

func kv(s store.KV) store.KV { return store.Prefix(s, []byte(protocol.ModuleMQ+"/")) }

func seqKey(o protocol.Origin) []byte { return append([]byte("n/"), o.Key()...) }

// NextSeqStateKey is the full store key of origin's next sequence number,
// for proofs.
func NextSeqStateKey(o protocol.Origin) []byte {
	return append([]byte(protocol.ModuleMQ+"/"), seqKey(o)...)
}

// NextSeq returns the sequence number origin's next message must carry.
func NextSeq(s store.KV, o protocol.Origin) uint64 {
	raw := kv(s).Get(seqKey(o))
	if raw == nil {
		return 0
	}
	var n uint64
	if err := protocol.Unmarshal(raw, &n); err != nil {
		store.Fail("mq: decode next seq", err)
	}
	return n
}

func setNextSeq(s store.KV, o protocol.Origin, n uint64) {
	kv(s).Set(seqKey(o), protocol.MustMarshal(n))
}

// Emit appends a message from an on-chain origin (a module or an account)
// to the block's list, assigning the origin's next sequence number.
func Emit(ctx *module.Context, origin protocol.Origin, topic string, payload []byte) error {
	seq := NextSeq(ctx.State, origin)
	return deliver(ctx, protocol.Message{Origin: origin, Topic: topic, Seq: seq, Payload: payload})
}

// deliver appends m, whose sequence number is next for its origin. The
// per-block limit applies to the messages a transaction causes on its
// sender's behalf. Two kinds run without a sender (ctx.Tx nil) and are
// exempt, so that no flood of cheap transactions can block them: module
// bookkeeping at the end of a block (expiries, retirements), bounded by the
// state it retires or by its own batch size; and governance actions, which
// need a threshold of admins.
func deliver(ctx *module.Context, m protocol.Message) error {
	if !ctx.Check && ctx.Tx != nil && uint64(ctx.MessageCount()) >= ctx.Params.MaxMessagesPerBlock {
		return protocol.Errorf(protocol.ErrTooManyMessages, "limit %d", ctx.Params.MaxMessagesPerBlock)
	}
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	setNextSeq(ctx.State, m.Origin, m.Seq+1)
	ctx.AppendMessage(m)
	return nil
}

// Call implements module.Module.
func (m *Module) Call(ctx *module.Context, method string, args []byte) error {
	switch method {
	case protocol.MethodPush:
		var a protocol.PushArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		if err := checkContent(ctx, a.Topic, a.Payload); err != nil {
			return err
		}
		return Emit(ctx, protocol.AccountOrigin(ctx.Tx.Signer), a.Topic, a.Payload)
	case protocol.MethodSubmit:
		var a protocol.SubmitArgs
		if err := module.DecodeArgs(method, args, &a); err != nil {
			return err
		}
		return m.submit(ctx, &a.Message)
	}
	return protocol.Errorf(protocol.ErrUnknownMethod, "mq.%s", method)
}

// checkContent applies the rules every message obeys: a valid topic outside
// the modules' reserved namespaces, and a bounded payload.
func checkContent(ctx *module.Context, topic string, payload []byte) error {
	if err := protocol.ValidateTopic(topic); err != nil {
		return err
	}
	if owner, ok := protocol.ReservedTopicModule(topic, protocol.Modules); ok {
		return protocol.Errorf(protocol.ErrReservedTopic, "topic %q belongs to module %s", topic, owner)
	}
	if uint64(len(payload)) > ctx.Params.MaxPayloadBytes {
		return protocol.Errorf(protocol.ErrPayloadTooLarge, "%d bytes, limit %d", len(payload), ctx.Params.MaxPayloadBytes)
	}
	return nil
}

// submit accepts an off-chain sender's signed message if its sequence is
// exactly the next one: a lower one is a duplicate (another relayer's copy
// landed first), a higher one would leave a gap.
func (m *Module) submit(ctx *module.Context, sm *protocol.SignedMessage) error {
	msg := &sm.Message
	if err := msg.Origin.Validate(); err != nil {
		return err
	}
	if !msg.Origin.OffChain() {
		return protocol.Errorf(protocol.ErrOriginNotAllowed, "origin %s cannot submit signed messages", msg.Origin)
	}
	if err := checkContent(ctx, msg.Topic, msg.Payload); err != nil {
		return err
	}
	next := NextSeq(ctx.State, msg.Origin)
	switch {
	case msg.Seq < next:
		return protocol.Errorf(protocol.ErrDuplicateSeq, "origin %s: seq %d, next %d", msg.Origin, msg.Seq, next)
	case msg.Seq > next:
		return protocol.Errorf(protocol.ErrFutureSeq, "origin %s: seq %d, next %d", msg.Origin, msg.Seq, next)
	}
	if msg.Origin.Kind == protocol.OriginWorker && !bytes.Equal(sm.Signer, msg.Origin.ID) {
		return protocol.Errorf(protocol.ErrSignerMismatch, "signer %x, origin %s", sm.Signer, msg.Origin)
	}
	if err := sm.VerifySignature(ctx.Block.ChainID); err != nil {
		return err
	}
	auth, ok := m.auth[msg.Origin.Kind]
	if !ok {
		return protocol.Errorf(protocol.ErrOriginNotAllowed, "origin %s cannot send messages", msg.Origin)
	}
	if err := auth.AuthorizeSender(ctx, sm); err != nil {
		return err
	}
	if err := deliver(ctx, *msg); err != nil {
		return err
	}
	for _, o := range m.observers {
		if err := o.ObserveMessage(ctx, sm); err != nil {
			return err
		}
	}
	return nil
}
