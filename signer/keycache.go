package signer

// DefaultKeyCacheSize is the number of derived keys New's own cache holds.
const DefaultKeyCacheSize = 1024

// CacheStats counts lookups in a KeyCache since it was made.
type CacheStats struct {
	Hits, Misses uint64
}

// KeyCache holds derived signing keys ...
type KeyCache struct {
	max int
}

// NewKeyCache returns a cache holding at most maxEntries derived keys
// (DefaultKeyCacheSize when maxEntries <= 0).
func NewKeyCache(maxEntries int) *KeyCache {
	if maxEntries <= 0 {
		maxEntries = DefaultKeyCacheSize
	}
	return &KeyCache{max: maxEntries}
}

// Stats returns the hit and miss counts. Safe for concurrent use.
func (c *KeyCache) Stats() CacheStats { return CacheStats{} }
