package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/internal/contractbuild"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// Input errors of the contract commands, found before anything is sent.
var (
	errInputFile      = errors.New("cannot read the file")
	errNotJSON        = errors.New("not valid JSON (add --raw to send other bytes)")
	errRequired       = errors.New("required")
	errBadIndex       = errors.New("not a command index")
	errBadHeight      = errors.New("must be >= 0")
	errNotContractDir = errors.New("not a contract directory")
)

// Errors of contract calls that went through.
var (
	// errCallFailed: the init, command or query ran and its outcome is not
	// ok (the contract's error text, a trap, out of gas or bad input).
	errCallFailed = errors.New("the contract call did not succeed")
	// errUnknownCommand: the contract has no command with that index.
	errUnknownCommand = errors.New("no such command")
)

// Defaults of the contract commands' gas flags. An init or a command
// prepays its whole limit (docs/contracts.md, Parameters); a Go contract's
// runtime start-up alone costs about 1.2 M gas.
const (
	defaultCallGas  = 100_000_000
	defaultQueryGas = 10_000_000
	defaultWait     = 2 * time.Minute
)

// contractCmd is `phala contract`: build, deploy, instantiate, command,
// query, show and result (docs/contracts.md walks through them).
func contractCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Build, deploy and call confidential contracts",
		Long: `Build, deploy and call confidential contracts (docs/contracts.md has a tutorial).

--init and --input take the text itself or, as @FILE, a file's bytes. Unless
--raw is given they must be one JSON value (the convention of the examples
and of contractsdk/jsonmsg); they are sent as given, encrypted. Malformed
arguments are refused before anything is sent (exit status 2); a call whose
outcome is not ok prints its result and exits with status 1.`,
	}
	var from string
	cmd.PersistentFlags().StringVar(&from, "from", "", "signing key (name in the keyring or key file path)")
	cmd.AddCommand(contractBuildCmd(g), contractDeployCmd(g, &from), contractInstantiateCmd(g, &from),
		contractCommandCmd(g, &from), contractQueryCmd(g, &from), contractShowCmd(g), contractResultCmd(g))
	return cmd
}

// contractBuildCmd builds a contract reproducibly and prints its code hash.
func contractBuildCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "build [DIR] [-o FILE]",
		Short: "Build the contract in DIR (default .) reproducibly and print its code hash",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return usageError{fmt.Errorf("contract directory %q: %w", dir, err)}
			}
			if fi, err := os.Stat(abs); err != nil {
				return usageError{fmt.Errorf("contract directory: %w", err)}
			} else if !fi.IsDir() {
				return usageError{fmt.Errorf("%s: %w", dir, errNotContractDir)}
			}
			file := output
			if file == "" {
				file = filepath.Base(abs) + ".wasm"
			}
			wasm, err := contractbuild.Build(cmd.Context(), abs)
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, wasm, 0o644); err != nil {
				return fmt.Errorf("write the module: %w", err)
			}
			gz, err := gzipped(wasm)
			if err != nil {
				return err
			}
			hash := protocol.CodeHash(wasm)
			field(g.out, "wrote", "%s", file)
			field(g.out, "size", "%d bytes, %d gzipped (what deploy uploads)", len(wasm), len(gz))
			field(g.out, "code", "%x", hash)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "module file to write (default: the directory's name + .wasm)")
	return cmd
}

