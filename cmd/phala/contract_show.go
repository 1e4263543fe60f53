package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// contractShowCmd shows a contract's record. This file is the reading half
// of `phala contract`: the proven records of a contract and of its
// commands, and how results and replies are printed.
func contractShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a contract's record, proven: code, cluster, status, init result, keys per epoch, commands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hexArg("contract", args[0], sha256.Size)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			info, err := provenContract(ctx, c, id)
			if err != nil {
				return err
			}
			name := "?"
			if cl, ok, err := c.Cluster(ctx, info.Cluster); err == nil && ok {
				name = strconv.Quote(cl.Name)
			}
			field(g.out, "contract", "%x", info.ID)
			field(g.out, "code", "%x", info.CodeHash)
			field(g.out, "cluster", "%s (id %x)", name, info.Cluster)
			field(g.out, "deployer", "%s", info.Deployer)
			field(g.out, "salt", "%s", strconv.Quote(string(info.Salt)))
			field(g.out, "created", "at height %d", info.CreatedAt)
			field(g.out, "status", "%s", info.Status)
			if info.Init == nil {
				field(g.out, "init", "no result yet")
			} else {
				fmt.Fprintln(g.out, "init result:")
				printResult(indent{g.out}, info.Init, nil, false)
			}
			if len(info.Keys) == 0 {
				field(g.out, "keys", "none published yet")
			}
			for _, k := range info.Keys {
				field(g.out, "key", "epoch %d: %s", k.Epoch, fingerprint(k.Pubkey))
			}
			field(g.out, "commands", "%d", info.Commands)
			return nil
		},
	}
}

// contractResultCmd shows one command's record and its result.
func contractResultCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "result ID INDEX",
		Short: "Show a command's record, proven: sender, epoch, acceptance, and its result once landed",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hexArg("contract", args[0], sha256.Size)
			if err != nil {
				return err
			}
			index, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("index %q: %w", args[1], errBadIndex)}
			}
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			st, ok, err := c.CommandStatus(ctx, id, index)
			if err != nil {
				return err
			}
			if !ok {
				// Absence is proven; the contract's record says which is missing.
				info, err := provenContract(ctx, c, id)
				if err != nil {
					return err
				}
				return fmt.Errorf("command %d of contract %x (it has %d): %w", index, id, info.Commands, errUnknownCommand)
			}
			field(g.out, "command", "%d of contract %x", st.Index, st.Contract)
			field(g.out, "sender", "%s", st.Sender)
			field(g.out, "epoch", "%d", st.Epoch)
			field(g.out, "accepted", "at height %d", st.Height)
			if st.Result == nil {
				field(g.out, "result", "pending")
				return nil
			}
			field(g.out, "result", "landed at height %d", st.ResultHeight)
			printResult(g.out, st.Result, nil, false)
			return nil
		},
	}
}

// provenContract reads a contract's record, which must exist.
func provenContract(ctx context.Context, c *sdk.Client, id []byte) (*protocol.ContractInfo, error) {
	info, ok, err := c.Contract(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, protocol.Errorf(protocol.ErrUnknownContract, "%x (absence proven)", id)
	}
	return &info, nil
}

// indent prefixes each write (one line, from field) with two spaces.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := io.WriteString(i.w, "  "); err != nil {
		return 0, err
	}
	return i.w.Write(p)
}

// printResult writes an init or command result; reply is the opened
// reply when opened, else only its size is shown (it is sealed to the
// sender).
func printResult(w io.Writer, r *protocol.ContractResult, reply []byte, opened bool) {
	field(w, "outcome", "%s", r.Outcome)
	field(w, "reason", "%s", orDash(r.Reason))
	field(w, "gas", "%d", r.GasUsed)
	field(w, "state", "%x", r.StateRoot)
	field(w, "emitted", "%d messages", r.Emitted)
	switch {
	case len(r.Reply) == 0:
		field(w, "reply", "none")
	case opened:
		field(w, "reply", "%s", showReply(reply))
	default:
		field(w, "reply", "%d bytes, sealed to the sender (opened only while the sender waited for it)", len(r.Reply))
	}
}

// showReply prints contract output as text when it is printable UTF-8,
// quoted when it holds control characters (a contract must not drive the
// terminal), and as hex otherwise.
func showReply(b []byte) string {
	if !utf8.Valid(b) {
		return "0x" + hex.EncodeToString(b)
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return strconv.Quote(string(b))
		}
	}
	return string(b)
}

// field writes one "label  value" line of the contract commands' output.
func field(w io.Writer, label, format string, args ...any) {
	fmt.Fprintf(w, "%-9s %s\n", label, fmt.Sprintf(format, args...))
}
