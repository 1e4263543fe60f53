package protocol

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
)

// OriginKind says who sent a message.
type OriginKind uint8

// Origin kinds. The numbers are part of the wire format.
const (
	OriginAccount    OriginKind = 1 // a chain account, via a signed transaction
	OriginWorker     OriginKind = 2 // a worker's identity key, off-chain signed
	OriginGatekeeper OriginKind = 3 // any current gatekeeper, one shared sequence
	OriginContract   OriginKind = 4 // a confidential contract, emitted by its workers
	OriginCluster    OriginKind = 5 // a worker cluster
	OriginModule     OriginKind = 6 // a chain module (registrations, key events, governance)
)

var originNames = map[OriginKind]string{
	OriginAccount:    "account",
	OriginWorker:     "worker",
	OriginGatekeeper: "gatekeeper",
	OriginContract:   "contract",
	OriginCluster:    "cluster",
	OriginModule:     "module",
}

// Origin is a message sender. It encodes as the CBOR array [kind, id].
type Origin struct {
	_    struct{} `cbor:",toarray"`
	Kind OriginKind
	ID   []byte
}

// AccountOrigin is the origin of messages pushed by an account.
func AccountOrigin(a Address) Origin { return Origin{Kind: OriginAccount, ID: a[:]} }

// WorkerOrigin is the origin of messages signed by a worker identity key.
func WorkerOrigin(pub ed25519.PublicKey) Origin {
	return Origin{Kind: OriginWorker, ID: append([]byte(nil), pub...)}
}

// GatekeeperOrigin is the single origin shared by all gatekeepers.
func GatekeeperOrigin() Origin { return Origin{Kind: OriginGatekeeper, ID: []byte{}} }

// ModuleOrigin is the origin of messages a chain module emits.
func ModuleOrigin(name string) Origin { return Origin{Kind: OriginModule, ID: []byte(name)} }

// OffChain reports whether messages of this origin are signed outside the
// chain and must carry a signature and an explicit sequence number.
func (o Origin) OffChain() bool {
	switch o.Kind {
	case OriginWorker, OriginGatekeeper, OriginContract, OriginCluster:
		return true
	}
	return false
}

// Validate checks that the ID has the shape its kind requires.
func (o Origin) Validate() error {
	want := -1
	switch o.Kind {
	case OriginAccount:
		want = AddressLen
	case OriginWorker, OriginContract, OriginCluster:
		want = 32
	case OriginGatekeeper:
		want = 0
	case OriginModule:
		if !validModuleName(string(o.ID)) {
			return Errorf(ErrBadOrigin, "module name %q", o.ID)
		}
		return nil
	default:
		return Errorf(ErrBadOrigin, "unknown origin kind %d", o.Kind)
	}
	if len(o.ID) != want {
		return Errorf(ErrBadOrigin, "%s id has %d bytes, want %d", originNames[o.Kind], len(o.ID), want)
	}
	return nil
}

func validModuleName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// String renders the origin as "kind:hex-id" ("module:name", "gatekeeper").
// ParseOrigin reads it back; query paths use it.
func (o Origin) String() string {
	name, ok := originNames[o.Kind]
	if !ok {
		return fmt.Sprintf("unknown(%d):%x", o.Kind, o.ID)
	}
	switch o.Kind {
	case OriginGatekeeper:
		return name
	case OriginModule:
		return name + ":" + string(o.ID)
	}
	return name + ":" + hex.EncodeToString(o.ID)
}

// Key is the origin's compact binary form, used in state keys.
func (o Origin) Key() []byte {
	return append([]byte{byte(o.Kind)}, o.ID...)
}

// ParseOrigin reads the text form produced by String.
func ParseOrigin(s string) (Origin, error) {
	kindName, id, _ := strings.Cut(s, ":")
	for k, n := range originNames {
		if n != kindName {
			continue
		}
		o := Origin{Kind: k, ID: []byte{}}
		switch k {
		case OriginModule:
			o.ID = []byte(id)
		case OriginGatekeeper:
			if id != "" {
				return Origin{}, Errorf(ErrBadOrigin, "gatekeeper origin takes no id")
			}
		default:
			b, err := hex.DecodeString(id)
			if err != nil {
				return Origin{}, Errorf(ErrBadOrigin, "%q: id is not hex", s)
			}
			o.ID = b
		}
		return o, o.Validate()
	}
	return Origin{}, Errorf(ErrBadOrigin, "%q: unknown origin kind", s)
}

