package authz_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// TestPatchedRulesDecideAsAFreshLoad: rule writes applied one at a time
// (Index.Put/Delete, then Engine.Patch, or LoadIndexed when the module
// changes) leave the engine deciding exactly as an engine that loads the
// final set plainly, allow and granting rules alike.
func TestPatchedRulesDecideAsAFreshLoad(t *testing.T) {
	ctx := context.Background()
	live := newEngine(t, authz.Options{CacheSize: -1})
	ix, err := rules.NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := live.LoadIndexed(ctx, 1, ix.Module(), ix.Data()); err != nil {
		t.Fatal(err)
	}
	conds := []string{
		`user.group = "Sales"`, `user.group = "Sales" and resource.name like "Q*"`, `resource.owner = user`,
		`user.name = "u1"`, `resource.space.name = "Sales"`, `resource.name matches "Q[0-9].*"`,
		`resource.HasPrivilege("read") and user.group = "EMEA"`, `!(resource.name like "T*")`, `user.@dept = resource.@dept`,
	}
	set := map[string]rules.Rule{}
	rev := int64(1)
	for i := range 40 {
		id := fmt.Sprintf("r%d", i%13)
		rev++
		var patches []rules.Patch
		var changed bool
		if i%7 == 6 {
			patches, changed = ix.Delete(id)
			delete(set, id)
		} else {
			r := rules.Rule{ID: id, Name: "rule " + id, ResourceFilter: []string{"App_*", "Stream_*", "*"}[i%3],
				Condition: conds[i%len(conds)], Actions: []string{"read"}, Context: []string{"hub", "both"}[i%2]}
			if i%3 == 1 && i%len(conds) == 6 {
				r.ResourceFilter = "App_*"
			}
			var diags []rules.Diagnostic
			patches, changed, diags = ix.Put(r)
			if rules.HasErrors(diags) {
				delete(set, id) // Put leaves a rule with errors out
			} else {
				set[id] = r
			}
		}
		if changed {
			err = live.LoadIndexed(ctx, rev, ix.Module(), ix.Data())
		} else {
			err = live.Patch(ctx, rev, patches)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var final []rules.Rule
	for _, r := range set {
		final = append(final, r)
	}
	module, _ := rules.CompileModule(final, nil)
	plain := newEngine(t, authz.Options{CacheSize: -1})
	if err := plain.Load(ctx, rev, module); err != nil {
		t.Fatal(err)
	}
	if live.Revision() != rev {
		t.Fatalf("revision %d, want %d", live.Revision(), rev)
	}
	granted := 0
	for _, s := range []authz.Subject{
		{ID: "u1", Name: "u1", Status: "active", License: authz.License{Type: "professional"}, Groups: []string{"Sales"}, Attributes: map[string][]string{"dept": {"x"}}},
		{ID: "u2", Name: "u2", Status: "active", License: authz.License{Type: "professional"}, Groups: []string{"EMEA"}, Spaces: map[string][]string{"sp-1": {"canview"}}},
	} {
		for _, res := range []authz.Resource{sharedApp, {Type: "app", ID: "a2", Name: "T1", Owner: "u1", Attributes: map[string][]string{"dept": {"X"}}},
			{Type: "space", ID: "sp-1", Name: "Sales", Owner: "u2", SpaceType: "shared"}} {
			for _, env := range []string{"hub", "console"} {
				in := &authz.Input{Subject: s, Action: "read", Resource: res, Environment: env}
				a, err := live.Evaluate(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				b, err := plain.Evaluate(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if a.Allow != b.Allow || !slices.Equal(a.Grants, b.Grants) {
					t.Fatalf("%s on %s in %s: patched %+v, plain %+v", s.ID, res.Name, env, a, b)
				}
				if slices.ContainsFunc(a.Grants, func(g authz.Grant) bool { return g.Kind == "rule" }) {
					granted++
				}
			}
		}
	}
	if granted == 0 {
		t.Fatal("no decision was granted by a rule: the test checks nothing")
	}
}

// TestPatchIsSeenByTheNextDecision: a rule write applied as a data patch
// is in force for the very next decision (the evaluator's copy of the data
// document follows the patch), and so is its removal.
func TestPatchIsSeenByTheNextDecision(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, authz.Options{CacheSize: -1})
	ix, err := rules.NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(rev int64, patches []rules.Patch, changed bool) {
		t.Helper()
		if changed {
			err = e.LoadIndexed(ctx, rev, ix.Module(), ix.Data())
		} else {
			err = e.Patch(ctx, rev, patches)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(rev int64, id, group string) bool {
		t.Helper()
		patches, changed, diags := ix.Put(rules.Rule{ID: id, Name: id, ResourceFilter: "App_*",
			Condition: `user.group = "` + group + `"`, Actions: []string{"read"}, Context: "hub"})
		if rules.HasErrors(diags) {
			t.Fatal(diags)
		}
		apply(rev, patches, changed)
		return changed
	}
	granted := func(group string) bool {
		t.Helper()
		in := &authz.Input{Subject: authz.Subject{ID: "u9", Status: "active", License: authz.License{Type: "professional"}, Groups: []string{group}},
			Action: "read", Resource: authz.Resource{Type: "app", ID: "a9", Name: "Q9", Owner: "u-owner", SpaceType: "personal"}, Environment: "hub"}
		d, err := e.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allow
	}
	put(1, "r1", "Sales")
	if put(2, "r2", "EMEA") {
		t.Skip("the second rule of the same shape changed the module: no data patch to test")
	}
	if !granted("EMEA") || !granted("Sales") {
		t.Fatal("a rule put by a data patch does not grant")
	}
	patches, changed := ix.Delete("r2")
	apply(3, patches, changed)
	if granted("EMEA") || !granted("Sales") {
		t.Fatal("a rule deleted by a data patch still grants (or the other stopped)")
	}
}

// TestPatchUnderDecisions: rule writes applied as data patches while
// decisions run (the store changes its data document in place; decisions
// read it without a store transaction, under the engine's guard). Run with
// -race, it fails on a decision that reads the document while a patch
// commits; every decision succeeds, and at the end a subject of each group
// G<i> is allowed by rule i.
func TestPatchUnderDecisions(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, authz.Options{CacheSize: -1})
	ix, err := rules.NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	rule := func(i int) rules.Rule {
		return rules.Rule{ID: fmt.Sprintf("r%d", i), Name: "r", ResourceFilter: "App_*",
			Condition: fmt.Sprintf(`user.group = "G%d"`, i), Actions: []string{"read"}, Context: "hub"}
	}
	if _, _, diags := ix.Put(rule(0)); rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	if err := e.LoadIndexed(ctx, 1, ix.Module(), ix.Data()); err != nil {
		t.Fatal(err)
	}
	const writes = 20
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Evaluate(ctx, groupInput((i+w)%writes)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 1; i < writes; i++ {
		patches, changed, diags := ix.Put(rule(i))
		if rules.HasErrors(diags) {
			t.Fatal(diags)
		}
		if changed {
			err = e.LoadIndexed(ctx, int64(i+1), ix.Module(), ix.Data())
		} else {
			err = e.Patch(ctx, int64(i+1), patches)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i := range writes {
		if d, err := e.Evaluate(ctx, groupInput(i)); err != nil || !d.Allow {
			t.Fatalf("group G%d after all writes: %+v, %v; want an allow", i, d, err)
		}
	}
}

// groupInput is a member of group G<i> reading an app in a personal space.
func groupInput(i int) *authz.Input {
	return &authz.Input{Subject: authz.Subject{ID: "u9", Status: "active", License: authz.License{Type: "professional"}, Groups: []string{fmt.Sprintf("G%d", i)}},
		Action: "read", Resource: authz.Resource{Type: "app", ID: "a9", Name: "Q9", Owner: "u-owner", SpaceType: "personal"}, Environment: "hub"}
}
