package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// govCmd executes governance actions. Every --admin key signs the action;
// together they must reach the chain's admin threshold. --from pays.
func govCmd(g *globals) *cobra.Command {
	var from string
	var admins []string
	cmd := &cobra.Command{Use: "gov", Short: "Execute governance actions (approved by admin keys)"}
	cmd.PersistentFlags().StringVar(&from, "from", "", "account that pays (name or key file)")
	cmd.PersistentFlags().StringSliceVar(&admins, "admin", nil, "admin key approving the action (repeat to reach the threshold)")

	var execute govExecutor = func(cmd *cobra.Command, kind string, args any) error {
		ctx := cmd.Context()
		if len(admins) == 0 {
			return usageError{fmt.Errorf("--admin is required")}
		}
		var keys []*sdk.Key
		for _, a := range admins {
			k, err := g.loadKey(a)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		payer := from
		if payer == "" {
			payer = admins[0]
		}
		c, err := g.client(ctx)
		if err != nil {
			return err
		}
		nonce, err := c.GovNonce(ctx)
		if err != nil {
			return err
		}
		call, err := sdk.GovExecute(c.ChainID(), nonce, kind, args, keys...)
		if err != nil {
			return err
		}
		return g.send(cmd, payer, call)
	}
	var meas, note string
	allow := &cobra.Command{
		Use:   "allow-measurement --measurement HEX --admin KEY",
		Short: "Add a pRuntime build to the registry's allowlist",
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := hexArg("--measurement", meas, sha256.Size)
			if err != nil {
				return err
			}
			return execute(cmd, protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: m, Note: note})
		},
	}
	allow.Flags().StringVar(&meas, "measurement", "", "measurement (hex; see `phala worker measurement`)")
	allow.Flags().StringVar(&note, "note", "", "what this build is")
	revoke := &cobra.Command{
		Use:   "revoke-measurement --measurement HEX --admin KEY",
		Short: "Revoke a pRuntime build: every worker running it is retired at once",
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := hexArg("--measurement", meas, sha256.Size)
			if err != nil {
				return err
			}
			return execute(cmd, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: m})
		},
	}
	revoke.Flags().StringVar(&meas, "measurement", "", "measurement (hex)")

	var p protocol.AttestationPolicy
	policy := &cobra.Command{
		Use:   "set-attestation-policy --admin KEY",
		Short: "Set the maximum attestation age, collateral requirement, minimum runtime version and minimum TCB evaluation",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return execute(cmd, protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: p})
		},
	}
	def := protocol.DefaultAttestationPolicy()
	policy.Flags().Int64Var(&p.MaxAgeBlocks, "max-age", def.MaxAgeBlocks, "maximum attestation age in blocks (0: never expires)")
	policy.Flags().BoolVar(&p.RequireCollateral, "require-collateral", def.RequireCollateral,
		"refuse TDX quotes without TCB collateral (--require-collateral=false takes effect only on chains that allow sim)")
	policy.Flags().Uint32Var(&p.MinRuntimeVersion, "min-runtime-version", def.MinRuntimeVersion, "minimum pRuntime version")
	policy.Flags().Uint32Var(&p.MinTCBEvaluationDataNumber, "min-tcb-evaluation", def.MinTCBEvaluationDataNumber,
		"minimum tcbEvaluationDataNumber of the TCB info and QE identity (0: none)")
	cmd.AddCommand(allow, revoke, policy)
	cmd.AddCommand(govKeysCmds(g, execute)...)
	return cmd
}

// govExecutor submits a governance action of kind with args: it reads the
// governance nonce, has every --admin key approve, and sends the call from
// --from (by default the first admin), printing the outcome.
type govExecutor func(cmd *cobra.Command, kind string, args any) error
