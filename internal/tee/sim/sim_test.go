package sim

import (
	"bytes"
	"testing"

	"github.com/phala-go/phala/internal/tee"
	"github.com/phala-go/phala/protocol"
)

func TestSimQuoteNamesABuildAndTheVerifierDerivesItsMeasurement(t *testing.T) {
	p, err := OpenBuild(t.TempDir(), "pruntime-sim-b")
	if err != nil {
		t.Fatal(err)
	}
	rd := bytes.Repeat([]byte{1}, 64)
	raw, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Measurement(), protocol.SimMeasurement("pruntime-sim-b")) || !bytes.Equal(q.ReportData, rd) {
		t.Fatalf("quote %+v", q)
	}
	if !bytes.Equal(q.RTMR3, tee.ExtendRTMR(make([]byte, 48), RuntimeDigest("pruntime-sim-b"))) {
		t.Fatal("RTMR3 is not the build's runtime extended once")
	}
}

// TestSimQuoteCannotClaimAnotherMeasurement: whatever a sim quote says, the
// measurement it proves is a hash under the sim context of a build name,
// so it cannot be a TDX measurement; editing the build or RTMR3 breaks the
// signature or the RTMR3 check.
func TestSimQuoteCannotClaimAnotherMeasurement(t *testing.T) {
	p, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := p.Quote(make([]byte, 64))
	var q Quote
	if err := protocol.Unmarshal(raw, &q); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(q *Quote){
		"build":       func(q *Quote) { q.Build = "other" },
		"rtmr3":       func(q *Quote) { q.RTMR3 = make([]byte, 48) },
		"report data": func(q *Quote) { q.ReportData = bytes.Repeat([]byte{9}, 64) },
		"empty build": func(q *Quote) { q.Build = "" },
	} {
		e := q
		edit(&e)
		if _, err := Verify(protocol.MustMarshal(&e)); err == nil {
			t.Errorf("%s edited: accepted", name)
		}
	}
}

func FuzzVerify(f *testing.F) {
	p, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := p.Quote(make([]byte, 64))
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := Verify(b)
		if err != nil {
			return
		}
		if len(q.ReportData) != 64 || len(q.Measurement()) != 32 {
			t.Fatalf("verified %+v", q)
		}
	})
}
