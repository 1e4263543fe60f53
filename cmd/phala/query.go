package main

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
)

func queryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "query", Short: "Read chain state, verified against signed headers"}
	account := &cobra.Command{
		Use:   "account ADDRESS|KEY",
		Short: "Show an account's balance and nonce, with its proof checked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := protocol.ParseAddress(args[0])
			if err != nil {
				k, kerr := g.loadKey(args[0])
				if kerr != nil {
					return usageError{fmt.Errorf("%q is neither an address nor a key", args[0])}
				}
				addr = k.Address()
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			acc, h, err := c.Account(cmd.Context(), addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "address: %s\nbalance: %d\nnonce:   %d\nheight:  %d (proof verified against header %d)\n", addr, acc.Balance, acc.Nonce, h, h+1)
			return nil
		},
	}
	var height int64
	messages := &cobra.Command{
		Use:   "messages --height H",
		Short: "List the messages of block H and check them against header H+1",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if height < 0 {
				return usageError{fmt.Errorf("--height %d: must be >= 0", height)}
			}
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			bm, msgs, err := c.RawBlockMessages(ctx, height)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "block %d: %d messages\n", height, len(msgs))
			for i, m := range msgs {
				fmt.Fprintf(g.out, "  %d. %s seq %d topic %q payload %s\n", i, m.Origin, m.Seq, m.Topic, showPayload(m.Payload))
			}
			appHash, err := c.VerifiedAppHash(ctx, height)
			if err != nil {
				return fmt.Errorf("cannot verify header %d: %w", height+1, err)
			}
			if got := bm.AppHash(); !bytes.Equal(got, appHash) {
				fmt.Fprintf(g.out, "MISMATCH: messages give app hash %X, header %d says %X\n", got, height+1, appHash)
				return protocol.Errorf(protocol.ErrProof, "block %d does not match header %d", height, height+1)
			}
			fmt.Fprintf(g.out, "verified: app hash %X matches header %d\n", appHash, height+1)
			return nil
		},
	}
	messages.Flags().Int64Var(&height, "height", 0, "block height")
	cmd.AddCommand(account, messages)
	return cmd
}

func showPayload(p []byte) string {
	if utf8.Valid(p) {
		return strconv.Quote(string(p))
	}
	return fmt.Sprintf("0x%x", p)
}
