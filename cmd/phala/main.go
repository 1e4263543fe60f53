// Command phala is the user CLI of the Phala chain and the all-in-one local
// network (`phala devnet`).
package main

import (
	"context"
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phala:", err)
		if errors.As(err, new(usageError)) {
			os.Exit(exitConfig)
		}
		os.Exit(exitError)
	}
}

// globals are the flags every command shares.
type globals struct {
	node    string
	keyring string
	out     io.Writer
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
	home, _ := os.UserHomeDir()
	root.PersistentFlags().StringVar(&g.node, "node", "tcp://127.0.0.1:26657", "node RPC address")
	root.PersistentFlags().StringVar(&g.keyring, "keyring", filepath.Join(home, ".phala", "keys"), "directory of named key files")
	root.AddCommand(devnetCmd(g), statusCmd(g), keysCmd(g), txCmd(g), queryCmd(g), contractCmd(g), workerCmd(g), govCmd(g), versionCmd(g))
	return root
}

// usageArgs makes a wrong number of positional arguments a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func (g *globals) client(ctx context.Context) (*sdk.Client, error) {
	return sdk.Dial(ctx, g.node)
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