// Message is one entry of the chain's ordered message queue. Its canonical
// encoding is what messagesRoot commits to (DESIGN section 2).
type Message struct {
	Origin  Origin `cbor:"origin"`
	Topic   string `cbor:"topic"`
	Seq     uint64 `cbor:"seq"`
	Payload []byte `cbor:"payload"`
}

// Encode returns the canonical encoding of m.
func (m *Message) Encode() []byte { return MustMarshal(m) }

// DecodeMessage reads one canonically encoded message and validates its
// origin and topic. It is the only decoder of messages.
func DecodeMessage(b []byte) (*Message, error) {
	m, err := parseMessage(b)
	if err != nil {
		// Refusals are rare: let the generic decoder name the problem
		// precisely (malformed or merely non-canonical).
		var generic Message
		if gerr := Unmarshal(b, &generic); gerr != nil {
			err = gerr
		}
		return nil, fmt.Errorf("message: %w", err)
	}
	if err := m.Origin.Validate(); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	if err := ValidateTopic(m.Topic); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return m, nil
}

// MaxTopicLen bounds a topic's length in bytes.
const MaxTopicLen = 128

// ValidateTopic checks topic syntax: 1..MaxTopicLen bytes of non-empty
// '/'-separated segments, each of [A-Za-z0-9_.:-].
func ValidateTopic(t string) error {
	if len(t) == 0 || len(t) > MaxTopicLen {
		return Errorf(ErrBadTopic, "topic length %d, want 1..%d", len(t), MaxTopicLen)
	}
	for i, seg := range strings.Split(t, "/") {
		if seg == "" {
			return Errorf(ErrBadTopic, "topic %q: empty segment %d", t, i)
		}
		for _, c := range seg {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '_' || c == '.' || c == ':' || c == '-'
			if !ok {
				return Errorf(ErrBadTopic, "topic %q: character %q not allowed", t, c)
			}
		}
	}
	return nil
}

// TopicPrefix is the first segment of every topic the system itself defines.
const TopicPrefix = "phala"

// ModuleTopic is the topic of messages module emits about subject, e.g.
// ModuleTopic("registry", "worker") = "phala/registry/worker". Only the
// module itself may send on it.
func ModuleTopic(module, subject string) string {
	return TopicPrefix + "/" + module + "/" + subject
}

// ReservedTopicModule returns the module that owns topic, if the topic lies in
// a module's namespace ("phala/<module>/...").
func ReservedTopicModule(topic string, modules []string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix+"/")
	if !ok {
		return "", false
	}
	first, _, _ := strings.Cut(rest, "/")
	for _, m := range modules {
		if m == first {
			return m, true
		}
	}
	return "", false
}

// WorkerPingTopic is the topic on which a worker's pRuntime answers pings
// with a signed echo, so the full loop can be tested without contracts.
func WorkerPingTopic(pub ed25519.PublicKey) string {
	return TopicPrefix + "/worker/" + hex.EncodeToString(pub) + "/ping"
}

// SignedMessage is a message from an off-chain sender (worker, gatekeeper,
// contract, cluster), signed by Signer over SigMessage || MessageEnvelope.
type SignedMessage struct {
	Message Message `cbor:"message"`
	Signer  []byte  `cbor:"signer"`
	Sig     []byte  `cbor:"sig"`
}

// MessageEnvelope binds a signed message to one chain.
type MessageEnvelope struct {
	ChainID string  `cbor:"chain_id"`
	Message Message `cbor:"message"`
}

// SignMessage signs m for chainID with priv.
func SignMessage(priv ed25519.PrivateKey, chainID string, m Message) SignedMessage {
	env := MustMarshal(&MessageEnvelope{ChainID: chainID, Message: m})
	return SignedMessage{
		Message: m,
		Signer:  append([]byte(nil), priv.Public().(ed25519.PublicKey)...),
		Sig:     Sign(priv, SigMessage, env),
	}
}

// VerifySignature checks sm's signature for chainID. It does not decide
// whether the signer may speak for the origin; that is the receiver's policy.
func (sm *SignedMessage) VerifySignature(chainID string) error {
	env := MustMarshal(&MessageEnvelope{ChainID: chainID, Message: sm.Message})
	if !Verify(sm.Signer, SigMessage, env, sm.Sig) {
		return Errorf(ErrBadMessageSig, "signer %x, origin %s, seq %d", sm.Signer, sm.Message.Origin, sm.Message.Seq)
	}
	return nil
}
