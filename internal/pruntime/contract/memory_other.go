//go:build !unix

package contract

// reserve allocates max bytes of Go memory (no anonymous mappings here).
func reserve(max uint64) *reservation { return &reservation{buf: make([]byte, max)} }

func unmap([]byte) {}
