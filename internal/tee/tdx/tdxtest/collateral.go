package tdxtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/phala-go/phala/protocol"
)

// PCS URLs verification requests for the PKI's quotes (FMSPC 50806f000000,
// a platform-CA PCK).
const (
	TCBInfoURL    = "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000"
	QEIdentityURL = "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity"
	PCKCRLURL     = "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der"
)

// Collateral says what the forged PCS responses contain.
type Collateral struct {
	// TCBStatus of the only TCB level (which every quote of the PKI matches).
	TCBStatus string
	// TCBEvaluationDataNumber of both the TCB info and the QE identity.
	TCBEvaluationDataNumber int
	// QE is the identity the QE identity response describes.
	QE QE
	// IssueDate and NextUpdate of every response and CRL.
	IssueDate, NextUpdate time.Time
	// PCKCRLNextUpdate, if set, replaces NextUpdate for the PCK CRL.
	PCKCRLNextUpdate time.Time
}

// DefaultCollateral is current at Time(), up to date, and describes
// Intel's TD quoting enclave.
func DefaultCollateral() Collateral {
	return Collateral{TCBStatus: "UpToDate", TCBEvaluationDataNumber: 17, QE: IntelQE(),
		IssueDate: Time().AddDate(0, 0, -1), NextUpdate: Time().AddDate(0, 0, 29)}
}

type tcbComponent struct {
	Svn int `json:"svn"`
}

type tcb struct {
	SGX    []tcbComponent `json:"sgxtcbcomponents,omitempty"`
	PCESvn *int           `json:"pcesvn,omitempty"`
	TDX    []tcbComponent `json:"tdxtcbcomponents,omitempty"`
	IsvSvn *int           `json:"isvsvn,omitempty"`
}

type tcbLevel struct {
	TCB       tcb    `json:"tcb"`
	TCBDate   string `json:"tcbDate"`
	TCBStatus string `json:"tcbStatus"`
}

type tdxModule struct {
	MRSigner       string `json:"mrsigner"`
	Attributes     string `json:"attributes"`
	AttributesMask string `json:"attributesMask"`
}

type tcbInfo struct {
	ID                      string     `json:"id"`
	Version                 int        `json:"version"`
	IssueDate               string     `json:"issueDate"`
	NextUpdate              string     `json:"nextUpdate"`
	FMSPC                   string     `json:"fmspc"`
	PCEID                   string     `json:"pceId"`
	TCBType                 int        `json:"tcbType"`
	TCBEvaluationDataNumber int        `json:"tcbEvaluationDataNumber"`
	TDXModule               tdxModule  `json:"tdxModule"`
	TCBLevels               []tcbLevel `json:"tcbLevels"`
}

type qeIdentity struct {
	ID                      string     `json:"id"`
	Version                 int        `json:"version"`
	IssueDate               string     `json:"issueDate"`
	NextUpdate              string     `json:"nextUpdate"`
	TCBEvaluationDataNumber int        `json:"tcbEvaluationDataNumber"`
	MiscSelect              string     `json:"miscselect"`
	MiscSelectMask          string     `json:"miscselectMask"`
	Attributes              string     `json:"attributes"`
	AttributesMask          string     `json:"attributesMask"`
	MRSigner                string     `json:"mrsigner"`
	IsvProdID               uint32     `json:"isvprodid"`
	TCBLevels               []tcbLevel `json:"tcbLevels"`
}

