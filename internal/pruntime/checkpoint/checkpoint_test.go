package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/checkpoint"
)

func sealKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func open(t *testing.T, dir string, keep int) *checkpoint.Store {
	t.Helper()
	s, err := checkpoint.Open(dir, sealKey(1), keep, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func data(h int64) []byte { return fmt.Appendf(nil, "state at %d", h) }

// saved returns a store holding checkpoints at heights, each with data(h).
func saved(t *testing.T, keep int, heights ...int64) *checkpoint.Store {
	t.Helper()
	s := open(t, t.TempDir(), keep)
	for _, h := range heights {
		if err := s.Save(h, data(h)); err != nil {
			t.Fatalf("Save(%d): %v", h, err)
		}
	}
	return s
}

// loaded is what LoadLatest handed to decode.
type loaded struct {
	tried  []int64
	height int64
	data   []byte
}

func loadLatest(s *checkpoint.Store, refuse ...int64) (loaded, int64, error) {
	var l loaded
	h, err := s.LoadLatest(func(h int64, d []byte) error {
		l.tried = append(l.tried, h)
		if slices.Contains(refuse, h) {
			return errors.New("decode refuses")
		}
		l.height, l.data = h, d
		return nil
	})
	return l, h, err
}

func heights(t *testing.T, s *checkpoint.Store) []int64 {
	t.Helper()
	hs, err := s.Heights()
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestSaveLoadLatestRoundTrip(t *testing.T) {
	s := saved(t, 3, 5, 10)
	l, h, err := loadLatest(s)
	if err != nil {
		t.Fatal(err)
	}
	if h != 10 || l.height != 10 || !bytes.Equal(l.data, data(10)) {
		t.Errorf("LoadLatest = %d, decode saw %d %q; want 10, %q", h, l.height, l.data, data(10))
	}
	if !slices.Equal(l.tried, []int64{10}) {
		t.Errorf("decode tried %v, want only the newest", l.tried)
	}
}

func TestLoadLatestReopensWithTheSameSealKey(t *testing.T) {
	dir := t.TempDir()
	if err := open(t, dir, 2).Save(7, data(7)); err != nil {
		t.Fatal(err)
	}
	l, h, err := loadLatest(open(t, dir, 2))
	if err != nil || h != 7 || !bytes.Equal(l.data, data(7)) {
		t.Errorf("LoadLatest after reopening = %d, %q, %v; want 7, %q", h, l.data, err, data(7))
	}
}

func TestSaveKeepsTheLastK(t *testing.T) {
	tests := []struct {
		keep  int
		saves []int64
		want  []int64
	}{
		{1, []int64{1, 2, 3}, []int64{3}},
		{3, []int64{1, 2}, []int64{1, 2}},
		{3, []int64{10, 20, 30, 40, 50}, []int64{30, 40, 50}},
		{2, []int64{5, 9, 100, 1000}, []int64{100, 1000}},
		{2, []int64{5, 9, 9}, []int64{5, 9}}, // saving a height again replaces it
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.keep, tt.saves), func(t *testing.T) {
			s := saved(t, tt.keep, tt.saves...)
			if got := heights(t, s); !slices.Equal(got, tt.want) {
				t.Errorf("Heights() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHeightsIgnoresOtherFiles(t *testing.T) {
	s := saved(t, 3, 4)
	dir := filepath.Dir(s.Path(4))
	for _, name := range []string{"identity.sealed", "checkpoint-x.sealed", "checkpoint--1.sealed", "checkpoint-5.tmp", ".checkpoint-00000000000000000006.sealed.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := heights(t, s); !slices.Equal(got, []int64{4}) {
		t.Errorf("Heights() = %v, want [4]", got)
	}
}

func TestOpenRefusesToKeepNothing(t *testing.T) {
	if _, err := checkpoint.Open(t.TempDir(), sealKey(1), 0, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("Open with keep 0 succeeded")
	}
}

// Each way the newest checkpoint can be unusable makes LoadLatest fall back
// to the one before it.
func TestLoadLatestFallsBackWhenTheNewestIsUnusable(t *testing.T) {
	tests := []struct {
		name   string
		spoil  func(t *testing.T, s *checkpoint.Store) // spoils the checkpoint at 30
		refuse []int64
	}{
		{"truncated", func(t *testing.T, s *checkpoint.Store) {
			rewrite(t, s.Path(30), func(b []byte) []byte { return b[:len(b)/2] })
		}, nil},
		{"empty", func(t *testing.T, s *checkpoint.Store) {
			rewrite(t, s.Path(30), func([]byte) []byte { return nil })
		}, nil},
		{"bit flipped", func(t *testing.T, s *checkpoint.Store) {
			rewrite(t, s.Path(30), func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b })
		}, nil},
		{"unreadable (a directory)", func(t *testing.T, s *checkpoint.Store) {
			if err := os.Remove(s.Path(30)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(s.Path(30), 0o700); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"another height's checkpoint renamed to it", func(t *testing.T, s *checkpoint.Store) {
			// The host replays a valid, older checkpoint under a newer name:
			// the height is bound in the seal, so it does not open.
			if err := os.Rename(s.Path(10), s.Path(30)); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"sealed under another key", func(t *testing.T, s *checkpoint.Store) {
			other, err := checkpoint.Open(filepath.Dir(s.Path(30)), sealKey(2), 3, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Save(30, data(30)); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"refused by decode", func(*testing.T, *checkpoint.Store) {}, []int64{30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := saved(t, 3, 10, 20, 30)
			tt.spoil(t, s)
			l, h, err := loadLatest(s, tt.refuse...)
			if err != nil {
				t.Fatalf("LoadLatest: %v", err)
			}
			if h != 20 || !bytes.Equal(l.data, data(20)) {
				t.Errorf("LoadLatest = %d with %q, want 20 with %q", h, l.data, data(20))
			}
		})
	}
}

func TestLoadLatestFallsBackPastSeveralUnusableCheckpoints(t *testing.T) {
	s := saved(t, 4, 10, 20, 30, 40)
	rewrite(t, s.Path(40), func(b []byte) []byte { return b[:10] })
	l, h, err := loadLatest(s, 30)
	if err != nil || h != 20 {
		t.Fatalf("LoadLatest = %d, %v; want 20", h, err)
	}
	if !slices.Equal(l.tried, []int64{30, 20}) {
		t.Errorf("decode tried %v, want [30 20] (40 does not open)", l.tried)
	}
}

func TestLoadLatestReturnsErrNone(t *testing.T) {
	tests := []struct {
		name   string
		store  func(t *testing.T) *checkpoint.Store
		refuse []int64
	}{
		{"no checkpoint", func(t *testing.T) *checkpoint.Store { return open(t, t.TempDir(), 3) }, nil},
		{"every checkpoint corrupt", func(t *testing.T) *checkpoint.Store {
			s := saved(t, 3, 1, 2)
			for _, h := range []int64{1, 2} {
				rewrite(t, s.Path(h), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
			}
			return s
		}, nil},
		{"every checkpoint refused by decode", func(t *testing.T) *checkpoint.Store { return saved(t, 3, 1, 2) }, []int64{1, 2}},
		{"only foreign files", func(t *testing.T) *checkpoint.Store {
			s := open(t, t.TempDir(), 3)
			if err := os.WriteFile(filepath.Join(filepath.Dir(s.Path(0)), "identity.sealed"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return s
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, h, err := loadLatest(tt.store(t), tt.refuse...)
			if !errors.Is(err, checkpoint.ErrNone) {
				t.Fatalf("LoadLatest = %d, %v; want ErrNone", h, err)
			}
			if l.data != nil {
				t.Errorf("decode accepted %q", l.data)
			}
		})
	}
}

func TestCheckpointFilesAreSealedAndOwnerOnly(t *testing.T) {
	s := saved(t, 3, 1)
	b, err := os.ReadFile(s.Path(1))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, data(1)) {
		t.Error("the checkpoint file holds its data in the clear")
	}
	fi, err := os.Stat(s.Path(1))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	es, err := os.ReadDir(filepath.Dir(s.Path(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// After a fallback or a fresh start (e.g. the seal key changed with a new
// pRuntime build, so no old checkpoint opens), checkpoints above the height
// being saved are leftovers LoadLatest could not use. They must not crowd
// out the new checkpoints: the one just written always survives, and the
// leftovers are pruned first.
func TestSaveBelowUnusableCheckpointsKeepsTheNewOnes(t *testing.T) {
	dir := t.TempDir()
	old := open(t, dir, 2)
	for _, h := range []int64{100, 200} {
		if err := old.Save(h, data(h)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := checkpoint.Open(dir, sealKey(2), 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadLatest(s); !errors.Is(err, checkpoint.ErrNone) {
		t.Fatalf("LoadLatest under a new seal key = %v, want ErrNone", err)
	}

	for _, h := range []int64{5, 6, 7} {
		if err := s.Save(h, data(h)); err != nil {
			t.Fatalf("Save(%d): %v", h, err)
		}
		l, got, err := loadLatest(s)
		if err != nil || got != h || !bytes.Equal(l.data, data(h)) {
			t.Fatalf("LoadLatest after Save(%d) = %d, %q, %v; want %d", h, got, l.data, err, h)
		}
	}
	if got := heights(t, s); !slices.Equal(got, []int64{6, 7}) {
		t.Errorf("Heights() = %v, want [6 7]: the unusable leftovers pruned first", got)
	}
}
