package store

import "slices"

// Cache buffers writes over a parent store. Reads see the buffered writes;
// Write applies them to the parent in sorted key order (IAVL's shape depends
// on insertion order, so the order must be deterministic); dropping the
// cache discards them. A transaction runs in a Cache so that a failed call
// changes nothing.
type Cache struct {
	parent KV
	dirty  map[string][]byte // nil value: deleted
}

// NewCache returns an empty cache over parent.
func NewCache(parent KV) *Cache {
	return &Cache{parent: parent, dirty: map[string][]byte{}}
}

// Get implements KV.
func (c *Cache) Get(k []byte) []byte {
	if v, ok := c.dirty[string(k)]; ok {
		return v
	}
	return c.parent.Get(k)
}

// Set implements KV.
func (c *Cache) Set(k, v []byte) {
	if len(v) == 0 {
		Fail("set", errEmptyValue)
	}
	c.dirty[string(k)] = append([]byte{}, v...) // non-nil: nil means deleted
}

// Delete implements KV.
func (c *Cache) Delete(k []byte) { c.dirty[string(k)] = nil }

// Iterate implements KV, merging buffered writes with the parent.
func (c *Cache) Iterate(start, end []byte, fn func(k, v []byte) bool) {
	keys := c.sortedDirty(start, end)
	i := 0
	stopped := false
	emitDirty := func(upTo []byte) bool { // emit dirty keys < upTo (all if nil)
		for i < len(keys) && (upTo == nil || keys[i] < string(upTo)) {
			k := keys[i]
			i++
			if v := c.dirty[k]; v != nil && !fn([]byte(k), v) {
				return false
			}
		}
		return true
	}
	c.parent.Iterate(start, end, func(k, v []byte) bool {
		if !emitDirty(k) {
			stopped = true
			return false
		}
		if i < len(keys) && keys[i] == string(k) {
			i++
			if dv := c.dirty[string(k)]; dv != nil {
				if !fn(k, dv) {
					stopped = true
					return false
				}
			}
			return true
		}
		if !fn(k, v) {
			stopped = true
			return false
		}
		return true
	})
	if !stopped {
		emitDirty(nil)
	}
}

func (c *Cache) sortedDirty(start, end []byte) []string {
	keys := make([]string, 0, len(c.dirty))
	for k := range c.dirty {
		if inRange([]byte(k), start, end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Write applies the buffered writes to the parent, in key order, and empties
// the cache.
func (c *Cache) Write() {
	for _, k := range c.sortedDirty(nil, nil) {
		if v := c.dirty[k]; v == nil {
			c.parent.Delete([]byte(k))
		} else {
			c.parent.Set([]byte(k), v)
		}
	}
	clear(c.dirty)
}

// Len is the number of buffered writes.
func (c *Cache) Len() int { return len(c.dirty) }
