// Package protocol defines the wire types of the Phala chain and their one
// canonical encoding: transactions, messages, origins, signatures and the
// stable error codes every component reports.
//
// Everything that crosses a trust boundary (node, pRuntime, relayer, users)
// is defined here once, so that the chain and the enclave can never disagree
// on how bytes are read. This package must stay free of node-side
// dependencies: pRuntime links it.
package protocol
