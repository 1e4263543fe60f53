package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	testcases "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/protocol"
)

// pinned is a time at which the sample quote's certificates and collateral
// are valid.
var pinned = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)

func sampleCollateral() []protocol.CollateralEntry {
	var out []protocol.CollateralEntry
	for url, r := range testcases.TestGetter.Responses {
		out = append(out, protocol.CollateralEntry{URL: url, Header: r.Header, Body: r.Body})
	}
	return out
}

// TestIntelSampleQuoteComesFromThePinnedQuotingEnclave runs Intel's sample
// quote (go-tdx-guest's test data, from a real Sapphire Rapids TD): its
// signature chain verifies to Intel's root and its QE report matches the
// pinned TD QE identity, which is how we know the pin is Intel's. That TD
// was created with SEPT_VE_DISABLE clear, so it is refused for its
// attributes, the next check.
func TestIntelSampleQuoteComesFromThePinnedQuotingEnclave(t *testing.T) {
	q, err := Parse(testdata.RawQuote)
	if err != nil {
		t.Fatal(err)
	}
	id := TDQuotingEnclave()
	if err := id.checkQE(q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(testdata.RawQuote, nil, pinned); !errors.Is(err, protocol.ErrTDAttributes) {
		t.Fatalf("got %v, want %v", err, protocol.ErrTDAttributes)
	}
	if _, err := Verify(testdata.RawQuote, sampleCollateral(), pinned); !errors.Is(err, protocol.ErrTDAttributes) {
		t.Fatalf("with Intel's sample collateral: got %v, want %v", err, protocol.ErrTDAttributes)
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
	// With collateral, the PCK certificate is read first, to know which
	// documents verification requests.
	q := append([]byte(nil), testdata.RawQuote...)
	q[pem+900] ^= 0x01
	if _, err := Verify(q, sampleCollateral(), pinned); !errors.Is(err, protocol.ErrQuoteCertChain) {
		t.Errorf("tampered PCK certificate, with collateral: %v", err)
	}
}

func TestQuoteTimeIsTheBlockTime(t *testing.T) {
	if _, err := Verify(testdata.RawQuote, nil, time.Date(2053, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, protocol.ErrQuoteCertChain) {
		t.Fatalf("expired certificates: %v", err)
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

// FuzzCanonicalBody: any accepted body re-emits as an object of exactly
// the member and the signature, with the member's bytes unchanged, and
// canonicalising is idempotent.
func FuzzCanonicalBody(f *testing.F) {
	f.Add("tcbInfo", testdata.TcbInfoBody)
	f.Add("enclaveIdentity", testdata.QeIdentityBody)
	f.Add("tcbInfo", []byte(`{"tcbInfo":{"a":1},"signature":"00","TCBINFO":{"a":2}}`))
	f.Add("tcbInfo", []byte(`{"tcbInfo":{"a":1,"A":2},"signature":"00"}`))
	f.Add("enclaveIdentity", []byte(`{"enclaveIdentity":{},"\u017Fignature":"00","signature":"00"}`))
	f.Fuzz(func(t *testing.T, member string, body []byte) {
		out, err := canonicalBody(member, body)
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(out, &top); err != nil || len(top) != 2 {
			t.Fatalf("canonical body %q: %v, %d members", out, err, len(top))
		}
		var in map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil || !bytes.Equal(in[member], top[member]) {
			t.Fatalf("member changed: %q -> %q", in[member], top[member])
		}
		again, err := canonicalBody(member, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q, %v", out, again, err)
		}
	})
}

// TestFoldMatchesEncodingJSON: two keys fold together exactly when
// encoding/json would decode one into a field tagged with the other.
func TestFoldMatchesEncodingJSON(t *testing.T) {
	for _, key := range []string{"SIGNATURE", "\u017Fignature", "signatures", "Signature", "signa\u0442ure"} {
		var v struct {
			S *int `json:"signature"`
		}
		if err := json.Unmarshal([]byte(`{"`+key+`":1}`), &v); err != nil {
			t.Fatal(err)
		}
		var unquoted string
		if err := json.Unmarshal([]byte(`"`+key+`"`), &unquoted); err != nil {
			t.Fatal(err)
		}
		if matched, folded := v.S != nil, fold(unquoted) == fold("signature"); matched != folded {
			t.Errorf("%q: encoding/json matches %v, fold equal %v", unquoted, matched, folded)
		}
	}
}
