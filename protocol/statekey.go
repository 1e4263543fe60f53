package protocol

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// QueryWorkerCluster reads, with a proof, the id of the cluster a worker
// is a member of: keys/wc/<worker hex>, the raw 32-byte id, absent when it
// is in none. A client proves a worker's membership with it before it
// sends the worker a contract's query.
const QueryWorkerCluster = "keys/wc/"

// StateKey is the state key whose value the proven query path answers. It
// is part of the protocol, not a detail of the chain: a client checks the
// proof against the key it computes here, never against the key the node
// names in its answer, so a node cannot answer a question about one
// record with the (valid) proof of another — say contract B's record, and
// its key, for a command meant for contract A. The chain stores each
// record at exactly this key (its tests pin the modules' layout to it).
//
// Paths served without a proof (QueryMessages, QueryEpoch, QueryCluster,
// QueryWorkers) have no state key: ErrUnknownQueryPath.
func StateKey(path string) ([]byte, error) {
	switch {
	case strings.HasPrefix(path, QueryAccount):
		a, err := ParseAddress(strings.TrimPrefix(path, QueryAccount))
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleAccounts, "a/", a[:]), nil
	case strings.HasPrefix(path, QueryNextSeq):
		o, err := ParseOrigin(strings.TrimPrefix(path, QueryNextSeq))
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleMQ, "n/", o.Key()), nil
	case path == QueryParams:
		return stateKey(ModuleGovernance, "params"), nil
	case path == QueryGovNonce:
		return stateKey(ModuleGovernance, "nonce"), nil
	case path == QueryPolicy:
		return stateKey(ModuleRegistry, "policy"), nil
	case strings.HasPrefix(path, QueryMeasurement):
		hash, err := hexID(path, QueryMeasurement, "measurement")
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleRegistry, "meas/", hash), nil
	case path == QueryGenesisHash:
		return stateKey(ModuleRegistry, "genesis_hash"), nil
	case strings.HasPrefix(path, QueryWorker):
		pub, err := hexID(path, QueryWorker, "worker key")
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleRegistry, "w/", pub), nil
	case strings.HasPrefix(path, QueryWorkerCluster):
		pub, err := hexID(path, QueryWorkerCluster, "worker key")
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleKeys, "wc/", pub), nil
	case path == QueryContractEpoch:
		return stateKey(ModuleKeys, "epoch"), nil
	case strings.HasPrefix(path, QueryCode):
		hash, err := hexID(path, QueryCode, "code hash")
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleContracts, "code/", hash), nil
	case strings.HasPrefix(path, QueryContract):
		id, err := hexID(path, QueryContract, "contract id")
		if err != nil {
			return nil, err
		}
		return stateKey(ModuleContracts, "c/", id), nil
	case strings.HasPrefix(path, QueryCommand):
		idHex, indexText, _ := strings.Cut(strings.TrimPrefix(path, QueryCommand), "/")
		id, err := hexID(QueryCommand+idHex, QueryCommand, "contract id")
		if err != nil {
			return nil, err
		}
		index, err := strconv.ParseUint(indexText, 10, 64)
		if err != nil {
			return nil, Errorf(ErrBadQuery, "%q: want %s<id hex>/<index>", path, QueryCommand)
		}
		return stateKey(ModuleContracts, "cmd/", id, []byte("/"), binary.BigEndian.AppendUint64(nil, index)), nil
	}
	return nil, Errorf(ErrUnknownQueryPath, "%q has no proven state key", path)
}

// stateKey joins a module's prefix, a record kind and its parts.
func stateKey(module, kind string, parts ...[]byte) []byte {
	k := []byte(module + "/" + kind)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// hexID reads the 32-byte hex id that follows prefix in path.
func hexID(path, prefix, what string) ([]byte, error) {
	id, err := hex.DecodeString(strings.TrimPrefix(path, prefix))
	if err != nil || len(id) != 32 {
		return nil, Errorf(ErrBadQuery, "%q: want a 32-byte hex %s", path, what)
	}
	return id, nil
}
