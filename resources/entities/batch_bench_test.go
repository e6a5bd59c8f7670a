package entities_test

import (
	"context"
	"testing"
)

// BenchmarkBatchOf1000 decides a batch of 1,000 reads (nine in ten of
// unknown app ids, as in issue 13's probe) in a tenant of 2,000 apps: one
// by one (each id looked up alone: the baseline) and prefetched (one
// lookup per kind and type for the batch). Run with
//
//	go test -run '^$' -bench BatchOf1000 -benchtime 3x ./resources/entities/
func BenchmarkBatchOf1000(b *testing.B) {
	ctx := context.Background()
	bt := newBatchTenant(b, 2000)
	b.Run("one-by-one", func(b *testing.B) {
		e := engineOver(b, bt.source())
		for b.Loop() {
			for _, r := range bt.requests(1000) {
				_, _ = e.Decide(ctx, r)
			}
		}
	})
	b.Run("prefetched", func(b *testing.B) {
		e := engineOver(b, bt.source())
		for b.Loop() {
			reqs := bt.requests(1000)
			batch := e.Prefetch(ctx, reqs)
			for _, r := range reqs {
				_, _ = batch.Decide(ctx, r)
			}
		}
	})
}
