// Package kvtree holds a contract's storage in pRuntime: an ordered map
// from byte-string keys to byte-string values that is persistent (every
// update returns a new version; old versions stay valid and unchanged and
// share all untouched structure) and Merkle-hashed (every version has a
// 32-byte root that depends on its contents only).
//
// pRuntime relies on persistence three ways: a failed command's writes are
// discarded by keeping the old version; a block is rolled back by keeping
// the version from before it; and queries read the last committed version
// from other goroutines while sync builds newer ones, with no locks and no
// copies. It relies on the root being a function of the contents because
// two workers that reach the same contents by different histories (one by
// applying blocks, one by rebuilding from a state transfer with Build)
// must sign the same root.
//
// The package must never mutate a node after it is built (that would
// change versions other goroutines are reading), never let the shape or
// the root depend on the order of operations, and never put keys or
// values in errors or logs (contract state is confidential).
//
// # Sharing
//
// Keys and values are copied on the way in (Set, Build), so callers
// may reuse their buffers. Slices handed out (Get, Next, Ascend) are the
// tree's own, shared by every version that holds the entry: callers must
// not modify them. They never change, so callers may keep them.
//
// Keys are non-empty: Set panics on the empty key, and Build refuses
// it. The empty key could not be reached by Next, whose iteration starts
// after the empty key. Size limits (256-byte keys, 64 KiB values) are the
// caller's to enforce, like the empty-key rule at the contract boundary.
//
// # Shape
//
// The tree is a treap: a binary search tree on the keys (bytewise order)
// that is also a max-heap on each key's priority. The priority of a key is
// prio(key) (below) read as a 256-bit big-endian integer; equal
// priorities, which would take a SHA-256 collision, fall back to the
// smaller key on top. With distinct priorities exactly one tree satisfies
// both orders for a given key set, so the shape, and with it the root, is
// a function of the keys alone (and, in a keyed tree, of its seed). For
// keys nobody could aim at, the priorities are as good as random and the
// expected depth is about 2·ln(n): measured on 10^5 contract-like keys,
// average depth 21 and height 41; on 10^6, 25.6 and 49.
//
// # Root
//
// With H(b) = SHA-256(0x00 ‖ b):
//
//	prio(k)     = H(k) unkeyed, SHA-256(0x03 ‖ seed ‖ H(k)) keyed by seed
//	entry(k, v) = SHA-256(0x02 ‖ H(k) ‖ H(v))
//	hash(nil)   = 0x00 × 32
//	hash(node)  = SHA-256(0x01 ‖ entry(node.key, node.value) ‖ hash(node.left) ‖ hash(node.right))
//	Root        = hash(root node); the empty tree's root is 32 zero bytes.
//
// The first byte of every hashed string is a domain tag (0x00 byte string,
// 0x01 node, 0x02 entry, 0x03 keyed priority), so no hash of one kind can be passed off as
// another in a proof against a root. Each node caches entry and hash when
// it is built, so Root is O(1) and an update rehashes only the O(depth)
// nodes it copies, two SHA-256 blocks each. Roots appear in signed results
// on chain: this definition is part of the protocol, and TestRootDefinition
// pins it.
//
// # Adversarial keys
//
// In an unkeyed tree the priorities are public functions of the keys, so
// whoever chooses keys chooses the shape. Making a chain of depth d is
// cheap: take keys in increasing order (a fixed prefix for the order, a
// nonce to grind) and give each the highest priority, among T tries, that
// is below the previous key's. Each step then lowers the priority by only
// about 1/T of its range, so T ≈ 2d keeps the whole chain in the upper
// half: about 2d² hashes in all, quadratic, not exponential, in the depth
// (TestGroundKeysForceALinearChain builds a 256-deep chain from 2.6·10^5
// hashes; depth 10^4 takes well under a minute on one core). Every
// operation on such a list visits, and every update copies and rehashes,
// up to one node per key, while gas stays flat: a cheap way to tie up the
// workers' CPU.
//
// pRuntime therefore keys every contract's tree (Keyed) with a seed
// derived from the contract's key when it is instantiated, kept with its
// storage and handed on by state transfers, and never shown to the
// contract. Nothing the contract can observe depends on the shape (gas is
// flat, there is no clock), so it has nothing to grind against
// (TestKeyedTreeDefeatsGroundKeys). The unkeyed zero Tree remains for
// tests and tools. Either way the package is slow on deep trees, never
// unsound: every operation is iterative, so depth costs time but never
// stack.
//
// # Decisions
//
//   - Set of the value a key already holds returns the same version (no
//     allocation, same root).
//   - Delete of an absent key returns the same version.
//   - Next(after, prefix) is the smallest key with the prefix that is
//     greater than after; after need not be a key and may lie outside the
//     prefix's range; a key equal to the prefix has the prefix.
//   - Overlay is the mutable per-call handle; ReadOnly is the query handle,
//     whose Set and Delete panic because the engine refuses writes in
//     queries before reaching storage.
package kvtree
