package contractsdk

import "iter"

// MaxNameBytes bounds the name of a typed collection.
const MaxNameBytes = 64

// namespace returns the key prefix of the collection called name: one
// length byte, then the name. Length-prefixing makes the prefixes of
// distinct names disjoint (neither is a prefix of the other), so
// collections cannot see each other's keys whatever their names.
func namespace(name string) []byte {
	if len(name) == 0 || len(name) > MaxNameBytes {
		panic("contractsdk: collection name " + quote(name) + " is " + itoa(len(name)) + " bytes, want 1.." + itoa(MaxNameBytes))
	}
	p := make([]byte, 0, 1+len(name))
	return append(append(p, byte(len(name))), name...)
}

// extend appends to a copy of prefix, never to prefix's own array (the
// collections share theirs between calls).
func extend(prefix []byte) []byte { return prefix[:len(prefix):len(prefix)] }

// Item is a single stored value of type V, such as a contract's
// configuration. Declare it once, as a package-level variable:
//
//	var config = contractsdk.NewItem("config", configCodec)
//
// An Item and a Map or Set must not share a name.
type Item[V any] struct {
	key   []byte
	codec Codec[V]
}

// NewItem returns the item called name (1..MaxNameBytes bytes; it panics
// otherwise, as a misspelt constant should fail at start-up).
func NewItem[V any](name string, codec Codec[V]) Item[V] {
	return Item[V]{key: namespace(name), codec: codec}
}

// Get returns the item's value, and whether it is set. The error is
// ErrDecode if the stored bytes do not decode.
func (it Item[V]) Get(ctx *Context) (V, bool, error) {
	return get(ctx, it.key, it.codec)
}

// Set stores the item's value.
func (it Item[V]) Set(ctx *Context, v V) error {
	return ctx.Store().Set(it.key, it.codec.Append(nil, v))
}

// Delete removes the item's value.
func (it Item[V]) Delete(ctx *Context) error { return ctx.Store().Delete(it.key) }

// Map is a typed namespace of storage: values of type V under keys of type
// K, iterated in the byte order of the keys' encoding. Declare it once, as
// a package-level variable:
//
//	var balances = contractsdk.NewMap("balance", contractsdk.AddressCodec{}, contractsdk.Uint64Codec{})
//
// A name may also be built at run time, for a namespace per account, for
// example ("grants:" + string(addr[:])).
type Map[K, V any] struct {
	prefix []byte
	key    Codec[K]
	val    Codec[V]
}

// NewMap returns the map called name (1..MaxNameBytes bytes; it panics
// otherwise).
func NewMap[K, V any](name string, key Codec[K], val Codec[V]) Map[K, V] {
	return Map[K, V]{prefix: namespace(name), key: key, val: val}
}

func (m Map[K, V]) storageKey(k K) []byte { return m.key.Append(extend(m.prefix), k) }

// Get returns the value at k, and whether there is one. The error is
// ErrDecode if the stored bytes do not decode.
func (m Map[K, V]) Get(ctx *Context, k K) (V, bool, error) {
	return get(ctx, m.storageKey(k), m.val)
}

// Has reports whether k has a value.
func (m Map[K, V]) Has(ctx *Context, k K) bool { return ctx.Store().Has(m.storageKey(k)) }

// Set stores v at k.
func (m Map[K, V]) Set(ctx *Context, k K, v V) error {
	return ctx.Store().Set(m.storageKey(k), m.val.Append(nil, v))
}

// Delete removes k's value, if any.
func (m Map[K, V]) Delete(ctx *Context, k K) error {
	return ctx.Store().Delete(m.storageKey(k))
}

// Keys iterates over the map's keys in ascending order of their encoding.
// A key that does not decode yields an ErrDecode and ends the iteration.
// Each step costs one host call (plus one per Get of the value).
func (m Map[K, V]) Keys(ctx *Context) iter.Seq2[K, error] {
	return keys(ctx, m.prefix, nil, m.key)
}

// KeysAfter iterates, as Keys does, over the keys greater than after (in
// their encoding's order), for reading a large map a page at a time.
func (m Map[K, V]) KeysAfter(ctx *Context, after K) iter.Seq2[K, error] {
	return keys(ctx, m.prefix, m.storageKey(after), m.key)
}

// Set is a typed set of keys, stored as keys with empty values.
type Set[K any] struct {
	prefix []byte
	key    Codec[K]
}

// NewSet returns the set called name (1..MaxNameBytes bytes; it panics
// otherwise).
func NewSet[K any](name string, key Codec[K]) Set[K] {
	return Set[K]{prefix: namespace(name), key: key}
}

func (s Set[K]) storageKey(k K) []byte { return s.key.Append(extend(s.prefix), k) }

// Add puts k in the set.
func (s Set[K]) Add(ctx *Context, k K) error { return ctx.Store().Set(s.storageKey(k), nil) }

// Remove takes k out of the set.
func (s Set[K]) Remove(ctx *Context, k K) error { return ctx.Store().Delete(s.storageKey(k)) }

// Has reports whether k is in the set.
func (s Set[K]) Has(ctx *Context, k K) bool { return ctx.Store().Has(s.storageKey(k)) }

// All iterates over the set's members in ascending order of their
// encoding, as Map.Keys does.
func (s Set[K]) All(ctx *Context) iter.Seq2[K, error] { return keys(ctx, s.prefix, nil, s.key) }

// AllAfter iterates, as All does, over the members greater than after.
func (s Set[K]) AllAfter(ctx *Context, after K) iter.Seq2[K, error] {
	return keys(ctx, s.prefix, s.storageKey(after), s.key)
}

func get[V any](ctx *Context, key []byte, codec Codec[V]) (V, bool, error) {
	var zero V
	b, ok := ctx.Store().Get(key)
	if !ok {
		return zero, false, nil
	}
	v, err := codec.Decode(b)
	if err != nil {
		return zero, true, decodeFailed(err)
	}
	return v, true, nil
}

// keys iterates over the keys under prefix that are greater than after.
func keys[K any](ctx *Context, prefix, after []byte, codec Codec[K]) iter.Seq2[K, error] {
	return func(yield func(K, error) bool) {
		for raw := range ctx.Store().KeysAfter(prefix, after) {
			k, err := codec.Decode(raw[len(prefix):])
			err = decodeFailed(err)
			if !yield(k, err) || err != nil {
				return
			}
		}
	}
}
