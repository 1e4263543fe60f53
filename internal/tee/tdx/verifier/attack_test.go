package verifier_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	testcases "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

func newPKI(t *testing.T) *tdxtest.PKI {
	t.Helper()
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func quote(t *testing.T, p *tdxtest.PKI, td tdxtest.TD, qe tdxtest.QE) []byte {
	t.Helper()
	q, err := p.Quote(td, qe)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func collateralOf(t *testing.T, p *tdxtest.PKI, c tdxtest.Collateral) []protocol.CollateralEntry {
	t.Helper()
	entries, err := p.Collateral(c)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

var reportData = bytes.Repeat([]byte{0x5a}, 64)

// TestForgedPKIGenuineQuoteVerifies is the baseline of every attack below:
// a quote from Intel's TD QE (as the test PKI forges it), with current
// collateral, verifies at level collateral.
func TestForgedPKIGenuineQuoteVerifies(t *testing.T) {
	p := newPKI(t)
	td := tdxtest.NewTD("build", reportData)
	v, err := p.Verifier().Verify(quote(t, p, td, tdxtest.IntelQE()), collateralOf(t, p, tdxtest.DefaultCollateral()), tdxtest.Time())
	if err != nil {
		t.Fatal(err)
	}
	if v.Level != protocol.LevelCollateral || !bytes.Equal(v.ReportData, reportData) {
		t.Fatalf("verified %+v", v)
	}
}

// TestQuoteFromAForeignQuotingEnclaveIsRefused is review finding 1: the
// host launches its own enclave with PROVISION_KEY, Intel's PCE certifies
// its attestation key under the genuine PCK, and it signs a TD quote for any
// measurement and report data. The QE report's signature chain is perfect;
// only the QE's identity gives it away, with or without collateral.
func TestQuoteFromAForeignQuotingEnclaveIsRefused(t *testing.T) {
	p := newPKI(t)
	forged := quote(t, p, tdxtest.NewTD("any build the host likes", reportData), tdxtest.ForeignQE())
	if v, err := p.Verifier().Verify(forged, nil, tdxtest.Time()); !errors.Is(err, protocol.ErrQEIdentity) {
		t.Fatalf("without collateral: got %+v, %v; want %v", v, err, protocol.ErrQEIdentity)
	}
	coll := collateralOf(t, p, tdxtest.DefaultCollateral())
	if v, err := p.Verifier().Verify(forged, coll, tdxtest.Time()); !errors.Is(err, protocol.ErrQEIdentity) {
		t.Fatalf("with collateral: got %+v, %v; want %v", v, err, protocol.ErrQEIdentity)
	}
	// Combined with finding 2: collateral whose QE identity was rewritten to
	// name the host's enclave.
	foreign := tdxtest.ForeignQE()
	rewritten := overrideMember(t, coll[1].Body, "enclaveIdentity", func(m map[string]any) {
		m["mrsigner"] = strings.ToUpper(hex.EncodeToString(foreign.MRSigner))
	})
	if v, err := p.Verifier().Verify(forged, replaceBody(coll, tdxtest.QEIdentityURL, rewritten), tdxtest.Time()); err == nil {
		t.Fatalf("with rewritten collateral: accepted at level %s", v.Level)
	}
	// Each part of the pinned identity counts on its own.
	for name, edit := range map[string]func(*tdxtest.QE){
		"ISVPRODID":         func(q *tdxtest.QE) { q.IsvProdID = 1 },
		"MISCSELECT":        func(q *tdxtest.QE) { q.MiscSelect = 1 },
		"ATTRIBUTES: DEBUG": func(q *tdxtest.QE) { q.Attributes = append([]byte{q.Attributes[0] | 0x02}, q.Attributes[1:]...) },
	} {
		qe := tdxtest.IntelQE()
		edit(&qe)
		if _, err := p.Verifier().Verify(quote(t, p, tdxtest.NewTD("b", reportData), qe), nil, tdxtest.Time()); !errors.Is(err, protocol.ErrQEIdentity) {
			t.Errorf("%s: got %v, want %v", name, err, protocol.ErrQEIdentity)
		}
	}
}

// overrideMember appends a case-variant duplicate of member to a PCS body:
// {"tcbInfo":{…},"signature":"…","TCBINFO":{…}}. The signature is checked
// over the exact "tcbInfo" member; encoding/json, matching keys without
// regard to case with the last one winning, reads the override.
func overrideMember(t *testing.T, body []byte, member string, edit func(map[string]any)) []byte {
	t.Helper()
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatal(err)
	}
	var inner map[string]any
	if err := json.Unmarshal(outer[member], &inner); err != nil {
		t.Fatal(err)
	}
	edit(inner)
	forged, err := json.Marshal(inner)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(bytes.TrimSuffix(bytes.TrimSpace(body), []byte("}")))
	out = append(out, `,"`+strings.ToUpper(member)+`":`...)
	return append(append(out, forged...), '}')
}

func replaceBody(entries []protocol.CollateralEntry, url string, body []byte) []protocol.CollateralEntry {
	out := append([]protocol.CollateralEntry(nil), entries...)
	for i := range out {
		if out[i].URL == url {
			out[i].Body = body
		}
	}
	return out
}

// TestRewrittenCollateralIsRefused is review finding 2, on Intel's own
// sample collateral: Intel's TCB info for the sample platform has no level
// the sample quote matches, and a case-variant "TCBINFO" member appended
// after the signed one replaces the levels. Likewise "ENCLAVEIDENTITY"
// replaces the QE identity's MRSIGNER. Both are refused before anything is
// parsed, with the collateral-shape error.
func TestRewrittenCollateralIsRefused(t *testing.T) {
	pinned := time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	var sample []protocol.CollateralEntry
	for url, r := range testcases.TestGetter.Responses {
		sample = append(sample, protocol.CollateralEntry{URL: url, Header: r.Header, Body: r.Body})
	}
	tcbURL := "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000"
	qeURL := "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity"
	upToDate := func(m map[string]any) {
		zeros := make([]any, 16)
		for i := range zeros {
			zeros[i] = map[string]any{"svn": 0}
		}
		m["tcbLevels"] = []any{map[string]any{"tcb": map[string]any{"sgxtcbcomponents": zeros, "pcesvn": 0, "tdxtcbcomponents": zeros},
			"tcbDate": "2023-01-01T00:00:00Z", "tcbStatus": "UpToDate"}}
	}
	withTCB := replaceBody(sample, tcbURL, overrideMember(t, testdata.TcbInfoBody, "tcbInfo", upToDate))
	cases := map[string][]protocol.CollateralEntry{
		"TCBINFO override": withTCB,
		"ENCLAVEIDENTITY override": replaceBody(withTCB, qeURL, overrideMember(t, testdata.QeIdentityBody, "enclaveIdentity", func(m map[string]any) {
			m["tcbLevels"] = []any{map[string]any{"tcb": map[string]any{"isvsvn": 0}, "tcbDate": "2023-01-01T00:00:00Z", "tcbStatus": "UpToDate"}}
		})),
	}
	for name, coll := range cases {
		if v, err := verifier.Verify(testdata.RawQuote, coll, pinned); !errors.Is(err, protocol.ErrCollateralMalformed) {
			t.Errorf("%s: got %+v, %v; want %v", name, v, err, protocol.ErrCollateralMalformed)
		}
	}
}

// TestRewrittenCollateralCannotHideAnOutOfDateTCB: on a platform whose TCB
// Intel rates OutOfDate, the registrant appends an "UpToDate" override.
func TestRewrittenCollateralCannotHideAnOutOfDateTCB(t *testing.T) {
	p := newPKI(t)
	q := quote(t, p, tdxtest.NewTD("b", reportData), tdxtest.IntelQE())
	c := tdxtest.DefaultCollateral()
	c.TCBStatus = "OutOfDate"
	coll := collateralOf(t, p, c)
	if _, err := p.Verifier().Verify(q, coll, tdxtest.Time()); !errors.Is(err, protocol.ErrQuoteCollateral) {
		t.Fatalf("out-of-date TCB: %v", err)
	}
	body := coll[0].Body
	forged := overrideMember(t, body, "tcbInfo", func(m map[string]any) {
		for _, l := range m["tcbLevels"].([]any) {
			l.(map[string]any)["tcbStatus"] = "UpToDate"
		}
	})
	variants := map[string][]byte{
		"case-variant member": forged,
		"duplicate member":    bytes.Replace(forged, []byte(`"TCBINFO"`), []byte(`"tcbInfo"`), 1),
		"unknown member":      bytes.Replace(forged, []byte(`"TCBINFO"`), []byte(`"comment"`), 1),
		"duplicate signature": append(bytes.Clone(bytes.TrimSuffix(body, []byte("}"))), []byte(`,"signature":"00"}`)...),
		"trailing data":       append(append([]byte(nil), body...), []byte(` {}`)...),
		"not an object":       []byte(`[1]`),
	}
	for name, b := range variants {
		if v, err := p.Verifier().Verify(q, replaceBody(coll, tdxtest.TCBInfoURL, b), tdxtest.Time()); !errors.Is(err, protocol.ErrCollateralMalformed) {
			t.Errorf("%s: got %+v, %v; want %v", name, v, err, protocol.ErrCollateralMalformed)
		}
	}
}

// TestHostChosenTDAttributesAreRefused is review finding 3: the host picks
// TDATTRIBUTES at TD creation, and none of MRTD or the RTMRs changes.
func TestHostChosenTDAttributesAreRefused(t *testing.T) {
	p := newPKI(t)
	attrs := func(bits uint64) []byte { return binary.LittleEndian.AppendUint64(nil, bits) }
	cases := []struct {
		name  string
		attrs []byte
		want  *protocol.Error
	}{
		{"DEBUG", attrs(verifier.RequiredTDAttributes | 1), protocol.ErrDebugTD},
		{"MIGRATABLE (a host-bound migration TD gets the keys)", attrs(verifier.RequiredTDAttributes | 1<<29), protocol.ErrTDAttributes},
		{"SEPT_VE_DISABLE clear", attrs(0), protocol.ErrTDAttributes},
		{"reserved bit", attrs(verifier.RequiredTDAttributes | 1<<5), protocol.ErrTDAttributes},
		{"reserved high bit", attrs(verifier.RequiredTDAttributes | 1<<40), protocol.ErrTDAttributes},
	}
	for _, c := range cases {
		td := tdxtest.NewTD("b", reportData)
		td.TDAttributes = c.attrs
		if v, err := p.Verifier().Verify(quote(t, p, td, tdxtest.IntelQE()), nil, tdxtest.Time()); !errors.Is(err, c.want) {
			t.Errorf("%s: got %+v, %v; want %v", c.name, v, err, c.want)
		}
	}
}

// TestHostChosenTDConfigurationChangesTheMeasurement: the fields the host
// chooses at TD creation and that a build may legitimately vary (PKS and
// PERFMON, XFAM, MRCONFIGID, MROWNER, MROWNERCONFIG) are part of the
// measurement, so the allowlist pins them.
func TestHostChosenTDConfigurationChangesTheMeasurement(t *testing.T) {
	p := newPKI(t)
	base := tdxtest.NewTD("b", reportData)
	measure := func(td tdxtest.TD) []byte {
		v, err := p.Verifier().Verify(quote(t, p, td, tdxtest.IntelQE()), nil, tdxtest.Time())
		if err != nil {
			t.Fatal(err)
		}
		return v.Measurement
	}
	want := measure(base)
	one := func(b []byte) []byte { c := bytes.Clone(b); c[0] ^= 1; return c }
	for name, edit := range map[string]func(*tdxtest.TD){
		"PERFMON": func(td *tdxtest.TD) {
			td.TDAttributes = binary.LittleEndian.AppendUint64(nil, verifier.RequiredTDAttributes|1<<63)
		},
		"PKS": func(td *tdxtest.TD) {
			td.TDAttributes = binary.LittleEndian.AppendUint64(nil, verifier.RequiredTDAttributes|1<<30)
		},
		"XFAM":          func(td *tdxtest.TD) { td.XFAM = one(td.XFAM) },
		"MRCONFIGID":    func(td *tdxtest.TD) { td.MRConfigID = one(td.MRConfigID) },
		"MROWNER":       func(td *tdxtest.TD) { td.MROwner = one(td.MROwner) },
		"MROWNERCONFIG": func(td *tdxtest.TD) { td.MROwnerConfig = one(td.MROwnerConfig) },
		"RTMR3":         func(td *tdxtest.TD) { td.RTMRs[3] = one(td.RTMRs[3]) },
	} {
		td := base
		edit(&td)
		if bytes.Equal(measure(td), want) {
			t.Errorf("%s is not part of the measurement", name)
		}
	}
}
