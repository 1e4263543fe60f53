package verifier

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/phala-go/phala/protocol"
)

// Bounds on the collateral a registration may carry. Verification of a
// quote requests four documents (TCB info, QE identity, PCK CRL, root
// CRL), together about 20 KiB from Intel's PCS; anything beyond is
// refused before it is parsed, so a registration costs what its fee pays.
const (
	MaxCollateralEntries = 4
	MaxCollateralBytes   = 64 << 10 // URLs, headers and bodies together
)

// request is a PCS document verification of a quote asks for.
type request struct {
	url string
	// header is the one response header the document needs: the issuer
	// chain of its signer ("" for the root CRL, which needs none).
	header string
	// member is the signed JSON member of the body ("" for a DER CRL).
	member string
}

// requests are the documents verifying q with collateral asks for, named
// as go-tdx-guest names them: the TCB info of the PCK's FMSPC, the TD QE
// identity, the CRL of the PCK's issuing CA, and the root's CRL at the
// root's distribution points.
func (v *Verifier) requests(q *pb.QuoteV4) ([]request, error) {
	chain := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	b, _ := pem.Decode(chain)
	if b == nil {
		return nil, protocol.Errorf(protocol.ErrQuoteCertChain, "no PCK certificate in the quote")
	}
	pck, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrQuoteCertChain, "PCK certificate: %v", err)
	}
	ext, err := pcs.PckCertificateExtensions(pck)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrQuoteCertChain, "PCK certificate: %v", err)
	}
	var ca string
	switch pck.Issuer.CommonName {
	case "Intel SGX PCK Platform CA":
		ca = "platform"
	case "Intel SGX PCK Processor CA":
		ca = "processor"
	default:
		return nil, protocol.Errorf(protocol.ErrQuoteCertChain, "PCK certificate issued by %q", pck.Issuer.CommonName)
	}
	reqs := []request{
		{url: pcs.TcbInfoURL(ext.FMSPC), header: "Tcb-Info-Issuer-Chain", member: "tcbInfo"},
		{url: pcs.QeIdentityURL(), header: "Sgx-Enclave-Identity-Issuer-Chain", member: "enclaveIdentity"},
		{url: pcs.PckCrlURL(ca), header: "Sgx-Pck-Crl-Issuer-Chain"},
	}
	for _, u := range v.root.CRLDistributionPoints {
		reqs = append(reqs, request{url: u})
	}
	return reqs, nil
}

// checkCollateralSize refuses too many entries or too many bytes, before
// anything is parsed.
func checkCollateralSize(c []protocol.CollateralEntry) error {
	if len(c) > MaxCollateralEntries {
		return protocol.Errorf(protocol.ErrCollateralMalformed, "%d entries, at most %d", len(c), MaxCollateralEntries)
	}
	n := 0
	for _, e := range c {
		n += len(e.URL) + len(e.Body)
		for k, vs := range e.Header {
			n += len(k)
			for _, v := range vs {
				n += len(v)
			}
		}
	}
	if n > MaxCollateralBytes {
		return protocol.Errorf(protocol.ErrCollateralMalformed, "%d bytes, at most %d", n, MaxCollateralBytes)
	}
	return nil
}

// canonicalCollateral checks that each entry answers one of reqs, no
// request twice, and returns the answers in canonical form: only the
// header the document needs, and JSON bodies re-emitted from a strict parse
// (see canonicalBody).
func canonicalCollateral(reqs []request, c []protocol.CollateralEntry) (recorded, error) {
	out := recorded{}
	for _, e := range c {
		var req *request
		for i := range reqs {
			if reqs[i].url == e.URL {
				req = &reqs[i]
			}
		}
		if req == nil {
			return nil, protocol.Errorf(protocol.ErrCollateralMalformed, "entry for %q, which verification of this quote does not request", e.URL)
		}
		if _, dup := out[e.URL]; dup {
			return nil, protocol.Errorf(protocol.ErrCollateralMalformed, "two entries for %q", e.URL)
		}
		ce, err := req.canonical(e.Header, e.Body)
		if err != nil {
			return nil, err
		}
		out[e.URL] = ce
	}
	return out, nil
}

// canonical checks one response to r and returns it in canonical form.
func (r *request) canonical(header map[string][]string, body []byte) (protocol.CollateralEntry, error) {
	e := protocol.CollateralEntry{URL: r.url}
	switch {
	case r.header == "" && len(header) != 0:
		return e, protocol.Errorf(protocol.ErrCollateralMalformed, "%s: %d headers, want none", r.url, len(header))
	case r.header != "":
		if len(header) != 1 || len(header[r.header]) != 1 {
			return e, protocol.Errorf(protocol.ErrCollateralMalformed, "%s: want exactly the header %s, once", r.url, r.header)
		}
		e.Header = map[string][]string{r.header: {header[r.header][0]}}
	}
	e.Body = body
	if r.member != "" {
		var err error
		if e.Body, err = canonicalBody(r.member, body); err != nil {
			return e, protocol.Errorf(protocol.ErrCollateralMalformed, "%s: %v", r.url, err)
		}
	}
	return e, nil
}

// recorded answers go-tdx-guest's PCS requests from canonical entries
// only, by exact URL.
type recorded map[string]protocol.CollateralEntry

// Get implements trust.HTTPSGetter.
func (g recorded) Get(u string) (map[string][]string, []byte, error) {
	e, ok := g[u]
	if !ok {
		return nil, nil, fmt.Errorf("collateral for %s not supplied", u)
	}
	return e.Header, e.Body, nil
}

// evaluationDataNumber is the lower tcbEvaluationDataNumber of the TCB
// info and the QE identity (both verified by then).
func (g recorded) evaluationDataNumber() uint32 {
	n, first := uint32(0), true
	for _, e := range g {
		if m, ok := evaluationDataNumber(e.Body); ok && (first || m < n) {
			n, first = m, false
		}
	}
	return n
}

// FetchCollateral obtains the Intel PCS collateral of a quote through
// getter (trust.DefaultHTTPSGetter() for Intel's service), in canonical
// form, ready to travel with the attestation; see (*Verifier).
// FetchCollateral.
func FetchCollateral(quote []byte, getter trust.HTTPSGetter, now time.Time) ([]protocol.CollateralEntry, error) {
	return Intel().FetchCollateral(quote, getter, now)
}

// FetchCollateral fetches, through getter, exactly the documents
// verification of quote requests, and returns them together with the
// verdict of Verify on them at now: a caller should register with them
// only when that verdict is nil. It runs outside the enclave (in pherry):
// collateral is signed by Intel.
func (v *Verifier) FetchCollateral(quote []byte, getter trust.HTTPSGetter, now time.Time) ([]protocol.CollateralEntry, error) {
	q, err := Parse(quote)
	if err != nil {
		return nil, err
	}
	reqs, err := v.requests(q)
	if err != nil {
		return nil, err
	}
	var entries []protocol.CollateralEntry
	for _, r := range reqs {
		h, b, err := getter.Get(r.url)
		if err != nil {
			return entries, protocol.Errorf(protocol.ErrQuoteCollateral, "fetch %s: %v", r.url, err)
		}
		if r.header != "" {
			h = map[string][]string{r.header: h[r.header]}
		} else {
			h = nil
		}
		e, err := r.canonical(h, b)
		if err != nil {
			return entries, err
		}
		entries = append(entries, e)
	}
	_, err = v.Verify(quote, entries, now)
	return entries, err
}
