// Package tdx is the Intel TDX platform: inside a TD, pRuntime gets quotes
// through Linux configfs-tsm (github.com/google/go-configfs-tsm), after it
// has extended RTMR3 with the digest of its own binary, so that the
// measurement covers the exact pRuntime whatever the image around it; on the
// chain and in the SDK, quotes are verified (package verifier) against
// Intel's root, with the verified block time as "now".
package tdx

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"

	"github.com/phala-go/phala/internal/tee"
)

// Kind is the platform name of TDX.
const Kind = "tdx"

// Provider quotes through configfs-tsm.
type Provider struct {
	client       configfsi.Client
	wantProvider string
}

var _ tee.Provider = (*Provider)(nil)

// Open returns the TDX provider of this TD, after measuring the running
// binary into RTMR3 (MeasureRuntime). It fails outside a TD, and where
// RTMR3 cannot be extended: a quote whose measurement does not cover
// pRuntime would be worthless.
func Open() (*Provider, error) {
	c, err := linuxtsm.MakeClient()
	if err != nil {
		return nil, fmt.Errorf("tdx: configfs-tsm unavailable (not in a TD, or kernel without TSM reports): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("tdx: locate the running binary: %w", err)
	}
	digest, err := tee.RuntimeDigest(exe)
	if err != nil {
		return nil, err
	}
	if _, err := MeasureRuntime(rtmrDevices(c), digest); err != nil {
		return nil, err
	}
	return &Provider{client: c, wantProvider: "tdx_guest"}, nil
}

// NewWithClient returns a provider over a configfs client (tests use
// go-configfs-tsm's fake), accepting reports from provider name.
func NewWithClient(c configfsi.Client, provider string) *Provider {
	return &Provider{client: c, wantProvider: provider}
}

// Kind implements tee.Provider.
func (*Provider) Kind() string { return Kind }

// Insecure implements tee.Provider.
func (*Provider) Insecure() bool { return false }

// Quote implements tee.Provider: a TDX quote (version 4) over reportData.
func (p *Provider) Quote(reportData []byte) ([]byte, error) {
	if len(reportData) != tee.ReportDataLen {
		return nil, fmt.Errorf("tdx: report data has %d bytes, want %d", len(reportData), tee.ReportDataLen)
	}
	resp, err := report.Get(p.client, &report.Request{InBlob: reportData})
	if err != nil {
		return nil, fmt.Errorf("tdx: quote: %w", err)
	}
	if got := strings.TrimSpace(resp.Provider); got != p.wantProvider {
		return nil, fmt.Errorf("tdx: configfs-tsm provider %q, want %q", got, p.wantProvider)
	}
	return resp.OutBlob, nil
}

// SealKey implements tee.Provider. TDX has no hardware sealing key: a TD
// cannot derive a secret that only the same measurement on the same machine
// can re-derive. pRuntime then runs with an ephemeral seal key (see
// docs/attestation.md).
func (*Provider) SealKey() ([]byte, error) { return nil, tee.ErrNoSealing }
