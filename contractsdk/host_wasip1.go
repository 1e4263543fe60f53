//go:build wasip1

package contractsdk

import "unsafe"

// This file is the whole boundary with the host: the phala_v1 imports and
// the entry-point exports of docs/contracts.md ("Host ABI, version 1").
// Everything else in the package is ordinary Go that calls the wrappers
// below with slices.

//go:wasmexport phala_init
func phalaInit(n int32) int32 { return run(EntryInit, n) }

//go:wasmexport phala_command
func phalaCommand(n int32) int32 { return run(EntryCommand, n) }

//go:wasmexport phala_query
func phalaQuery(n int32) int32 { return run(EntryQuery, n) }

//go:wasmimport phala_v1 input_read
func importInputRead(ptr unsafe.Pointer)

//go:wasmimport phala_v1 output_write
func importOutputWrite(ptr unsafe.Pointer, n int32)

//go:wasmimport phala_v1 return_read
func importReturnRead(ptr unsafe.Pointer)

//go:wasmimport phala_v1 storage_get
func importStorageGet(k unsafe.Pointer, kn int32) int64

//go:wasmimport phala_v1 storage_set
func importStorageSet(k unsafe.Pointer, kn int32, v unsafe.Pointer, vn int32)

//go:wasmimport phala_v1 storage_delete
func importStorageDelete(k unsafe.Pointer, kn int32)

//go:wasmimport phala_v1 storage_next
func importStorageNext(a unsafe.Pointer, an int32, p unsafe.Pointer, pn int32) int64

//go:wasmimport phala_v1 caller
func importCaller(ptr unsafe.Pointer)

//go:wasmimport phala_v1 contract_id
func importContractID(ptr unsafe.Pointer)

//go:wasmimport phala_v1 block_height
func importBlockHeight() int64

//go:wasmimport phala_v1 block_time
func importBlockTime() int64

//go:wasmimport phala_v1 random
func importRandom(ptr unsafe.Pointer, n int32)

//go:wasmimport phala_v1 emit
func importEmit(t unsafe.Pointer, tn int32, p unsafe.Pointer, pn int32)

//go:wasmimport phala_v1 sha256
func importSHA256(ptr unsafe.Pointer, n int32, out unsafe.Pointer)

//go:wasmimport phala_v1 ed25519_verify
func importEd25519Verify(pk, msg unsafe.Pointer, n int32, sig unsafe.Pointer) int32

//go:wasmimport phala_v1 debug_log
func importDebugLog(ptr unsafe.Pointer, n int32)

//go:wasmimport phala_v1 gas_left
func importGasLeft() int64

// ptr is the address of b's first byte (nil for an empty slice, which the
// host never dereferences: every length that goes with it is 0).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func hostInputRead(p []byte)   { importInputRead(ptr(p)) }
func hostOutputWrite(p []byte) { importOutputWrite(ptr(p), int32(len(p))) }

func hostReturnRead(p []byte)         { importReturnRead(ptr(p)) }
func hostStorageGet(key []byte) int64 { return importStorageGet(ptr(key), int32(len(key))) }
func hostStorageSet(key, value []byte) {
	importStorageSet(ptr(key), int32(len(key)), ptr(value), int32(len(value)))
}
func hostStorageDelete(key []byte) { importStorageDelete(ptr(key), int32(len(key))) }
func hostStorageNext(after, prefix []byte) int64 {
	return importStorageNext(ptr(after), int32(len(after)), ptr(prefix), int32(len(prefix)))
}
func hostCaller(out []byte)     { importCaller(ptr(out)) }
func hostContractID(out []byte) { importContractID(ptr(out)) }
func hostBlockHeight() int64    { return importBlockHeight() }
func hostBlockTime() int64      { return importBlockTime() }
func hostGasLeft() int64        { return importGasLeft() }
func hostRandom(p []byte)       { importRandom(ptr(p), int32(len(p))) }
func hostEmit(suffix, payload []byte) {
	importEmit(ptr(suffix), int32(len(suffix)), ptr(payload), int32(len(payload)))
}
func hostSHA256(data, out []byte) { importSHA256(ptr(data), int32(len(data)), ptr(out)) }
func hostEd25519Verify(pub, msg, sig []byte) bool {
	return importEd25519Verify(ptr(pub), ptr(msg), int32(len(msg)), ptr(sig)) == 1
}
func hostDebugLog(msg []byte) { importDebugLog(ptr(msg), int32(len(msg))) }
