package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// tdxChain is a chain whose registry verifies TDX quotes against a test
// PKI, at the PKI's time. prod is a chain that does not allow sim (so a
// production chain, for the registry); otherwise a dev chain.
type tdxChain struct {
	*testApp
	pki   *tdxtest.PKI
	admin *txBuilder
	user  *txBuilder // the registrant
	gov   uint64     // next governance nonce
}

func newTDXChain(t *testing.T, prod bool) *tdxChain {
	t.Helper()
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	g := testGenesis()
	g.Params.AllowSimAttestation = !prod
	ta := newTestAppConfig(t, g, Config{TDXVerifier: p.Verifier()})
	ta.now = tdxtest.Time()
	ta.finalize()
	return &tdxChain{testApp: ta, pki: p, admin: newTxBuilder(key("registrar")), user: newTxBuilder(alice)}
}

// governAs executes a governance action, failing the test if it is refused.
func (c *tdxChain) governAs(kind string, args any) {
	c.t.Helper()
	r := c.finalize(c.admin.govTx(c.gov, kind, args, admin1, admin2)).TxResults[0]
	if r.Code != 0 {
		c.t.Fatalf("%s: %s", kind, r.Log)
	}
	c.gov++
}

// attestation is what a TD (quoting through qe) answers for worker and
// encKey at the last block, with collateral c if not nil.
func (c *tdxChain) attestation(td func(reportData []byte) tdxtest.TD, qe tdxtest.QE, coll *tdxtest.Collateral) protocol.Attestation {
	c.t.Helper()
	h := c.app.LastHeight()
	a := protocol.Attestation{TEE: tdx.Kind, ChainID: testChain, GenesisHash: testGenesisHash, WorkerPubkey: pub(worker),
		EncryptionPubkey: []byte("k"), RuntimeVersion: 1, Height: h, BlockHash: blockHash(h)}
	var err error
	if a.Quote, err = c.pki.Quote(td(a.ReportData()), qe); err != nil {
		c.t.Fatal(err)
	}
	if coll != nil {
		if a.Collateral, err = c.pki.Collateral(*coll); err != nil {
			c.t.Fatal(err)
		}
	}
	return a
}

func genuineTD(rd []byte) tdxtest.TD { return tdxtest.NewTD("pruntime v1", rd) }

// allowGenuine allowlists the measurement of genuineTD.
func (c *tdxChain) allowGenuine() []byte {
	c.t.Helper()
	q, err := c.pki.Quote(genuineTD(make([]byte, 64)), tdxtest.IntelQE())
	if err != nil {
		c.t.Fatal(err)
	}
	v, err := c.pki.Verifier().Verify(q, nil, tdxtest.Time())
	if err != nil {
		c.t.Fatal(err)
	}
	c.governAs(protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: v.Measurement, Note: "pruntime v1"})
	return v.Measurement
}

// submit registers a, expects want in CheckTx and FinalizeBlock (nil:
// success), and that a refusal changed nothing but the fee payer's account.
func (c *tdxChain) submit(t *testing.T, a protocol.Attestation, want *protocol.Error) {
	t.Helper()
	raw := c.user.register(a)
	ck := c.checkTx(raw)
	if want == nil {
		if r := c.finalize(raw).TxResults[0]; ck.Code != 0 || r.Code != 0 {
			t.Fatalf("registration refused: %s %s", ck.Log, r.Log)
		}
		return
	}
	wantCode(t, "CheckTx", ck.Codespace, ck.Code, ck.Log, want)
	before := c.stateDump()
	r := c.finalize(raw).TxResults[0]
	wantCode(t, "FinalizeBlock", r.Codespace, r.Code, r.Log, want)
	if changed := changedKeys(before, c.stateDump()); len(changed) != 1 {
		t.Fatalf("refused registration changed %q", changed)
	}
}