// contractDeployCmd uploads a module unless the chain already has it.
func contractDeployCmd(g *globals, from *string) *cobra.Command {
	return &cobra.Command{
		Use:   "deploy FILE --from KEY",
		Short: "Upload a contract module (gzipped); code already on chain is not uploaded again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{fmt.Errorf("module %s: %w: %v", args[0], errInputFile, err)}
			}
			ctx := cmd.Context()
			key, c, err := g.signer(ctx, *from)
			if err != nil {
				return err
			}
			hash := protocol.CodeHash(wasm)
			field(g.out, "code", "%x (%d bytes)", hash, len(wasm))
			if info, ok, err := c.Code(ctx, hash[:]); err != nil {
				return err
			} else if ok {
				field(g.out, "exists", "uploaded at height %d by %s; nothing sent", info.Height, info.Uploader)
				return nil
			}
			if _, err := c.UploadCode(ctx, key, wasm); err != nil {
				return chainError(err)
			}
			info, ok, err := c.Code(ctx, hash[:])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("code %x: the upload was included but the chain has no record of it", hash)
			}
			field(g.out, "height", "%d (uploaded, record proven)", info.Height)
			return nil
		},
	}
}

// contractInstantiateCmd creates an instance and waits for its init result.
func contractInstantiateCmd(g *globals, from *string) *cobra.Command {
	var code, cluster, initArg, salt string
	var gas uint64
	var raw bool
	var wait waitFlags
	cmd := &cobra.Command{
		Use:   "instantiate --code HASH --cluster NAME --init JSON|@FILE [--salt S] [--gas N] --from KEY",
		Short: "Create an instance of uploaded code in a cluster; its init arguments are encrypted to the cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "code", "cluster", "init"); err != nil {
				return err
			}
			hash, err := hexArg("--code", code, sha256.Size)
			if err != nil {
				return err
			}
			name, err := clusterArg(cluster)
			if err != nil {
				return err
			}
			initArgs, err := callInput("init", initArg, raw)
			if err != nil {
				return err
			}
			if len(salt) > contracts.MaxSalt {
				return usageError{protocol.Errorf(protocol.ErrBadSalt, "--salt has %d bytes, limit %d", len(salt), contracts.MaxSalt)}
			}
			if err := gasArg(gas); err != nil {
				return err
			}
			ctx := cmd.Context()
			key, c, err := g.signer(ctx, *from)
			if err != nil {
				return err
			}
			id, secret, err := c.Instantiate(ctx, key, hash, protocol.ClusterID(name), []byte(salt), initArgs, gas)
			switch {
			case errors.Is(err, protocol.ErrContractExists):
				return fmt.Errorf("%w (choose another --salt)", chainError(err))
			case errors.Is(err, protocol.ErrUnknownCode):
				return fmt.Errorf("%w (deploy it first: `phala contract deploy FILE`)", chainError(err))
			case err != nil:
				return chainError(err)
			}
			field(g.out, "contract", "%x", id)
			if wait.skip {
				fmt.Fprintf(g.out, "not waiting: `phala contract show %x` shows the init result once it lands\n", id)
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, wait.timeout)
			defer cancel()
			res, reply, err := c.WaitInit(wctx, id, secret)
			if err != nil {
				return waitError(err, fmt.Sprintf("phala contract show %x", id))
			}
			printResult(g.out, res, reply, true)
			return outcomeError("init", res.Outcome)
		},
	}
	f := cmd.Flags()
	f.StringVar(&code, "code", "", "code hash (hex), as deploy printed it")
	f.StringVar(&cluster, "cluster", "", "cluster name (the devnet's is \"default\")")
	f.StringVar(&initArg, "init", "", "init arguments: JSON, or @FILE")
	f.StringVar(&salt, "salt", "", "salt (text), to create more than one instance of the same code")
	f.Uint64Var(&gas, "gas", defaultCallGas, "gas limit, prepaid in full")
	f.BoolVar(&raw, "raw", false, "send --init as given, without checking that it is JSON")
	wait.register(cmd)
	return cmd
}

