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
	"strings"
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

// goCommand runs the go tool in dir for the contracts' target.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, GoTool(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("contractbuild: go %s in %s: %w\n%s", args[0], dir, err, stderr.Bytes())
	}
	return out, nil
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
	if _, err := goCommand(ctx, dir, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", wasm, "."); err != nil {
		return nil, err
	}
	return os.ReadFile(wasm)
}

// Sources lists every Go file the contract in dir is built from: its
// package's and those of every non-standard package it imports, for the
// contracts' target. Build reads them in a subprocess; see RecordForTest.
func Sources(ctx context.Context, dir string) ([]string, error) {
	out, err := goCommand(ctx, dir, "list", "-deps",
		"-f", `{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}{{"/"}}{{.}}{{"\n"}}{{end}}{{end}}`, ".")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// RecordForTest opens (and closes) each of files, a contract's Sources.
// go test keys its result cache on the files a test opens, but cannot see
// what the go build subprocess read; a test that runs a contract calls
// this while it runs (not in TestMain, before go test starts watching), so
// that editing the contract or the SDK reruns the test instead of
// replaying a stale pass.
func RecordForTest(files []string) {
	for _, name := range files {
		if f, err := os.Open(name); err == nil {
			f.Close()
		}
	}
}
