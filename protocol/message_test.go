package protocol_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

const testChainID = "phala-test"

// originsOfEveryKind holds one valid origin of each kind.
func originsOfEveryKind() []protocol.Origin {
	id32 := bytes.Repeat([]byte{0xab}, 32)
	return []protocol.Origin{
		protocol.AccountOrigin(sampleAddress()),
		protocol.WorkerOrigin(pubOf(testKey(3))),
		protocol.GatekeeperOrigin(),
		{Kind: protocol.OriginContract, ID: id32},
		{Kind: protocol.OriginCluster, ID: id32},
		protocol.ModuleOrigin("registry"),
	}
}

func TestOriginStringRoundTripsForEveryKind(t *testing.T) {
	seen := map[protocol.OriginKind]bool{}
	for _, o := range originsOfEveryKind() {
		seen[o.Kind] = true
		s := o.String()
		if strings.HasPrefix(s, "unknown") {
			t.Fatalf("kind %d has no name: %q", o.Kind, s)
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", s, err)
		}
		got, err := protocol.ParseOrigin(s)
		if err != nil {
			t.Fatalf("ParseOrigin(%q): %v", s, err)
		}
		if got.Kind != o.Kind || !bytes.Equal(got.ID, o.ID) || got.String() != s {
			t.Fatalf("ParseOrigin(%q) = %v (%x), want %v (%x)", s, got, got.ID, o, o.ID)
		}
	}
	for k := protocol.OriginAccount; k <= protocol.OriginModule; k++ {
		if !seen[k] {
			t.Errorf("kind %d not covered", k)
		}
	}
}

func TestOriginTextForms(t *testing.T) {
	cases := map[string]protocol.Origin{
		"gatekeeper":                          protocol.GatekeeperOrigin(),
		"module:registry":                     protocol.ModuleOrigin("registry"),
		"account:" + sampleAddress().String(): protocol.AccountOrigin(sampleAddress()),
		"unknown(9):0102":                     {Kind: 9, ID: []byte{1, 2}},
	}
	for want, o := range cases {
		if got := o.String(); got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
	}
}

func TestOffChainOrigins(t *testing.T) {
	want := map[protocol.OriginKind]bool{
		protocol.OriginAccount: false, protocol.OriginWorker: true, protocol.OriginGatekeeper: true,
		protocol.OriginContract: true, protocol.OriginCluster: true, protocol.OriginModule: false,
	}
	for _, o := range originsOfEveryKind() {
		if got := o.OffChain(); got != want[o.Kind] {
			t.Errorf("%s: OffChain = %v, want %v", o, got, want[o.Kind])
		}
	}
}

func TestParseOriginRefuses(t *testing.T) {
	hex := func(n int) string { return strings.Repeat("ab", n) }
	for _, s := range []string{
		"",
		":",
		"nope:00",
		"Account:" + hex(20),
		"account",
		"account:",
		"account:" + hex(19),
		"account:" + hex(21),
		"account:" + hex(19) + "zz",
		"account:" + hex(20)[1:],
		"worker:" + hex(31),
		"worker:" + hex(33),
		"contract:" + hex(20),
		"cluster:",
		"gatekeeper:00",
		"gatekeeper:x",
		"module",
		"module:",
		"module:Registry",
		"module:a-b",
		"module:a/b",
		"module:" + strings.Repeat("a", 33),
		"unknown(7):00",
	} {
		if o, err := protocol.ParseOrigin(s); !errors.Is(err, protocol.ErrBadOrigin) {
			t.Errorf("ParseOrigin(%q) = %v, %v; want ErrBadOrigin", s, o, err)
		}
	}
}

