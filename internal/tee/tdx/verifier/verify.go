// Package verifier checks TDX quotes for the chain and the SDK: structure,
// signature, that the quote comes from Intel's TD quoting enclave (pinned
// here, not taken from collateral), the TD's attributes, the certificate
// chain to Intel's root, and, when supplied, Intel's TCB collateral and
// CRLs, with the verified block time as "now". It never touches the
// network: collateral is read only from the entries it is given, each
// parsed strictly and passed on in canonical form. pRuntime does not link
// it: the enclave only quotes.
package verifier

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/phala-go/phala/protocol"
)

// Verified is what a verified quote tells.
type Verified struct {
	Identity    protocol.TDXIdentity
	ReportData  []byte
	Measurement []byte // protocol.TDXMeasurement(Identity)
	Level       string // protocol.LevelQuote or protocol.LevelCollateral
	// TCBEvaluationDataNumber is the lower of the TCB info's and the QE
	// identity's tcbEvaluationDataNumber (level collateral; 0 otherwise).
	TCBEvaluationDataNumber uint32
}

// Verify checks a TDX quote with Intel's root of trust; see
// (*Verifier).Verify.
func Verify(raw []byte, collateral []protocol.CollateralEntry, now time.Time) (*Verified, error) {
	return Intel().Verify(raw, collateral, now)
}

// Verifier verifies quotes against one root of trust and one quoting
// enclave identity. Production code has exactly one: Intel(). ForTestRoot
// exists so that tests can build a whole PKI (root, PCK, quoting enclave,
// collateral signer) and forge quotes that hardware would never produce; it
// refuses to run outside a test binary.
type Verifier struct {
	root *x509.Certificate
	qe   QEIdentity
}

// intelRootPEM is Intel's SGX Root CA, the root of trust of every TDX quote
// (the same certificate go-tdx-guest embeds; pinned here so the chain's
// verification does not depend on a library default).
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// Intel returns the verifier rooted at Intel's SGX Root CA, accepting
// quotes of Intel's TD quoting enclave.
func Intel() *Verifier {
	b, _ := pem.Decode(intelRootPEM)
	if b == nil {
		panic("tdx: embedded Intel root certificate is not PEM")
	}
	root, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic(fmt.Sprintf("tdx: embedded Intel root certificate does not parse: %v", err))
	}
	return &Verifier{root: root, qe: TDQuotingEnclave()}
}

// ForTestRoot returns a verifier rooted at a test CA (still requiring
// Intel's TD QE identity). It panics outside a test binary
// (testing.Testing), so no configuration or wiring mistake can make a
// production chain trust another root.
func ForTestRoot(root *x509.Certificate) *Verifier {
	if !testing.Testing() {
		panic("tdx: a test root of trust outside a test binary")
	}
	return &Verifier{root: root, qe: TDQuotingEnclave()}
}

func (v *Verifier) options(now time.Time, getter trust.HTTPSGetter, withCollateral bool) *verify.Options {
	roots := x509.NewCertPool()
	roots.AddCert(v.root)
	return &verify.Options{Now: now, TrustedRoots: roots, Getter: getter,
		GetCollateral: withCollateral, CheckRevocations: withCollateral}
}

