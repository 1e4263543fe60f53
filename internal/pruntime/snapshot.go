package pruntime

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/pruntime/egress"
	"github.com/phala-go/phala/internal/pruntime/keyring"
	"github.com/phala-go/phala/internal/pruntime/light"
	"github.com/phala-go/phala/internal/pruntime/runner"
	"github.com/phala-go/phala/protocol"
)

// snapshotVersion is bumped on any change to snapshot's encoding.
// Version 2: contract storage is one length-prefixed byte string
// (runner's storageOf), not an array capped at 65,536 entries.
const snapshotVersion = 2

// snapshot is the plaintext of a checkpoint. It holds no encryption key and
// no epoch secret.
type snapshot struct {
	Version     int                      `cbor:"version"`
	Worker      []byte                   `cbor:"worker"` // identity public key the state belongs to
	GenesisJSON []byte                   `cbor:"genesis"`
	Light       lightSnapshot            `cbor:"light"`
	Seqs        []seqEntry               `cbor:"seqs"` // sorted by origin key
	Egress      egress.Snapshot          `cbor:"egress"`
	Workers     []protocol.WorkerSummary `cbor:"workers"` // sorted by identity key
	Keyring     keyring.Snapshot         `cbor:"keyring"` // the public view only: no key or secret
	// Runner holds the cluster's contract storage (confidential, hence
	// only ever in a sealed checkpoint) and no key.
	Runner runner.Snapshot `cbor:"runner"`
	// AppliedTime is the verified time of the last applied block.
	AppliedTime int64 `cbor:"applied_time"`
	// Headers are the hashes of the last verified headers, by height, so
	// that after a restart pRuntime still tells a resent canonical block
	// from a forged one (acknowledge) and checks state transfers. Absent in
	// checkpoints written before they were kept.
	Headers []headerEntry `cbor:"headers,omitempty"`
}

// headerEntry is one verified header's hash.
type headerEntry struct {
	Height int64  `cbor:"height"`
	Hash   []byte `cbor:"hash"`
}

// seqEntry is one origin's next sequence number. Origin keys are binary, so
// they are CBOR byte strings here, never map keys (which would be text).
type seqEntry struct {
	Origin []byte `cbor:"origin"`
	Next   uint64 `cbor:"next"`
}

type lightSnapshot struct {
	Height         int64  `cbor:"height"`
	BlockID        []byte `cbor:"block_id"` // protobuf BlockID
	TimeNanos      int64  `cbor:"time"`
	AppHash        []byte `cbor:"app_hash"`
	NextValidators []byte `cbor:"next_validators"` // protobuf ValidatorSet
}

func (r *Runtime) snapshotLocked() ([]byte, error) {
	bid := r.light.BlockID.ToProto()
	bidBytes, err := bid.Marshal()
	if err != nil {
		return nil, err
	}
	vs, err := r.light.NextValidators.ToProto()
	if err != nil {
		return nil, err
	}
	vsBytes, err := vs.Marshal()
	if err != nil {
		return nil, err
	}
	return protocol.Marshal(&snapshot{
		Version:     snapshotVersion,
		Worker:      r.identity.Public().(ed25519.PublicKey),
		GenesisJSON: r.genesisJSON,
		Light: lightSnapshot{
			Height: r.light.Height, BlockID: bidBytes, TimeNanos: r.light.Time.UnixNano(),
			AppHash: r.light.AppHash, NextValidators: vsBytes,
		},
		Seqs:        seqEntries(r.engine.Seqs()),
		Egress:      r.egress.Snapshot(),
		Workers:     workerList(r.workers.Snapshot()),
		Keyring:     r.keyring.Snapshot(),
		Runner:      r.runner.Snapshot(),
		AppliedTime: r.appliedTime.UnixNano(),
		Headers:     headerEntries(r.headers),
	})
}

func headerEntries(m map[int64][]byte) []headerEntry {
	out := make([]headerEntry, 0, len(m))
	for _, h := range slices.Sorted(maps.Keys(m)) {
		out = append(out, headerEntry{Height: h, Hash: m[h]})
	}
	return out
}

// restore loads a checkpoint's plaintext; it is checkpoint.Store's decode
// callback, so a checkpoint it refuses makes the store fall back to an
// older one.
func (r *Runtime) restore(height int64, data []byte) error {
	var s snapshot
	if err := protocol.Unmarshal(data, &s); err != nil {
		return err
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	if !bytes.Equal(s.Worker, r.identity.Public().(ed25519.PublicKey)) {
		return fmt.Errorf("checkpoint belongs to worker %x", s.Worker)
	}
	if s.Light.Height != height {
		return fmt.Errorf("checkpoint file says height %d, content %d", height, s.Light.Height)
	}
	root, err := light.NewTrustRoot(s.GenesisJSON, r.pinned)
	if err != nil {
		return err
	}
	var pbID cmtproto.BlockID
	if err := pbID.Unmarshal(s.Light.BlockID); err != nil {
		return err
	}
	bid, err := types.BlockIDFromProto(&pbID)
	if err != nil {
		return err
	}
	next, err := light.DecodeValidatorSet(s.Light.NextValidators)
	if err != nil || next == nil {
		return fmt.Errorf("next validators: %v", err)
	}
	r.setChain(s.GenesisJSON, root)
	r.light = light.Restore(root.ChainID, s.Light.Height, *bid, time.Unix(0, s.Light.TimeNanos).UTC(), s.Light.AppHash, next)
	seqs := make(map[string]uint64, len(s.Seqs))
	for _, e := range s.Seqs {
		seqs[string(e.Origin)] = e.Next
	}
	workers := make(map[string]protocol.WorkerSummary, len(s.Workers))
	for _, w := range s.Workers {
		workers[string(w.Pubkey)] = w
	}
	r.engine.LoadSeqs(seqs)
	r.egress.Load(s.Egress)
	r.workers.Load(workers)
	r.keyring.Load(s.Keyring)
	if err := r.runner.Load(s.Runner); err != nil {
		return err
	}
	for _, e := range s.Headers {
		r.rememberHeader(e.Height, e.Hash)
	}
	if r.light.Height > 0 { // the trusted header, also for checkpoints without headers
		r.rememberHeader(r.light.Height, r.light.BlockID.Hash)
	}
	r.applied = s.Light.Height - 1
	r.appliedTime = time.Unix(0, s.AppliedTime).UTC()
	r.publishLocked()
	return nil
}

func seqEntries(m map[string]uint64) []seqEntry {
	out := make([]seqEntry, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, seqEntry{Origin: []byte(k), Next: m[k]})
	}
	return out
}

func workerList(m map[string]protocol.WorkerSummary) []protocol.WorkerSummary {
	out := make([]protocol.WorkerSummary, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}
