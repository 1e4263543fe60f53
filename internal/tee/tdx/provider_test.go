package tdx

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/fakertmr"
	"github.com/google/go-configfs-tsm/configfs/faketsm"

	"github.com/phala-go/phala/internal/tee"
)

func TestProviderQuotesThroughConfigfs(t *testing.T) {
	p := NewWithClient(faketsm.ReportV7(0), "fake")
	rd := bytes.Repeat([]byte{7}, 64)
	q, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(q, []byte("0707070707")) {
		t.Fatalf("quote does not carry the report data: %q", q)
	}
	if _, err := NewWithClient(faketsm.ReportV7(0), "tdx_guest").Quote(rd); err == nil {
		t.Fatal("accepted a report from another configfs-tsm provider")
	}
	if _, err := p.Quote(rd[:10]); err == nil {
		t.Fatal("accepted short report data")
	}
}

// TestRuntimeIsMeasuredIntoRTMR3 is review finding 5: pRuntime extends
// RTMR3 with its own digest before it quotes, once per TD boot; a restart
// in the same boot finds the register already right; a register something
// else extended is refused rather than quoted.
func TestRuntimeIsMeasuredIntoRTMR3(t *testing.T) {
	digest := bytes.Repeat([]byte{0xd1}, 48)
	want := tee.ExtendRTMR(make([]byte, 48), digest)
	dev := ConfigfsRTMR{Client: fakertmr.CreateRtmrSubsystem(t.TempDir())}
	got, err := MeasureRuntime([]RTMR{dev}, digest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("first start: %x, %v", got, err)
	}
	if v, _ := dev.Read(); !bytes.Equal(v, want) {
		t.Fatalf("RTMR3 holds %x, want %x", v, want)
	}
	if got, err := MeasureRuntime([]RTMR{dev}, digest); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restart in the same boot: %x, %v", got, err)
	}
	if _, err := MeasureRuntime([]RTMR{dev}, bytes.Repeat([]byte{0xd2}, 48)); err == nil || !strings.Contains(err.Error(), "something else extended it") {
		t.Fatalf("another binary after this one: %v", err)
	}
	if _, err := MeasureRuntime([]RTMR{sysfsRTMR(t.TempDir() + "/missing")}, digest); err == nil {
		t.Fatal("measured without any RTMR device")
	}
}
