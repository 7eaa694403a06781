package creds

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCacheRetrieve is the cost Retrieve adds to every proxied
// request in the normal case: an atomic load and an expiry check.
func BenchmarkCacheRetrieve(b *testing.B) {
	p := providerFunc(func(context.Context) (Credentials, error) {
		return Credentials{AccessKeyID: genKeyID("ASIABENCH", 1), SecretAccessKey: genSecret(1), SessionToken: genToken(1),
			CanExpire: true, Expires: time.Now().Add(time.Hour), Source: "bench"}, nil
	})
	c := NewCache(p, CacheOptions{})
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Retrieve(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Retrieve(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
