package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

func txCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Sign and broadcast transactions"}
	var from string
	cmd.PersistentFlags().StringVar(&from, "from", "", "signing key (name in the keyring or key file path)")

	var to string
	var amount uint64
	transfer := &cobra.Command{
		Use:   "transfer --from KEY --to ADDRESS --amount N",
		Short: "Transfer funds",
		RunE: func(cmd *cobra.Command, _ []string) error {
			dst, err := protocol.ParseAddress(to)
			if err != nil {
				return usageError{err}
			}
			call, err := protocol.NewCall(protocol.ModuleAccounts, protocol.MethodTransfer, protocol.TransferArgs{To: dst, Amount: amount})
			if err != nil {
				return err
			}
			return g.send(cmd, from, call)
		},
	}
	transfer.Flags().StringVar(&to, "to", "", "recipient address (hex)")
	transfer.Flags().Uint64Var(&amount, "amount", 0, "amount")

	var topic, payload, payloadHex string
	push := &cobra.Command{
		Use:   "push-message --from KEY --topic T --payload P",
		Short: "Push a message onto the chain's message queue from your account",
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := []byte(payload)
			if payloadHex != "" {
				var err error
				if body, err = hex.DecodeString(payloadHex); err != nil {
					return usageError{fmt.Errorf("--payload-hex: %w", err)}
				}
			}
			if err := protocol.ValidateTopic(topic); err != nil {
				return usageError{err}
			}
			call, err := protocol.NewCall(protocol.ModuleMQ, protocol.MethodPush, protocol.PushArgs{Topic: topic, Payload: body})
			if err != nil {
				return err
			}
			return g.send(cmd, from, call)
		},
	}
	push.Flags().StringVar(&topic, "topic", "", "message topic")
	push.Flags().StringVar(&payload, "payload", "", "payload (text)")
	push.Flags().StringVar(&payloadHex, "payload-hex", "", "payload (hex), instead of --payload")

	cmd.AddCommand(transfer, push)
	return cmd
}

// send signs, broadcasts and waits for inclusion, then prints the outcome.
func (g *globals) send(cmd *cobra.Command, from string, call protocol.Call) error {
	ctx := cmd.Context()
	key, err := g.loadKey(from)
	if err != nil {
		return err
	}
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Send(ctx, key, call)
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	printTxResult(g, res)
	if res.Err != nil {
		return fmt.Errorf("failed in block %d: %w", res.Height, res.Err)
	}
	return nil
}

func printTxResult(g *globals, res *sdk.TxResult) {
	fmt.Fprintf(g.out, "tx %X included at height %d\n", res.Hash, res.Height)
	for _, m := range res.Messages {
		fmt.Fprintf(g.out, "  message %s seq %d on %q\n", m.Origin, m.Seq, m.Topic)
	}
}