func TestOriginValidateRefuses(t *testing.T) {
	cases := map[string]protocol.Origin{
		"kind 0":                {Kind: 0},
		"kind 7":                {Kind: 7, ID: []byte{}},
		"account 19 bytes":      {Kind: protocol.OriginAccount, ID: make([]byte, 19)},
		"account 32 bytes":      {Kind: protocol.OriginAccount, ID: make([]byte, 32)},
		"worker 20 bytes":       {Kind: protocol.OriginWorker, ID: make([]byte, 20)},
		"contract no id":        {Kind: protocol.OriginContract},
		"cluster 33 bytes":      {Kind: protocol.OriginCluster, ID: make([]byte, 33)},
		"gatekeeper with id":    {Kind: protocol.OriginGatekeeper, ID: []byte{0}},
		"module empty":          protocol.ModuleOrigin(""),
		"module upper case":     protocol.ModuleOrigin("Mq"),
		"module digit":          protocol.ModuleOrigin("mq2"),
		"module 33 bytes":       protocol.ModuleOrigin(strings.Repeat("m", 33)),
		"module invalid UTF-8":  {Kind: protocol.OriginModule, ID: []byte{0xff}},
		"module non-ASCII name": protocol.ModuleOrigin("modülé"),
	}
	for name, o := range cases {
		if err := o.Validate(); !errors.Is(err, protocol.ErrBadOrigin) {
			t.Errorf("%s: Validate = %v, want ErrBadOrigin", name, err)
		}
	}
	if err := protocol.ModuleOrigin(strings.Repeat("m", 32)).Validate(); err != nil {
		t.Errorf("32-byte module name: %v", err)
	}
}

func TestValidateTopic(t *testing.T) {
	cases := []struct {
		topic string
		ok    bool
	}{
		{"a", true},
		{"phala/registry/worker", true},
		{"A-Z_a.z:0-9", true},
		{"x/" + strings.Repeat("a", protocol.MaxTopicLen-2), true},
		{strings.Repeat("a", protocol.MaxTopicLen), true},
		{"", false},
		{strings.Repeat("a", protocol.MaxTopicLen+1), false},
		{"/", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a b", false},
		{"a\x00", false},
		{"a\n", false},
		{"a?b", false},
		{"a\\b", false},
		{"café", false},
		{"a\xff", false},
		{"*", false},
	}
	for _, tc := range cases {
		err := protocol.ValidateTopic(tc.topic)
		if tc.ok && err != nil {
			t.Errorf("ValidateTopic(%q) = %v, want ok", tc.topic, err)
		}
		if !tc.ok && !errors.Is(err, protocol.ErrBadTopic) {
			t.Errorf("ValidateTopic(%q) = %v, want ErrBadTopic", tc.topic, err)
		}
	}
}

func TestModuleTopicsAreValidAndReserved(t *testing.T) {
	for _, m := range protocol.Modules {
		topic := protocol.ModuleTopic(m, "event")
		if err := protocol.ValidateTopic(topic); err != nil {
			t.Errorf("ModuleTopic(%q): %v", m, err)
		}
		if got, ok := protocol.ReservedTopicModule(topic, protocol.Modules); !ok || got != m {
			t.Errorf("ReservedTopicModule(%q) = %q, %v; want %q", topic, got, ok, m)
		}
	}
	if err := protocol.ValidateTopic(protocol.WorkerPingTopic(pubOf(testKey(1)))); err != nil {
		t.Errorf("WorkerPingTopic: %v", err)
	}
}

func TestReservedTopicModule(t *testing.T) {
	cases := []struct {
		topic string
		want  string // "": not reserved
	}{
		{"phala/registry/worker", protocol.ModuleRegistry},
		{"phala/mq", protocol.ModuleMQ},
		{"phala/mq/a/b/c", protocol.ModuleMQ},
		{"phala/registryx/worker", ""},
		{"phala/regist/worker", ""},
		{"phala/worker/00/ping", ""}, // not a module
		{"phala//mq", ""},
		{"phala", ""},
		{"phala/", ""},
		{"phalax/mq/a", ""},
		{"other/mq/a", ""},
		{"x/phala/mq", ""},
		{"Phala/mq", ""},
	}
	for _, tc := range cases {
		got, ok := protocol.ReservedTopicModule(tc.topic, protocol.Modules)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ReservedTopicModule(%q) = %q, %v; want %q", tc.topic, got, ok, tc.want)
		}
	}
	if _, ok := protocol.ReservedTopicModule("phala/mq/x", nil); ok {
		t.Error("topic reserved with no modules")
	}
}

