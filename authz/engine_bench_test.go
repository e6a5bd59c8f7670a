package authz_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
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
func BenchmarkDecideUncached(b *testing.B) { benchUncached(b, benchInputs()) }

// BenchmarkDecideUncachedDemoRules is BenchmarkDecideUncached with the
// demo tenant's security rules in force (the shipped defaults of
// resources/secrules, authz.ShippedRules),
// compiled to an index as the server compiles them: the static policy
// and the generated rules module both evaluated per decision.
func BenchmarkDecideUncachedDemoRules(b *testing.B) {
	benchUncachedOn(b, demoEngine(b, authz.Options{CacheSize: -1}), benchInputs())
}

// demoEngine is an engine with opts and the demo tenant's rules in force,
// compiled to an index as the server compiles them.
func demoEngine(b *testing.B, opts authz.Options) *authz.Engine {
	e := newEngine(b, opts)
	mod, data, diags := rules.CompileIndexed(authz.ShippedRules, rules.DefaultVocabulary())
	if len(diags) > 0 {
		b.Fatal(diags)
	}
	if err := e.LoadIndexed(context.Background(), 1, mod, data); err != nil {
		b.Fatal(err)
	}
	return e
}

// benchUncached evaluates ins in turn on an engine without a decision
// cache.
func benchUncached(b *testing.B, ins []*authz.Input) {
	benchUncachedOn(b, newEngine(b, authz.Options{CacheSize: -1}), ins)
}

// benchUncachedOn evaluates ins in turn on e.
func benchUncachedOn(b *testing.B, e *authz.Engine, ins []*authz.Input) {
	benchUncachedCtx(b, context.Background(), e, ins)
}

// benchUncachedCtx is benchUncachedOn under ctx. Besides the mean it
// reports the median and the 99th percentile of the decisions' own wall
// times (p50-ns, p99-ns: issue 12 states its target as a p50; the mean
// also carries the garbage collector's pauses and assists, which land on
// a few decisions).
//
// It also reports the CPU of the benchmark's own thread per decision
// (thread-ns/op: without the collector's background workers, which
// allocs/op stand for).
func benchUncachedCtx(b *testing.B, ctx context.Context, e *authz.Engine, ins []*authz.Input) {
	lat := make([]time.Duration, 1<<16) // the last 65,536 decisions' times
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu, thread := cpuTime(), threadCPU()
	n := 0
	for i := 0; b.Loop(); i++ {
		t := time.Now()
		if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
		lat[i%len(lat)] = time.Since(t)
		n = i + 1
	}
	b.ReportMetric(float64(threadCPU()-thread)/float64(b.N), "thread-ns/op")
	reportCPU(b, cpu)
	reportPercentiles(b, lat[:min(n, len(lat))])
}

// reportPercentiles reports the median and the 99th percentile of lat.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process CPU time per operation since start
// (cpu-ns/op): on a machine shared with other work, a steadier measure
// than wall time. Under GOMAXPROCS=1 it is the benchmark's own work,
// garbage collection included.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
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
	cpu := cpuTime()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
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

// mixInputs are the uncached mix of issue 4: 1,000 distinct subjects
// reading, updating and exporting an app in a shared, a managed and a
// personal space, with professional and analyzer licenses (allows and
// gate refusals both).
func mixInputs() []*authz.Input {
	spaces := []struct{ typ, role string }{{"shared", "canedit"}, {"managed", "canview"}, {"personal", ""}}
	actions := []string{"read", "update", "export"}
	licenses := []string{"professional", "analyzer"}
	ins := make([]*authz.Input, 1000)
	for i := range ins {
		sp := spaces[i%len(spaces)]
		id := fmt.Sprintf("u-%04d", i)
		var roles []string
		if sp.role != "" {
			roles = []string{sp.role}
		}
		r := sharedApp
		r.SpaceType = sp.typ
		r.Space = &authz.Related{ID: "sp-1", Name: "Sales", Type: sp.typ, Owner: "u-space"}
		if sp.typ == "personal" {
			r.SpaceID, r.Space, r.Owner = "", nil, id
		}
		ins[i] = &authz.Input{
			Subject:     member(id, licenses[(i/3)%len(licenses)], roles...),
			Action:      actions[(i/6)%len(actions)],
			Resource:    r,
			Environment: "hub",
		}
	}
	return ins
}

// BenchmarkEvaluateMixUncached is one full policy evaluation per decision
// over mixInputs; read it against BenchmarkEvaluateBaseline of the same
// run (target ≤ 25 µs).
func BenchmarkEvaluateMixUncached(b *testing.B) { benchUncached(b, mixInputs()) }

// BenchmarkEvaluateBaseline is the cheapest OPA query (input.action) over
// the same inputs: the machine's floor for an evaluation.
func BenchmarkEvaluateBaseline(b *testing.B) {
	pq, err := rego.New(rego.Query("input.action")).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ins := mixInputs()
	vals := make([]ast.Value, len(ins))
	for i, in := range ins {
		if vals[i], err = ast.InterfaceToValue(in); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; b.Loop(); i++ {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(vals[i%len(vals)])); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// floorModules is a policy whose decision is trivial: one constant grant,
// no gate, allow computed from both as policies/decision.rego computes it
// without a rules module.
// Decided through the engine's own path (Evaluate → decideWith), it is the
// engine's floor: what a decision costs before the policy does anything.
var floorModules = map[string]string{
	"floor.rego": `package rulekeeper.authz

import data.rulekeeper.builtin
import data.rulekeeper.gates

default allow := false

allow := x if {
	b := builtin.grants
	d := gates.denies
	b != set()
	x := d == set()
}
`,
	"builtin.rego": `package rulekeeper.builtin

grants := {{"kind": "table", "id": "floor", "name": "Floor"}}
`,
	"gates.rego": `package rulekeeper.gates

denies := set()
`,
}

// BenchmarkDecideFloor is BenchmarkDecideUncached on floorModules: read
// against it, the difference is the static policy's own evaluation.
func BenchmarkDecideFloor(b *testing.B) {
	e := newEngine(b, authz.Options{CacheSize: -1, Modules: floorModules})
	benchUncachedOn(b, e, benchInputs())
}

// BenchmarkDecideFloorDeadline is BenchmarkDecideFloor under a context
// with a deadline, as the server's handlers pass (a request timeout): what
// watching the context for cancellation costs a decision.
func BenchmarkDecideFloorDeadline(b *testing.B) {
	e := newEngine(b, authz.Options{CacheSize: -1, Modules: floorModules})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	benchUncachedCtx(b, ctx, e, benchInputs())
}