// Collateral returns signed PCS responses for the PKI's quotes, recorded
// as an attestation carries them.
func (p *PKI) Collateral(c Collateral) ([]protocol.CollateralEntry, error) {
	tcbInfoBody, err := p.TCBInfoBody(c)
	if err != nil {
		return nil, err
	}
	qeBody, err := p.QEIdentityBody(c)
	if err != nil {
		return nil, err
	}
	pc := c
	if !c.PCKCRLNextUpdate.IsZero() {
		pc.NextUpdate = c.PCKCRLNextUpdate
	}
	pckCRL, err := p.crl(p.Platform, p.platformKey, pc, p.RevokedPCK)
	if err != nil {
		return nil, err
	}
	rootCRL, err := p.crl(p.Root, p.rootKey, c, false)
	if err != nil {
		return nil, err
	}
	issuer := func(name string, certs ...*x509.Certificate) map[string][]string {
		return map[string][]string{name: {url.QueryEscape(string(pemOf(certs...)))}}
	}
	return []protocol.CollateralEntry{
		{URL: TCBInfoURL, Header: issuer("Tcb-Info-Issuer-Chain", p.Signing, p.Root), Body: tcbInfoBody},
		{URL: QEIdentityURL, Header: issuer("Sgx-Enclave-Identity-Issuer-Chain", p.Signing, p.Root), Body: qeBody},
		{URL: PCKCRLURL, Header: issuer("Sgx-Pck-Crl-Issuer-Chain", p.Platform, p.Root), Body: pckCRL},
		{URL: RootCRLURL, Body: rootCRL},
	}, nil
}

// TCBInfoBody is a signed TCB info response: {"tcbInfo":…,"signature":…}.
func (p *PKI) TCBInfoBody(c Collateral) ([]byte, error) {
	zero := 0
	comps := make([]tcbComponent, 16)
	info := tcbInfo{
		ID: "TDX", Version: 3, IssueDate: stamp(c.IssueDate), NextUpdate: stamp(c.NextUpdate),
		FMSPC: "50806f000000", PCEID: "0000", TCBEvaluationDataNumber: c.TCBEvaluationDataNumber,
		TDXModule: tdxModule{MRSigner: strings.Repeat("00", 48), Attributes: "0000000000000000", AttributesMask: "FFFFFFFFFFFFFFFF"},
		TCBLevels: []tcbLevel{{TCB: tcb{SGX: comps, PCESvn: &zero, TDX: comps}, TCBDate: stamp(c.IssueDate), TCBStatus: c.TCBStatus}},
	}
	return p.signed("tcbInfo", info)
}

// QEIdentityBody is a signed QE identity response:
// {"enclaveIdentity":…,"signature":…}.
func (p *PKI) QEIdentityBody(c Collateral) ([]byte, error) {
	svn := int(c.QE.IsvSvn)
	id := qeIdentity{
		ID: "TD_QE", Version: 2, IssueDate: stamp(c.IssueDate), NextUpdate: stamp(c.NextUpdate),
		TCBEvaluationDataNumber: c.TCBEvaluationDataNumber,
		MiscSelect:              "00000000", MiscSelectMask: "FFFFFFFF",
		Attributes: "11000000000000000000000000000000", AttributesMask: "FBFFFFFFFFFFFFFF0000000000000000",
		MRSigner: strings.ToUpper(hex.EncodeToString(c.QE.MRSigner)), IsvProdID: c.QE.IsvProdID,
		TCBLevels: []tcbLevel{{TCB: tcb{IsvSvn: &svn}, TCBDate: stamp(c.IssueDate), TCBStatus: c.TCBStatus}},
	}
	return p.signed("enclaveIdentity", id)
}

// signed returns {"<member>":<v>,"signature":"<hex r||s over v's bytes>"}.
func (p *PKI) signed(member string, v any) ([]byte, error) {
	inner, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sig, err := rawSig(p.sigKey, inner)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"`+member+`":`), inner...)
	return append(out, `,"signature":"`+hex.EncodeToString(sig)+`"}`...), nil
}

func (p *PKI) crl(issuer *x509.Certificate, key *ecdsa.PrivateKey, c Collateral, revokePCK bool) ([]byte, error) {
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: c.IssueDate, NextUpdate: c.NextUpdate}
	if revokePCK {
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: p.PCK.SerialNumber, RevocationTime: c.IssueDate}}
	}
	return x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
