package authz_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// TestPlannerApplyEqualsSetRules: a planner given rule writes one at a
// time (Apply: adds, replacements, deletes) plans every subject's list as
// one given the final set at once (SetRules), and refuses to patch after
// a vocabulary change.
func TestPlannerApplyEqualsSetRules(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(0); seed < 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		ten := genPlanTenant(r)
		e := newEngine(t, authz.Options{Entities: ten, EntityTTL: -1})
		var pool []rules.Rule
		for len(pool) < 8 {
			pool = append(pool, genPlanRules(r)...)
		}
		for i := range pool {
			pool[i].ID = fmt.Sprintf("r%02d", i)
		}
		inc := authz.NewPlanner(e, nil)
		inc.SetRules(1, pool[:len(pool)/2])
		set := map[string]rules.Rule{}
		for _, x := range pool[:len(pool)/2] {
			set[x.ID] = x
		}
		for step := range 12 {
			x := pool[r.IntN(len(pool))]
			var puts []rules.Rule
			var dels []string
			switch r.IntN(3) {
			case 0:
				dels = []string{x.ID}
				delete(set, x.ID)
			case 1:
				x.Name = fmt.Sprintf("renamed %d", step)
				fallthrough
			default:
				puts = []rules.Rule{x}
				set[x.ID] = x
			}
			if !inc.Apply(int64(step+2), puts, dels) {
				t.Fatalf("seed %d: Apply refused without a vocabulary change", seed)
			}
		}
		var final []rules.Rule
		for _, id := range slices.Sorted(maps.Keys(set)) {
			final = append(final, set[id])
		}
		module, diags := rules.CompileModule(final, nil)
		if rules.HasErrors(diags) {
			t.Fatalf("seed %d: %v", seed, diags)
		}
		if err := e.Load(ctx, 13, module); err != nil {
			t.Fatal(err)
		}
		whole := authz.NewPlanner(e, nil)
		whole.SetRules(13, final)
		// Given the conditions as an index of the same vocabulary parsed
		// them (SetCheckedRules), it plans the same.
		v := rules.DefaultVocabulary()
		checked := authz.NewPlanner(e, v)
		ix, err := rules.NewIndex(v)
		if err != nil {
			t.Fatal(err)
		}
		ix.Build(final)
		parsed := map[string]rules.Expr{}
		for _, x := range final {
			if cond, ok := ix.Parsed(x.ID); ok {
				parsed[x.ID] = cond
			}
		}
		checked.SetCheckedRules(13, final, v, parsed)
		for id := range ten.subjects {
			req := authz.PlanRequest{Subject: id, Action: "read", Environments: []string{"hub", "console"}, Resource: authz.Resource{Type: "app"}}
			a, err := inc.Plan(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := whole.Plan(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Fatalf("seed %d, subject %s: the planner patched rule by rule plans\n%s\nthe one given the set plans\n%s", seed, id, a, b)
			}
			c, err := checked.Plan(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != b.String() {
				t.Fatalf("seed %d, subject %s: the planner given the index's conditions plans\n%s\nthe one given the set plans\n%s", seed, id, c, b)
			}
		}
		inc.SetVocabulary(nil)
		if inc.Apply(14, nil, []string{pool[0].ID}) {
			t.Fatalf("seed %d: Apply patched matchers of another vocabulary", seed)
		}
	}
}
