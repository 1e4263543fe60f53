package tdxtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/testing/testdata"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/internal/tee/tdx/verifier"
)

// TD is what a TD quote body says about the TD.
type TD struct {
	ReportData    []byte // 64 bytes
	MRTD          []byte // 48 bytes each from here on, unless said otherwise
	RTMRs         [4][]byte
	TDAttributes  []byte // 8 bytes
	XFAM          []byte // 8 bytes
	MRConfigID    []byte
	MROwner       []byte
	MROwnerConfig []byte
}

// XFAM is the XFAM of a typical TD (x87, SSE, AVX, AVX-512, PKRU, AMX).
var XFAM = []byte{0xe7, 0x1a, 0x06, 0, 0, 0, 0, 0}

// NewTD is a well-configured TD (only SEPT_VE_DISABLE set) of a build
// named by seed, quoting reportData.
func NewTD(seed string, reportData []byte) TD {
	fill := func(tag string) []byte {
		s := sha256.Sum256([]byte(seed + "/" + tag))
		return append(s[:], s[:16]...)
	}
	td := TD{
		ReportData:    reportData,
		MRTD:          fill("mrtd"),
		TDAttributes:  binary.LittleEndian.AppendUint64(nil, verifier.RequiredTDAttributes),
		XFAM:          append([]byte(nil), XFAM...),
		MRConfigID:    make([]byte, 48),
		MROwner:       make([]byte, 48),
		MROwnerConfig: make([]byte, 48),
	}
	for i := range td.RTMRs {
		td.RTMRs[i] = fill(fmt.Sprint("rtmr", i))
	}
	return td
}

// QE is the identity a quoting enclave's report carries.
type QE struct {
	MRSigner   []byte // 32 bytes
	IsvProdID  uint32
	IsvSvn     uint32
	Attributes []byte // 16 bytes
	MiscSelect uint32
}

// IntelQE is Intel's TD quoting enclave, as its QE identity describes it.
func IntelQE() QE {
	return QE{MRSigner: mrSigner(), IsvProdID: 2, IsvSvn: 4,
		Attributes: mustHex("1500000000000000e700000000000000")}
}

// ForeignQE is an enclave the host signed itself and launched with the
// PROVISION_KEY attribute: Intel's PCE certifies its report like the real
// QE's.
func ForeignQE() QE {
	s := sha256.Sum256([]byte("host's own enclave signing key"))
	return QE{MRSigner: s[:], IsvProdID: 2, IsvSvn: 4, Attributes: mustHex("1500000000000000e700000000000000")}
}

func mrSigner() []byte {
	id := verifier.TDQuotingEnclave()
	return id.MRSigner[:]
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Quote makes a version 4 TDX quote of td, signed by a fresh attestation
// key that qe's report binds, the report signed by the PKI's PCK key, and
// the PCK chain attached: what hardware with this QE would produce.
func (p *PKI) Quote(td TD, qe QE) ([]byte, error) {
	sample, err := verifier.Parse(testdata.RawQuote)
	if err != nil {
		return nil, err
	}
	q := proto.Clone(sample).(*pb.QuoteV4)
	q.ExtraBytes = nil
	b := q.TdQuoteBody
	b.MrTd, b.TdAttributes, b.Xfam, b.ReportData = td.MRTD, td.TDAttributes, td.XFAM, td.ReportData
	b.MrConfigId, b.MrOwner, b.MrOwnerConfig = td.MRConfigID, td.MROwner, td.MROwnerConfig
	b.Rtmrs = [][]byte{td.RTMRs[0], td.RTMRs[1], td.RTMRs[2], td.RTMRs[3]}
	b.MrSignerSeam = make([]byte, 48)
	b.SeamAttributes = make([]byte, 8)

	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	akRaw, _ := ak.PublicKey.Bytes() // 0x04 || X || Y
	sd := q.SignedData
	sd.EcdsaAttestationKey = akRaw[1:]
	cert := sd.CertificationData.QeReportCertificationData
	r := cert.QeReport
	r.MrSigner, r.IsvProdId, r.IsvSvn, r.Attributes, r.MiscSelect = qe.MRSigner, qe.IsvProdID, qe.IsvSvn, qe.Attributes, qe.MiscSelect
	bound := sha256.Sum256(append(bytes.Clone(sd.EcdsaAttestationKey), cert.QeAuthData.Data...))
	r.ReportData = append(bound[:], make([]byte, 32)...)
	rawReport, err := abi.EnclaveReportToAbiBytes(r)
	if err != nil {
		return nil, err
	}
	if cert.QeReportSignature, err = rawSig(p.pckKey, rawReport); err != nil {
		return nil, err
	}
	chain := pemOf(p.PCK, p.Platform, p.Root)
	cert.PckCertificateChainData.PckCertChain = chain
	cert.PckCertificateChainData.Size = uint32(len(chain))
	sd.CertificationData.Size = 384 + 64 + 2 + uint32(len(cert.QeAuthData.Data)) + 6 + uint32(len(chain))
	q.SignedDataSize = 64 + 64 + 6 + sd.CertificationData.Size

	header, err := abi.HeaderToAbiBytes(q.Header)
	if err != nil {
		return nil, err
	}
	body, err := abi.TdQuoteBodyToAbiBytes(b)
	if err != nil {
		return nil, err
	}
	if sd.Signature, err = rawSig(ak, append(header, body...)); err != nil {
		return nil, err
	}
	return abi.QuoteToAbiBytes(q)
}
