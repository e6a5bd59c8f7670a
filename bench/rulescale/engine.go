package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

// Engine returns an engine without a decision cache over the shipped
// policies.
func Engine(ctx context.Context) (*authz.Engine, error) {
	m, err := policies.Modules()
	if err != nil {
		return nil, err
	}
	data, err := policies.Data()
	if err != nil {
		return nil, err
	}
	return authz.New(ctx, authz.Options{Modules: m, Data: data, CacheSize: -1})
}

// LoadPlain compiles rs without the index (one Rego body per rule,
// type, action: the compilation before issue 12) and loads it.
func LoadPlain(ctx context.Context, e *authz.Engine, rev int64, rs []rules.Rule) (time.Duration, error) {
	start := time.Now()
	module, diags := rules.CompileModule(rs, nil)
	if rules.HasErrors(diags) {
		return 0, fmt.Errorf("plain compilation: %v", diags[0])
	}
	err := e.Load(ctx, rev, module)
	return time.Since(start), err
}

// LoadIndexed compiles rs to an index and loads it; it returns the index
// for incremental writes.
func LoadIndexed(ctx context.Context, e *authz.Engine, rev int64, rs []rules.Rule) (*rules.Index, time.Duration, error) {
	start := time.Now()
	ix, err := rules.NewIndex(nil)
	if err != nil {
		return nil, 0, err
	}
	if diags := ix.Build(rs); rules.HasErrors(diags) {
		return nil, 0, fmt.Errorf("indexed compilation: %v", diags[0])
	}
	err = e.LoadIndexed(ctx, rev, ix.Module(), ix.Data())
	return ix, time.Since(start), err
}

// Agree decides ins on both engines and returns the first input on which
// allow or the granting rules differ, or -1.
func Agree(ctx context.Context, a, b *authz.Engine, ins []*authz.Input) (int, string, error) {
	for i, in := range ins {
		da, err := a.Evaluate(ctx, in)
		if err != nil {
			return i, "", err
		}
		db, err := b.Evaluate(ctx, in)
		if err != nil {
			return i, "", err
		}
		if da.Allow != db.Allow || !slices.Equal(da.Grants, db.Grants) {
			return i, fmt.Sprintf("%+v\nvs\n%+v", da, db), nil
		}
	}
	return -1, "", nil
}

// Latencies evaluates ins in turn for at least d and returns the sorted
// durations of each decision.
func Latencies(ctx context.Context, e *authz.Engine, ins []*authz.Input, d time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	start := time.Now()
	for i := 0; time.Since(start) < d || i < len(ins); i++ {
		t := time.Now()
		if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t))
	}
	slices.Sort(out)
	return out, nil
}

// Percentile of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