// contractCommandCmd sends an encrypted command and waits for its result.
func contractCommandCmd(g *globals, from *string) *cobra.Command {
	var contract, input string
	var gas uint64
	var raw bool
	var wait waitFlags
	cmd := &cobra.Command{
		Use:   "command --contract ID --input JSON|@FILE [--gas N] --from KEY",
		Short: "Send an encrypted command to a contract and wait for its result",
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, plain, err := contractCall(cmd, contract, input, raw)
			if err != nil {
				return err
			}
			if err := gasArg(gas); err != nil {
				return err
			}
			ctx := cmd.Context()
			key, c, err := g.signer(ctx, *from)
			if err != nil {
				return err
			}
			index, txr, secret, err := c.SendContractCommand(ctx, key, id, plain, gas)
			if err != nil {
				if txr != nil {
					field(g.out, "height", "%d (tx %X)", txr.Height, txr.Hash)
				}
				return chainError(err)
			}
			field(g.out, "command", "%d", index)
			field(g.out, "height", "%d (tx %X)", txr.Height, txr.Hash)
			if wait.skip {
				fmt.Fprintf(g.out, "not waiting: `phala contract result %x %d` shows the result once it lands\n", id, index)
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, wait.timeout)
			defer cancel()
			res, reply, err := c.WaitResult(wctx, id, index, secret)
			if err != nil {
				return waitError(err, fmt.Sprintf("phala contract result %x %d", id, index))
			}
			printResult(g.out, res, reply, true)
			return outcomeError(fmt.Sprintf("command %d", index), res.Outcome)
		},
	}
	f := cmd.Flags()
	f.StringVar(&contract, "contract", "", "contract id (hex)")
	f.StringVar(&input, "input", "", "the command: JSON, or @FILE")
	f.Uint64Var(&gas, "gas", defaultCallGas, "gas limit, prepaid in full")
	f.BoolVar(&raw, "raw", false, "send --input as given, without checking that it is JSON")
	wait.register(cmd)
	return cmd
}

// contractQueryCmd asks a verified worker a read-only query.
func contractQueryCmd(g *globals, from *string) *cobra.Command {
	var contract, input, worker string
	var o sdk.QueryOptions
	var raw bool
	cmd := &cobra.Command{
		Use:   "query --contract ID --input JSON|@FILE [--min-height H] [--max-lag N] [--gas N] [--worker HEX] [--allow-sim] --from KEY",
		Short: "Ask a verified worker of the contract's cluster a read-only query, encrypted and signed",
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, plain, err := contractCall(cmd, contract, input, raw)
			if err != nil {
				return err
			}
			if worker != "" {
				if o.Worker, err = hexArg("--worker", worker, ed25519.PublicKeySize); err != nil {
					return err
				}
			}
			if o.MinHeight < 0 {
				return usageError{fmt.Errorf("--min-height %d: %w", o.MinHeight, errBadHeight)}
			}
			if err := gasArg(o.GasLimit); err != nil {
				return err
			}
			ctx := cmd.Context()
			key, c, err := g.signer(ctx, *from)
			if err != nil {
				return err
			}
			res, err := c.QueryContract(ctx, key, id, plain, o)
			if err != nil {
				if errors.Is(err, sdk.ErrSimTEE) {
					return fmt.Errorf("%w (a development chain such as `phala devnet`): add --allow-sim to accept it", err)
				}
				return chainError(err)
			}
			field(g.out, "worker", "%x", res.Worker)
			field(g.out, "height", "%d (the state the answer was computed from)", res.Height)
			field(g.out, "outcome", "%s", res.Outcome)
			if res.Reason != "" {
				field(g.out, "reason", "%s", res.Reason)
			}
			field(g.out, "gas", "%d", res.GasUsed)
			field(g.out, "output", "%s", showReply(res.Output))
			return outcomeError("query", res.Outcome)
		},
	}
	f := cmd.Flags()
	f.StringVar(&contract, "contract", "", "contract id (hex)")
	f.StringVar(&input, "input", "", "the query: JSON, or @FILE")
	f.Int64Var(&o.MinHeight, "min-height", 0, "the least block the answer must include (the height of your last command)")
	f.Int64Var(&o.MaxLag, "max-lag", protocol.QueryMaxLag, "how many blocks behind the chain's tip the answer may be (-1: any height from --min-height on)")
	f.Uint64Var(&o.GasLimit, "gas", defaultQueryGas, "gas limit (the chain's max_query_gas bounds it)")
	f.StringVar(&worker, "worker", "", "ask this worker (identity key, hex) instead of the first verified member")
	f.BoolVar(&o.Verify.AllowSim, "allow-sim", false, "accept a worker on the insecure sim TEE (development chains)")
	f.BoolVar(&raw, "raw", false, "send --input as given, without checking that it is JSON")
	return cmd
}

