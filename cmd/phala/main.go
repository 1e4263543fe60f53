// Command phala is the user CLI of the Phala chain and the all-in-one local
// network (`phala devnet`).
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/version"
	"github.com/phala-go/phala/sdk"
)

// Exit codes.
const (
	exitError  = 1
	exitConfig = 2
)

// usageError marks a mistake in the command line or configuration.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Usage errors of the command line's shape and of its hex arguments.
var (
	// errBadFlag: a flag that does not exist or a value it cannot take.
	errBadFlag = errors.New("bad flag")
	errNotHex  = errors.New("not hex")
	errLength  = errors.New("wrong length")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phala:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status of a command that failed with err.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return exitConfig
	}
	return exitError
}

// globals are the flags every command shares, and the clients a command
// dialed (whose verified headers are saved when it ends).
type globals struct {
	node    string
	keyring string
	chainID string
	maxFee  uint64
	out     io.Writer
	errOut  io.Writer
	clients []*sdk.Client
}

func newRoot(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:           "phala",
		Short:         "Phala chain CLI and local devnet",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	g.errOut = root.ErrOrStderr()
	home, _ := os.UserHomeDir()
	root.PersistentFlags().StringVar(&g.node, "node", "tcp://127.0.0.1:26657", "node RPC address")
	root.PersistentFlags().StringVar(&g.keyring, "keyring", filepath.Join(home, ".phala", "keys"), "directory of named key files (and trust/, the chains it trusts)")
	root.PersistentFlags().StringVar(&g.chainID, "chain-id", "", "the chain the node must serve; trusted at first use if the keyring has no root for it (see `phala trust`)")
	root.PersistentFlags().Uint64Var(&g.maxFee, "max-fee", sdk.DefaultMaxFee, "the most a transaction's fee may be: a chain whose minimum fee is higher is refused (code fees and prepaid gas are separate)")
	root.AddCommand(devnetCmd(g), statusCmd(g), keysCmd(g), txCmd(g), queryCmd(g), contractCmd(g), workerCmd(g), govCmd(g), trustCmd(g), versionCmd(g))
	usageErrors(root)
	saveTrustAfter(root, g)
	return root
}

// saveTrustAfter has every command save, when it ends (failed or not), the
// newest header its clients verified: the next command resumes from there.
func saveTrustAfter(root *cobra.Command, g *globals) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, c := range cmd.Commands() {
			if run := c.RunE; run != nil {
				c.RunE = func(cmd *cobra.Command, args []string) error {
					err := run(cmd, args)
					if serr := g.saveClients(); serr != nil {
						return errors.Join(err, fmt.Errorf("saving the verified header: %w", serr))
					}
					return err
				}
			}
			walk(c)
		}
	}
	walk(root)
}

// usageErrors makes every mistake in the shape of a command line a usage
// error, for all of root's commands at once: a bad flag or flag value (the
// root's FlagErrorFunc serves every command), and positional arguments a
// command does not take. A command without subcommands that sets no Args
// takes none.
func usageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w: %v", errBadFlag, err)}
	})
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, c := range cmd.Commands() {
			if c.Args == nil && !c.HasSubCommands() {
				c.Args = cobra.NoArgs
			}
			if check := c.Args; check != nil {
				c.Args = func(cmd *cobra.Command, args []string) error {
					if err := check(cmd, args); err != nil {
						return usageError{err}
					}
					return nil
				}
			}
			walk(c)
		}
	}
	walk(root)
}

// hexArg decodes s, the value of what (a flag or a positional argument),
// as hex of exactly n bytes: keys, hashes and ids are refused before
// anything is sent.
func hexArg(what, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s %q: %w (%v)", what, s, errNotHex, err)}
	}
	if len(b) != n {
		return nil, usageError{fmt.Errorf("%s %q has %d bytes, not %d: %w", what, s, len(b), n, errLength)}
	}
	return b, nil
}

// loadKey resolves a key given as a file path or as a name in the keyring.
func (g *globals) loadKey(ref string) (*sdk.Key, error) {
	if ref == "" {
		return nil, usageError{errors.New("--from is required")}
	}
	path := ref
	if !strings.ContainsAny(ref, `/\`) && !strings.HasSuffix(ref, ".json") {
		path = filepath.Join(g.keyring, ref+".json")
	}
	k, err := sdk.LoadKey(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("key %q: %w", ref, err)}
	}
	return k, nil
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(g.out, "phala", version.String())
		},
	}
}
