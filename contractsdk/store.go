package contractsdk

import "iter"

// Store is the contract's key-value storage: byte keys of 1..MaxKeyBytes
// bytes, byte values of at most MaxValueBytes, iterated in byte-wise
// key order. Get it from Context.Store. In a query it is read-only: Set and
// Delete return ErrReadOnly.
//
// Storage is the only state that survives a call: every init and command
// runs in a fresh instance, and a query may or may not run in a reused one.
// Changes become visible to later reads of the same call at once, and are
// kept only if the call succeeds.
//
// The typed collections (Item, Map, Set) live in the same key space, each
// under a prefix of one length byte (1..64) and its name; a raw key whose
// first byte is 0 or above 64 (any key that starts with a letter, for
// instance) can never collide with one.
type Store struct {
	readOnly bool
}

// Get returns the value stored at key. An empty key or one longer than
// MaxKeyBytes cannot have been stored, so it is reported absent without
// asking the host (which would trap).
func (s Store) Get(key []byte) ([]byte, bool) {
	if !storable(key) {
		return nil, false
	}
	n := hostStorageGet(key)
	if n < 0 {
		return nil, false
	}
	v := make([]byte, n)
	if n > 0 {
		hostReturnRead(v)
	}
	return v, true
}

// Has reports whether key has a value. It costs as much gas as Get.
func (s Store) Has(key []byte) bool {
	return storable(key) && hostStorageGet(key) >= 0
}

// storable reports whether key is one the host can store: 1..MaxKeyBytes
// bytes. The empty key is refused because iteration, which starts after
// the empty key, could never reach it.
func storable(key []byte) bool { return len(key) > 0 && len(key) <= MaxKeyBytes }

// Set stores value at key. An empty key, or a key or value over its
// limit, is ErrLimit (the host would trap).
func (s Store) Set(key, value []byte) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if len(key) == 0 {
		return errorOf(ErrLimit, "storage key is empty")
	}
	if len(key) > MaxKeyBytes {
		return errorOf(ErrLimit, "storage key is "+itoa(len(key))+" bytes, limit "+itoa(MaxKeyBytes))
	}
	if len(value) > MaxValueBytes {
		return errorOf(ErrLimit, "storage value is "+itoa(len(value))+" bytes, limit "+itoa(MaxValueBytes))
	}
	hostStorageSet(key, value)
	return nil
}

// Delete removes key; deleting an absent key does nothing. An empty key
// or one longer than MaxKeyBytes is absent, so the host (which would
// trap) is not asked.
func (s Store) Delete(key []byte) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if !storable(key) {
		return nil
	}
	hostStorageDelete(key)
	return nil
}

// Next returns the smallest key that starts with prefix and is greater
// than after, if there is one. Start an iteration with an empty after.
func (s Store) Next(after, prefix []byte) ([]byte, bool) {
	if len(prefix) > MaxKeyBytes {
		return nil, false
	}
	if len(after) > MaxKeyBytes {
		// A key greater than after[:MaxKeyBytes] but not greater than
		// after would be longer than MaxKeyBytes, so none is stored: the
		// host can be asked with the shorter key.
		after = after[:MaxKeyBytes]
	}
	n := hostStorageNext(after, prefix)
	if n < 0 {
		return nil, false
	}
	k := make([]byte, n)
	if n > 0 {
		hostReturnRead(k)
	}
	return k, true
}

// Keys iterates, in ascending order, over the keys that start with prefix.
// Each step costs one host call; writes made during the iteration are
// seen by the steps after them.
func (s Store) Keys(prefix []byte) iter.Seq[[]byte] { return s.KeysAfter(prefix, nil) }

// KeysAfter iterates, as Keys does, over the keys that start with prefix
// and are greater than after.
func (s Store) KeysAfter(prefix, after []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for {
			k, ok := s.Next(after, prefix)
			if !ok || !yield(k) {
				return
			}
			after = k
		}
	}
}
