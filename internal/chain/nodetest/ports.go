package nodetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Ports are handed out in slots of 10 from portsFrom to portsTo. The range
// lies below the kernel's ephemeral ports (32768–60999 on Linux, 49152 and
// up elsewhere), from which every outgoing connection takes its local
// port: a port checked free there can be taken by a client's connection
// before the node binds it.
const (
	portsFrom = 15_000
	portsTo   = 32_000
)

// FreePortBase finds a base port such that base+10*i+{0..7} are free for n
// validators (a node uses +0..+2; a devnet's pRuntimes +4..+7), and
// reserves those slots until the test ends. CometBFT binds its ports
// itself, so they cannot be held open until then; instead each slot is
// reserved with an exclusive lock on a file in the system's temporary
// directory, which every test process of this project that calls
// FreePortBase respects (tests of several packages, and several checkouts,
// run at once on one machine). The kernel drops a dead process's locks.
func FreePortBase(t testing.TB, n int) int {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "phala-nodetest-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	slots := (portsTo - portsFrom) / 10
	for range 200 {
		base := portsFrom + 10*rand.IntN(slots-n+1)
		locks, ok := reserve(dir, base, n)
		if !ok {
			continue
		}
		if portsFree(base, n) {
			t.Cleanup(func() {
				for _, f := range locks {
					f.Close() // drops the lock
				}
			})
			return base
		}
		for _, f := range locks {
			f.Close()
		}
	}
	t.Fatal("no free ports")
	return 0
}

// reserve locks the n slots from base; it holds none if it cannot hold all.
func reserve(dir string, base, n int) ([]*os.File, bool) {
	var locks []*os.File
	for i := range n {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(base+10*i)), os.O_CREATE|os.O_RDWR, 0o666)
		if err == nil {
			if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				f.Close()
			}
		}
		if err != nil {
			for _, l := range locks {
				l.Close()
			}
			return nil, false
		}
		locks = append(locks, f)
	}
	return locks, true
}

// portsFree reports whether nothing listens on the n slots from base.
func portsFree(base, n int) bool {
	for i := range n {
		for j := range 8 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+10*i+j))
			if err != nil {
				return false
			}
			l.Close()
		}
	}
	return true
}
