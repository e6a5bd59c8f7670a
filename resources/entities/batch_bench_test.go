package entities_test

import (
	"context"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/entities"
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

// BenchmarkSubject is one subject hydrated from the snapshots (the user
// index and the space index), as the engine does on an entity cache miss,
// on every refresh, and on every decision with --no-entity-cache.
//
//	go test -run '^$' -bench 'Subject$' -benchmem ./resources/entities/
func BenchmarkSubject(b *testing.B) {
	ctx := context.Background()
	bt := newBatchTenant(b, 10)
	src := bt.source()
	src.Users, src.Spaces = entities.NewUserIndex(bt.s), entities.NewSpaceIndex(bt.s)
	if _, err := src.Subject(ctx, bt.user); err != nil { // the snapshots built
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Subject(ctx, bt.user); err != nil {
			b.Fatal(err)
		}
	}
}