// TestForeignQuotingEnclaveCannotRegister is review finding 1 through the
// chain: the host's own enclave, its key certified by Intel's PCE under the
// genuine PCK, signs a TD quote claiming the allowlisted build and report
// data binding keys the host holds. On a production chain it is refused
// with or without collateral; on a dev chain that waives collateral it is
// refused too.
func TestForeignQuotingEnclaveCannotRegister(t *testing.T) {
	coll := tdxtest.DefaultCollateral()
	t.Run("production chain, with collateral", func(t *testing.T) {
		c := newTDXChain(t, true)
		c.allowGenuine()
		c.submit(t, c.attestation(genuineTD, tdxtest.ForeignQE(), &coll), protocol.ErrQEIdentity)
	})
	t.Run("production chain, without collateral", func(t *testing.T) {
		c := newTDXChain(t, true)
		c.allowGenuine()
		c.submit(t, c.attestation(genuineTD, tdxtest.ForeignQE(), nil), protocol.ErrCollateralRequired)
	})
	t.Run("dev chain that waives collateral", func(t *testing.T) {
		c := newTDXChain(t, false)
		c.allowGenuine()
		p := protocol.DefaultAttestationPolicy()
		p.RequireCollateral = false
		c.governAs(protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: p})
		c.submit(t, c.attestation(genuineTD, tdxtest.ForeignQE(), nil), protocol.ErrQEIdentity)
	})
}

// TestProductionChainRequiresCollateralWhateverThePolicySays: a chain that
// does not allow sim admits TDX workers only at level collateral, even if
// governance set require_collateral to false.
func TestProductionChainRequiresCollateralWhateverThePolicySays(t *testing.T) {
	c := newTDXChain(t, true)
	c.allowGenuine()
	p := protocol.DefaultAttestationPolicy()
	p.RequireCollateral = false
	c.governAs(protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: p})
	c.submit(t, c.attestation(genuineTD, tdxtest.IntelQE(), nil), protocol.ErrCollateralRequired)
	coll := tdxtest.DefaultCollateral()
	c.submit(t, c.attestation(genuineTD, tdxtest.IntelQE(), &coll), nil)
	if rec := c.worker(pub(worker)); rec.AttestationLevel != protocol.LevelCollateral || rec.Status != protocol.StatusActive {
		t.Fatalf("registered %s at level %s", rec.Status, rec.AttestationLevel)
	}
}

// TestTDXRegistrationRefusals runs each TDX refusal through the chain with
// a quote the test PKI makes, each with its own code and no state change.
func TestTDXRegistrationRefusals(t *testing.T) {
	good := tdxtest.DefaultCollateral()
	withAttrs := func(bits uint64) func([]byte) tdxtest.TD {
		return func(rd []byte) tdxtest.TD {
			td := genuineTD(rd)
			td.TDAttributes = binary.LittleEndian.AppendUint64(nil, bits)
			return td
		}
	}
	cases := []struct {
		name   string
		setup  func(c *tdxChain)
		attest func(c *tdxChain) protocol.Attestation
		want   *protocol.Error
	}{
		{name: "measurement not allowed", setup: func(*tdxChain) {}, want: protocol.ErrMeasurementNotAllowed},
		{name: "revoked measurement", setup: func(c *tdxChain) {
			m := c.allowGenuine()
			c.governAs(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: m})
		}, want: protocol.ErrMeasurementRevoked},
		{name: "report data binding other keys", attest: func(c *tdxChain) protocol.Attestation {
			a := c.attestation(genuineTD, tdxtest.IntelQE(), &good)
			a.EncryptionPubkey = []byte("attacker key")
			return a
		}, want: protocol.ErrReportData},
		{name: "debug TD", attest: func(c *tdxChain) protocol.Attestation {
			return c.attestation(withAttrs(verifier.RequiredTDAttributes|1), tdxtest.IntelQE(), &good)
		}, want: protocol.ErrDebugTD},
		{name: "migratable TD", attest: func(c *tdxChain) protocol.Attestation {
			return c.attestation(withAttrs(verifier.RequiredTDAttributes|1<<29), tdxtest.IntelQE(), &good)
		}, want: protocol.ErrTDAttributes},
		{name: "TCB evaluation older than the policy minimum", setup: func(c *tdxChain) {
			c.allowGenuine()
			p := protocol.DefaultAttestationPolicy()
			p.MinTCBEvaluationDataNumber = uint32(good.TCBEvaluationDataNumber) + 1
			c.governAs(protocol.ActionSetAttestationPolicy, protocol.SetAttestationPolicyArgs{Policy: p})
		}, want: protocol.ErrTCBEvaluationTooOld},
		{name: "expired PCK CRL", attest: func(c *tdxChain) protocol.Attestation {
			stale := good
			stale.PCKCRLNextUpdate = tdxtest.Time().AddDate(0, 0, -1)
			return c.attestation(genuineTD, tdxtest.IntelQE(), &stale)
		}, want: protocol.ErrQuoteCollateral},
		{name: "unrequested collateral", attest: func(c *tdxChain) protocol.Attestation {
			a := c.attestation(genuineTD, tdxtest.IntelQE(), &good)
			a.Collateral[3].URL = "https://attacker.example/crl"
			return a
		}, want: protocol.ErrCollateralMalformed},
		{name: "tampered quote", attest: func(c *tdxChain) protocol.Attestation {
			a := c.attestation(genuineTD, tdxtest.IntelQE(), &good)
			a.Quote[48+136] ^= 1
			return a
		}, want: protocol.ErrQuoteSignature},
		{name: "malformed quote", attest: func(c *tdxChain) protocol.Attestation {
			a := c.attestation(genuineTD, tdxtest.IntelQE(), &good)
			a.Quote = a.Quote[:700]
			return a
		}, want: protocol.ErrQuoteMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTDXChain(t, true)
			if tc.setup != nil {
				tc.setup(c)
			} else {
				c.allowGenuine()
			}
			a := c.attestation(genuineTD, tdxtest.IntelQE(), &good)
			if tc.attest != nil {
				a = tc.attest(c)
			}
			c.submit(t, a, tc.want)
		})
	}
}

