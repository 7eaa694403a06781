package signer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
)

// DefaultSigV4aKeyCacheSize is the number of SigV4a keys a KeyCache holds.
// A SigV4a key depends on the access key and secret only (not on the date,
// region or service), so a proxy needs one per set of credentials it signs
// with; rotation adds one an hour for temporary credentials.
const DefaultSigV4aKeyCacheSize = 64

// v4aKeyID is what a SigV4a key depends on. The secret is part of it so that
// a rotated secret under the same access key id never meets the old key.
type v4aKeyID struct{ accessKeyID, secret string }

// v4aKey is one derived ECDSA P-256 key.
type v4aKey struct {
	id   v4aKeyID
	priv *ecdsa.PrivateKey
	used atomic.Bool
}

// v4aKeyCache holds derived SigV4a keys, bounded like KeyCache's SigV4 keys:
// a hit is a sync.Map load; a miss derives the key (far costlier than an
// HMAC key: a scalar multiplication) and, over the bound, runs a CLOCK sweep
// that evicts keys unused since the last one. Its zero value holds
// DefaultSigV4aKeyCacheSize keys. Safe for concurrent use. It holds secrets
// and private keys in memory and never exposes them.
type v4aKeyCache struct {
	hits, misses atomic.Uint64
	size         atomic.Int64
	keys         sync.Map // v4aKeyID -> *v4aKey
	evict        sync.Mutex
}

// get returns the SigV4a key for creds, deriving and caching it on a miss.
func (c *v4aKeyCache) get(accessKeyID, secret string) (*v4aKey, error) {
	id := v4aKeyID{accessKeyID: accessKeyID, secret: secret}
	if v, ok := c.keys.Load(id); ok {
		k := v.(*v4aKey)
		if !k.used.Load() {
			k.used.Store(true)
		}
		c.hits.Add(1)
		return k, nil
	}
	c.misses.Add(1)
	priv, err := deriveV4aKey(accessKeyID, secret)
	if err != nil {
		return nil, err
	}
	k := &v4aKey{id: id, priv: priv}
	if v, loaded := c.keys.LoadOrStore(id, k); loaded {
		return v.(*v4aKey), nil
	}
	if c.size.Add(1) > DefaultSigV4aKeyCacheSize {
		c.shrink()
	}
	return k, nil
}

// shrink evicts keys until the cache is within its bound, giving every key
// used since the last sweep a second chance (as KeyCache.shrink does).
func (c *v4aKeyCache) shrink() {
	c.evict.Lock()
	defer c.evict.Unlock()
	for pass := 0; pass < 2 && c.size.Load() > DefaultSigV4aKeyCacheSize; pass++ {
		c.keys.Range(func(id, v any) bool {
			if pass == 0 && v.(*v4aKey).used.Swap(false) {
				return true
			}
			if _, deleted := c.keys.LoadAndDelete(id); deleted {
				c.size.Add(-1)
			}
			return c.size.Load() > DefaultSigV4aKeyCacheSize
		})
	}
}

// SigV4aStats returns the hit and miss counts of the SigV4a keys the cache
// holds beside its SigV4 keys (Stats counts those). Safe for concurrent use.
func (c *KeyCache) SigV4aStats() CacheStats {
	return CacheStats{Hits: c.v4a.hits.Load(), Misses: c.v4a.misses.Load()}
}

// SigV4aLen returns the number of SigV4a keys held. Safe for concurrent use.
func (c *KeyCache) SigV4aLen() int { return int(c.v4a.size.Load()) }

// p256NMinus2 is the order n of P-256 minus 2, big-endian, as four
// big-endian 64-bit words (most significant first).
var p256NMinus2 = func() (w [4]uint64) {
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	for i := range w {
		w[i] = binary.BigEndian.Uint64(n[8*i:])
	}
	w[3] -= 2 // n ends in ...2551, no borrow
	return w
}()

// errV4aKeyExhausted is practically unreachable: each candidate is rejected
// with a probability near 2^-32, and there are 255 of them.
var errV4aKeyExhausted = errors.New("no SigV4a key below n-2 in 255 candidates")

// deriveV4aKey derives the SigV4a ECDSA P-256 private key of an access key
// and secret, as aws-c-auth and the AWS SDKs do (aws-c-auth
// source/key_derivation.c; aws-sdk-go-v2 internal/v4a/credentials.go):
// NIST SP 800-108 KDF in counter mode with HMAC-SHA256 as PRF, keyed with
// "AWS4A"+secret, fixed input
//
//	i (uint32 = 1) || "AWS4-ECDSA-P256-SHA256" || 0x00 || accessKeyID || counter (1 byte) || L (uint32 = 256)
//
// for the external counter 1, 2, ... 255; the first 256-bit output c with
// c < n-2 gives the private key d = c+1 (so 1 <= d < n-1). The comparison
// is constant-time: the candidate depends on the secret.
func deriveV4aKey(accessKeyID, secret string) (*ecdsa.PrivateKey, error) {
	key := make([]byte, 0, 5+len(secret))
	key = append(append(key, "AWS4A"...), secret...)
	defer clear(key)
	input := make([]byte, 0, 4+len(AlgorithmV4a)+1+len(accessKeyID)+1+4)
	input = binary.BigEndian.AppendUint32(input, 1) // KDF counter i: one block is 256 bits
	input = append(input, AlgorithmV4a...)          // label
	input = append(input, 0)
	input = append(input, accessKeyID...) // context: access key id and external counter
	counterAt := len(input)
	input = append(input, 0)
	input = binary.BigEndian.AppendUint32(input, 256) // L, the output length in bits
	mac := hmac.New(sha256.New, key)
	var c [sha256.Size]byte
	defer clear(c[:])
	for counter := 1; counter <= 255; counter++ {
		input[counterAt] = byte(counter)
		mac.Reset()
		mac.Write(input)
		mac.Sum(c[:0])
		if !lessThanNMinus2(&c) {
			continue
		}
		addOne(&c)
		return ecdsa.ParseRawPrivateKey(elliptic.P256(), c[:])
	}
	return nil, errV4aKeyExhausted
}

// lessThanNMinus2 reports whether the big-endian c is below n-2, in
// constant time: the borrow out of c - (n-2).
func lessThanNMinus2(c *[32]byte) bool {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		_, borrow = bits.Sub64(binary.BigEndian.Uint64(c[8*i:]), p256NMinus2[i], borrow)
	}
	return borrow == 1
}

// addOne adds 1 to the big-endian c, in constant time; c < n-2, so it
// does not overflow.
func addOne(c *[32]byte) {
	carry := uint64(1)
	for i := 3; i >= 0; i-- {
		var w uint64
		w, carry = bits.Add64(binary.BigEndian.Uint64(c[8*i:]), 0, carry)
		binary.BigEndian.PutUint64(c[8*i:], w)
	}
}
