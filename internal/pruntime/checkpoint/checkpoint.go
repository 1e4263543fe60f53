// Package checkpoint persists pRuntime's state as sealed checkpoints (DESIGN
// section 4.6): AEAD under the TEE seal key, bound to their height, written
// atomically (write, fsync, rename, fsync dir), the last K kept, and loaded
// newest first with automatic fallback to an older one when the newest is
// corrupt or truncated.
//
// A checkpoint never holds an encryption key or an epoch secret; only what
// pRuntime may legitimately reload.
package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/phala-go/phala/internal/pruntime/sealed"
)

const (
	prefix = "checkpoint-"
	suffix = ".sealed"
)

// ErrNone means no loadable checkpoint exists.
var ErrNone = errors.New("checkpoint: none loadable")

// Store is a directory of sealed checkpoints.
type Store struct {
	dir  string
	key  []byte
	keep int
	log  *slog.Logger
}

// Open returns the store in dir, keeping the last keep checkpoints.
func Open(dir string, sealKey []byte, keep int, log *slog.Logger) (*Store, error) {
	if keep < 1 {
		return nil, fmt.Errorf("checkpoint: keep %d, want >= 1", keep)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir, key: sealKey, keep: keep, log: log}, nil
}

func purpose(height int64) string {
	return "phala/pruntime/checkpoint/v1/" + strconv.FormatInt(height, 10)
}

// Path is the file of the checkpoint at height.
func (s *Store) Path(height int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", prefix, height, suffix))
}

// Save seals data as the checkpoint at height and prunes old checkpoints.
func (s *Store) Save(height int64, data []byte) error {
	blob, err := sealed.Seal(s.key, purpose(height), data)
	if err != nil {
		return err
	}
	if err := sealed.WriteFileAtomic(s.Path(height), blob); err != nil {
		return fmt.Errorf("checkpoint %d: %w", height, err)
	}
	heights, err := s.Heights()
	if err != nil {
		return err
	}
	// Checkpoints above height are leftovers LoadLatest could not use
	// (pRuntime saves at increasing heights from the newest usable one):
	// prune them first, then the oldest, never the one just written.
	var victims []int64
	for _, h := range heights {
		if h > height {
			victims = append(victims, h)
		}
	}
	for _, h := range heights {
		if h < height {
			victims = append(victims, h)
		}
	}
	for n := len(heights); n > s.keep && len(victims) > 0; n-- {
		if err := os.Remove(s.Path(victims[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		victims = victims[1:]
	}
	return nil
}

// Heights lists the heights of the checkpoint files present, ascending.
func (s *Store) Heights() ([]int64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var hs []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		h, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix), 10, 64)
		if err != nil || h < 0 {
			continue
		}
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs, nil
}

// LoadLatest opens the newest checkpoint that unseals and that decode
// accepts, falling back to older ones. It returns ErrNone if there is none.
func (s *Store) LoadLatest(decode func(height int64, data []byte) error) (int64, error) {
	heights, err := s.Heights()
	if err != nil {
		return 0, err
	}
	for i := len(heights) - 1; i >= 0; i-- {
		h := heights[i]
		blob, err := os.ReadFile(s.Path(h))
		if err == nil {
			var data []byte
			if data, err = sealed.Open(s.key, purpose(h), blob); err == nil {
				if err = decode(h, data); err == nil {
					return h, nil
				}
			}
		}
		s.log.Warn("checkpoint unusable, falling back to an older one", "height", h, "err", err)
	}
	return 0, ErrNone
}
