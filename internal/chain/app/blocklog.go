package app

import (
	"encoding/binary"
	"fmt"
	"time"

	dbm "github.com/cosmos/cosmos-db"

	"github.com/phala-go/phala/protocol"
)

// blockRecord is what the app remembers of each block outside the state
// tree: its state root and message list (the two halves of its app hash)
// and its time. The message lists are what pRuntime verifies and consumes;
// keeping them out of the tree keeps the state from growing with history.
type blockRecord struct {
	Height    int64    `cbor:"height"`
	BlockHash []byte   `cbor:"block_hash"` // the header hash of this height
	TimeNanos int64    `cbor:"time"`
	StateRoot []byte   `cbor:"state_root"`
	Messages  [][]byte `cbor:"messages"`
}

func newBlockRecord(height int64, t time.Time, stateRoot []byte, msgs []protocol.Message) *blockRecord {
	enc := make([][]byte, len(msgs))
	for i := range msgs {
		enc[i] = msgs[i].Encode()
	}
	return &blockRecord{Height: height, TimeNanos: t.UnixNano(), StateRoot: stateRoot, Messages: enc}
}

func (r *blockRecord) appHash() []byte {
	return protocol.AppHash(r.StateRoot, protocol.MessagesRoot(r.Messages))
}

func (r *blockRecord) time() time.Time { return time.Unix(0, r.TimeNanos).UTC() }

func (r *blockRecord) messages() *protocol.BlockMessages {
	return &protocol.BlockMessages{StateRoot: r.StateRoot, Messages: r.Messages}
}

// blockLog stores one record per height.
type blockLog struct{ db dbm.DB }

func heightKey(h int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(h)) }

func (l blockLog) put(r *blockRecord) error {
	if err := l.db.SetSync(heightKey(r.Height), protocol.MustMarshal(r)); err != nil {
		return fmt.Errorf("app: block log %d: %w", r.Height, err)
	}
	return nil
}

func (l blockLog) get(h int64) (*blockRecord, error) {
	raw, err := l.db.Get(heightKey(h))
	if err != nil {
		return nil, fmt.Errorf("app: block log %d: %w", h, err)
	}
	if raw == nil {
		return nil, protocol.Errorf(protocol.ErrHeightUnavailable, "no block record at height %d", h)
	}
	var r blockRecord
	if err := protocol.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("app: block log %d: %w", h, err)
	}
	return &r, nil
}
