//go:build unix

package contract

import "syscall"

// reserve maps max bytes of zeroed, uncommitted memory, or falls back to
// Go memory if the mapping fails.
func reserve(max uint64) *reservation {
	if max > 0 && max <= 1<<32 {
		if b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON); err == nil {
			return &reservation{buf: b, mapped: true}
		}
	}
	return &reservation{buf: make([]byte, max)}
}

func unmap(b []byte) { _ = syscall.Munmap(b) }
