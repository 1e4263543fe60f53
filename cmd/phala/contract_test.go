package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/wasm/wasmtest"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// TestContractCommandsRefuseBadInputBeforeSending: every malformed
// argument is a usage error with its own cause, found before the CLI
// contacts a node (the node address here has nothing listening, so a
// check that came too late would fail with a connection error instead).
func TestContractCommandsRefuseBadInputBeforeSending(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, err := sdk.GenerateKey("tester")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "tester.json")
	if err := sdk.SaveKey(keyPath, key); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "input.txt")
	if err := os.WriteFile(notJSON, []byte("transfer 5 to bob"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	id := strings.Repeat("ab", 32)
	g := []string{"--node", "tcp://127.0.0.1:1", "--keyring", dir}
	// inst is a valid instantiate command line with flags replaced by
	// extra (name, value pairs); the value "<absent>" drops the flag.
	inst := func(extra ...string) []string {
		args := map[string]string{"--code": id, "--cluster": "default", "--init": "{}", "--from": keyPath}
		for i := 0; i < len(extra); i += 2 {
			args[extra[i]] = extra[i+1]
		}
		out := []string{"contract", "instantiate"}
		for _, f := range []string{"--code", "--cluster", "--init", "--from", "--salt", "--gas"} {
			if v, ok := args[f]; ok && v != "<absent>" {
				out = append(out, f, v)
			}
		}
		return out
	}
	cmd := func(verb string, extra ...string) []string {
		return append([]string{"contract", verb, "--contract", id, "--input", "{}", "--from", keyPath}, extra...)
	}
	// The control: valid arguments get as far as the (absent) node.
	for _, args := range [][]string{inst(), cmd("command"), cmd("query")} {
		if _, err := run(t, ctx, g, args...); err == nil || errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("phala %s: %v, want a failure to reach the node", strings.Join(args, " "), err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want error
		text string // in the message, if set
	}{
		{"build: no such directory", []string{"contract", "build", missing}, fs.ErrNotExist, ""},
		{"build: a file, not a directory", []string{"contract", "build", keyPath}, errNotContractDir, ""},
		{"deploy: unreadable module", []string{"contract", "deploy", missing, "--from", keyPath}, errInputFile, ""},
		{"instantiate: code hash not hex", inst("--code", "zz"), errNotHex, `--code "zz": not hex`},
		{"instantiate: code hash of 31 bytes", inst("--code", id[2:]), errLength, "has 31 bytes, not 32"},
		{"instantiate: no --code", inst("--code", "<absent>"), errRequired, ""},
		{"instantiate: no --init", inst("--init", "<absent>"), errRequired, ""},
		{"instantiate: cluster name over 64 bytes", inst("--cluster", strings.Repeat("c", 65)), errClusterNameSize, ""},
		{"instantiate: init not JSON", inst("--init", "supply=5"), errNotJSON, ""},
		{"instantiate: unreadable @file", inst("--init", "@"+missing), errInputFile, ""},
		{"instantiate: @file not JSON", inst("--init", "@"+notJSON), errNotJSON, ""},
		{"instantiate: salt over the limit", inst("--salt", strings.Repeat("s", contracts.MaxSalt+1)), protocol.ErrBadSalt, fmt.Sprintf("--salt has %d bytes, limit %d", contracts.MaxSalt+1, contracts.MaxSalt)},
		{"instantiate: zero gas", inst("--gas", "0"), protocol.ErrBadGasLimit, ""},
		{"command: no --contract", []string{"contract", "command", "--input", "{}", "--from", keyPath}, errRequired, ""},
		{"command: no --input", []string{"contract", "command", "--contract", id, "--from", keyPath}, errRequired, ""},
		{"command: contract id of 33 bytes", []string{"contract", "command", "--contract", id + "ab", "--input", "{}", "--from", keyPath}, errLength, "has 33 bytes, not 32"},
		{"command: truncated JSON", []string{"contract", "command", "--contract", id, "--input", `{"add":`, "--from", keyPath}, errNotJSON, ""},
		{"command: zero gas", cmd("command", "--gas", "0"), protocol.ErrBadGasLimit, ""},
		{"query: contract id not hex", []string{"contract", "query", "--contract", "0x" + id, "--input", "{}", "--from", keyPath}, errNotHex, "--contract \"0x"},
		{"query: worker not hex", cmd("query", "--worker", "zz"), errNotHex, `--worker "zz": not hex`},
		{"query: worker key of 20 bytes", cmd("query", "--worker", id[:40]), errLength, "has 20 bytes, not 32"},
		{"query: negative minimum height", cmd("query", "--min-height", "-1"), errBadHeight, ""},
		{"query: zero gas", cmd("query", "--gas", "0"), protocol.ErrBadGasLimit, ""},
		{"show: id not hex", []string{"contract", "show", "zz"}, errNotHex, `contract "zz": not hex`},
		{"result: id of 1 byte", []string{"contract", "result", "ab", "0"}, errLength, `contract "ab" has 1 bytes, not 32`},
		{"result: index not a number", []string{"contract", "result", id, "first"}, errBadIndex, ""},
		{"result: negative index", []string{"contract", "result", id, "--", "-1"}, errBadIndex, ""},
		{"command: gas not a number", cmd("command", "--gas", "lots"), errBadFlag, ""},
		{"query: unknown flag", cmd("query", "--allow-tdx"), errBadFlag, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, ctx, g, tc.args...)
			if !errors.Is(err, tc.want) || !errors.As(err, new(usageError)) || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Fatalf("got %v, want a usage error wrapping %v and saying %q", err, tc.want, tc.text)
			}
		})
	}
}

