package verifier_test

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/protocol"
)

// TestCollateralShapeIsCheckedBeforeParsing is review finding 7 and the
// last part of finding 2: a registration may carry only the four
// documents verification requests, each once, with the one header it
// needs, within MaxCollateralBytes; anything else is refused with
// ErrCollateralMalformed before a certificate or JSON body is parsed.
func TestCollateralShapeIsCheckedBeforeParsing(t *testing.T) {
	p := newPKI(t)
	q := quote(t, p, tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	genuine := collateralOf(t, p, tdxtest.DefaultCollateral())
	edit := func(f func(c []protocol.CollateralEntry) []protocol.CollateralEntry) []protocol.CollateralEntry {
		c := make([]protocol.CollateralEntry, len(genuine))
		for i, e := range genuine {
			c[i] = protocol.CollateralEntry{URL: e.URL, Header: maps.Clone(e.Header), Body: bytes.Clone(e.Body)}
		}
		return f(c)
	}
	cases := map[string][]protocol.CollateralEntry{
		"a fifth entry": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			return append(c, protocol.CollateralEntry{URL: "https://example.test/x"})
		}),
		"1.9 MB in one body": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[3].Body = make([]byte, 1_900_000)
			return c
		}),
		"64 KiB spread over headers": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			for i := range c {
				c[i].Header = map[string][]string{"X": {strings.Repeat("a", 17<<10)}}
			}
			return c
		}),
		"unrequested URL": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[3].URL = "https://attacker.example/root.crl"
			return c
		}),
		"TCB info of another FMSPC": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[0].URL = strings.Replace(c[0].URL, "50806f000000", "00606a000000", 1)
			return c
		}),
		"same URL twice": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[3] = c[2]
			return c
		}),
		"extra header": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[0].Header["Tcb-Info-Issuer-Chain-2"] = []string{"x"}
			return c
		}),
		"issuer chain twice": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			h := c[1].Header["Sgx-Enclave-Identity-Issuer-Chain"]
			c[1].Header["Sgx-Enclave-Identity-Issuer-Chain"] = append(h, h[0])
			return c
		}),
		"header on the root CRL": edit(func(c []protocol.CollateralEntry) []protocol.CollateralEntry {
			c[3].Header = map[string][]string{"Content-Type": {"application/pkix-crl"}}
			return c
		}),
	}
	for name, c := range cases {
		if v, err := p.Verifier().Verify(q, c, tdxtest.Time()); !errors.Is(err, protocol.ErrCollateralMalformed) {
			t.Errorf("%s: got %+v, %v; want %v", name, v, err, protocol.ErrCollateralMalformed)
		}
	}
}