// Verify checks a TDX quote at time now (the verified block time: the chain
// has no other clock). A refusal names the first of these checks that
// fails:
//
//  1. the quote's structure (ErrQuoteMalformed);
//  2. the collateral's shape: at most MaxCollateralEntries entries and
//     MaxCollateralBytes bytes, each answering a request verification of
//     this quote makes, once, with exactly the expected header and members
//     (ErrCollateralMalformed);
//  3. the quote's signature, its QE report's signature by the PCK, and the
//     PCK chain to the root (ErrQuoteSignature, ErrQuoteCertChain);
//  4. that the QE report is Intel's TD quoting enclave's (ErrQEIdentity);
//  5. the TD's attributes (ErrDebugTD, ErrTDAttributes);
//  6. with collateral: Intel's TCB info and QE identity and both CRLs,
//     signed and current at now, the TCB up to date (ErrQuoteCollateral;
//     a revoked PCK chain is ErrQuoteCertChain).
//
// Without collateral the level is LevelQuote: the platform's TCB and the
// PCK's revocation are unknown. Verification never touches the network,
// so every node reaches the same verdict.
func (v *Verifier) Verify(raw []byte, collateral []protocol.CollateralEntry, now time.Time) (*Verified, error) {
	if err := checkCollateralSize(collateral); err != nil {
		return nil, err
	}
	q, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	var answers recorded
	if len(collateral) > 0 {
		reqs, err := v.requests(q)
		if err != nil {
			return nil, err
		}
		if answers, err = canonicalCollateral(reqs, collateral); err != nil {
			return nil, err
		}
	}
	// One pass of go-tdx-guest when all is well. When the pass with
	// collateral fails, a pass without tells a broken quote or chain
	// (which the library reports only as text) from bad collateral.
	var collErr error
	if answers != nil {
		collErr = verifyQuote(q, v.options(now, answers, true))
	}
	if answers == nil || collErr != nil {
		if err := verifyQuote(q, v.options(now, nil, false)); err != nil {
			return nil, classify(err)
		}
	}
	certData := q.GetSignedData().GetCertificationData().GetQeReportCertificationData()
	if err := v.qe.checkQE(certData.GetQeReport()); err != nil {
		return nil, err
	}
	body := q.GetTdQuoteBody()
	if err := checkTDAttributes(body.GetTdAttributes()); err != nil {
		return nil, err
	}
	switch {
	case collErr != nil && strings.Contains(collErr.Error(), "certificate chain was revoked"):
		return nil, protocol.Errorf(protocol.ErrQuoteCertChain, "%v", collErr)
	case collErr != nil:
		return nil, protocol.Errorf(protocol.ErrQuoteCollateral, "%v", collErr)
	}
	out := &Verified{
		Identity: protocol.TDXIdentity{
			MRTD: body.GetMrTd(), RTMRs: body.GetRtmrs(), TDAttributes: body.GetTdAttributes(), XFAM: body.GetXfam(),
			MRConfigID: body.GetMrConfigId(), MROwner: body.GetMrOwner(), MROwnerConfig: body.GetMrOwnerConfig(),
		},
		ReportData: body.GetReportData(),
		Level:      protocol.LevelQuote,
	}
	out.Measurement = protocol.TDXMeasurement(out.Identity)
	if answers != nil {
		out.Level = protocol.LevelCollateral
		out.TCBEvaluationDataNumber = answers.evaluationDataNumber()
	}
	return out, nil
}

// verifyQuote runs go-tdx-guest's verification, turning a panic on hostile
// input (certificates, collateral) into an error for the same reason as
// Parse.
func verifyQuote(q *pb.QuoteV4, opts *verify.Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("verifier panicked: %v", r)
		}
	}()
	return verify.TdxQuote(q, opts)
}

// Parse reads a TDX quote (version 4) and checks its structure. It is the
// only decoder of TDX quotes.
//
// go-tdx-guest's parser can panic on malformed lengths (found by FuzzParse;
// the crashing input is kept in testdata/fuzz). A quote arrives in a
// transaction, so a panic here would halt every validator: it is turned
// into ErrQuoteMalformed.
func Parse(raw []byte) (q4 *pb.QuoteV4, err error) {
	defer func() {
		if r := recover(); r != nil {
			q4, err = nil, protocol.Errorf(protocol.ErrQuoteMalformed, "parser panicked: %v", r)
		}
	}()
	q, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrQuoteMalformed, "%v", err)
	}
	v4, ok := q.(*pb.QuoteV4)
	if !ok {
		return nil, protocol.Errorf(protocol.ErrQuoteMalformed, "unsupported quote type %T", q)
	}
	if err := abi.CheckQuoteV4(v4); err != nil {
		return nil, protocol.Errorf(protocol.ErrQuoteMalformed, "%v", err)
	}
	return v4, nil
}

// classify maps go-tdx-guest's errors from verifying a quote without
// collateral to protocol errors. The library wraps most of its errors as
// text, so the texts are what there is to go by.
func classify(err error) error {
	msg := err.Error()
	var certErr x509.CertificateInvalidError
	var authErr x509.UnknownAuthorityError
	switch {
	case errors.Is(err, verify.ErrHashVerificationFail),
		strings.Contains(msg, "signature"), strings.Contains(msg, "hash"):
		if strings.Contains(msg, "certificate") && !strings.Contains(msg, "QE report") {
			return protocol.Errorf(protocol.ErrQuoteCertChain, "%v", err)
		}
		return protocol.Errorf(protocol.ErrQuoteSignature, "%v", err)
	case errors.As(err, &certErr), errors.As(err, &authErr),
		errors.Is(err, verify.ErrPCKCertChainInvalid), errors.Is(err, verify.ErrKeyMismatch),
		errors.Is(err, verify.ErrRootCertNil), errors.Is(err, verify.ErrPCKCertNil), errors.Is(err, verify.ErrIntermediateCertNil),
		strings.Contains(msg, "certificate"), strings.Contains(msg, "PCK"):
		return protocol.Errorf(protocol.ErrQuoteCertChain, "%v", err)
	}
	return protocol.Errorf(protocol.ErrBadQuote, "%v", err)
}
