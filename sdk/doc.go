// Package sdk is the Go client of the Phala chain: key files, transaction
// building and signing, broadcasting, and state reads whose proofs are
// checked against the app hash in the following block's header.
package sdk
