package app

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Revocation is the panic button (keys review finding 6): a revoked worker
// is presumed broken, so whatever keys it was handed must be retired by a
// rotation, whether it still has its role or was removed earlier but kept
// the keys it was served.

// keyHolderOnB makes a worker on build B a gatekeeper or a member of alpha,
// served the current epoch, and, if removed, takes its role away again (it
// keeps what it was served).
func keyHolderOnB(s *keysSetup, gatekeeper, removed bool) *keyWorker {
	s.ta.t.Helper()
	w := s.ta.registerWith("on build B", buildB)
	r := protocol.Recipient{Worker: pub(w.id), Key: w.enc.Public(), Role: protocol.RoleGatekeeper}
	if gatekeeper {
		s.mustOK(s.govTx(protocol.ActionAddGatekeeper, protocol.WorkerArgs{Worker: pub(w.id)}))
	} else {
		s.mustOK(s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(w.id)}))
		r.Role, r.Cluster = protocol.RoleMember, protocol.ClusterID("alpha")
	}
	s.mustOK(s.deliveryTx(1, r))
	s.gkSeq++
	if _, ok := recipientOf(s.ta.epochInfo().Served, pub(w.id)); !ok {
		s.ta.t.Fatal("the worker on build B was not served")
	}
	switch {
	case removed && gatekeeper:
		s.mustOK(s.govTx(protocol.ActionRemoveGatekeeper, protocol.WorkerArgs{Worker: pub(w.id)}))
	case removed:
		s.mustOK(s.govTx(protocol.ActionRemoveWorkerFromCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(w.id)}))
	}
	return w
}

// TestRevokingAKeyHolderStartsARotation: governance revokes the build a
// key holder runs. Without a rotation the revoked enclave keeps reading
// every command of the current epoch (for a gatekeeper, of every cluster)
// for as long as the epoch lasts, indefinitely with rotation_interval 0.
// The chain starts a rotation in the block of the revocation, and the
// revoked worker is not a recipient of the next epoch.
func TestRevokingAKeyHolderStartsARotation(t *testing.T) {
	cases := []struct {
		name                string
		gatekeeper, removed bool
	}{
		{"gatekeeper", true, false},
		{"member", false, false},
		{"removed gatekeeper that kept the secret", true, true},
		{"removed member that kept its cluster key", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newKeysSetup(t)
			w := keyHolderOnB(s, c.gatekeeper, c.removed)
			s.mustOK(s.govTx(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: measurementB}))
			info := s.ta.epochInfo()
			if p := info.Pending; p == nil || p.Epoch != 2 || p.RequestedAt != s.ta.app.LastHeight() || p.Emergency {
				t.Fatalf("after the revocation: %s", describe(info))
			}
			s.secret = bytes.Repeat([]byte{0x2e}, 32)
			s.rotate()
			info = s.ta.epochInfo()
			if _, ok := recipientOf(info.Served, pub(w.id)); ok || info.Current != 2 || info.Pending != nil {
				t.Fatalf("after the rotation: %s", describe(info))
			}
		})
	}
}

// TestRevokingAWorkerThatHeldNoKeyDoesNotRotate: revocation rotates for
// what the worker may hold; a worker never served anything holds nothing.
func TestRevokingAWorkerThatHeldNoKeyDoesNotRotate(t *testing.T) {
	s := newKeysSetup(t)
	s.ta.registerWith("bystander on build B", buildB)
	s.mustOK(s.govTx(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: measurementB}))
	s.ta.finalize()
	if info := s.ta.epochInfo(); info.Pending != nil || info.RotationDue {
		t.Fatalf("a revocation of a worker without keys rotated: %s", describe(info))
	}
}

// TestExpiryDoesNotStartARotation records a decision (docs/keys.md):
// expiry is the ordinary end of an attestation nobody refreshed, not
// evidence of a break, so it does not rotate by itself; the expired worker
// is served nothing more, and the next rotation leaves it out.
func TestExpiryDoesNotStartARotation(t *testing.T) {
	s := newKeysSetup(t)
	s.mustOK(s.govTx(protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: protocol.AttestationPolicy{MaxAgeBlocks: 2, MinRuntimeVersion: 1}}))
	s.reattest(s.m)
	for s.ta.worker(pub(s.m.id)).Status == protocol.StatusActive {
		s.ta.finalize()
	}
	s.ta.finalize()
	if info := s.ta.epochInfo(); info.Pending != nil || info.RotationDue {
		t.Fatalf("an expiry rotated: %s", describe(info))
	}
}
