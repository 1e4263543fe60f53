package contractbuild

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSourcesListTheContractAndTheSDK: a contract's sources are its own
// files and those of contractsdk, which a test's cache must key on, and
// no standard-library file.
func TestSourcesListTheContractAndTheSDK(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "contracts", "token"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Sources(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, filepath.Join(dir, "main.go")) {
		t.Errorf("the contract's main.go is not among its sources: %v", files)
	}
	sdk, _ := filepath.Abs(filepath.Join("..", "..", "contractsdk"))
	if !slices.ContainsFunc(files, func(f string) bool { return filepath.Dir(f) == sdk }) {
		t.Errorf("no file of %s among the sources: %v", sdk, files)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".go") || !filepath.IsAbs(f) {
			t.Errorf("source %q is not an absolute Go file", f)
		}
		if strings.Contains(f, "/src/runtime/") {
			t.Errorf("standard-library file %s listed", f)
		}
	}
}

// TestSourcesRefuseADirectoryWithoutAPackage: the error names the go
// command that failed and the directory.
func TestSourcesRefuseADirectoryWithoutAPackage(t *testing.T) {
	dir := t.TempDir()
	_, err := Sources(t.Context(), dir)
	if err == nil || !strings.Contains(err.Error(), "contractbuild: go list in "+dir) {
		t.Fatalf("listing an empty directory: %v", err)
	}
}
