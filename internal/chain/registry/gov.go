package registry

import (
	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/module"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// GovActions are the governance actions the registry implements.
func (m *Module) GovActions() map[string]governance.ActionHandler {
	return map[string]governance.ActionHandler{
		protocol.ActionAllowMeasurement:     allowMeasurement,
		protocol.ActionRevokeMeasurement:    m.revokeMeasurement,
		protocol.ActionSetAttestationPolicy: setPolicy,
	}
}

func allowMeasurement(ctx *module.Context, raw []byte) error {
	var a protocol.MeasurementArgs
	if err := module.DecodeArgs(protocol.ActionAllowMeasurement, raw, &a); err != nil {
		return err
	}
	if len(a.Measurement) != 32 || len(a.Note) > 256 {
		return protocol.Errorf(protocol.ErrBadMeasurement, "measurement of %d bytes, note of %d", len(a.Measurement), len(a.Note))
	}
	// A revocation is final: re-allowing the build would let anyone replay
	// its revoked workers' attestations. A fixed build has a new measurement.
	var prev protocol.MeasurementEntry
	if read(ctx.State, join(prefixMeas, a.Measurement), &prev) && prev.Revoked {
		return protocol.Errorf(protocol.ErrMeasurementRevoked, "%x was revoked; it cannot be allowed again", a.Measurement)
	}
	write(ctx.State, join(prefixMeas, a.Measurement), &protocol.MeasurementEntry{Measurement: a.Measurement, Note: a.Note})
	return nil
}

// revokeMeasurement marks a measurement revoked. That takes effect at once:
// from the next transaction on, every worker registered under it is
// reported revoked (Worker) and its messages are refused. Its records are
// retired, and their revocations announced, at the end of this and the
// following blocks, RetireBatch at a time, so that a revocation costs a
// bounded amount and can never be blocked, however many workers the
// measurement has.
func (m *Module) revokeMeasurement(ctx *module.Context, raw []byte) error {
	var a protocol.MeasurementArgs
	if err := module.DecodeArgs(protocol.ActionRevokeMeasurement, raw, &a); err != nil {
		return err
	}
	var entry protocol.MeasurementEntry
	if !read(ctx.State, join(prefixMeas, a.Measurement), &entry) {
		return protocol.Errorf(protocol.ErrBadMeasurement, "%x is not on the allowlist", a.Measurement)
	}
	if entry.Revoked {
		return nil
	}
	entry.Revoked = true
	write(ctx.State, join(prefixMeas, a.Measurement), &entry)
	kv(ctx.State).Set(join(prefixRetire, a.Measurement), store.Mark())
	return nil
}

func validatePolicy(p protocol.AttestationPolicy) error {
	if p.MaxAgeBlocks < 0 || p.MaxAgeBlocks > LimitMaxAgeBlocks {
		return protocol.Errorf(protocol.ErrBadPolicy, "max_age_blocks %d outside 0..%d", p.MaxAgeBlocks, int64(LimitMaxAgeBlocks))
	}
	return nil
}

func setPolicy(ctx *module.Context, raw []byte) error {
	var a protocol.SetAttestationPolicyArgs
	if err := module.DecodeArgs(protocol.ActionSetAttestationPolicy, raw, &a); err != nil {
		return err
	}
	if err := validatePolicy(a.Policy); err != nil {
		return err
	}
	write(ctx.State, keyPolicy, &a.Policy)
	return nil
}
