package verifier

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	testcases "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/protocol"
)

// pinned is a time at which the sample quote's certificates and collateral
// are valid.
var pinned = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)

func TestRealQuoteVerifiesWithoutCollateral(t *testing.T) {
	v, err := Verify(testdata.RawQuote, nil, pinned)
	if err != nil {
		t.Fatal(err)
	}
	if v.Level != protocol.LevelQuote || len(v.MRTD) != 48 || len(v.RTMRs) != 4 || len(v.ReportData) != 64 {
		t.Fatalf("verified %+v", v)
	}
	if !bytes.Equal(v.Measurement, protocol.TDXMeasurement(v.MRTD, v.RTMRs)) {
		t.Fatal("measurement is not the hash of MRTD and RTMRs")
	}
}

func collateral() []protocol.CollateralEntry {
	var out []protocol.CollateralEntry
	for url, r := range testcases.TestGetter.Responses {
		out = append(out, protocol.CollateralEntry{URL: url, Header: r.Header, Body: r.Body})
	}
	return out
}

// TestCollateralIsCheckedAgainstTheQuote runs the real quote with Intel's
// sample collateral (go-tdx-guest's test data). The collateral's signatures
// verify, and the TCB level check then finds that this sample TCB info has
// no level matching the sample quote: the collateral path is exercised to
// its last step, and its refusal carries the collateral error.
func TestCollateralIsCheckedAgainstTheQuote(t *testing.T) {
	_, err := Verify(testdata.RawQuote, collateral(), pinned)
	if !errors.Is(err, protocol.ErrQuoteCollateral) || !strings.Contains(err.Error(), "TCB level") {
		t.Fatalf("got %v", err)
	}
}

func TestFetchCollateralRecordsWhatVerificationReads(t *testing.T) {
	entries, err := FetchCollateral(testdata.RawQuote, testcases.TestGetter, pinned)
	if len(entries) != len(testcases.TestGetter.Responses) {
		t.Fatalf("%d entries recorded, %d served", len(entries), len(testcases.TestGetter.Responses))
	}
	// The recorded collateral, replayed, reaches the same verdict as the
	// live fetch: verification is a function of the recorded bytes.
	_, again := Verify(testdata.RawQuote, entries, pinned)
	if err == nil || again == nil || err.Error() != again.Error() {
		t.Fatalf("fetch: %v; replay: %v", err, again)
	}
}

// TestTamperedQuotesAreRefused flips one byte in each field class of the
// real quote and requires the matching error.
func TestTamperedQuotesAreRefused(t *testing.T) {
	pem := bytes.Index(testdata.RawQuote, []byte("-----BEGIN CERTIFICATE-----"))
	cases := []struct {
		name string
		off  int
		want *protocol.Error
	}{
		{"header: TEE type", 4, protocol.ErrQuoteMalformed},
		{"header: QE vendor id", 20, protocol.ErrQuoteSignature},
		{"TD report body: MRTD", 48 + 136, protocol.ErrQuoteSignature},
		{"TD report body: report data", 48 + 520, protocol.ErrQuoteSignature},
		{"signature", 636 + 10, protocol.ErrQuoteSignature},
		{"QE report", 780, protocol.ErrQuoteSignature},
		{"certificate chain: PCK leaf", pem + 900, protocol.ErrQuoteCertChain},
		{"certificate chain: intermediate", pem + 2000, protocol.ErrQuoteCertChain},
		{"certificate chain: root", len(testdata.RawQuote) - 100, protocol.ErrQuoteCertChain},
	}
	for _, c := range cases {
		q := append([]byte(nil), testdata.RawQuote...)
		q[c.off] ^= 0x01
		if _, err := Verify(q, nil, pinned); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Verify(testdata.RawQuote[:600], nil, pinned); !errors.Is(err, protocol.ErrQuoteMalformed) {
		t.Errorf("truncated: %v", err)
	}
}

func TestQuoteTimeIsTheBlockTime(t *testing.T) {
	if _, err := Verify(testdata.RawQuote, nil, time.Date(2053, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, protocol.ErrQuoteCertChain) {
		t.Fatalf("expired certificates: %v", err)
	}
	if _, err := Verify(testdata.RawQuote, collateral(), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, protocol.ErrQuoteCollateral) {
		t.Fatalf("stale collateral: %v", err)
	}
	if _, err := Verify(testdata.RawQuote, collateral()[:1], pinned); !errors.Is(err, protocol.ErrQuoteCollateral) {
		t.Fatalf("incomplete collateral: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testdata.RawQuote)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := Parse(b)
		if err != nil {
			if !errors.Is(err, protocol.ErrQuoteMalformed) {
				t.Fatalf("parse error without its code: %v", err)
			}
			return
		}
		if q.GetTdQuoteBody() == nil || len(q.GetTdQuoteBody().GetReportData()) != 64 {
			t.Fatal("parsed a quote without a report body")
		}
	})
}
