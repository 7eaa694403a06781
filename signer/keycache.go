package signer

import (
	"crypto/sha256"
	"encoding"
	"sync"
	"sync/atomic"
)

// DefaultKeyCacheSize is the number of derived keys New's own cache holds:
// enough for a proxy signing for a few access keys across every region and
// service it talks to, on two consecutive days.
const DefaultKeyCacheSize = 1024

// CacheStats counts lookups in a KeyCache since it was made.
type CacheStats struct {
	Hits, Misses uint64
}

// keyID is what a derived key depends on. The secret is part of it so that a
// rotated secret under the same access key id never meets the old key; the
// date is the UTC day, so the day rolls over in UTC whatever the local zone.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#derive-signing-key
type keyID struct {
	accessKeyID, secret, region, service string
	date                                 uint32 // yyyymmdd
}

// signingKey is one derived key and what is built from it once: the HMAC
// states after the inner and outer pad blocks (RFC 2104), so each signature
// costs no key hashing, and the scope strings.
type signingKey struct {
	id           keyID
	inner, outer []byte // marshaled sha256 states after key^ipad, key^opad
	key          [sha256.Size]byte
	scope        string // yyyymmdd/region/service/aws4_request
	credential   string // accessKeyID/scope
	used         atomic.Bool
}

// KeyCache holds derived SigV4 signing keys, one per (access key id, secret,
// UTC date, region, service), so any number of scopes and access keys live
// side by side, a rotated secret never meets its predecessor's key, and the
// day rolls over in UTC. A hit takes no lock (an atomic "most recent key"
// pointer, then a sync.Map); a miss derives the key and, when the cache is
// over maxEntries, waits for a CLOCK sweep that evicts keys unused since
// the last sweep. The most recent key may outlive its eviction by one
// lookup. Safe for concurrent use; one cache may be shared by many Signers.
// It holds secrets and derived keys in memory and never exposes them.
type KeyCache struct {
	hits   atomic.Uint64
	_      [56]byte // keep hit and miss counters on separate cache lines
	misses atomic.Uint64
	_      [56]byte
	size   atomic.Int64
	max    int64
	keys   sync.Map // keyID -> *signingKey
	evict  sync.Mutex
	// recent is the key last found in keys: most signatures reuse the
	// previous one's scope, and comparing against it is cheaper than
	// hashing the id. Only a change of key writes it.
	recent atomic.Pointer[signingKey]
	// v4a holds the SigV4a keys (see v4akey.go).
	v4a v4aKeyCache
}

// NewKeyCache returns a cache holding at most maxEntries derived keys
// (DefaultKeyCacheSize when maxEntries <= 0).
func NewKeyCache(maxEntries int) *KeyCache {
	if maxEntries <= 0 {
		maxEntries = DefaultKeyCacheSize
	}
	return &KeyCache{max: int64(maxEntries)}
}

// Stats returns the hit and miss counts. Safe for concurrent use.
func (c *KeyCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// Len returns the number of keys held. Safe for concurrent use.
func (c *KeyCache) Len() int { return int(c.size.Load()) }

// get returns the signing key for id, deriving and caching it on a miss.
// date8 is id.date as its 8 ASCII digits.
func (c *KeyCache) get(id keyID, date8 []byte) *signingKey {
	if k := c.recent.Load(); k != nil && k.id == id {
		if !k.used.Load() {
			k.used.Store(true)
		}
		c.hits.Add(1)
		return k
	}
	if v, ok := c.keys.Load(id); ok {
		k := v.(*signingKey)
		if !k.used.Load() {
			k.used.Store(true)
		}
		c.hits.Add(1)
		c.recent.Store(k)
		return k
	}
	c.misses.Add(1)
	k := deriveKey(id, date8)
	if v, loaded := c.keys.LoadOrStore(id, k); loaded {
		return v.(*signingKey)
	}
	if c.size.Add(1) > c.max {
		c.shrink()
	}
	return k
}

// shrink evicts entries until the cache is within its bound: a CLOCK sweep
// gives every entry used since the last sweep a second chance. Only one
// goroutine sweeps at a time; lookups (hits) carry on meanwhile.
func (c *KeyCache) shrink() {
	c.evict.Lock() // misses only: hits never take it
	defer c.evict.Unlock()
	for pass := 0; pass < 2 && c.size.Load() > c.max; pass++ {
		c.keys.Range(func(id, v any) bool {
			k := v.(*signingKey)
			if pass == 0 && k.used.Swap(false) {
				return true
			}
			if _, deleted := c.keys.LoadAndDelete(id); deleted {
				c.size.Add(-1)
			}
			return c.size.Load() > c.max
		})
	}
}

// deriveKey computes kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date),
// region), service), "aws4_request") and the pad states built from it.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#derive-signing-key
func deriveKey(id keyID, date8 []byte) *signingKey {
	secret := make([]byte, 0, 4+len(id.secret))
	secret = append(append(secret, "AWS4"...), id.secret...)
	k := hmacOnce(secret, date8)
	clear(secret)
	k = hmacOnce(k[:], []byte(id.region))
	k = hmacOnce(k[:], []byte(id.service))
	k = hmacOnce(k[:], []byte("aws4_request"))

	scope := make([]byte, 0, 8+1+len(id.region)+1+len(id.service)+len("/aws4_request"))
	scope = append(scope, date8...)
	scope = append(append(scope, '/'), id.region...)
	scope = append(append(scope, '/'), id.service...)
	scope = append(scope, "/aws4_request"...)
	sk := &signingKey{id: id, scope: string(scope), credential: id.accessKeyID + "/" + string(scope)}
	sk.inner, sk.outer = padStates(k[:])
	sk.key = k
	return sk
}

// hmacOnce is HMAC-SHA256 for key derivation, where a key is used once.
func hmacOnce(key, msg []byte) [sha256.Size]byte {
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	ipad, opad := pads(key)
	h := sha256.New()
	h.Write(ipad[:])
	h.Write(msg)
	var inner [sha256.Size]byte
	h.Sum(inner[:0])
	h.Reset()
	h.Write(opad[:])
	h.Write(inner[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// pads returns key^ipad and key^opad (RFC 2104 section 2) for a key of at
// most one block.
func pads(key []byte) (ipad, opad [sha256.BlockSize]byte) {
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	return ipad, opad
}

// padStates returns the sha256 states after hashing key^ipad and key^opad
// (RFC 2104 section 2), so that each later HMAC starts from them.
func padStates(key []byte) (inner, outer []byte) {
	ipad, opad := pads(key)
	h := sha256.New()
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, nil // hmacSign falls back to crypto/hmac
	}
	h.Write(ipad[:])
	inner, err1 := m.MarshalBinary()
	h.Reset()
	h.Write(opad[:])
	outer, err2 := m.MarshalBinary()
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	return inner, outer
}
