package tdx

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/rtmr"

	"github.com/phala-go/phala/internal/tee"
)

// RuntimeRTMR is the runtime measurement register pRuntime extends with
// its own digest. RTMR0..2 hold the firmware's, boot loader's and kernel's
// measurements; RTMR3 is left to the workload.
const RuntimeRTMR = 3

// RTMR is a way to read and extend RTMR3 from inside the TD.
type RTMR interface {
	// Read returns the register's value.
	Read() ([]byte, error)
	// Extend extends a SHA-384 digest into it.
	Extend(digest []byte) error
}

// MeasureRuntime brings RTMR3 to ExtendRTMR(zero, digest) and returns that
// value: it extends a fresh (all-zero) register with digest, accepts a
// register that already holds exactly that (pRuntime restarted within the
// same TD boot), and refuses anything else, since a register extended by
// something unknown would make a measurement no allowlist entry can
// describe. It tries each device in turn and uses the first that reads.
func MeasureRuntime(devices []RTMR, digest []byte) ([]byte, error) {
	if len(digest) != tee.RTMRLen {
		return nil, fmt.Errorf("tdx: runtime digest of %d bytes, want %d", len(digest), tee.RTMRLen)
	}
	zero := make([]byte, tee.RTMRLen)
	want := tee.ExtendRTMR(zero, digest)
	var errs []error
	for _, d := range devices {
		cur, err := d.Read()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case bytes.Equal(cur, want):
			return want, nil
		case !bytes.Equal(cur, zero):
			return nil, fmt.Errorf("tdx: RTMR3 holds %x, neither zero nor this pRuntime's measurement %x: something else extended it", cur, want)
		}
		if err := d.Extend(digest); err != nil {
			return nil, fmt.Errorf("tdx: extend RTMR3: %w", err)
		}
		if cur, err = d.Read(); err != nil || !bytes.Equal(cur, want) {
			return nil, fmt.Errorf("tdx: RTMR3 reads %x after extending, want %x (%v)", cur, want, err)
		}
		return want, nil
	}
	return nil, fmt.Errorf("tdx: no way to extend RTMR3 (a kernel with configfs-tsm rtmrs or TDX measurement sysfs attributes is needed): %w", errors.Join(errs...))
}

// rtmrDevices are the kernel interfaces that extend RTMR3, preferred first:
// configfs-tsm's rtmrs subsystem (github.com/google/go-configfs-tsm/rtmr)
// and the TDX guest driver's measurement attributes in sysfs.
func rtmrDevices(c configfsi.Client) []RTMR {
	return []RTMR{ConfigfsRTMR{Client: c}, sysfsRTMR("/sys/class/misc/tdx_guest/measurements/rtmr3:sha384")}
}

// ConfigfsRTMR reaches RTMR3 through configfs-tsm.
type ConfigfsRTMR struct{ Client configfsi.Client }

// Read implements RTMR.
func (r ConfigfsRTMR) Read() ([]byte, error) {
	resp, err := rtmr.GetDigest(r.Client, RuntimeRTMR)
	if err != nil {
		return nil, fmt.Errorf("configfs-tsm rtmr: %w", err)
	}
	return resp.Digest, nil
}

// Extend implements RTMR.
func (r ConfigfsRTMR) Extend(digest []byte) error {
	return rtmr.ExtendDigest(r.Client, RuntimeRTMR, digest)
}

// sysfsRTMR is the TDX guest driver's attribute for RTMR3: reading gives
// the 48-byte value, writing a 48-byte digest extends it.
type sysfsRTMR string

func (p sysfsRTMR) Read() ([]byte, error) {
	b, err := os.ReadFile(string(p))
	if err != nil {
		return nil, err
	}
	if len(b) != tee.RTMRLen {
		return nil, fmt.Errorf("%s: %d bytes, want %d", p, len(b), tee.RTMRLen)
	}
	return b, nil
}

func (p sysfsRTMR) Extend(digest []byte) error { return os.WriteFile(string(p), digest, 0) }
