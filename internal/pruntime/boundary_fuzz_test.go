package pruntime_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// FuzzInitStructure mutates the decoded fields of a real genesis document
// (validators' keys, powers, addresses, their number and order, chain id,
// initial height, time, consensus parameters, app state), re-encodes it and
// posts it to the private API of a pRuntime bound to the original genesis.
// Every answer is a refusal with a runtime code, or a success for the
// genesis it is bound to; the binding never changes.
//
// Longer runs: go test ./internal/pruntime -run '^$' -fuzz FuzzInitStructure -fuzztime 10m
func FuzzInitStructure(f *testing.F) {
	b := newSyncFuzzBase(f)
	doc, err := protocol.ParseGenesisDoc(b.c.GenesisJSON())
	if err != nil {
		f.Fatal(err)
	}
	bound := b.rt.Info().GenesisHash
	for op := range uint8(initMutations) {
		f.Add(op, uint16(1), int64(-1), []byte{})
	}
	f.Add(uint8(1), uint16(0), int64(types.MaxTotalVotingPower), []byte{})
	f.Add(uint8(12), uint16(0), int64(0), b.c.GenesisJSON())
	f.Fuzz(func(t *testing.T, op uint8, idx uint16, val int64, data []byte) {
		body := mutateGenesis(t, doc, b.foreign, op%initMutations, int(idx), val, data)
		status, eb, out := post(t, b.handler, "/v1/init", body)
		if status == http.StatusOK {
			var info protocol.Info
			if err := json.Unmarshal(out, &info); err != nil || !bytes.Equal(info.GenesisHash, bound) {
				t.Fatalf("init accepted another genesis: %v", err)
			}
		} else {
			checkRefusal(t, status, eb)
			if eb.Error.Space != protocol.SpaceRuntime {
				t.Fatalf("init refusal outside the runtime space: %+v", eb.Error)
			}
		}
		if !b.state(t).equal(b.before) || !bytes.Equal(b.rt.Info().GenesisHash, bound) {
			t.Fatal("init changed state")
		}
	})
}

const initMutations = 15

func mutateGenesis(t *testing.T, base *types.GenesisDoc, foreign *testchain.Chain, op uint8, idx int, val int64, data []byte) []byte {
	d := *base
	d.Validators = slices.Clone(base.Validators)
	params := *base.ConsensusParams
	d.ConsensusParams = &params
	i := idx % len(d.Validators)
	switch op {
	case 0:
		d.Validators[i].PubKey = nil
	case 1:
		d.Validators[i].Power = val
	case 2:
		d.Validators = append(d.Validators, d.Validators[i])
	case 3:
		d.Validators = d.Validators[:i]
	case 4:
		d.Validators[0], d.Validators[i] = d.Validators[i], d.Validators[0]
	case 5:
		d.Validators[i].PubKey = cmted25519.PubKey(data)
		d.Validators[i].Address = nil
	case 6:
		d.Validators[i].Address = data
	case 7:
		d.ChainID = string(data)
	case 8:
		d.InitialHeight = val
	case 9:
		d.GenesisTime = time.Unix(val, 0).UTC()
	case 10:
		params.Block.MaxBytes = val
		params.Validator.PubKeyTypes = []string{string(data)}
	case 11:
		if !json.Valid(data) {
			t.Skip("app state must be JSON to encode")
		}
		d.AppState = data
	case 12:
		return data
	case 13:
		other, err := protocol.ParseGenesisDoc(foreign.GenesisJSON())
		if err != nil {
			t.Fatal(err)
		}
		d.Validators = other.Validators
	case 14:
		for range 1 + val&0x3fff {
			d.Validators = append(d.Validators, d.Validators[i])
		}
	}
	out, err := cmtjson.Marshal(&d)
	if err != nil {
		t.Skip("not encodable")
	}
	return out
}

