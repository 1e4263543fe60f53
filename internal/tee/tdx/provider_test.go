package tdx

import (
	"bytes"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/faketsm"
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
