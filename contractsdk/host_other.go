//go:build !wasip1

package contractsdk

// Outside WebAssembly there is no host: these stand-ins let contracts,
// their tests and tools that import them compile for any platform, and
// fail loudly if a contract function is actually called. To run a
// contract, build it with GOOS=wasip1 GOARCH=wasm and run it in pRuntime
// (in tests: contractsdk/contracttest).

const noHost = "contractsdk: contracts run only inside pRuntime (build with GOOS=wasip1 GOARCH=wasm; test with contractsdk/contracttest)"

func hostInputRead([]byte)                  { panic(noHost) }
func hostOutputWrite([]byte)                { panic(noHost) }
func hostReturnRead([]byte)                 { panic(noHost) }
func hostStorageGet([]byte) int64           { panic(noHost) }
func hostStorageSet(_, _ []byte)            { panic(noHost) }
func hostStorageDelete([]byte)              { panic(noHost) }
func hostStorageNext(_, _ []byte) int64     { panic(noHost) }
func hostCaller([]byte)                     { panic(noHost) }
func hostContractID([]byte)                 { panic(noHost) }
func hostBlockHeight() int64                { panic(noHost) }
func hostBlockTime() int64                  { panic(noHost) }
func hostGasLeft() int64                    { panic(noHost) }
func hostRandom([]byte)                     { panic(noHost) }
func hostEmit(_, _ []byte)                  { panic(noHost) }
func hostSHA256(_, _ []byte)                { panic(noHost) }
func hostEd25519Verify(_, _, _ []byte) bool { panic(noHost) }
func hostDebugLog([]byte)                   { panic(noHost) }
