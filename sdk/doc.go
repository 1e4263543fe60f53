// Package sdk is the Go client of the Phala chain: key files, transaction
// building and signing, broadcasting, and state reads whose proofs are
// checked against headers verified from a trust root (the genesis pinned
// at first use or given, and every validator-set change since). It
// believes nothing a node says that it cannot verify, and signs only
// verified values; docs/sdk.md says what it verifies and what the user
// must pin.
package sdk
