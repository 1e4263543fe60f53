// Package verifier checks TDX quotes for the chain and the SDK: structure,
// signature and QE report, certificate chain to Intel's root, and optionally
// Intel's TCB collateral, with the verified block time as "now". It never
// touches the network. pRuntime does not link it: the enclave only quotes.
package verifier

import (
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/phala-go/phala/protocol"
)

// Verified is what a verified quote tells.
type Verified struct {
	MRTD        []byte
	RTMRs       [][]byte
	ReportData  []byte
	Debug       bool
	Measurement []byte // protocol.TDXMeasurement(MRTD, RTMRs)
	Level       string // protocol.LevelQuote or protocol.LevelCollateral
}

// Verify checks a TDX quote: its structure, its signature and QE report, and
// its certificate chain up to Intel's root (embedded in go-tdx-guest), all at
// time now (the verified block time: the chain has no other clock). With
// collateral, Intel's TCB info and QE identity are verified too, and must be
// current at now. The collateral is only ever read from the given entries;
// verification never touches the network, so every node reaches the same
// verdict.
//
// Errors are protocol errors: ErrQuoteMalformed, ErrQuoteCertChain,
// ErrQuoteSignature or ErrQuoteCollateral.
func Verify(raw []byte, collateral []protocol.CollateralEntry, now time.Time) (*Verified, error) {
	q, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	opts := verifyOptions(now, recorded(collateral))
	opts.GetCollateral, opts.CheckRevocations = len(collateral) > 0, len(collateral) > 0
	if err := verifyQuote(q, opts); err != nil {
		return nil, classify(err, len(collateral) > 0)
	}
	body := q.GetTdQuoteBody()
	v := &Verified{
		MRTD:       body.GetMrTd(),
		RTMRs:      body.GetRtmrs(),
		ReportData: body.GetReportData(),
		Debug:      len(body.GetTdAttributes()) > 0 && body.GetTdAttributes()[0]&debugBit != 0,
		Level:      protocol.LevelQuote,
	}
	if len(collateral) > 0 {
		v.Level = protocol.LevelCollateral
	}
	v.Measurement = protocol.TDXMeasurement(v.MRTD, v.RTMRs)
	return v, nil
}

// intelRootPEM is Intel's SGX Root CA, the root of trust of every TDX quote
// (the same certificate go-tdx-guest embeds; pinned here so the chain's
// verification does not depend on a library default).
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

func intelRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(intelRootPEM) {
		panic("tdx: embedded Intel root certificate does not parse")
	}
	return pool
}

func verifyOptions(now time.Time, getter trust.HTTPSGetter) *verify.Options {
	return &verify.Options{Now: now, TrustedRoots: intelRoots(), Getter: getter}
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

// debugBit is TDATTRIBUTES.DEBUG: the TD's memory is readable by the host.
const debugBit = 0x01

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

// classify maps go-tdx-guest's verification errors to protocol errors.
func classify(err error, withCollateral bool) error {
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
	case withCollateral:
		return protocol.Errorf(protocol.ErrQuoteCollateral, "%v", err)
	}
	return protocol.Errorf(protocol.ErrBadQuote, "%v", err)
}

// recordedGetter answers go-tdx-guest's PCS requests from recorded entries
// only.
type recordedGetter []protocol.CollateralEntry

func recorded(c []protocol.CollateralEntry) recordedGetter { return recordedGetter(c) }

// Get implements trust.HTTPSGetter.
func (g recordedGetter) Get(u string) (map[string][]string, []byte, error) {
	for _, e := range g {
		if sameURL(e.URL, u) {
			return e.Header, e.Body, nil
		}
	}
	return nil, nil, fmt.Errorf("collateral for %s not supplied", u)
}

func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return ua.Host == ub.Host && ua.Path == ub.Path && ua.Query().Encode() == ub.Query().Encode()
}