func sampleSignedMessage() (protocol.SignedMessage, []byte) {
	k := testKey(4)
	m := protocol.Message{Origin: protocol.WorkerOrigin(pubOf(k)), Topic: "app/out", Seq: 3, Payload: []byte("x")}
	return protocol.SignMessage(k, testChainID, m), pubOf(k)
}

func TestSignedMessageVerifies(t *testing.T) {
	sm, pub := sampleSignedMessage()
	if !bytes.Equal(sm.Signer, pub) {
		t.Fatalf("Signer = %x, want %x", sm.Signer, pub)
	}
	if err := sm.VerifySignature(testChainID); err != nil {
		t.Fatal(err)
	}
	// It survives its own encoding, as relayed in SubmitArgs.
	var back protocol.SubmitArgs
	if err := protocol.Unmarshal(protocol.MustMarshal(&protocol.SubmitArgs{Message: sm}), &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Message.VerifySignature(testChainID); err != nil {
		t.Fatalf("after round trip: %v", err)
	}
}

func TestSignedMessageRefuses(t *testing.T) {
	cases := []struct {
		name    string
		chainID string
		alter   func(sm *protocol.SignedMessage)
	}{
		{"wrong chain id", "phala-other", func(*protocol.SignedMessage) {}},
		{"empty chain id", "", func(*protocol.SignedMessage) {}},
		{"altered payload", testChainID, func(sm *protocol.SignedMessage) { sm.Message.Payload = []byte("y") }},
		{"payload dropped", testChainID, func(sm *protocol.SignedMessage) { sm.Message.Payload = nil }},
		{"altered seq", testChainID, func(sm *protocol.SignedMessage) { sm.Message.Seq++ }},
		{"altered topic", testChainID, func(sm *protocol.SignedMessage) { sm.Message.Topic = "app/in" }},
		{"altered origin", testChainID, func(sm *protocol.SignedMessage) { sm.Message.Origin = protocol.GatekeeperOrigin() }},
		{"other signer", testChainID, func(sm *protocol.SignedMessage) { sm.Signer = pubOf(testKey(5)) }},
		{"altered signature", testChainID, func(sm *protocol.SignedMessage) { sm.Sig[0] ^= 0x80 }},
		{"short signature", testChainID, func(sm *protocol.SignedMessage) { sm.Sig = sm.Sig[:63] }},
		{"no signer", testChainID, func(sm *protocol.SignedMessage) { sm.Signer = nil }},
		{"signed as a transaction", testChainID, func(sm *protocol.SignedMessage) {
			env := protocol.MustMarshal(&protocol.MessageEnvelope{ChainID: testChainID, Message: sm.Message})
			sm.Sig = protocol.Sign(testKey(4), protocol.SigTx, env)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sm, _ := sampleSignedMessage()
			tc.alter(&sm)
			if err := sm.VerifySignature(tc.chainID); !errors.Is(err, protocol.ErrBadMessageSig) {
				t.Fatalf("VerifySignature = %v, want ErrBadMessageSig", err)
			}
		})
	}
}

func TestDecodeMessageRoundTrip(t *testing.T) {
	for _, o := range originsOfEveryKind() {
		m := protocol.Message{Origin: o, Topic: "a/b", Seq: 9, Payload: []byte{1, 2}}
		enc := m.Encode()
		got, err := protocol.DecodeMessage(enc)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if got.Origin.String() != o.String() || got.Topic != m.Topic || got.Seq != m.Seq || !bytes.Equal(got.Payload, m.Payload) {
			t.Fatalf("%s: decoded %+v, want %+v", o, got, m)
		}
	}
}

func TestDecodeMessageRefuses(t *testing.T) {
	enc := func(m protocol.Message) []byte { return m.Encode() }
	seq, topic, origin, payload := sampleFields()
	good := sampleMessage
	withOrigin := func(o protocol.Origin) protocol.Message { m := good; m.Origin = o; return m }
	withTopic := func(s string) protocol.Message { m := good; m.Topic = s; return m }
	cases := []refusal{
		{"non-canonical", cMap(topic, seq, origin, payload), protocol.ErrNonCanonical},
		{"malformed", []byte{0xa4}, protocol.ErrMalformed},
		{"trailing bytes", cat(enc(good), []byte{0}), protocol.ErrMalformed},
		{"unknown origin kind", enc(withOrigin(protocol.Origin{Kind: 9, ID: []byte{}})), protocol.ErrBadOrigin},
		{"short worker id", enc(withOrigin(protocol.Origin{Kind: protocol.OriginWorker, ID: []byte{1}})), protocol.ErrBadOrigin},
		{"bad module name", enc(withOrigin(protocol.ModuleOrigin("Bad"))), protocol.ErrBadOrigin},
		{"empty topic", enc(withTopic("")), protocol.ErrBadTopic},
		{"topic with space", enc(withTopic("a b")), protocol.ErrBadTopic},
		{"topic too long", enc(withTopic(strings.Repeat("t", protocol.MaxTopicLen+1))), protocol.ErrBadTopic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := protocol.DecodeMessage(tc.data)
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("DecodeMessage(%x) = %v, %v; want nil, %s", tc.data, m, err, tc.want.Msg)
			}
		})
	}
}

