package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/internal/devnet"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// run executes the CLI in-process and returns its output.
func run(t *testing.T, ctx context.Context, g []string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot(&out)
	root.SetArgs(append(append([]string{}, g...), args...))
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestEveryCommandRefusesAMalformedCommandLineAsAUsageError: arguments a
// command does not take, an unknown flag and a flag value of the wrong
// type are usage errors (exit status 2) for every command, found before
// the node is contacted (the node address points nowhere).
func TestEveryCommandRefusesAMalformedCommandLineAsAUsageError(t *testing.T) {
	ctx := context.Background()
	g := []string{"--node", "tcp://127.0.0.1:1", "--keyring", t.TempDir()}
	// usage fails unless err is a usage error wrapping want (if not nil)
	// and saying one of texts.
	usage := func(t *testing.T, err error, want error, texts ...string) {
		t.Helper()
		says := slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(fmt.Sprint(err), s) })
		if !errors.As(err, new(usageError)) || exitCode(err) != exitConfig || want != nil && !errors.Is(err, want) || !says {
			t.Fatalf("got %v (exit status %d), want a usage error (exit status %d) saying one of %q", err, exitCode(err), exitConfig, texts)
		}
	}
	// The control: a well-formed command line gets as far as the node.
	addr := strings.Repeat("ab", 20)
	if _, err := run(t, ctx, g, "query", "account", addr); err == nil || exitCode(err) != exitError || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("query account %s: %v, want a failure to reach the node (exit status %d)", addr, err, exitError)
	}
	var leaves []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.HasSubCommands() {
			leaves = append(leaves, strings.TrimPrefix(c.CommandPath(), "phala "))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(io.Discard))
	if len(leaves) < 30 {
		t.Fatalf("found %d commands: %q", len(leaves), leaves)
	}
	for _, leaf := range leaves {
		t.Run(leaf, func(t *testing.T) {
			path := strings.Fields(leaf)
			_, err := run(t, ctx, g, append(path, "x", "y", "z")...)
			usage(t, err, nil, `unknown command "x" for "phala `+leaf+`"`, "received 3")
			_, err = run(t, ctx, g, append(path, "--no-such-flag")...)
			usage(t, err, errBadFlag, "unknown flag: --no-such-flag")
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		text string
	}{
		{"query account without an address", []string{"query", "account"}, "accepts 1 arg(s), received 0"},
		{"query account of two addresses", []string{"query", "account", addr, addr}, "accepts 1 arg(s), received 2"},
		{"tx transfer --amount not a number", []string{"tx", "transfer", "--amount", "x"}, `invalid argument "x" for "--amount"`},
		{"tx push-message with an argument", []string{"tx", "push-message", "hello"}, `unknown command "hello" for "phala tx push-message"`},
		{"gov set-attestation-policy --max-age not a number", []string{"gov", "set-attestation-policy", "--max-age", "old"}, `invalid argument "old" for "--max-age"`},
		{"gov allow-measurement with an argument", []string{"gov", "allow-measurement", "ab"}, `unknown command "ab"`},
		{"query messages --height not a number", []string{"query", "messages", "--height", "top"}, `invalid argument "top" for "--height"`},
		{"version with an argument", []string{"version", "now"}, `unknown command "now" for "phala version"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, ctx, g, tc.args...)
			usage(t, err, nil, tc.text)
		})
	}
}

// TestWorkerAndMeasurementArgumentsAreRefusedBeforeSending: worker keys,
// measurements and TD registers that are not hex of their exact size are
// usage errors naming the argument, found before the node is contacted.
func TestWorkerAndMeasurementArgumentsAreRefusedBeforeSending(t *testing.T) {
	ctx := context.Background()
	g := []string{"--node", "tcp://127.0.0.1:1", "--keyring", t.TempDir()}
	worker, meas, reg := strings.Repeat("ab", 32), strings.Repeat("cd", 32), strings.Repeat("00", 48)
	measure := func(mrtd string, rtmrs ...string) []string {
		args := []string{"worker", "measurement", "--mrtd", mrtd}
		for _, r := range rtmrs {
			args = append(args, "--rtmr", r)
		}
		return args
	}
	for _, tc := range []struct {
		name string
		args []string
		want error
		text string
	}{
		{"show: worker not hex", []string{"worker", "show", "zz"}, errNotHex, `worker "zz": not hex`},
		{"show: worker of 31 bytes", []string{"worker", "show", worker[2:]}, errLength, "has 31 bytes, not 32"},
		{"show: measurement not hex", []string{"worker", "show", worker, "--measurement", "xy"}, errNotHex, `--measurement "xy": not hex`},
		{"show: measurement of 33 bytes", []string{"worker", "show", worker, "--measurement", meas + "00"}, errLength, "has 33 bytes, not 32"},
		{"allow: measurement not hex", []string{"gov", "allow-measurement", "--measurement", "0x" + meas, "--admin", "a"}, errNotHex, `--measurement "0x`},
		{"revoke: measurement of 1 byte", []string{"gov", "revoke-measurement", "--measurement", "cd", "--admin", "a"}, errLength, "has 1 bytes, not 32"},
		{"measurement: no --mrtd", measure("", reg, reg, reg, reg), errLength, `--mrtd "" has 0 bytes, not 48`},
		{"measurement: mrtd of 32 bytes", measure(meas, reg, reg, reg, reg), errLength, "has 32 bytes, not 48"},
		{"measurement: three rtmrs", measure(reg, reg, reg, reg), errRTMRCount, "3 --rtmr"},
		{"measurement: rtmr 2 not hex", measure(reg, reg, reg, "zz", reg), errNotHex, `--rtmr 2 "zz": not hex`},
		{"measurement: no --xfam", measure(reg, reg, reg, reg, reg), errLength, `--xfam "" has 0 bytes, not 8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, ctx, g, tc.args...)
			if !errors.Is(err, tc.want) || !errors.As(err, new(usageError)) || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Fatalf("got %v, want a usage error wrapping %v and saying %q", err, tc.want, tc.text)
			}
		})
	}
}

// TestCLIAgainstDevnet drives keys, transactions, verified queries, key
// epochs and governance against one devnet started in-process, and checks
// the CLI's refusals.
func TestCLIAgainstDevnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
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
	var info bytes.Buffer
	if err := d.PrintInfo(ctx, &info); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.String(), d.DevKey.Address().String()) || !strings.Contains(info.String(), d.Node.RPCAddr()) {
		t.Fatalf("devnet info lacks the dev account or RPC address:\n%s", info.String())
	}

	g := []string{"--node", d.Node.RPCAddr(), "--keyring", filepath.Join(t.TempDir(), "keys")}
	out, err := run(t, ctx, g, "keys", "add", "carol")
	if err != nil {
		t.Fatal(err)
	}
	carol := strings.Fields(out)[1]
	if out, err := run(t, ctx, g, "keys", "list"); err != nil || !strings.Contains(out, "carol\t"+carol) {
		t.Fatalf("keys list: %q %v", out, err)
	}
	if out, err := run(t, ctx, g, "keys", "show", "carol"); err != nil || !strings.Contains(out, carol) {
		t.Fatalf("keys show: %q %v", out, err)
	}

	if out, err := run(t, ctx, g, "tx", "transfer", "--from", d.KeyPath, "--to", carol, "--amount", "4242"); err != nil || !strings.Contains(out, "included at height") {
		t.Fatalf("transfer: %q %v", out, err)
	}
	out, err = run(t, ctx, g, "query", "account", "carol")
	if err != nil || !strings.Contains(out, "balance: 4242") || !strings.Contains(out, "proof verified") {
		t.Fatalf("query account: %q %v", out, err)
	}

	out, err = run(t, ctx, g, "tx", "push-message", "--from", d.KeyPath, "--topic", "demo", "--payload", "hello")
	if err != nil {
		t.Fatalf("push: %q %v", out, err)
	}
	m := regexp.MustCompile(`included at height (\d+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, `seq 0 on "demo"`) {
		t.Fatalf("push output: %q", out)
	}
	out, err = run(t, ctx, g, "query", "messages", "--height", m[1])
	if err != nil || !strings.Contains(out, `payload "hello"`) || !strings.Contains(out, "verified: app hash") {
		t.Fatalf("query messages: %q %v", out, err)
	}

	out, err = run(t, ctx, g, "status", "--pruntime", d.Addr.WorkerPublic)
	if err != nil || !strings.Contains(out, "registered true") || !strings.Contains(out, "pherry    lag") {
		t.Fatalf("status: %q %v", out, err)
	}

	// Workers: listed, verified (the sim TEE must be accepted explicitly).
	workerHex := hex.EncodeToString(d.Worker.Runtime.Info().WorkerPubkey)
	if out, err := run(t, ctx, g, "worker", "list"); err != nil || !strings.Contains(out, workerHex[:16]) || !strings.Contains(out, "active") {
		t.Fatalf("worker list: %q %v", out, err)
	}
	if out, err := run(t, ctx, g, "worker", "show", workerHex, "--allow-sim"); err != nil || !strings.Contains(out, "verified:") {
		t.Fatalf("worker show: %q %v", out, err)
	}
	if _, err := run(t, ctx, g, "worker", "show", workerHex); !errors.Is(err, sdk.ErrWorkerNotTrusted) {
		t.Fatalf("worker show without --allow-sim: %v", err)
	}
	zeros := strings.Repeat("00", 48)
	if out, err := run(t, ctx, g, "worker", "measurement", "--mrtd", zeros, "--rtmr", zeros, "--rtmr", zeros, "--rtmr", zeros, "--rtmr", zeros, "--xfam", "e71a060000000000"); err != nil || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("worker measurement: %q %v", out, err)
	}

	// Refusals.
	if _, err := run(t, ctx, g, "tx", "transfer", "--from", d.KeyPath, "--to", "nothex", "--amount", "1"); !errors.As(err, new(usageError)) || !errors.Is(err, protocol.ErrBadAddress) {
		t.Fatalf("bad address: %v", err)
	}
	if _, err := run(t, ctx, g, "tx", "transfer", "--to", carol, "--amount", "1"); !errors.As(err, new(usageError)) {
		t.Fatalf("missing --from: %v", err)
	}
	if _, err := run(t, ctx, g, "tx", "push-message", "--from", d.KeyPath, "--topic", "bad topic"); !errors.Is(err, protocol.ErrBadTopic) {
		t.Fatalf("bad topic: %v", err)
	}
	if _, err := run(t, ctx, g, "keys", "add", "dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, ctx, g, "tx", "transfer", "--from", "dave", "--to", carol, "--amount", "1"); !errors.Is(err, protocol.ErrInsufficientFunds) {
		t.Fatalf("unfunded sender: %v", err)
	}
	if _, err := run(t, ctx, g, "tx", "push-message", "--from", d.KeyPath, "--topic", "phala/registry/x"); !errors.Is(err, protocol.ErrReservedTopic) {
		t.Fatalf("reserved topic: %v", err)
	}

	// Key epochs: clusters, gatekeepers and rotation, with a third worker.
	// (Before the revocation below, which retires every sim worker.)
	admin := filepath.Join(d.Home, "node", "keys", "admin.json")
	t.Run("key epochs and their governance", func(t *testing.T) { testKeyEpochsAndGovernance(t, ctx, d, g, admin) })

	// Governance revokes the sim build: the worker is retired at once.
	if _, err := run(t, ctx, g, "gov", "revoke-measurement", "--measurement", "zz", "--admin", admin); !errors.As(err, new(usageError)) || !errors.Is(err, errNotHex) {
		t.Fatalf("bad measurement: %v", err)
	}
	if _, err := run(t, ctx, g, "gov", "set-attestation-policy", "--max-age", "-1", "--admin", admin, "--from", d.KeyPath); !errors.Is(err, protocol.ErrBadPolicy) {
		t.Fatalf("bad policy: %v", err)
	}
	if out, err := run(t, ctx, g, "gov", "revoke-measurement", "--measurement", hex.EncodeToString(sim.DefaultMeasurement), "--admin", admin, "--from", d.KeyPath); err != nil {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if out, err := run(t, ctx, g, "worker", "list"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("worker list after revocation: %q %v", out, err)
	}
	if _, err := run(t, ctx, g, "worker", "show", workerHex, "--allow-sim"); !errors.Is(err, sdk.ErrWorkerNotTrusted) {
		t.Fatalf("worker show after revocation: %v", err)
	}
}
