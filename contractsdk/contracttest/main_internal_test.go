//go:build !wasip1

package contracttest

import "testing"

func TestMainExitsWithStatus1WhenTheBuildFails(t *testing.T) {
	var dst *Module
	if code := runMain(nil, &dst, "no/such/contract", Options{}); code != 1 || dst != nil {
		t.Fatalf("status %d, module %v", code, dst)
	}
}