// waitFlags are the flags of the commands that wait for a result.
type waitFlags struct {
	skip    bool
	timeout time.Duration
}

func (w *waitFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&w.skip, "no-wait", false, "print the id and return without waiting for the result")
	f.DurationVar(&w.timeout, "timeout", defaultWait, "how long to wait for the result")
}

// signer loads the --from key and connects to the node.
func (g *globals) signer(ctx context.Context, from string) (*sdk.Key, *sdk.Client, error) {
	key, err := g.loadKey(from)
	if err != nil {
		return nil, nil, err
	}
	c, err := g.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	return key, c, nil
}

// requireFlags makes each named flag mandatory (an empty value is allowed
// if given explicitly: `--init "" --raw`).
// contractCall reads the --contract and --input flags of a command or a
// query.
func contractCall(cmd *cobra.Command, contract, input string, raw bool) (id, plain []byte, err error) {
	if err := requireFlags(cmd, "contract", "input"); err != nil {
		return nil, nil, err
	}
	if id, err = hexArg("--contract", contract, sha256.Size); err != nil {
		return nil, nil, err
	}
	plain, err = callInput("input", input, raw)
	return id, plain, err
}

func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usageError{fmt.Errorf("--%s: %w", n, errRequired)}
		}
	}
	return nil
}

// callInput reads the value of --init or --input: the text itself, or
// with @FILE the file's bytes. Unless raw, it must be one JSON value, the
// convention of every example contract and of contractsdk/jsonmsg; it is
// sent as given, not re-encoded.
func callInput(flag, v string, raw bool) ([]byte, error) {
	b := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, usageError{fmt.Errorf("--%s %s: %w: %v", flag, v, errInputFile, err)}
		}
	}
	if !raw && !json.Valid(b) {
		return nil, usageError{fmt.Errorf("--%s %s: %w", flag, strconv.Quote(abbreviate(string(b))), errNotJSON)}
	}
	return b, nil
}

// gasArg refuses a zero gas limit before it costs a fee; the upper bound
// is the chain's parameter, which the chain checks.
func gasArg(gas uint64) error {
	if gas == 0 {
		return usageError{protocol.Errorf(protocol.ErrBadGasLimit, "--gas 0")}
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}

// chainError adds the wire code ([contracts/3]) to a protocol error, the
// notation docs/contracts.md uses for refusals.
func chainError(err error) error {
	if e, ok := protocol.CodeOf(err); ok {
		return fmt.Errorf("%w [%s/%d]", err, e.Space, e.Code)
	}
	return err
}

// waitError explains that a timed-out wait leaves the call on chain.
func waitError(err error, later string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w; the call is on chain: `%s` shows its result once it lands", err, later)
	}
	return err
}

// outcomeError turns an outcome other than ok into errCallFailed, so that
// scripts see a failed call in the exit status.
func outcomeError(what, outcome string) error {
	if outcome == protocol.OutcomeOK {
		return nil
	}
	return fmt.Errorf("%s: outcome %s: %w", what, outcome, errCallFailed)
}

// gzipped compresses a module as sdk.UploadCode does.
func gzipped(wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(wasm); err != nil {
		return nil, fmt.Errorf("compress the module: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress the module: %w", err)
	}
	return buf.Bytes(), nil
}