// legacySimQuote is a sim quote in the format that claimed a measurement,
// signed with the sim development key, which anyone can compute.
func legacySimQuote(measurement, reportData []byte) []byte {
	seed := sha256.Sum256([]byte("phala sim attestation key: INSECURE, for development only"))
	body := protocol.MustMarshal(&struct {
		Kind        string `cbor:"kind"`
		Measurement []byte `cbor:"measurement"`
		ReportData  []byte `cbor:"report_data"`
	}{sim.Kind, measurement, reportData})
	return protocol.MustMarshal(&struct {
		Kind        string `cbor:"kind"`
		Measurement []byte `cbor:"measurement"`
		ReportData  []byte `cbor:"report_data"`
		Sig         []byte `cbor:"sig"`
	}{sim.Kind, measurement, reportData, protocol.Sign(ed25519.NewKeyFromSeed(seed[:]), protocol.SigSimQuote, body)})
}

// TestSimWorkerCannotClaimATDXMeasurement is review finding 4 (reproduced
// by the review): on a chain that allows sim, governance allows a TDX
// build and revokes the sim one; Bob signs a sim quote with the public
// development key claiming the TDX measurement. A sim quote names a build
// and the registry derives its measurement under the sim context, so
// neither the old claim format nor any build name reaches the TDX entry.
func TestSimWorkerCannotClaimATDXMeasurement(t *testing.T) {
	c := newTDXChain(t, false)
	m := c.allowGenuine()
	c.governAs(protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: sim.DefaultMeasurement})
	h := c.app.LastHeight()
	a := protocol.Attestation{TEE: sim.Kind, ChainID: testChain, GenesisHash: testGenesisHash, WorkerPubkey: pub(worker),
		EncryptionPubkey: []byte("k"), RuntimeVersion: 1, Height: h, BlockHash: blockHash(h)}
	a.Quote = legacySimQuote(m, a.ReportData())
	c.submit(t, a, protocol.ErrBadQuote)
	c.submit(t, simAttestation(t, worker, []byte("k"), c.app.LastHeight(), "pruntime v1"), protocol.ErrMeasurementNotAllowed)
	withColl := simAttestation(t, worker, []byte("k"), c.app.LastHeight(), sim.DefaultBuild)
	withColl.Collateral = []protocol.CollateralEntry{{URL: tdxtest.TCBInfoURL, Body: []byte("{}")}}
	c.submit(t, withColl, protocol.ErrCollateralMalformed)
	if bytes.Equal(protocol.SimMeasurement("pruntime v1"), m) {
		t.Fatal("a sim build hashes to the TDX measurement")
	}
}
