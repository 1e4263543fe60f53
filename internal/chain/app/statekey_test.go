package app

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/chain/accounts"
	"github.com/phala-go/phala/internal/chain/contracts"
	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/mq"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/protocol"
)

// TestProvenPathsNameTheKeysModulesWrite pins the protocol's state key of
// every proven path to the key its module stores the record at: clients
// check proofs against protocol.StateKey, so a module that moved a record
// would otherwise serve proofs of absence for everything.
func TestProvenPathsNameTheKeysModulesWrite(t *testing.T) {
	id := bytes.Repeat([]byte{0xab}, 32)
	idHex := hex.EncodeToString(id)
	a := addr(alice)
	o := protocol.WorkerOrigin(id)
	cases := []struct {
		path string
		want []byte
	}{
		{protocol.QueryAccount + a.String(), accounts.StateKey(a)},
		{protocol.QueryNextSeq + o.String(), mq.NextSeqStateKey(o)},
		{protocol.QueryNextSeq + protocol.GatekeeperOrigin().String(), mq.NextSeqStateKey(protocol.GatekeeperOrigin())},
		{protocol.QueryParams, governance.ParamsStateKey()},
		{protocol.QueryGovNonce, governance.NonceStateKey()},
		{protocol.QueryPolicy, registry.PolicyStateKey()},
		{protocol.QueryWorker + idHex, registry.WorkerStateKey(id)},
		{protocol.QueryMeasurement + idHex, registry.MeasurementStateKey(id)},
		{protocol.QueryContractEpoch, keys.EpochStateKey()},
		// keys.go's layout: wc/<worker> holds the worker's cluster id.
		{protocol.QueryWorkerCluster + idHex, append([]byte(protocol.ModuleKeys+"/wc/"), id...)},
		{protocol.QueryCode + idHex, contracts.CodeStateKey(id)},
		{protocol.QueryContract + idHex, contracts.ContractStateKey(id)},
		{protocol.QueryCommand + idHex + "/7", contracts.CommandStateKey(id, 7)},
	}
	for _, c := range cases {
		got, err := protocol.StateKey(c.path)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: state key %q, %v; the module stores it at %q", c.path, got, err, c.want)
		}
	}
	for _, path := range []string{protocol.QueryMessages + "1", protocol.QueryEpoch, protocol.QueryCluster + idHex, protocol.QueryWorkers} {
		if _, err := protocol.StateKey(path); !errors.Is(err, protocol.ErrUnknownQueryPath) {
			t.Errorf("%s is served without a proof, but has state key: %v", path, err)
		}
	}
}
