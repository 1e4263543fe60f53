// Package tstest runs the TypeScript SDK's tests (sdk-ts) and the browser
// dApp's (examples/dapp) from `go test`, against real devnets, so that the
// repository's one test command covers both languages. It only has tests;
// this file holds what they share: finding Node and Chromium, and deciding
// whether a missing one skips the test or fails it.
//
// Outside CI a missing prerequisite skips, naming what to install. With
// PHALA_TS_REQUIRED set (.ci/run sets it) it fails: CI must run them all.
package tstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// RequiredEnv makes a missing prerequisite (Node, installed npm
// dependencies, Chromium) a failure instead of a skip.
const RequiredEnv = "PHALA_TS_REQUIRED"

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Missing skips the test, or fails it when RequiredEnv is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%s (%s is set: CI runs every TypeScript test)", msg, RequiredEnv)
	}
	t.Skip(msg)
}

// Node returns the path of a Node.js of version 20 or later.
func Node(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "node not found: install Node.js 20 or later to run the TypeScript SDK's tests")
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		Missing(t, "node --version: %v", err)
	}
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
	if major < 20 {
		Missing(t, "node %s: the TypeScript SDK needs Node.js 20 or later", strings.TrimSpace(string(out)))
	}
	return path
}

// Package returns the directory of an npm package of the repository (rel
// to the root), checking that its dependencies are installed.
func Package(t testing.TB, rel string) string {
	t.Helper()
	dir := filepath.Join(Root(), rel)
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		Missing(t, "%s has no node_modules: run `npm ci` in %s", rel, rel)
	}
	return dir
}

// Run runs a command in dir with extra environment, and fails the test
// with its output if it fails.
func Run(t testing.TB, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
	}
	return out.String()
}

// BuildSDK compiles sdk-ts (its sources and tests) and returns its directory.
func BuildSDK(t testing.TB, ctx context.Context) string {
	t.Helper()
	node := Node(t)
	dir := Package(t, "sdk-ts")
	Run(t, ctx, dir, nil, node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", ".")
	return dir
}

// Chromium returns the path of Debian's chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium not found: install Debian's chromium package (apt-get install -y chromium) to run the browser test")
	return ""
}
