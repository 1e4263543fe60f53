package kvtree

import "crypto/sha256"

// Domain tags: the first byte of every SHA-256 input, so that a hash of
// one kind (byte string, entry, node) can never be passed off as another
// in a proof built on these roots.
const (
	tagBytes byte = 0x00
	tagNode  byte = 0x01
	tagEntry byte = 0x02
	tagPrio  byte = 0x03
)

// priority is a key's treap priority given H(key): H(key) itself in an
// unkeyed tree, SHA-256(0x03 ‖ seed ‖ H(key)) in a keyed one. A key's
// priority decides its depth, so whoever can compute priorities can choose
// keys that make the tree a deep chain; keying them by a seed the contract
// never sees leaves it nothing to aim at.
func priority(seed *[32]byte, kh [32]byte) [32]byte {
	if seed == nil {
		return kh
	}
	var buf [1 + 2*32]byte
	buf[0] = tagPrio
	copy(buf[1:33], seed[:])
	copy(buf[33:], kh[:])
	return sha256.Sum256(buf[:])
}

// hashBytes is H(b) = SHA-256(0x00 ‖ b).
func hashBytes(b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{tagBytes})
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// entryHash is SHA-256(0x02 ‖ H(key) ‖ H(value)), given H(key). A node
// computes it once per entry version, so that rehashing a node whose
// children changed (every node on an update's path) hashes 97 bytes, two
// SHA-256 blocks, instead of the three that key hash, value hash and both
// children would take together.
func entryHash(kh [32]byte, value []byte) [32]byte {
	vh := hashBytes(value)
	var buf [1 + 2*32]byte
	buf[0] = tagEntry
	copy(buf[1:33], kh[:])
	copy(buf[33:65], vh[:])
	return sha256.Sum256(buf[:])
}

// nodeHash is SHA-256(0x01 ‖ entry ‖ left ‖ right), absent children
// counting as 32 zero bytes.
func nodeHash(entry, left, right [32]byte) [32]byte {
	var buf [1 + 3*32]byte
	buf[0] = tagNode
	copy(buf[1:33], entry[:])
	copy(buf[33:65], left[:])
	copy(buf[65:97], right[:])
	return sha256.Sum256(buf[:])
}
