// Package tdxtest forges TDX evidence for tests: a whole Intel-shaped PKI
// under a test root (root CA, PCK platform CA, PCK leaf, TCB signing key),
// quotes signed by any quoting enclave the test names, and PCS collateral
// signed by the test TCB signer. No TDX or SGX hardware is needed, which is
// the point: the attacks on attestation (a quote from a foreign quoting
// enclave, rewritten collateral, a TD with the wrong attributes) can be
// written as ordinary tests against the real verifier, injected with the
// test root through verifier.ForTestRoot.
//
// It must never be linked into a production binary.
package tdxtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/internal/tee/tdx/verifier"
)

// Time is the instant at which the PKI's certificates and the default
// collateral are current: the "block time" of tests.
func Time() time.Time { return time.Date(2030, time.June, 1, 0, 0, 0, 0, time.UTC) }

// RootCRLURL is where the test root says its CRL lives.
const RootCRLURL = "https://certificates.example.test/TestSGXRootCA.der"

// PKI is a test stand-in for Intel's attestation PKI. Subject names are
// Intel's, because go-tdx-guest checks them.
type PKI struct {
	Root, Platform, PCK, Signing         *x509.Certificate
	rootKey, platformKey, pckKey, sigKey *ecdsa.PrivateKey
	// RevokedPCK, when set, is listed in the PCK CRL that Collateral makes.
	RevokedPCK bool
}

// NewPKI makes fresh keys and certificates. The PCK leaf carries the SGX
// extensions (FMSPC, PCEID, TCB) of Intel's sample quote.
func NewPKI() (*PKI, error) {
	p := &PKI{}
	var err error
	for _, k := range []**ecdsa.PrivateKey{&p.rootKey, &p.platformKey, &p.pckKey, &p.sigKey} {
		if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	from, until := Time().AddDate(-5, 0, 0), Time().AddDate(10, 0, 0)
	ca := func(cn string, serial int64, key *ecdsa.PrivateKey) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: intelName(cn), NotBefore: from, NotAfter: until,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			SubjectKeyId: keyID(&key.PublicKey),
		}
	}
	rootT := ca("Intel SGX Root CA", 1, p.rootKey)
	rootT.CRLDistributionPoints = []string{RootCRLURL}
	if p.Root, err = issue(rootT, rootT, p.rootKey, p.rootKey); err != nil {
		return nil, err
	}
	if p.Platform, err = issue(ca("Intel SGX PCK Platform CA", 2, p.platformKey), p.Root, p.platformKey, p.rootKey); err != nil {
		return nil, err
	}
	sgxExt, err := sampleSGXExtension()
	if err != nil {
		return nil, err
	}
	pckT := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: intelName("Intel SGX PCK Certificate"), NotBefore: from, NotAfter: until,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, SubjectKeyId: keyID(&p.pckKey.PublicKey),
		CRLDistributionPoints: []string{"https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der"},
		ExtraExtensions:       []pkix.Extension{sgxExt},
	}
	if p.PCK, err = issue(pckT, p.Platform, p.pckKey, p.platformKey); err != nil {
		return nil, err
	}
	sigT := &x509.Certificate{
		SerialNumber: big.NewInt(4), Subject: intelName("Intel SGX TCB Signing"), NotBefore: from, NotAfter: until,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, SubjectKeyId: keyID(&p.sigKey.PublicKey),
	}
	if p.Signing, err = issue(sigT, p.Root, p.sigKey, p.rootKey); err != nil {
		return nil, err
	}
	return p, nil
}

// Verifier is the real verifier, rooted at this PKI's root.
func (p *PKI) Verifier() *verifier.Verifier { return verifier.ForTestRoot(p.Root) }

func intelName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Intel Corporation"}, Locality: []string{"Santa Clara"},
		Province: []string{"CA"}, Country: []string{"US"}}
}

func keyID(pub *ecdsa.PublicKey) []byte {
	raw, _ := pub.Bytes()
	sum := sha256.Sum256(raw)
	return sum[:20]
}

func issue(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("tdxtest: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// sampleSGXExtension is the SGX extension of the PCK certificate in Intel's
// sample quote: FMSPC 50806f000000, PCEID 0000 and its TCB components.
func sampleSGXExtension() (pkix.Extension, error) {
	chain, err := sampleChain()
	if err != nil {
		return pkix.Extension{}, err
	}
	oid := asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	for _, e := range chain[0].Extensions {
		if e.Id.Equal(oid) {
			return e, nil
		}
	}
	return pkix.Extension{}, fmt.Errorf("tdxtest: the sample PCK certificate has no SGX extension")
}

func sampleChain() ([]*x509.Certificate, error) {
	q, err := verifier.Parse(testdata.RawQuote)
	if err != nil {
		return nil, err
	}
	rest := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func pemOf(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// rawSig signs SHA-256(msg) and returns r||s, 32 bytes each: the encoding
// of signatures in quotes and PCS responses.
func rawSig(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}
