package pruntime

import (
	"crypto/ed25519"
	"encoding/hex"

	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/protocol"
)

// PongTopic is the topic of a worker's echo replies.
func PongTopic(pub ed25519.PublicKey) string {
	return protocol.TopicPrefix + "/worker/" + hex.EncodeToString(pub) + "/pong"
}

// Pong is the payload of an echo reply: which ping it answers, and the
// ping's payload.
type Pong struct {
	Origin  protocol.Origin `cbor:"origin"`
	Seq     uint64          `cbor:"seq"`
	Payload []byte          `cbor:"payload"`
}

// echo answers every message on the worker's ping topic with a signed
// egress message, so the loop chain → pRuntime → chain can be tested before
// contracts exist. Its reply depends only on the ping, so re-applying a
// block reproduces it exactly.
type echo struct {
	ping, pong string
	out        *egress.Queue
}

func newEcho(pub ed25519.PublicKey, out *egress.Queue) *echo {
	return &echo{ping: protocol.WorkerPingTopic(pub), pong: PongTopic(pub), out: out}
}

func (e *echo) Wants(m *protocol.Message) bool { return m.Topic == e.ping }

func (e *echo) Deliver(_ dispatch.Block, m *protocol.Message) error {
	return e.out.Emit(e.pong, protocol.MustMarshal(&Pong{Origin: m.Origin, Seq: m.Seq, Payload: m.Payload}))
}
