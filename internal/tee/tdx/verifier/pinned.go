package verifier

import (
	"bytes"
	"encoding/binary"

	pb "github.com/google/go-tdx-guest/proto/tdx"

	"github.com/phala-go/phala/protocol"
)

// QEIdentity is the identity of a quoting enclave, as Intel's QE identity
// collateral states it: a QE report matches when its MRSIGNER and
// ISVPRODID are equal and its MISCSELECT and ATTRIBUTES are equal under the
// masks.
type QEIdentity struct {
	MRSigner       [32]byte
	IsvProdID      uint32
	MiscSelect     uint32
	MiscSelectMask uint32
	Attributes     [16]byte
	AttributesMask [16]byte
}

// TDQuotingEnclave returns Intel's TD quoting enclave (QE identity "TD_QE",
// version 2, as Intel's PCS has published it since TDX 1.0). Every TDX
// quote must come from it. Intel's PCE certifies the attestation key of
// any non-debug enclave launched with the PROVISION_KEY attribute, and on
// a flexible-launch-control Xeon (every TDX host) the host can launch such
// an enclave signed with its own key; only this identity tells Intel's QE
// from the host's.
func TDQuotingEnclave() QEIdentity {
	return QEIdentity{
		MRSigner: [32]byte{
			0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
			0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
		},
		IsvProdID:      2,
		MiscSelect:     0x00000000,
		MiscSelectMask: 0xffffffff,
		Attributes:     [16]byte{0x11},
		AttributesMask: [16]byte{0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
}

// checkQE refuses a QE report that is not from the pinned quoting enclave.
func (id *QEIdentity) checkQE(r *pb.EnclaveReport) error {
	attrs := r.GetAttributes()
	if len(attrs) != len(id.AttributesMask) {
		return protocol.Errorf(protocol.ErrQEIdentity, "QE report attributes of %d bytes", len(attrs))
	}
	masked := make([]byte, len(attrs))
	for i := range attrs {
		masked[i] = attrs[i] & id.AttributesMask[i]
	}
	switch {
	case !bytes.Equal(r.GetMrSigner(), id.MRSigner[:]):
		return protocol.Errorf(protocol.ErrQEIdentity, "QE MRSIGNER %x, want Intel's TD QE %x", r.GetMrSigner(), id.MRSigner)
	case r.GetIsvProdId() != id.IsvProdID:
		return protocol.Errorf(protocol.ErrQEIdentity, "QE ISVPRODID %d, want %d", r.GetIsvProdId(), id.IsvProdID)
	case r.GetMiscSelect()&id.MiscSelectMask != id.MiscSelect:
		return protocol.Errorf(protocol.ErrQEIdentity, "QE MISCSELECT %08x under mask %08x, want %08x", r.GetMiscSelect(), id.MiscSelectMask, id.MiscSelect)
	case !bytes.Equal(masked, id.Attributes[:]):
		return protocol.Errorf(protocol.ErrQEIdentity, "QE ATTRIBUTES %x under mask %x, want %x", attrs, id.AttributesMask, id.Attributes)
	}
	return nil
}

// TDATTRIBUTES bits (Intel TDX module ABI, "TD Attributes").
const (
	tdAttrDebug         = 1 << 0  // the host can read and write the TD's memory and registers
	tdAttrSeptVEDisable = 1 << 28 // EPT violations are not turned into #VE the guest must handle
	tdAttrMigratable    = 1 << 29 // a migration TD chosen by the host receives the TD's keys
	tdAttrPKS           = 1 << 30 // supervisor protection keys
	tdAttrKL            = 1 << 31 // key locker
	tdAttrPerfmon       = 1 << 63 // the TD may use the PMU
)

// tdAttrFree are the TDATTRIBUTES bits a build may choose: they change
// what the guest can use, not who can read it, and the TD measurement
// (protocol.TDXMeasurement) includes them, so the allowlist pins their
// value. Every other bit is fixed by RequiredTDAttributes.
const tdAttrFree = tdAttrPKS | tdAttrKL | tdAttrPerfmon

// RequiredTDAttributes is TDATTRIBUTES (as a little-endian integer) with
// only SEPT_VE_DISABLE set: DEBUG, MIGRATABLE and every reserved bit clear.
// A quote's TDATTRIBUTES must equal it outside the free bits (PKS, KL,
// PERFMON).
const RequiredTDAttributes uint64 = tdAttrSeptVEDisable

// checkTDAttributes refuses a debug TD (ErrDebugTD) and any other
// attribute setting but the required one (ErrTDAttributes).
func checkTDAttributes(raw []byte) error {
	if len(raw) != 8 {
		return protocol.Errorf(protocol.ErrTDAttributes, "TDATTRIBUTES of %d bytes", len(raw))
	}
	a := binary.LittleEndian.Uint64(raw)
	const want = RequiredTDAttributes
	switch {
	case a&tdAttrDebug != 0:
		return protocol.Errorf(protocol.ErrDebugTD, "TDATTRIBUTES %016x has DEBUG set", a)
	case a&tdAttrMigratable != 0:
		return protocol.Errorf(protocol.ErrTDAttributes, "TDATTRIBUTES %016x has MIGRATABLE set: a migration TD of the host's choosing would receive the TD's keys", a)
	case a&tdAttrSeptVEDisable == 0:
		return protocol.Errorf(protocol.ErrTDAttributes, "TDATTRIBUTES %016x has SEPT_VE_DISABLE clear", a)
	case a&^tdAttrFree != want:
		return protocol.Errorf(protocol.ErrTDAttributes, "TDATTRIBUTES %016x: reserved bits %016x set", a, a&^tdAttrFree&^want)
	}
	return nil
}
