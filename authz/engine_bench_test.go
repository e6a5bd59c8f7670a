package authz_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
)

// benchInputs are 1,000 distinct subjects asking about one shared-space app,
// so that an uncached benchmark cannot hit any cache by accident.
func benchInputs() []*authz.Input {
	roles := []string{"canview", "canedit", "admin", "owner"}
	actions := []string{"read", "delete", "update", "export"}
	ins := make([]*authz.Input, 1000)
	for i := range ins {
		ins[i] = &authz.Input{
			Subject:     member(fmt.Sprintf("u-%04d", i), "professional", roles[i%len(roles)]),
			Action:      actions[(i/4)%len(actions)],
			Resource:    sharedApp,
			Environment: "hub",
		}
	}
	return ins
}

// BenchmarkDecideUncached is one full policy evaluation per decision
// (target ≤ 25 µs).
func BenchmarkDecideUncached(b *testing.B) {
	e := newEngine(b, authz.Options{CacheSize: -1})
	ins := benchInputs()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideCached answers from the decision cache (target ≤ 1 µs).
func BenchmarkDecideCached(b *testing.B) {
	e := newEngine(b, authz.Options{})
	ins := benchInputs()
	ctx := context.Background()
	for _, in := range ins {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideParallelCached is the cached path under contention.
func BenchmarkDecideParallelCached(b *testing.B) {
	e := newEngine(b, authz.Options{})
	ins := benchInputs()
	ctx := context.Background()
	for _, in := range ins {
		_, _ = e.Evaluate(ctx, in)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
