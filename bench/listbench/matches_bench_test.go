package listbench_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/bench/listbench"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// BenchmarkListMatchesRule: issue 12's case — one security rule
// `resource.name matches "^zzz"` in force, a page of 100 readable apps
// among 2,100. "before" is what the planner answered until the rule's
// `matches` was planned: the condition opaque, every app decided by the
// engine (unbounded, as then); "bounded" is the same with the default
// bound on decisions; "after" is the exact plan pushed down to the
// database ($regex), and "after-catalog" the same on the app catalog.
func BenchmarkListMatchesRule(b *testing.B) {
	ctx := context.Background()
	st := open(b)
	t := listbench.NewTenant(listbench.Size{Apps: 2_100, Spaces: 100, MemberOf: 5})
	if err := t.Insert(ctx, st.Database().Collection("apps")); err != nil {
		b.Fatal(err)
	}
	e := engine(b, t)
	rs := []rules.Rule{{ID: "zzz", Name: "zzz apps", ResourceFilter: "App_*", Condition: `resource.name matches "^zzz"`,
		Actions: []string{"read"}, Context: "hub"}}
	module, diags := rules.CompileModule(rs, nil)
	if rules.HasErrors(diags) {
		b.Fatal(diags)
	}
	if err := e.Load(ctx, 1, module); err != nil {
		b.Fatal(err)
	}
	planner := authz.NewPlanner(e, nil)
	planner.SetRules(1, rs)
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
	}
	query := pushdown.Query[store.App]{
		Resource: "app", Fields: pushdown.AppFields(), Fetch: st.Apps.Scan, Limit: 100,
		ID: func(a *store.App) string { return a.ID },
		Allowed: func(ctx context.Context, a *store.App) (bool, error) {
			d, err := e.Evaluate(ctx, &authz.Input{Subject: t.Subject, Action: "read", Resource: *t.View(a), Environment: "hub"})
			return d.Allow, err
		},
	}
	modes := []struct {
		name         string
		plan         func() *authz.Filter
		maxDecisions int
		catalog      bool
	}{
		{"before", func() *authz.Filter { return opaqueMatches(plan()) }, 1 << 30, false},
		{"bounded", func() *authz.Filter { return opaqueMatches(plan()) }, 0, false},
		{"after", plan, 0, false},
		{"after-catalog", plan, 0, true},
	}
	p50 := map[string]time.Duration{}
	pages := map[string][]string{}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			q := query
			q.MaxDecisions = m.maxDecisions
			if m.catalog {
				if err := st.EnableAppCatalog(ctx); err != nil {
					b.Fatal(err)
				}
				q.Local, q.View = st.Apps.Match, entities.AppView
			}
			pages[m.name], p50[m.name] = timePages(b, q, m.plan)
		})
	}
	if len(pages["after"]) == 0 || !slices.Equal(pages["after"], pages["before"]) || !slices.Equal(pages["after-catalog"], pages["before"]) {
		b.Fatalf("the modes disagree:\nbefore %v\nafter %v\ncatalog %v", pages["before"], pages["after"], pages["after-catalog"])
	}
	fmt.Printf("page of 100 of %d apps with a matches rule, p50: before %v, bounded %v (%d apps), after %v (%.0f× faster), after on the catalog %v (%.0f×)\n",
		t.Size.Apps, p50["before"].Round(time.Millisecond), p50["bounded"].Round(time.Millisecond), len(pages["bounded"]),
		p50["after"].Round(time.Millisecond), float64(p50["before"])/float64(p50["after"]),
		p50["after-catalog"].Round(time.Microsecond), float64(p50["before"])/float64(p50["after-catalog"]))
}

// opaqueMatches makes the planner's `matches` conditions (case-sensitive
// regexes) opaque again, as they were before they were planned.
func opaqueMatches(f *authz.Filter) *authz.Filter {
	if f.Op == authz.FilterRegex && !f.Fold {
		return authz.Opaque("matches")
	}
	if len(f.Args) == 0 {
		return f
	}
	out := *f
	out.Args = make([]*authz.Filter, len(f.Args))
	for i, a := range f.Args {
		out.Args[i] = opaqueMatches(a)
	}
	return &out
}