// FuzzEgressAfter posts arbitrary after= parameters to GET /v1/egress: an
// answer or runtime/4, never a panic or a change.
//
// Longer runs: go test ./internal/pruntime -run '^$' -fuzz FuzzEgressAfter -fuzztime 10m
func FuzzEgressAfter(f *testing.F) {
	b := newSyncFuzzBase(f)
	for _, s := range []string{"", "0", "1", "-1", "18446744073709551615", "9223372036854775807", "x", "1e3", " 1", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, after string) {
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/egress?after="+url.QueryEscape(after), nil))
		if rec.Code != http.StatusOK {
			var eb struct {
				Error protocol.APIError `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Space != protocol.SpaceRuntime || eb.Error.Code != protocol.ErrBadRequest.Code {
				t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
			}
		}
		if !b.state(t).equal(b.before) {
			t.Fatal("egress changed state")
		}
	})
}

// FuzzStateApplyStructure builds a well-formed state transfer addressed to
// the runtime (its key, sealed so that it opens, signed by a server key),
// mutates its fields (nil, empty, extreme, another chain, cluster, server,
// requester or key, not re-signed or re-signed) and posts it to
// /v1/state/apply. Each is refused with a runtime code and changes
// nothing. (This runtime asked for no state, so no transfer reaches the
// contract runner; its decoder has its own fuzz target in runner.)
//
// Longer runs: go test ./internal/pruntime -run '^$' -fuzz FuzzStateApplyStructure -fuzztime 10m
func FuzzStateApplyStructure(f *testing.F) {
	b := newSyncFuzzBase(f)
	info := b.rt.Info()
	server := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	for op := range uint8(12) {
		f.Add(op, true, int64(-1), []byte{})
	}
	f.Add(uint8(6), false, int64(3), []byte("state"))
	f.Fuzz(func(t *testing.T, op uint8, resign bool, val int64, data []byte) {
		tr := protocol.StateTransfer{
			ChainID: b.c.ID, Cluster: bytes.Repeat([]byte{1}, 32), Server: server.Public().(ed25519.PublicKey),
			Requester: info.WorkerPubkey, Key: info.EncryptionPubkey, Nonce: bytes.Repeat([]byte{2}, 16),
			Height: syncFuzzApplied - 1, Header: b.parts[syncFuzzApplied-1].Commit.BlockID.Hash,
		}
		switch op % 12 {
		case 0:
			tr.ChainID = string(data)
		case 1:
			tr.Cluster = data
		case 2:
			tr.Server = data
		case 3:
			tr.Requester = data
		case 4:
			tr.Key = data
		case 5:
			tr.Nonce = data
		case 6:
			tr.Height = val
		case 7:
			tr.Header = data
		case 8:
			tr.Sealed = data
		case 9:
			tr.Server = info.WorkerPubkey
		case 10:
			tr.Sealed = bytes.Repeat(data, 1+int(val&0xfff))
		}
		if tr.Sealed == nil {
			sealed, err := protocol.HPKESeal(info.EncryptionPubkey, protocol.StateInfo(tr.ChainID, tr.Cluster, tr.Requester, tr.Height), nil, data)
			if err != nil {
				t.Fatal(err)
			}
			tr.Sealed = sealed
		}
		st := protocol.SignedStateTransfer{Transfer: tr, Sig: protocol.Sign(server, protocol.SigSnapshot, protocol.MustMarshal(&tr))}
		if !resign {
			st.Transfer.Height++ // signed over other content
		}
		if op%12 == 11 {
			st.Sig = data
		}
		status, eb, _ := post(t, b.handler, "/v1/state/apply", protocol.MustMarshal(&st))
		if status == http.StatusOK {
			t.Fatal("applied a state transfer this runtime never asked for")
		}
		checkRefusal(t, status, eb)
		if eb.Error.Space != protocol.SpaceRuntime {
			t.Fatalf("refusal outside the runtime space: %+v", eb.Error)
		}
		if !b.state(t).equal(b.before) {
			t.Fatal("a refused state transfer changed state")
		}
	})
}
