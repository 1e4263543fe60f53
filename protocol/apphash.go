package protocol

import (
	"fmt"

	"github.com/cometbft/cometbft/crypto/merkle"
)

// MessagesRoot is the Merkle root (CometBFT crypto/merkle) of the canonical
// encodings of a block's messages, in emission order.
func MessagesRoot(encoded [][]byte) []byte {
	return merkle.HashFromByteSlices(encoded)
}

// AppHash is the commitment the application returns for a block:
// merkle.HashFromByteSlices([stateRoot, messagesRoot]) (DESIGN section 2).
// It appears in the next block's header, signed by the validators.
func AppHash(stateRoot, messagesRoot []byte) []byte {
	return merkle.HashFromByteSlices([][]byte{stateRoot, messagesRoot})
}

// BlockMessages is the answer to the `mq/messages/<H>` query: the state
// root after block H and the canonical encodings of the messages block H
// emitted, in order. Anyone can recompute AppHash(H) from it and compare
// with header H+1.
type BlockMessages struct {
	StateRoot []byte   `cbor:"state_root"`
	Messages  [][]byte `cbor:"messages"`
}

// AppHash recomputes the block's app hash.
func (b *BlockMessages) AppHash() []byte {
	return AppHash(b.StateRoot, MessagesRoot(b.Messages))
}

// DecodeBlockMessages reads a BlockMessages and each of its messages. It is
// the only decoder of message lists.
func DecodeBlockMessages(raw []byte) (*BlockMessages, []*Message, error) {
	var b BlockMessages
	if err := Unmarshal(raw, &b); err != nil {
		return nil, nil, fmt.Errorf("block messages: %w", err)
	}
	msgs := make([]*Message, len(b.Messages))
	for i, enc := range b.Messages {
		m, err := DecodeMessage(enc)
		if err != nil {
			return nil, nil, fmt.Errorf("block messages: #%d: %w", i, err)
		}
		msgs[i] = m
	}
	return &b, msgs, nil
}

// Query paths served by the chain (ABCI Query).
const (
	QueryAccount  = "accounts/"    // accounts/<address hex>
	QueryNextSeq  = "mq/next_seq/" // mq/next_seq/<origin>
	QueryMessages = "mq/messages/" // mq/messages/<height>
)

// Proof operation types in ABCI query responses. A state value is proven by
// an IAVL (ICS-23) proof to stateRoot(H), followed by an op carrying
// messagesRoot(H), so that the verifier can rebuild AppHash(H) and compare it
// with header H+1.
const (
	ProofOpIAVL         = "ics23:iavl"
	ProofOpMessagesRoot = "phala:messages_root"
)