// TestCollateralIsCheckedAgainstTheQuote: genuine-looking collateral that
// is stale, incomplete, rates the TCB out of date, or whose PCK CRL expired,
// is refused with ErrQuoteCollateral (review finding 8: an expired PCK CRL
// was reported as a certificate-chain error); a PCK the CRL revokes is a
// certificate-chain error.
func TestCollateralIsCheckedAgainstTheQuote(t *testing.T) {
	p := newPKI(t)
	q := quote(t, p, tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	now := tdxtest.Time()
	with := func(f func(c *tdxtest.Collateral)) []protocol.CollateralEntry {
		c := tdxtest.DefaultCollateral()
		f(&c)
		return collateralOf(t, p, c)
	}
	cases := []struct {
		name string
		coll []protocol.CollateralEntry
		want *protocol.Error
	}{
		{"stale", with(func(c *tdxtest.Collateral) { c.NextUpdate = now.AddDate(0, 0, -1) }), protocol.ErrQuoteCollateral},
		{"expired PCK CRL", with(func(c *tdxtest.Collateral) { c.PCKCRLNextUpdate = now.Add(-1) }), protocol.ErrQuoteCollateral},
		{"TCB out of date", with(func(c *tdxtest.Collateral) { c.TCBStatus = "OutOfDate" }), protocol.ErrQuoteCollateral},
		{"TCB revoked", with(func(c *tdxtest.Collateral) { c.TCBStatus = "Revoked" }), protocol.ErrQuoteCollateral},
		{"incomplete", with(func(*tdxtest.Collateral) {})[:3], protocol.ErrQuoteCollateral},
		{"TCB info signature", func() []protocol.CollateralEntry {
			c := with(func(*tdxtest.Collateral) {})
			c[0].Body = bytes.Replace(c[0].Body, []byte(`"tcbEvaluationDataNumber":17`), []byte(`"tcbEvaluationDataNumber":99`), 1)
			return c
		}(), protocol.ErrQuoteCollateral},
	}
	for _, c := range cases {
		if v, err := p.Verifier().Verify(q, c.coll, now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %+v, %v; want %v", c.name, v, err, c.want)
		}
	}
	p.RevokedPCK = true
	if _, err := p.Verifier().Verify(q, collateralOf(t, p, tdxtest.DefaultCollateral()), now); !errors.Is(err, protocol.ErrQuoteCertChain) {
		t.Errorf("revoked PCK: got %v, want %v", err, protocol.ErrQuoteCertChain)
	}
}

// TestVerifiedCarriesTheTCBEvaluationDataNumber: the lower of the TCB
// info's and the QE identity's, so that the policy can set a minimum.
func TestVerifiedCarriesTheTCBEvaluationDataNumber(t *testing.T) {
	p := newPKI(t)
	q := quote(t, p, tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	c := tdxtest.DefaultCollateral()
	c.TCBEvaluationDataNumber = 19
	v, err := p.Verifier().Verify(q, collateralOf(t, p, c), tdxtest.Time())
	if err != nil || v.TCBEvaluationDataNumber != 19 {
		t.Fatalf("got %+v, %v", v, err)
	}
	v, err = p.Verifier().Verify(q, nil, tdxtest.Time())
	if err != nil || v.TCBEvaluationDataNumber != 0 || v.Level != protocol.LevelQuote {
		t.Fatalf("without collateral: %+v, %v", v, err)
	}
}

// getter serves recorded entries the way Intel's PCS would, with the extra
// response headers a real HTTP response has.
type getter []protocol.CollateralEntry

func (g getter) Get(u string) (map[string][]string, []byte, error) {
	for _, e := range g {
		if e.URL == u {
			h := maps.Clone(e.Header)
			if h == nil {
				h = map[string][]string{}
			}
			h["Date"] = []string{"Sat, 01 Jun 2030 00:00:00 GMT"}
			return h, e.Body, nil
		}
	}
	return nil, nil, errors.New("404")
}

// TestFetchCollateralRecordsCanonicalEntries: pherry's fetch keeps only
// what verification reads (no Date header), and its verdict is Verify's.
func TestFetchCollateralRecordsCanonicalEntries(t *testing.T) {
	p := newPKI(t)
	q := quote(t, p, tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	entries, err := p.Verifier().FetchCollateral(q, getter(collateralOf(t, p, tdxtest.DefaultCollateral())), tdxtest.Time())
	if err != nil || len(entries) != 4 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if _, ok := e.Header["Date"]; ok {
			t.Fatalf("%s: recorded the Date header", e.URL)
		}
	}
	if v, err := p.Verifier().Verify(q, entries, tdxtest.Time()); err != nil || v.Level != protocol.LevelCollateral {
		t.Fatalf("replay: %+v, %v", v, err)
	}
	if _, err := p.Verifier().FetchCollateral(q, getter(nil), tdxtest.Time()); !errors.Is(err, protocol.ErrQuoteCollateral) {
		t.Fatalf("PCS unreachable: %v", err)
	}
}

// FuzzVerifyCollateral mutates genuine collateral by structure (an entry's
// URL, header or body replaced, an entry dropped or duplicated) and checks
// that verification never panics, refuses with a registry error, and, when
// it accepts, still reports the genuine quote's measurement.
func FuzzVerifyCollateral(f *testing.F) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		f.Fatal(err)
	}
	q, err := p.Quote(tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := p.Collateral(tdxtest.DefaultCollateral())
	if err != nil {
		f.Fatal(err)
	}
	want, err := p.Verifier().Verify(q, genuine, tdxtest.Time())
	if err != nil {
		f.Fatal(err)
	}
	for i := range genuine {
		f.Add(uint8(i), uint8(0), genuine[i].Body)
		f.Add(uint8(i), uint8(1), []byte(genuine[(i+1)%4].URL))
		f.Add(uint8(i), uint8(2), []byte("Tcb-Info-Issuer-Chain"))
	}
	f.Add(uint8(0), uint8(0), append(bytes.Clone(genuine[0].Body[:len(genuine[0].Body)-1]), `,"TCBINFO":{}}`...))
	f.Add(uint8(1), uint8(3), []byte(nil))
	f.Add(uint8(2), uint8(4), []byte(nil))
	f.Fuzz(func(t *testing.T, idx, field uint8, data []byte) {
		c := make([]protocol.CollateralEntry, len(genuine))
		copy(c, genuine)
		i := int(idx) % len(c)
		switch field % 5 {
		case 0:
			c[i].Body = data
		case 1:
			c[i].URL = string(data)
		case 2:
			c[i].Header = map[string][]string{string(data): {string(data)}}
		case 3:
			c = append(c[:i], c[i+1:]...)
		case 4:
			c = append(c, c[i])
		}
		v, err := p.Verifier().Verify(q, c, tdxtest.Time())
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Space != protocol.SpaceRegistry {
				t.Fatalf("refusal without a registry code: %v", err)
			}
			return
		}
		if !bytes.Equal(v.Measurement, want.Measurement) {
			t.Fatalf("accepted with measurement %x, the quote's is %x", v.Measurement, want.Measurement)
		}
	})
}
