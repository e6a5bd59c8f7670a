package scale_test

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/bench/scale"
	"github.com/rulekeeper/rulekeeper/policies"
)

func engine(tb testing.TB) *authz.Engine {
	tb.Helper()
	m, err := policies.Modules()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		tb.Fatal(err)
	}
	e, err := authz.New(context.Background(), authz.Options{Modules: m, Data: data, CacheSize: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// peak samples the Go heap while f runs and reads the process's high-water
// mark of resident memory (VmHWM) afterwards.
func peak(f func()) (heapMiB, hwmMiB float64) {
	var mu sync.Mutex
	var maxHeap uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			maxHeap = max(maxHeap, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	return float64(maxHeap) / (1 << 20), vmHWM()
}

func vmHWM() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func tenant(b *testing.B) *authz.Scope {
	b.Helper()
	t := scale.Generate(8, scale.Issue8)
	return authz.NewScope(t.Subjects, t.Resources)
}

func benchPreview(b *testing.B, rule rules.Rule) {
	e := engine(b)
	sc := tenant(b)
	current := scale.RuleSet(20)
	ctx := context.Background()
	var res *authz.PreviewResult
	b.ResetTimer()
	for b.Loop() {
		heap, hwm := peak(func() {
			var err error
			res, err = authz.Preview(ctx, e, sc, authz.PreviewRequest{Rule: rule, Current: current, Limit: 50})
			if err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(heap, "peak-heap-MiB")
		b.ReportMetric(hwm, "VmHWM-MiB")
	}
	b.ReportMetric(float64(len(sc.Subjects)*len(sc.Resources)*len(scale.Actions)), "triples")
	b.ReportMetric(float64(res.Counts.Candidates), "pairs-evaluated")
	b.ReportMetric(float64(res.Counts.Evaluated), "decisions")
	b.ReportMetric(float64(res.Counts.Granted), "granted")
	b.ReportMetric(float64(res.Counts.New), "new")
}

// BenchmarkPreview: the issue's rule (one group × Q* apps) over 1,000
// users × 10,000 resources × 4 actions (target ≤ 10 s).
func BenchmarkPreview(b *testing.B) { benchPreview(b, scale.PreviewRule()) }

// BenchmarkPreviewBroad: one group × every app, the worst case (about
// 2.4 million decisions: minutes; set RULEKEEPER_SCALE_BROAD=1 to run it).
func BenchmarkPreviewBroad(b *testing.B) {
	if os.Getenv("RULEKEEPER_SCALE_BROAD") == "" {
		b.Skip("set RULEKEEPER_SCALE_BROAD=1: this one takes minutes")
	}
	benchPreview(b, scale.BroadRule())
}

// BenchmarkImpact10: a 10-rule change (3 disabled, 3 updated, 2 deleted,
// 2 added) against 20 rules at the same scale (target ≤ 20 s).
func BenchmarkImpact10(b *testing.B) {
	e := engine(b)
	sc := tenant(b)
	current := scale.RuleSet(20)
	proposed := scale.Change(current)
	ctx := context.Background()
	var res *authz.ImpactResult
	b.ResetTimer()
	for b.Loop() {
		heap, hwm := peak(func() {
			var err error
			res, err = authz.Impact(ctx, e, sc, authz.ImpactRequest{Current: current, Proposed: proposed, Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(heap, "peak-heap-MiB")
		b.ReportMetric(hwm, "VmHWM-MiB")
	}
	b.ReportMetric(float64(len(res.Summary.ChangedRules)), "changed-rules")
	b.ReportMetric(float64(res.Summary.Evaluated), "evaluations")
	b.ReportMetric(float64(res.Summary.Gained), "gained")
	b.ReportMetric(float64(res.Summary.Lost), "lost")
}

// BenchmarkScope: turning 1,000 users and 10,000 resources into policy
// input values (once per request).
func BenchmarkScope(b *testing.B) {
	t := scale.Generate(8, scale.Issue8)
	for b.Loop() {
		authz.NewScope(t.Subjects, t.Resources)
	}
}

// BenchmarkDecision: one uncached decision of the generated tenant, the
// unit every figure above is made of.
func BenchmarkDecision(b *testing.B) {
	e := engine(b)
	t := scale.Generate(8, scale.Issue8)
	ctx := context.Background()
	ev, err := e.InForce(ctx)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		in := &authz.Input{Subject: t.Subjects[i%len(t.Subjects)], Action: scale.Actions[i%4],
			Resource: t.Resources[(i*7919)%len(t.Resources)], Environment: "hub"}
		if _, err := ev.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestGeneratorIsDeterministicAndSized keeps the benchmark data honest.
func TestGeneratorIsDeterministicAndSized(t *testing.T) {
	a, b := scale.Generate(8, scale.Issue8), scale.Generate(8, scale.Issue8)
	if len(a.Subjects) != 1000 || len(a.Resources) != 10_000 {
		t.Fatalf("%d users, %d resources", len(a.Subjects), len(a.Resources))
	}
	for i := range a.Resources {
		if a.Resources[i].ID != b.Resources[i].ID || a.Resources[i].Name != b.Resources[i].Name {
			t.Fatalf("resource %d differs between runs", i)
		}
	}
	q, g := 0, 0
	for _, r := range a.Resources {
		if r.Type == "app" && strings.HasPrefix(r.Name, "Q") {
			q++
		}
	}
	for _, s := range a.Subjects {
		if strings.Contains(strings.Join(s.Groups, ","), "G00") {
			g++
		}
	}
	if q < 200 || q > 500 || g < 40 || g > 150 {
		t.Fatalf("%d Q apps, %d users in G00: the rule's selectivity is off", q, g)
	}
	for _, r := range append(scale.RuleSet(20), scale.Change(scale.RuleSet(20))...) {
		if d := rules.Check(r, nil); rules.HasErrors(d) {
			t.Fatalf("rule %s: %v", r.ID, d)
		}
	}
	if n := len(authz.ChangedRules(scale.RuleSet(20), scale.Change(scale.RuleSet(20)))); n != 10 {
		t.Fatalf("the change touches %d rules, not 10", n)
	}
}

// TestFastPathEqualsOPA: on a smaller generated tenant, the preview and the
// impact computed through the judge's shortcuts equal those computed with
// a full OPA evaluation of every decision.
func TestFastPathEqualsOPA(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	size := scale.Size{Users: 60, Resources: 600, Spaces: 12, Groups: 4}
	if testing.Short() {
		// make test; make test-full compares on the larger tenant.
		size = scale.Size{Users: 40, Resources: 300, Spaces: 12, Groups: 4}
	}
	gen := scale.Generate(3, size)
	sc := authz.NewScope(gen.Subjects, gen.Resources)
	current := scale.RuleSet(20)
	proposed := scale.Change(current)
	var results [2]*authz.ImpactResult
	var previews [2]*authz.PreviewResult
	for i, exact := range []bool{false, true} {
		var err error
		if results[i], err = authz.Impact(ctx, e, sc, authz.ImpactRequest{Current: current, Proposed: proposed, Exact: exact}); err != nil {
			t.Fatal(err)
		}
		if previews[i], err = authz.Preview(ctx, e, sc, authz.PreviewRequest{Rule: scale.BroadRule(), Current: current, Limit: 1 << 20, Exact: exact}); err != nil {
			t.Fatal(err)
		}
	}
	fast, exact := results[0], results[1]
	if fast.Summary.Gained+fast.Summary.Lost == 0 {
		t.Fatal("the change changes nothing: the test proves nothing")
	}
	if !reflect.DeepEqual(fast.Gained, exact.Gained) || !reflect.DeepEqual(fast.Lost, exact.Lost) {
		t.Fatalf("impact: fast %d gained %d lost, exact %d gained %d lost", len(fast.Gained), len(fast.Lost), len(exact.Gained), len(exact.Lost))
	}
	if !reflect.DeepEqual(previews[0].Items, previews[1].Items) || previews[0].Counts.Gated != previews[1].Counts.Gated {
		t.Fatalf("preview: fast %+v, exact %+v", previews[0].Counts, previews[1].Counts)
	}
	if fast.Summary.Evaluated*3 > exact.Summary.Evaluated {
		t.Fatalf("the fast path evaluated %d times, the exact one %d", fast.Summary.Evaluated, exact.Summary.Evaluated)
	}
}
