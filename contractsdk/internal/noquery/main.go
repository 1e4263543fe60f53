// Command noquery is a contract without a query handler, for contractsdk's
// test that a missing handler is an error, not a crash.
package main

import "github.com/phala-go/phala/contractsdk"

func init() {
	contractsdk.Register(contractsdk.Contract{
		Init:    func(*contractsdk.Context, []byte) ([]byte, error) { return []byte("ready"), nil },
		Command: func(*contractsdk.Context, []byte) ([]byte, error) { return []byte("done"), nil },
	})
}

func main() {}
