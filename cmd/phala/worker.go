package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
	"github.com/phala-go/phala/sdk"
)

// errRTMRCount: `worker measurement` needs RTMR0..3, each given once.
var errRTMRCount = errors.New("want four, RTMR0..3 in order")

func workerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "worker", Short: "Inspect registered workers"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List registered workers: status, attestation, measurement, freshness, endpoint",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			h, err := c.Height(ctx)
			if err != nil {
				return err
			}
			ws, err := c.Workers(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "%-18s %-8s %-4s %-10s %-18s %-22s %s\n", "WORKER", "STATUS", "TEE", "LEVEL", "MEASUREMENT", "FRESHNESS", "ENDPOINT")
			for _, w := range ws {
				fmt.Fprintf(g.out, "%-18s %-8s %-4s %-10s %-18s %-22s %s\n", short(w.Pubkey), w.Status, w.AttestationKind,
					w.AttestationLevel, short(w.Measurement), freshness(w, h), orDash(w.Endpoint))
			}
			return nil
		},
	}
	var allowSim bool
	var minLevel string
	var measurements []string
	show := &cobra.Command{
		Use:   "show PUBKEY",
		Short: "Show a worker, verified: proof of its record and its attestation checked again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := hexArg("worker", args[0], ed25519.PublicKeySize)
			if err != nil {
				return err
			}
			o := sdk.VerifyOptions{AllowSim: allowSim, MinLevel: minLevel}
			for _, m := range measurements {
				b, err := hexArg("--measurement", m, sha256.Size)
				if err != nil {
					return err
				}
				o.Measurements = append(o.Measurements, b)
			}
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			h, err := c.Height(ctx)
			if err != nil {
				return err
			}
			rec, verr := c.VerifyWorker(ctx, pub, o)
			if rec == nil {
				r, ok, err := c.Worker(ctx, pub)
				if err != nil {
					return err
				}
				if !ok {
					return verr
				}
				rec = &r
			}
			fmt.Fprintf(g.out, "worker            %x\nstatus            %s\nencryption key    %x…\nattestation       %s, level %s\nmeasurement       %x\nruntime version   %d\nattested at block %d; registered at %d; %s\noperator          %s\nendpoint          %s\n",
				rec.Pubkey, rec.Status, rec.EncryptionKey[:16], rec.AttestationKind, rec.AttestationLevel, rec.Measurement,
				rec.RuntimeVersion, rec.AttestedHeight, rec.RegisteredHeight, freshness(*rec, h), rec.Operator, orDash(rec.Endpoint))
			if verr != nil {
				fmt.Fprintf(g.out, "NOT VERIFIED: %v\n", verr)
				return verr
			}
			fmt.Fprintln(g.out, "verified: record proven against a signed header; quote re-verified and bound to these keys")
			return nil
		},
	}
	show.Flags().BoolVar(&allowSim, "allow-sim", false, "accept the insecure sim TEE (development chains)")
	show.Flags().StringSliceVar(&measurements, "measurement", nil, "accept only these measurements (hex; repeatable)")
	show.Flags().StringVar(&minLevel, "min-level", protocol.LevelCollateral, "weakest TDX evidence accepted: collateral, or quote (development chains)")

	var mrtd, tdAttrs, xfam, mrConfigID, mrOwner, mrOwnerConfig string
	var rtmrs []string
	measure := &cobra.Command{
		Use:   "measurement --mrtd HEX --rtmr HEX --rtmr HEX --rtmr HEX --rtmr HEX --xfam HEX",
		Short: "Compute the allowlist measurement of a TD build from MRTD, RTMR0..3 and its configuration (attributes, XFAM, config IDs)",
		RunE: func(*cobra.Command, []string) error {
			m, err := hexArg("--mrtd", mrtd, sha512.Size384)
			if err != nil {
				return err
			}
			if len(rtmrs) != 4 {
				return usageError{fmt.Errorf("%d --rtmr: %w", len(rtmrs), errRTMRCount)}
			}
			id := protocol.TDXIdentity{MRTD: m}
			for i, r := range rtmrs {
				b, err := hexArg(fmt.Sprintf("--rtmr %d", i), r, sha512.Size384)
				if err != nil {
					return err
				}
				id.RTMRs = append(id.RTMRs, b)
			}
			for _, f := range []struct {
				name, val string
				n         int
				out       *[]byte
			}{
				{"--td-attributes", tdAttrs, 8, &id.TDAttributes}, {"--xfam", xfam, 8, &id.XFAM},
				{"--mrconfigid", mrConfigID, 48, &id.MRConfigID}, {"--mrowner", mrOwner, 48, &id.MROwner},
				{"--mrownerconfig", mrOwnerConfig, 48, &id.MROwnerConfig},
			} {
				if *f.out, err = hexArg(f.name, f.val, f.n); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.out, "%x\n", protocol.TDXMeasurement(id))
			return nil
		},
	}
	zero48 := strings.Repeat("00", 48)
	measure.Flags().StringVar(&mrtd, "mrtd", "", "MRTD (hex)")
	measure.Flags().StringSliceVar(&rtmrs, "rtmr", nil, "RTMR0..3 in order (hex, repeat four times; RTMR3 holds pRuntime's own digest)")
	measure.Flags().StringVar(&tdAttrs, "td-attributes", hex.EncodeToString(binary.LittleEndian.AppendUint64(nil, verifier.RequiredTDAttributes)),
		"TDATTRIBUTES as in the quote (hex, 8 bytes); the default is the only value the chain accepts without PKS, KL or PERFMON")
	measure.Flags().StringVar(&xfam, "xfam", "", "XFAM as in the quote (hex, 8 bytes)")
	measure.Flags().StringVar(&mrConfigID, "mrconfigid", zero48, "MRCONFIGID (hex)")
	measure.Flags().StringVar(&mrOwner, "mrowner", zero48, "MROWNER (hex)")
	measure.Flags().StringVar(&mrOwnerConfig, "mrownerconfig", zero48, "MROWNERCONFIG (hex)")
	cmd.AddCommand(list, show, measure)
	return cmd
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func freshness(w protocol.WorkerRecord, height int64) string {
	switch {
	case w.Status != protocol.StatusActive:
		return w.Status
	case w.ExpiresAt == 0:
		return "no expiry"
	case w.ExpiresAt <= height:
		return "expiring"
	}
	return fmt.Sprintf("expires in %d blocks", w.ExpiresAt-height)
}
