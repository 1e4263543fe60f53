package registry

import (
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// UseTDXVerifier replaces the TDX verifier. Only tests call it, with a
// verifier.ForTestRoot verifier (which cannot be built outside a test
// binary), to register workers whose quotes a test PKI forged.
func (m *Module) UseTDXVerifier(v *verifier.Verifier) { m.tdx = v }

// verifyQuote checks the quote of a's TEE kind against the policy and
// returns what it proves. The measurement is always derived from the
// evidence, under the kind's own hash context (protocol.TDXMeasurement,
// protocol.SimMeasurement), never taken from the registrant: an allowlist
// entry therefore names one kind, and a sim quote cannot claim a TDX
// build.
//
// A chain that does not allow sim attestation is a production chain: there
// a TDX quote must come with collateral (TCB info, QE identity, PCK and
// root CRLs), whatever the policy's require_collateral says.
func (m *Module) verifyQuote(ctx *module.Context, a *protocol.Attestation, policy protocol.AttestationPolicy) (*evidence, error) {
	switch a.TEE {
	case sim.Kind:
		if !ctx.Params.AllowSimAttestation {
			return nil, protocol.Errorf(protocol.ErrSimNotAllowed, "worker %x", []byte(a.WorkerPubkey))
		}
		if len(a.Collateral) > 0 {
			return nil, protocol.Errorf(protocol.ErrCollateralMalformed, "a sim attestation carries no collateral, this one has %d entries", len(a.Collateral))
		}
		q, err := sim.Verify(a.Quote)
		if err != nil {
			return nil, protocol.Errorf(protocol.ErrBadQuote, "%v", err)
		}
		return &evidence{reportData: q.ReportData, measurement: q.Measurement(), level: protocol.LevelSim}, nil
	case tdx.Kind:
		required := policy.RequireCollateral || !ctx.Params.AllowSimAttestation
		if required && len(a.Collateral) == 0 {
			return nil, protocol.Errorf(protocol.ErrCollateralRequired, "TDX quote without collateral (required on every chain that does not allow sim)")
		}
		v, err := m.tdx.Verify(a.Quote, a.Collateral, ctx.Block.Time)
		if err != nil {
			return nil, err
		}
		if v.Level == protocol.LevelCollateral && v.TCBEvaluationDataNumber < policy.MinTCBEvaluationDataNumber {
			return nil, protocol.Errorf(protocol.ErrTCBEvaluationTooOld, "collateral of TCB evaluation %d, policy minimum %d", v.TCBEvaluationDataNumber, policy.MinTCBEvaluationDataNumber)
		}
		return &evidence{reportData: v.ReportData, measurement: v.Measurement, level: v.Level}, nil
	}
	return nil, protocol.Errorf(protocol.ErrUnsupportedTEE, "%q", a.TEE)
}
