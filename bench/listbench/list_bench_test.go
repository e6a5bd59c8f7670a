package listbench_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/bench/listbench"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

// BenchmarkListPage: the first page of 50 readable apps for a member of
// 20 of 1,000 spaces, among 100,000 apps, (a) planned by authz.Planner
// (which the timing includes: it decides its representatives uncached)
// and pushed down, one query, and (b) scanning in
// _id order and asking the real engine about each app. It prints the p50
// of both and their ratio; point-lookups is 51 {_id: x} queries, the
// only filter the embedded FerretDB answers without decoding the whole
// collection.
func BenchmarkListPage(b *testing.B) {
	ctx := context.Background()
	st := open(b)
	t := listbench.NewTenant(listbench.Issue8)
	start := time.Now()
	if err := t.Insert(ctx, st.Database().Collection("apps")); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d apps in %v", t.Size.Apps, time.Since(start).Round(time.Millisecond))
	e := engine(b, t)
	planner := authz.NewPlanner(e, nil)
	plan := func() *authz.Filter {
		f, err := planner.Plan(ctx, authz.PlanRequest{Subject: t.Subject.ID, Action: "read",
			Environments: []string{"hub"}, Resource: authz.Resource{Type: "app"}})
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	if f := plan(); !f.Exact() {
		b.Fatalf("the plan is not exact: %s", f)
	} else {
		b.Logf("plan: %s", f)
	}
	query := pushdown.Query[store.App]{
		Resource: "app", Fields: pushdown.AppFields(), Fetch: st.Apps.Scan, Limit: 50,
		ID: func(a *store.App) string { return a.ID },
		Allowed: func(ctx context.Context, a *store.App) (bool, error) {
			d, err := e.Evaluate(ctx, &authz.Input{Subject: t.Subject, Action: "read", Resource: *t.View(a), Environment: "hub"})
			return d.Allow, err
		},
	}
	modes := []struct {
		name    string
		plan    func() *authz.Filter
		catalog bool
	}{
		{"pushdown", plan, false},
		{"per-item", func() *authz.Filter { return authz.Opaque("decide each app") }, false},
		// The embedded server's app catalog (store.EnableAppCatalog), which
		// make run switches on: the same plan, evaluated in Go.
		{"catalog", plan, true},
	}
	p50 := map[string]time.Duration{}
	pages := map[string][]string{}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			q := query
			if m.catalog {
				t0 := time.Now()
				if err := st.EnableAppCatalog(ctx); err != nil {
					b.Fatal(err)
				}
				b.Logf("catalog of %d apps loaded in %v", t.Size.Apps, time.Since(t0).Round(time.Millisecond))
				q.Local, q.View = st.Apps.Match, entities.AppView
			}
			pages[m.name], p50[m.name] = timePages(b, q, m.plan)
		})
	}
	// Decisions per app over the catalog: what the plan saves once the
	// database is out of the way.
	b.Run("per-item-catalog", func(b *testing.B) {
		var took []time.Duration
		var items []store.App
		for b.Loop() {
			t0 := time.Now()
			var err error
			items, _, err = st.Apps.Match(ctx, func(a *store.App) (bool, error) { return query.Allowed(ctx, a) }, "", 51)
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		for _, a := range items[:min(50, len(items))] {
			pages["per-item-catalog"] = append(pages["per-item-catalog"], a.ID)
		}
		p50["per-item-catalog"] = median(took)
		b.ReportMetric(float64(p50["per-item-catalog"].Microseconds())/1000, "p50-ms")
	})
	b.Run("point-lookups", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			t0 := time.Now()
			for _, id := range pages["pushdown"][:min(51, len(pages["pushdown"]))] {
				if _, err := st.Apps.Get(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			took = append(took, time.Since(t0))
		}
		b.ReportMetric(float64(median(took).Microseconds())/1000, "p50-ms")
	})
	if len(pages["pushdown"]) != 50 || !slices.Equal(pages["pushdown"], pages["per-item"]) || !slices.Equal(pages["catalog"], pages["per-item"]) ||
		!slices.Equal(pages["per-item-catalog"], pages["per-item"]) {
		b.Fatalf("the modes disagree:\npushdown %v\nper-item %v\ncatalog %v", pages["pushdown"], pages["per-item"], pages["catalog"])
	}
	fmt.Printf("list page of 50 of %d apps, p50: database: pushdown %v, per-item %v (%.1f×); catalog: pushdown %v, per-item %v (%.0f×)\n",
		t.Size.Apps, p50["pushdown"].Round(time.Millisecond), p50["per-item"].Round(time.Millisecond),
		float64(p50["per-item"])/float64(p50["pushdown"]),
		p50["catalog"].Round(time.Microsecond), p50["per-item-catalog"].Round(time.Microsecond),
		float64(p50["per-item-catalog"])/float64(p50["catalog"]))
}

// timePages lists the first page of q with the filter plan answers (timed
// too) until the benchmark ends: the ids of the last page and the p50,
// also reported as p50-ms.
func timePages(b *testing.B, q pushdown.Query[store.App], plan func() *authz.Filter) ([]string, time.Duration) {
	var took []time.Duration
	var items []store.App
	for b.Loop() {
		t0 := time.Now()
		q.Filter = plan()
		var err error
		if items, _, err = pushdown.List(context.Background(), q); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	ids := make([]string, 0, len(items))
	for _, a := range items {
		ids = append(ids, a.ID)
	}
	p50 := median(took)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	return ids, p50
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// open connects to RULEKEEPER_MONGO_URI or starts an embedded FerretDB,
// on a fresh database dropped at the end.
func open(b *testing.B) *store.Store {
	b.Helper()
	ctx := context.Background()
	uri := os.Getenv("RULEKEEPER_MONGO_URI")
	if uri == "" {
		dir := b.TempDir()
		emb, err := embedded.Start(ctx, dir, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(emb.Close)
		uri = emb.URI()
	}
	st, err := store.Connect(ctx, uri, fmt.Sprintf("listbench_%d", time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = st.Database().Drop(ctx)
		_ = st.Close(ctx)
	})
	return st
}

func engine(b *testing.B, t *listbench.Tenant) *authz.Engine {
	b.Helper()
	m, err := policies.Modules()
	if err != nil {
		b.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		b.Fatal(err)
	}
	e, err := authz.New(context.Background(), authz.Options{Modules: m, Data: data, CacheSize: -1, Entities: listbench.Entities{T: t}})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// TestTenant keeps the generated data honest (no database).
func TestTenant(t *testing.T) {
	tn := listbench.NewTenant(listbench.Issue8)
	if len(tn.Member) != 20 || len(tn.Subject.Spaces) != 20 {
		t.Fatalf("member of %d spaces", len(tn.Member))
	}
	in, personal := 0, 0
	for i := range 10_000 {
		a := tn.App(i)
		if b := tn.App(i); a.ID != b.ID || a.Name != b.Name || a.SpaceID != b.SpaceID || a.OwnerID != b.OwnerID {
			t.Fatal("not deterministic")
		}
		switch {
		case a.SpaceID == "":
			personal++
		case slices.Contains(tn.Member, a.SpaceID):
			in++
		}
		if a.OwnerID == tn.Subject.ID {
			t.Fatal("the subject owns an app")
		}
	}
	if in < 100 || in > 300 || personal < 300 || personal > 700 {
		t.Fatalf("%d of 10,000 apps in the subject's spaces, %d personal", in, personal)
	}
	if tn.Spaces[tn.Member[3]].Type != store.SpaceShared {
		t.Fatal("member spaces must be shared")
	}
}
