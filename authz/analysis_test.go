package authz_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// world is a small random tenant: subjects and resources shaped as the
// engine hydrates them.
type world struct {
	subjects  []authz.Subject
	resources []authz.Resource
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// sized is full, or short under -short (make test; make test-full runs the
// full size).
func sized(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

func subset(r *rand.Rand, xs ...string) []string {
	var out []string
	for _, x := range xs {
		if r.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func newWorld(r *rand.Rand, nu, na int) world {
	var w world
	spaces := []*authz.Related{
		{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u0"},
		{ID: "sp-2", Name: "Finance", Type: "managed", Owner: "u1"},
	}
	for i := range nu {
		s := authz.Subject{
			ID: fmt.Sprintf("u%d", i), Name: pick(r, "alice", "Bob", "carol", "Q-bot", "dave"),
			Email: pick(r, "Alice@x", "bob@x", ""), Status: pick(r, "active", "active", "active", "disabled"),
			Anonymous: r.IntN(10) == 0, Roles: subset(r, "HubAdmin", "ContentAdmin", "RootAdmin"),
			Groups:  subset(r, "Sales", "Finance", "sales"),
			License: authz.License{Type: pick(r, "professional", "professional", "analyzer", "")},
			Spaces:  map[string][]string{},
		}
		if r.IntN(2) == 0 {
			s.Attributes = map[string][]string{"dept": {pick(r, "Finance", "finance", "Ops")}}
		}
		for _, sp := range spaces {
			if r.IntN(2) == 0 {
				s.Spaces[sp.ID] = []string{pick(r, "canview", "canedit", "admin", "owner")}
			}
		}
		w.subjects = append(w.subjects, s)
	}
	for _, sp := range spaces {
		w.resources = append(w.resources, authz.Resource{Type: "space", ID: sp.ID, Name: sp.Name, Owner: sp.Owner,
			SpaceID: sp.ID, SpaceType: sp.Type, Space: sp})
	}
	var apps []authz.Resource
	for i := range na {
		a := authz.Resource{Type: "app", ID: fmt.Sprintf("a-%d", i), Name: pick(r, "Q4 report", "q1 plan", "Budget", "Q", "Pipeline"),
			Owner: fmt.Sprintf("u%d", r.IntN(nu)), SectionAccess: r.IntN(5) == 0}
		if r.IntN(2) == 0 {
			a.Attributes = map[string][]string{"tag": {pick(r, "fin", "FIN", "sales")}}
		}
		if sp := pick(r, nil, spaces[0], spaces[1]); sp != nil {
			a.SpaceID, a.SpaceType, a.Space = sp.ID, sp.Type, sp
		} else {
			a.SpaceType = "personal"
		}
		apps = append(apps, a)
	}
	w.resources = append(w.resources, apps...)
	for i := range 3 {
		a := apps[r.IntN(len(apps))]
		w.resources = append(w.resources, authz.Resource{Type: "app.object", ID: fmt.Sprintf("o-%d", i), Name: pick(r, "Sheet 1", "Q sheet"),
			Owner: fmt.Sprintf("u%d", r.IntN(nu)), SpaceID: a.SpaceID, SpaceType: a.SpaceType, Space: a.Space,
			ObjectType: pick(r, "sheet", "masteritem"), Public: r.IntN(2) == 0,
			App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.Owner, SpaceID: a.SpaceID}})
	}
	w.resources = append(w.resources, authz.Resource{Type: "extension", ID: "e-0", Name: "Q chart", Owner: "u0"})
	return w
}

var atoms = []string{
	`user.group = "Sales"`, `user.group == "sales"`, `user.name like "a*"`, `user.name like "*o?"`,
	`resource.name like "Q*"`, `resource.name = "q4 REPORT"`, `resource.name matches "Q[0-9].*"`,
	`user.roles = "HubAdmin"`, `resource.@tag = "fin"`, `resource.@tag == "fin"`, `user.@dept = "Finance"`,
	`resource.owner = user`, `resource.IsOwned()`, `resource.space.name = "Sales"`, `resource.space.Empty()`,
	`resource.stream.type = "managed"`, `user.IsAnonymous()`, `user.email == "Alice@x"`, `resource.id = "a-1"`,
	`resource.app.name like "Q*"`, `resource.HasPrivilege("read")`, `user.license = "analyzer"`,
	`resource.resourcetype = "app"`, `user != "u1"`, `user.group != "Finance"`, `resource.name like "*"`,
	`resource.sectionAccess = "true"`, `resource.objectType = "sheet"`, `user.status = "active"`,
}

func randCond(r *rand.Rand, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		a := pick(r, atoms...)
		if r.IntN(5) == 0 {
			return "!" + a
		}
		return a
	}
	op := pick(r, " and ", " or ")
	s := "(" + randCond(r, depth-1) + op + randCond(r, depth-1) + ")"
	if r.IntN(6) == 0 {
		return "!" + s
	}
	return s
}

var filters = []string{"App_*", "Space_*", "App.Object_*", "Extension_*", "*", "App_a-1", "Stream*", "App*", "App_*, Space_*", "Stream_*"}

func randRule(r *rand.Rand, id string, v *rules.Vocabulary) rules.Rule {
	for {
		rule := rules.Rule{ID: id, Name: "rule " + id, ResourceFilter: pick(r, filters...), Condition: randCond(r, 2),
			Actions: subset(r, "read", "update", "delete", "export"), Context: pick(r, "hub", "console", "both")}
		if r.IntN(8) == 0 {
			rule.Condition = ""
		}
		if len(rule.Actions) == 0 {
			rule.Actions = []string{"read"}
		}
		if !rules.HasErrors(rules.Check(rule, v)) {
			return rule
		}
	}
}

var allActions = []string{"read", "update", "delete", "export"}
var envs = []string{"console", "hub"}

// TestRuleMatcherAgreesWithOPA: whenever the Go matcher gives a definite
// answer it is the policy's, and a False from partial knowledge (subject
// or resource unknown) is never contradicted.
func TestRuleMatcherAgreesWithOPA(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := context.Background()
	v := rules.DefaultVocabulary()
	r := rand.New(rand.NewPCG(1, 8))
	definite, unknown := 0, 0
	for n := range sized(60, 15) {
		w := newWorld(r, 6, 6)
		rule := randRule(r, fmt.Sprintf("r%d", n), v)
		module, diags := rules.CompileModule([]rules.Rule{rule}, v)
		if rules.HasErrors(diags) {
			t.Fatalf("%+v: %v", rule, diags)
		}
		ev, err := e.WithRules(ctx, module)
		if err != nil {
			t.Fatal(err)
		}
		m := authz.NewRuleMatcher(rule, v)
		for i := range w.subjects {
			s := &w.subjects[i]
			st := authz.SubjectTarget(s)
			for j := range w.resources {
				res := &w.resources[j]
				rt := authz.ResourceTarget(res)
				full := min(m.Selects(res.Type, res.ID), m.Condition(st, rt))
				partial := min(m.Condition(st, nil), m.Condition(nil, rt))
				for _, a := range allActions {
					for _, env := range envs {
						gs, err := ev.RuleGrants(ctx, &authz.Input{Subject: *s, Action: a, Resource: *res, Environment: env})
						if err != nil {
							t.Fatal(err)
						}
						got := slices.ContainsFunc(gs, func(g authz.Grant) bool { return g.ID == rule.ID })
						want := full
						if !m.HasAction(a) || !m.InEnvironment(env) {
							want = authz.False
						}
						if want == authz.Unknown {
							unknown++
						} else {
							definite++
							if got != (want == authz.True) {
								t.Fatalf("rule %q %q on %s, subject %+v, resource %+v, %s/%s: matcher %v, OPA %v",
									rule.ResourceFilter, rule.Condition, res.Type, s, res, a, env, want, got)
							}
						}
						if got && partial == authz.False {
							t.Fatalf("rule %q: partial False but OPA grants (%s %s %s)", rule.Condition, s.ID, res.ID, a)
						}
					}
				}
			}
		}
	}
	if definite < 10*unknown {
		t.Fatalf("the matcher is undecided too often: %d definite, %d unknown", definite, unknown)
	}
	t.Logf("%d definite, %d unknown", definite, unknown)
}

type cell struct {
	user, typ, id, action, env string
}

// brute evaluates every cell of the world under a rule set.
func brute(t *testing.T, e *authz.Engine, w world, set []rules.Rule) map[cell]authz.Decision {
	t.Helper()
	module, _ := rules.CompileModule(set, nil)
	ev, err := e.WithRules(context.Background(), module)
	if err != nil {
		t.Fatal(err)
	}
	out := map[cell]authz.Decision{}
	for _, s := range w.subjects {
		for _, r := range w.resources {
			for _, a := range allActions {
				for _, env := range envs {
					d, err := ev.Evaluate(context.Background(), &authz.Input{Subject: s, Action: a, Resource: r, Environment: env})
					if err != nil {
						t.Fatal(err)
					}
					out[cell{s.ID, r.Type, r.ID, a, env}] = d
				}
			}
		}
	}
	return out
}

func ids(gs []authz.Grant) []string {
	var out []string
	for _, g := range gs {
		if g.Kind == "rule" {
			out = append(out, g.ID)
		}
	}
	return out
}

func TestPreviewMatchesEveryDecision(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := context.Background()
	v := rules.DefaultVocabulary()
	r := rand.New(rand.NewPCG(2, 9))
	for range sized(12, 4) {
		w := newWorld(r, 5, 6)
		current := []rules.Rule{randRule(r, "c1", v), randRule(r, "c2", v)}
		rule := randRule(r, "x", v)
		before := brute(t, e, w, current)
		withRule := append(slices.Clone(current), rule)
		withRule[len(withRule)-1].ID = authz.PreviewRuleID
		after := brute(t, e, w, withRule)
		var want []string
		for c, d := range after {
			if d.Allow && slices.Contains(ids(d.Grants), authz.PreviewRuleID) {
				want = append(want, fmt.Sprintf("%s %s %s %s %s new=%v", c.user, c.typ, c.id, c.action, c.env, !before[c].Allow))
			}
		}
		slices.Sort(want)
		// The whole answer, one page of 7 at a time.
		sc := authz.NewScope(slices.Clone(w.subjects), slices.Clone(w.resources))
		var got []string
		var after0 *authz.AccessKey
		var counts authz.PreviewCounts
		for page := 0; ; page++ {
			res, err := authz.Preview(ctx, e, sc, authz.PreviewRequest{Rule: rule, Current: current, After: after0, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range res.Items {
				got = append(got, fmt.Sprintf("%s %s %s %s %s new=%v", it.UserID, it.ResourceType, it.ResourceID, it.Action, it.Environment, it.New))
			}
			counts = res.Counts
			if !res.More {
				break
			}
			k := res.Items[len(res.Items)-1].Key()
			after0 = &k
			if page > 100 {
				t.Fatal("pages never end")
			}
		}
		if !slices.IsSorted(got) {
			t.Fatalf("items out of order: %v", got)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("rule %+v over current %+v:\n got %v\nwant %v", rule, current, got, want)
		}
		newCount := 0
		for _, s := range want {
			if strings.HasSuffix(s, "new=true") {
				newCount++
			}
		}
		if counts.Granted != len(want) || counts.New != newCount || counts.AlreadyGranted != len(want)-newCount {
			t.Fatalf("counts %+v for %d items, %d new", counts, len(want), newCount)
		}
	}
}

func TestImpactMatchesEveryDecision(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := context.Background()
	v := rules.DefaultVocabulary()
	r := rand.New(rand.NewPCG(3, 10))
	nonEmpty := 0
	for n := range sized(12, 4) {
		w := newWorld(r, 5, 6)
		current := []rules.Rule{randRule(r, "c1", v), randRule(r, "c2", v), randRule(r, "c3", v), randRule(r, "c4", v)}
		proposed := slices.Clone(current)
		proposed[0].Disabled = true                       // disable
		proposed[1] = randRule(r, "c2", v)                // update
		proposed = slices.Delete(proposed, 2, 3)          // delete c3
		proposed = append(proposed, randRule(r, "c5", v)) // add
		before, after := brute(t, e, w, current), brute(t, e, w, proposed)
		var wantGained, wantLost []string
		for c, d := range after {
			b := before[c]
			switch {
			case d.Allow && !b.Allow:
				wantGained = append(wantGained, fmt.Sprintf("%v %v", c, ids(d.Grants)))
			case !d.Allow && b.Allow:
				wantLost = append(wantLost, fmt.Sprintf("%v %v", c, ids(b.Grants)))
			}
		}
		slices.Sort(wantGained)
		slices.Sort(wantLost)
		sc := authz.NewScope(slices.Clone(w.subjects), slices.Clone(w.resources))
		res, err := authz.Impact(ctx, e, sc, authz.ImpactRequest{Current: current, Proposed: proposed})
		if err != nil {
			t.Fatal(err)
		}
		list := func(items []authz.ImpactItem) []string {
			var out []string
			for _, it := range items {
				out = append(out, fmt.Sprintf("%v %v", cell{it.UserID, it.ResourceType, it.ResourceID, it.Action, it.Environment}, ids(it.Rules)))
			}
			slices.Sort(out)
			return out
		}
		if g := list(res.Gained); !slices.Equal(g, wantGained) {
			t.Fatalf("case %d gained:\n got %v\nwant %v", n, g, wantGained)
		}
		if l := list(res.Lost); !slices.Equal(l, wantLost) {
			t.Fatalf("case %d lost:\n got %v\nwant %v", n, l, wantLost)
		}
		if res.Summary.Gained != len(wantGained) || res.Summary.Lost != len(wantLost) {
			t.Fatalf("summary %+v", res.Summary)
		}
		byType := 0
		for _, c := range res.Summary.ByResourceType {
			byType += c.Gained + c.Lost
		}
		if byType != len(wantGained)+len(wantLost) {
			t.Fatalf("summary by type %+v", res.Summary.ByResourceType)
		}
		nonEmpty += len(wantGained) + len(wantLost)
	}
	if nonEmpty == 0 {
		t.Fatal("no case changed anything: the test proves nothing")
	}
}

func TestAuditPagesTheMatrix(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := context.Background()
	w := newWorld(rand.New(rand.NewPCG(4, 11)), 4, 5)
	current := []rules.Rule{{ID: "r1", Name: "Q apps", ResourceFilter: "App_*", Condition: `resource.name like "Q*"`, Actions: []string{"read"}, Context: "hub"}}
	module, _ := rules.CompileModule(current, nil)
	if err := e.Load(ctx, 7, module); err != nil {
		t.Fatal(err)
	}
	ev, err := e.InForce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := brute(t, e, w, current)
	sc := authz.NewScope(slices.Clone(w.subjects), slices.Clone(w.resources))
	var after *authz.AccessKey
	seen := 0
	var last authz.AccessKey
	for {
		res, err := authz.Audit(ctx, ev, sc, authz.AuditRequest{Actions: []string{"update", "read"}, Environment: "hub", After: after, Limit: 9})
		if err != nil {
			t.Fatal(err)
		}
		if res.Revision != 7 || res.Total != len(w.subjects)*len(w.resources)*2 {
			t.Fatalf("revision %d total %d", res.Revision, res.Total)
		}
		for _, c := range res.Cells {
			if seen > 0 && c.Key().Compare(last) <= 0 {
				t.Fatalf("cell %+v after %+v", c.Key(), last)
			}
			last = c.Key()
			seen++
			d := want[cell{c.UserID, c.ResourceType, c.ResourceID, c.Action, "hub"}]
			if d.Allow != c.Allow || !slices.Equal(ids(d.Grants), ids(c.Grants)) {
				t.Fatalf("cell %+v: want %+v", c, d)
			}
		}
		if !res.More {
			break
		}
		after = &last
	}
	if seen != len(w.subjects)*len(w.resources)*2 {
		t.Fatalf("%d cells seen", seen)
	}
}