// TestContractCLIAgainstDevnet drives the token example's whole life
// through `phala contract` against a devnet, then the tutorial of
// docs/contracts.md: its Go files and, in order, each of its commands.
func TestContractCLIAgainstDevnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := devnet.DefaultOptions()
	o.Home = t.TempDir()
	o.BasePort = nodetest.FreePortBase(t, 1)
	o.BlockTime = 100 * time.Millisecond
	d, err := devnet.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	t.Run("token", func(t *testing.T) { testTokenThroughTheCLI(t, ctx, d) })
	t.Run("tutorial", func(t *testing.T) { testTutorial(t, ctx, d) })
}

func testTokenThroughTheCLI(t *testing.T, ctx context.Context, d *devnet.Devnet) {
	dir := t.TempDir()
	g := []string{"--node", d.Addr.NodeRPC, "--keyring", filepath.Join(dir, "keys")}
	dev, devAddr := d.KeyPath, d.DevKey.Address().String()
	c, err := sdk.Dial(ctx, d.Addr.NodeRPC)
	if err != nil {
		t.Fatal(err)
	}

	// Build: the printed hash is the module's, which the chain will keep.
	wasmPath := filepath.Join(dir, "token.wasm")
	tokenDir, err := filepath.Abs(filepath.Join("..", "..", "examples", "contracts", "token"))
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, ctx, g, "contract", "build", tokenDir, "-o", wasmPath)
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	hash := protocol.CodeHash(wasm)
	code := hex.EncodeToString(hash[:])
	if got := value(t, out, "code"); got != code {
		t.Fatalf("build printed code %s, the file's hash is %s", got, code)
	}
	mustContain(t, out, "wrote     "+wasmPath+"\n", fmt.Sprintf("size      %d bytes, ", len(wasm)))

	// Deploy, then deploy again: the second sends nothing.
	out = mustRun(t, ctx, g, "contract", "deploy", wasmPath, "--from", dev)
	if value(t, out, "code") != code || !strings.Contains(out, "(uploaded, record proven)") {
		t.Fatalf("deploy: %s", out)
	}
	info, ok, err := c.Code(ctx, hash[:])
	if err != nil || !ok || info.Size != uint64(len(wasm)) || info.Uploader.String() != devAddr || value(t, out, "height") != strconv.FormatInt(info.Height, 10) {
		t.Fatalf("code record %+v %v %v after deploy:\n%s", info, ok, err, out)
	}
	out = mustRun(t, ctx, g, "contract", "deploy", wasmPath, "--from", dev)
	mustContain(t, out, fmt.Sprintf("exists    uploaded at height %d by %s; nothing sent", info.Height, devAddr))

	// The chain's refusal of a module importing outside the ABI is shown.
	bad := wasmtest.NewContract(1)
	bad.Import("env", "abort", wasmtest.Sig(nil))
	badPath := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(badPath, bad.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, ctx, g, "contract", "deploy", badPath, "--from", dev); !errors.Is(err, protocol.ErrModuleImports) ||
		!strings.Contains(err.Error(), "env.abort") || !strings.Contains(err.Error(), "[contracts/3]") {
		t.Fatalf("deploy of a module importing env.abort: %v", err)
	}
	if _, err := run(t, ctx, g, "contract", "instantiate", "--code", strings.Repeat("07", 32), "--cluster", devnet.Cluster, "--init", "{}", "--from", dev); !errors.Is(err, protocol.ErrUnknownCode) {
		t.Fatalf("instantiate of unknown code: %v", err)
	}

	out = mustRun(t, ctx, g, "keys", "add", "bob")
	bob := strings.Fields(out)[1]

	// Instantiate with the init arguments in a file.
	initFile := filepath.Join(dir, "init.json")
	if err := os.WriteFile(initFile, []byte(`{"supply": 1000}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, ctx, g, "contract", "instantiate", "--code", code, "--cluster", devnet.Cluster, "--init", "@"+initFile, "--from", dev)
	wantID := protocol.ContractID(d.DevKey.Address(), hash[:], protocol.ClusterID(devnet.Cluster), nil)
	id := value(t, out, "contract")
	if id != hex.EncodeToString(wantID[:]) {
		t.Fatalf("contract id %s, want %x", id, wantID)
	}
	mustContain(t, out, "outcome   ok\n", "reply     {\"balance\":1000}\n")
	if _, err := run(t, ctx, g, "contract", "instantiate", "--code", code, "--cluster", devnet.Cluster, "--init", "@"+initFile, "--from", dev); !errors.Is(err, protocol.ErrContractExists) || !strings.Contains(err.Error(), "--salt") {
		t.Fatalf("second instance without a salt: %v", err)
	}
	out = mustRun(t, ctx, g, "contract", "instantiate", "--code", code, "--cluster", devnet.Cluster, "--init", `{"supply": 1}`, "--salt", "two", "--no-wait", "--from", dev)
	salted := protocol.ContractID(d.DevKey.Address(), hash[:], protocol.ClusterID(devnet.Cluster), []byte("two"))
	if value(t, out, "contract") != hex.EncodeToString(salted[:]) || strings.Contains(out, "outcome") {
		t.Fatalf("instantiate --salt two --no-wait:\n%s", out)
	}

	// A transfer by command: the reply, then the same result in the record.
	out = mustRun(t, ctx, g, "contract", "command", "--contract", id, "--input", fmt.Sprintf(`{"transfer": {"to": %q, "amount": 250}}`, bob), "--from", dev)
	mustContain(t, out, "command   0\n", "outcome   ok\n", "reason    -\n", "reply     {\"balance\":750}\n")
	height, gas, root := value(t, out, "height"), value(t, out, "gas"), value(t, out, "state")
	out = mustRun(t, ctx, g, "contract", "result", id, "0")
	mustContain(t, out, "command   0 of contract "+id+"\n", "sender    "+devAddr+"\n", "accepted  at height "+height+"\n",
		"outcome   ok\n", "gas       "+gas+"\n", "state     "+root+"\n", "reply     ", "bytes, sealed to the sender")

	// Queries: each account sees its own balance; the answer includes the
	// command's block.
	workerKey := hex.EncodeToString(d.Worker.Runtime.Info().WorkerPubkey)
	out = mustRun(t, ctx, g, "contract", "query", "--contract", id, "--input", `{"balance": {}}`, "--min-height", height, "--allow-sim", "--from", dev)
	mustContain(t, out, "outcome   ok\n", "output    {\"balance\":750}\n", "worker    "+workerKey+"\n")
	if mustInt(t, value(t, out, "height")) < mustInt(t, height) {
		t.Fatalf("answer computed at %s, before the command's block %s", value(t, out, "height"), height)
	}
	out = mustRun(t, ctx, g, "contract", "query", "--contract", id, "--input", `{"balance": {}}`, "--worker", workerKey, "--allow-sim", "--from", "bob")
	mustContain(t, out, "output    {\"balance\":250}\n")
	out, err = run(t, ctx, g, "contract", "query", "--contract", id, "--input", fmt.Sprintf(`{"balance_of": {"owner": %q}}`, devAddr), "--allow-sim", "--from", "bob")
	if !errors.Is(err, errCallFailed) {
		t.Fatalf("bob reading the deployer's balance: %v\n%s", err, out)
	}
	mustContain(t, out, "outcome   error\n", "output    balances are visible only to their owner\n")
	if _, err := run(t, ctx, g, "contract", "query", "--contract", id, "--input", `{"balance": {}}`, "--from", dev); !errors.Is(err, sdk.ErrWorkerNotTrusted) || !errors.Is(err, sdk.ErrSimTEE) || !strings.Contains(err.Error(), "add --allow-sim") {
		t.Fatalf("query of a sim worker without --allow-sim: %v", err)
	}

	// --raw sends bytes that are not JSON; the contract refuses them, and
	// a failed command leaves the state root as it was.
	out, err = run(t, ctx, g, "contract", "command", "--contract", id, "--raw", "--input", "transfer", "--from", dev)
	if !errors.Is(err, errCallFailed) {
		t.Fatalf("raw command: %v\n%s", err, out)
	}
	mustContain(t, out, "command   1\n", "outcome   error\n", "reply     invalid JSON", "state     "+root+"\n")
	mustContain(t, mustRun(t, ctx, g, "contract", "result", id, "1"), "outcome   error\n", "state     "+root+"\n")
	out = mustRun(t, ctx, g, "contract", "command", "--contract", id, "--input", `{"transfer": {"to": "`+bob+`", "amount": 1}}`, "--no-wait", "--from", dev)
	if !strings.Contains(out, "command   2\n") || strings.Contains(out, "outcome") {
		t.Fatalf("command --no-wait:\n%s", out)
	}

	out = mustRun(t, ctx, g, "contract", "show", id)
	mustContain(t, out, "contract  "+id+"\n", "code      "+code+"\n", fmt.Sprintf("cluster   %q (id %x)\n", devnet.Cluster, protocol.ClusterID(devnet.Cluster)),
		"deployer  "+devAddr+"\n", "status    active\n", "init result:\n  outcome   ok\n", "key       epoch 1: sha256:", "commands  3\n")

	// Unknown records.
	other := strings.Repeat("0e", 32)
	if _, err := run(t, ctx, g, "contract", "show", other); !errors.Is(err, protocol.ErrUnknownContract) {
		t.Fatalf("show of an unknown contract: %v", err)
	}
	if _, err := run(t, ctx, g, "contract", "result", id, "9"); !errors.Is(err, errUnknownCommand) || !strings.Contains(err.Error(), "(it has 3)") {
		t.Fatalf("result of command 9: %v", err)
	}
	if _, err := run(t, ctx, g, "contract", "result", other, "0"); !errors.Is(err, protocol.ErrUnknownContract) || !strings.Contains(err.Error(), other) {
		t.Fatalf("result of an unknown contract: %v", err)
	}
	if _, err := run(t, ctx, g, "contract", "command", "--contract", other, "--input", "{}", "--from", dev); !errors.Is(err, protocol.ErrUnknownContract) {
		t.Fatalf("command to an unknown contract: %v", err)
	}
}

// mustRun runs the CLI and fails the test on an error.
func mustRun(t *testing.T, ctx context.Context, g []string, args ...string) string {
	t.Helper()
	out, err := run(t, ctx, g, args...)
	if err != nil {
		t.Fatalf("phala %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// value returns the first word after label on a line of the contract
// commands' output.
func value(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + ` +(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", label, out)
	}
	return m[1]
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tutorialTitle heads the tutorial section of docs/contracts.md.
const tutorialTitle = "## Tutorial: from an empty directory to a running contract"

// testTutorial follows the tutorial: it writes its Go files into a module
// named like the tutorial's (with the repository as the dependency, as
// the tutorial explains for a checkout), runs their tests, and runs each
// of its `phala` commands in order, checking what the tutorial says they
// print. A tutorial command that is not in the list below, or in another
// order, fails the test.
func testTutorial(t *testing.T, ctx context.Context, d *devnet.Devnet) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "contracts.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(tutorialSection(t, string(doc)))
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "counter")
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"go.mod":       fmt.Appendf(nil, "module example.com/counter\n\ngo 1.26\n\nrequire github.com/phala-go/phala v0.0.0-00010101000000-000000000000\n\nreplace github.com/phala-go/phala => %s\n", repo),
		"go.sum":       sum, // what `go mod tidy` would fetch, without the network
		"main.go":      []byte(blocks.file(t, "main.go")),
		"main_test.go": []byte(blocks.file(t, "main_test.go")),
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOFLAGS", "-mod=mod -buildvcs=false")
	t.Setenv("GOPROXY", "off")
	test := exec.CommandContext(ctx, contractbuild.GoTool(), "test", "./...")
	test.Dir = dir
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("go test of the tutorial's contract: %v\n%s", err, out)
	}

	// The tutorial's paths and defaults are the devnet's.
	home := devnet.DefaultOptions()
	rel, err := filepath.Rel(d.Home, d.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	userHome, _ := os.UserHomeDir()
	if want := "DEV=~" + strings.TrimPrefix(filepath.Join(home.Home, rel), userHome); !slices.Contains(blocks.lines("sh"), want) {
		t.Errorf("the tutorial lacks the line %q", want)
	}
	if got := newRoot(io.Discard).PersistentFlags().Lookup("node").DefValue; got != home.Addresses().NodeRPC {
		t.Errorf("the CLI's default --node is %s, the devnet's RPC %s", got, home.Addresses().NodeRPC)
	}

	var code, state string
	steps := []struct {
		line  string
		fails error
		check func(t *testing.T, out string)
	}{
		{"phala contract build", nil, func(t *testing.T, out string) {
			wasm, err := os.ReadFile(filepath.Join(dir, "counter.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			hash := protocol.CodeHash(wasm)
			if code = value(t, out, "code"); code != hex.EncodeToString(hash[:]) {
				t.Fatalf("build printed %s, counter.wasm's hash is %x", code, hash)
			}
		}},
		{"phala contract deploy counter.wasm --from $DEV", nil, func(t *testing.T, out string) {
			if value(t, out, "code") != code {
				t.Fatalf("deploy:\n%s", out)
			}
			mustContain(t, out, "(uploaded, record proven)")
		}},
		{`phala contract instantiate --code $CODE --cluster default --init '{"start": 5}' --from $DEV`, nil, func(t *testing.T, out string) {
			mustContain(t, out, "outcome   ok\n", "reply     {\"count\":5}\n")
		}},
		{`phala contract command --contract $CONTRACT --input '{"add": {"by": 2}}' --from $DEV`, nil, func(t *testing.T, out string) {
			mustContain(t, out, "command   0\n", "outcome   ok\n", "reply     {\"count\":7}\n")
			state = value(t, out, "state")
		}},
		{`phala contract query --contract $CONTRACT --input '{"get": {}}' --allow-sim --from $DEV`, nil, func(t *testing.T, out string) {
			mustContain(t, out, "outcome   ok\n", "output    {\"count\":7}\n")
		}},
		{"phala keys add bob", nil, nil},
		{`phala contract query --contract $CONTRACT --input '{"get": {}}' --allow-sim --from bob`, nil, func(t *testing.T, out string) {
			mustContain(t, out, "output    {\"count\":0}\n")
		}},
		{`phala contract command --contract $CONTRACT --input '{"add": {"by": -1}}' --from $DEV`, errCallFailed, func(t *testing.T, out string) {
			mustContain(t, out, "command   1\n", "outcome   error\n", "reply     add.by: want an integer", "state     "+state+"\n")
		}},
		{"phala contract result $CONTRACT 0", nil, func(t *testing.T, out string) {
			mustContain(t, out, "outcome   ok\n", "state     "+state+"\n")
		}},
		{"phala contract show $CONTRACT", nil, func(t *testing.T, out string) {
			mustContain(t, out, "status    active\n", "commands  2\n")
		}},
	}
	var lines []string
	for _, l := range blocks.lines("sh") {
		if strings.HasPrefix(l, "phala ") {
			lines = append(lines, l)
		}
	}
	for i, s := range steps {
		if i >= len(lines) || lines[i] != s.line {
			t.Fatalf("tutorial command %d is %q, the test runs %q; keep them in step", i, lines[min(i, len(lines)-1)], s.line)
		}
	}
	if len(lines) != len(steps) {
		t.Fatalf("the tutorial has %d phala commands, the test runs %d: %q", len(lines), len(steps), lines[len(steps):])
	}

	t.Chdir(dir)
	g := []string{"--node", d.Addr.NodeRPC, "--keyring", filepath.Join(t.TempDir(), "keys")}
	vars := map[string]string{"DEV": d.KeyPath}
	for _, s := range steps {
		words := shellWords(t, os.Expand(s.line, func(k string) string { return vars[k] }))
		out, err := run(t, ctx, g, words[1:]...)
		if s.fails == nil && err != nil || s.fails != nil && !errors.Is(err, s.fails) {
			t.Fatalf("%s: got error %v, want %v\n%s", s.line, err, s.fails, out)
		}
		if s.check != nil {
			s.check(t, out)
		}
		switch words[2] {
		case "deploy":
			vars["CODE"] = value(t, out, "code")
		case "instantiate":
			vars["CONTRACT"] = value(t, out, "contract")
		}
	}
}

// tutorialSection returns the tutorial: from its title to the next
// section.
func tutorialSection(t *testing.T, doc string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+tutorialTitle+"\n")
	if !ok {
		t.Fatalf("docs/contracts.md has no %q", tutorialTitle)
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// block is a fenced code block and the paragraph line just before it.
type block struct{ lang, caption, body string }

type blocks []block

// codeBlocks splits markdown into its fenced code blocks.
func codeBlocks(md string) blocks {
	var bs blocks
	var cur *block
	prev := ""
	for _, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), caption: prev}
		case cur != nil && l == "```":
			bs, cur = append(bs, *cur), nil
		case cur != nil:
			cur.body += l + "\n"
		case strings.TrimSpace(l) != "":
			prev = l
		}
	}
	return bs
}

// file returns the Go block captioned "`name`:".
func (bs blocks) file(t *testing.T, name string) string {
	t.Helper()
	for _, b := range bs {
		if b.lang == "go" && b.caption == "`"+name+"`:" {
			return b.body
		}
	}
	t.Fatalf("the tutorial has no Go block captioned `%s`:", name)
	return ""
}

// lines returns the lines of every block in lang.
func (bs blocks) lines(lang string) []string {
	var ls []string
	for _, b := range bs {
		if b.lang == lang {
			ls = append(ls, strings.Split(strings.TrimSpace(b.body), "\n")...)
		}
	}
	return ls
}

// shellWords splits a command line as a POSIX shell would for the
// tutorial's commands: words separated by spaces, single quotes kept
// literally.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
