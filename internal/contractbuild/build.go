// Package contractbuild compiles a Go contract (a main package written
// against contractsdk/) into a WebAssembly module with the standard
// toolchain: GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared (a reactor whose
// _initialize starts the Go runtime), stripped and path-trimmed so that the
// same source and toolchain give the same bytes, hence the same code hash.
package contractbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// GoTool is the go command to build with: the one of the toolchain running
// this program when it has one, else "go" from PATH.
func GoTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// Build compiles the contract package in dir and returns the module's
// bytes. dir may be any directory inside a Go module.
func Build(ctx context.Context, dir string) ([]byte, error) {
	out, err := os.MkdirTemp("", "contractbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	wasm := filepath.Join(out, "contract.wasm")
	cmd := exec.CommandContext(ctx, GoTool(), "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", wasm, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("contractbuild: go build in %s: %w\n%s", dir, err, stderr.Bytes())
	}
	return os.ReadFile(wasm)
}