func sampleBlockMessages() *protocol.BlockMessages {
	b := &protocol.BlockMessages{StateRoot: bytes.Repeat([]byte{1}, 32)}
	for i, o := range originsOfEveryKind() {
		m := protocol.Message{Origin: o, Topic: fmt.Sprintf("t/%d", i), Seq: uint64(i)}
		b.Messages = append(b.Messages, m.Encode())
	}
	return b
}

func TestDecodeBlockMessages(t *testing.T) {
	b := sampleBlockMessages()
	raw := protocol.MustMarshal(b)
	got, msgs, err := protocol.DecodeBlockMessages(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(b.Messages) || !bytes.Equal(got.AppHash(), b.AppHash()) {
		t.Fatalf("decoded %d messages, app hash %x; want %d, %x", len(msgs), got.AppHash(), len(b.Messages), b.AppHash())
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Encode(), b.Messages[i]) {
			t.Fatalf("message %d re-encodes differently", i)
		}
	}
	if !bytes.Equal(b.AppHash(), protocol.AppHash(b.StateRoot, protocol.MessagesRoot(b.Messages))) {
		t.Fatal("BlockMessages.AppHash disagrees with AppHash(stateRoot, MessagesRoot)")
	}

	// One bad message spoils the list.
	b.Messages[2] = protocol.MustMarshal(&protocol.Message{Origin: protocol.GatekeeperOrigin(), Topic: "a//b"})
	if _, _, err := protocol.DecodeBlockMessages(protocol.MustMarshal(b)); !errors.Is(err, protocol.ErrBadTopic) {
		t.Fatalf("list with a bad topic: %v, want ErrBadTopic", err)
	}
	b.Messages[2] = cat(b.Messages[1], []byte{0})
	if _, _, err := protocol.DecodeBlockMessages(protocol.MustMarshal(b)); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("list with trailing bytes in a message: %v, want ErrMalformed", err)
	}
	if _, _, err := protocol.DecodeBlockMessages(cat(raw, []byte{0})); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("list with trailing bytes: %v, want ErrMalformed", err)
	}
}
