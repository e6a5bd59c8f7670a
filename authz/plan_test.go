package authz_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// planTenant is a generated tenant served to the engine through the
// Entities interface, the way resources/entities serves the stored one.
type planTenant struct {
	subjects map[string]*authz.Subject
	spaces   map[string]*authz.Related
	apps     []*authz.Resource
}

func (t *planTenant) Subject(_ context.Context, id string) (*authz.Subject, error) {
	if s, ok := t.subjects[id]; ok {
		return s, nil
	}
	return nil, authz.ErrNotFound
}

func (t *planTenant) Resource(_ context.Context, typ, id string) (*authz.Resource, error) {
	for _, a := range t.apps {
		if a.Type == typ && a.ID == id {
			return a, nil
		}
	}
	return nil, authz.ErrNotFound
}

func (t *planTenant) Space(_ context.Context, id string) (*authz.Related, error) {
	if s, ok := t.spaces[id]; ok {
		return s, nil
	}
	return nil, authz.ErrNotFound
}

var (
	planNames  = []string{"Q4 report", "q1 draft", "Quarterly", "Budget", "Sales*", "ärger", "Q", "Plan (a+b)", "zzz", "Q4\n"}
	planGroups = []string{"Sales", "Finance", "Marketing"}
	planRoles  = map[string][]string{
		"shared":  {"owner", "admin", "canedit", "canview"},
		"managed": {"owner", "canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canconsumedata", "canoperate"},
	}
	planLicenses = []string{"professional", "professional", "analyzer", "analyzer_capacity", ""}
	planAdmin    = []string{"TenantAdmin", "ContentAdmin", "RootAdmin", "HubAdmin", "SecurityAdmin"}
)

func one[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func genPlanTenant(r *rand.Rand) *planTenant {
	t := &planTenant{subjects: map[string]*authz.Subject{}, spaces: map[string]*authz.Related{}}
	var spaceIDs []string
	for i := range 8 {
		typ := one(r, []string{"shared", "managed"})
		id := fmt.Sprintf("sp%d", i)
		t.spaces[id] = &authz.Related{ID: id, Name: one(r, []string{"Sales", "Finance", "Ops"}), Type: typ, Owner: fmt.Sprintf("u%d", r.IntN(6))}
		spaceIDs = append(spaceIDs, id)
	}
	for i := range 6 {
		id := fmt.Sprintf("u%d", i)
		s := &authz.Subject{ID: id, Name: "User " + id, Status: "active", License: authz.License{Type: one(r, planLicenses)}}
		if r.IntN(8) == 0 {
			s.Status = "disabled"
		}
		if r.IntN(4) == 0 {
			s.Roles = []string{one(r, planAdmin)}
		}
		for _, g := range planGroups {
			if r.IntN(2) == 0 {
				s.Groups = append(s.Groups, g)
			}
		}
		s.Spaces = map[string][]string{}
		for _, sp := range spaceIDs {
			typ := t.spaces[sp].Type
			if t.spaces[sp].Owner == id {
				s.Spaces[sp] = append(s.Spaces[sp], "owner")
			}
			if r.IntN(3) == 0 {
				s.Spaces[sp] = append(s.Spaces[sp], one(r, planRoles[typ]))
			}
		}
		t.subjects[id] = s
	}
	for i := range 60 {
		a := &authz.Resource{Type: "app", ID: fmt.Sprintf("a%02d", i), Name: one(r, planNames), Owner: fmt.Sprintf("u%d", r.IntN(7)),
			SectionAccess: r.IntN(5) == 0}
		if r.IntN(4) == 0 {
			a.SpaceType = "personal"
		} else {
			sp := t.spaces[one(r, spaceIDs)]
			a.SpaceID, a.SpaceType, a.Space = sp.ID, sp.Type, sp
		}
		if r.IntN(2) == 0 {
			a.Attributes = map[string][]string{"tags": {one(r, []string{"Finance", "kpi", "KPI", ""})}}
		}
		t.apps = append(t.apps, a)
	}
	return t
}

var planConditions = []string{
	``,
	`user.group = "Sales"`,
	`resource.name like "Q*"`,
	`resource.name like "q?"`,
	`resource.owner = user`,
	`resource.owner != user`,
	`resource.@tags = "kpi"`,
	`resource.@tags == "KPI"`,
	`resource.name = "budget"`,
	`resource.stream.name = "Sales"`,
	`resource.spaceType = "managed"`,
	`resource.resourcetype = "App"`,
	`resource.HasPrivilege("update")`,
	`resource.name matches "Q.*"`,
	`resource.name matches "^zzz"`,
	`resource.name matches "(?i)q\\w*|bud.?et"`,
	`resource.@tags matches "[Kk]P."`,
	`resource.name matches "\\bQ"`,
	`resource.IsOwned()`,
	`user.roles = "TenantAdmin"`,
	`user.license = "analyzer"`,
}

func genPlanRules(r *rand.Rand) []rules.Rule {
	var out []rules.Rule
	for i := range r.IntN(4) {
		cond := one(r, planConditions)
		if r.IntN(3) == 0 {
			other := one(r, planConditions)
			if cond != "" && other != "" {
				cond = fmt.Sprintf("(%s) %s %s(%s)", cond, one(r, []string{"and", "or"}), one(r, []string{"", "!"}), other)
			}
		}
		out = append(out, rules.Rule{
			ID: fmt.Sprintf("r%d", i), Name: fmt.Sprintf("rule %d", i),
			ResourceFilter: one(r, []string{"App_*", "App*", "App_a01", "Stream_*", "*"}),
			Condition:      cond,
			Actions:        []string{one(r, []string{"read", "read", "update"})},
			Context:        one(r, []string{"hub", "console", "both"}),
			Disabled:       r.IntN(8) == 0,
		})
	}
	return out
}

// TestPlanEqualsPerItemDecisions: for random tenants and random rule sets,
// an exact plan selects exactly the apps the engine allows reading (in the
// hub or the console), and an inexact plan's superset selects every one of
// them.
func TestPlanEqualsPerItemDecisions(t *testing.T) {
	ctx := context.Background()
	exact, inexact := 0, 0
	first, end := uint64(0), uint64(40)
	if testing.Short() {
		// make test: ten seeds that give both kinds of plan; make
		// test-full runs all 40.
		first, end = 10, 20
	}
	for seed := first; seed < end; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		ten := genPlanTenant(r)
		e := newEngine(t, authz.Options{Entities: ten, EntityTTL: -1})
		rs := genPlanRules(r)
		module, diags := rules.CompileModule(rs, nil)
		if rules.HasErrors(diags) {
			t.Fatalf("seed %d: %v", seed, diags)
		}
		if err := e.Load(ctx, 1, module); err != nil {
			t.Fatal(err)
		}
		p := authz.NewPlanner(e, nil)
		p.SetRules(1, rs)
		for id := range ten.subjects {
			f, err := p.Plan(ctx, authz.PlanRequest{Subject: id, Action: "read", Environments: []string{"hub", "console"}, Resource: authz.Resource{Type: "app"}})
			if err != nil {
				t.Fatal(err)
			}
			isExact := f.Exact()
			if isExact {
				exact++
			} else {
				inexact++
			}
			sup := f.Superset()
			for _, a := range ten.apps {
				want := false
				for _, env := range []string{"hub", "console"} {
					d, err := e.Decide(ctx, authz.Request{Subject: authz.Subject{ID: id}, Action: "read", Resource: authz.Resource{Type: "app", ID: a.ID}, Environment: env})
					if err != nil {
						t.Fatal(err)
					}
					want = want || d.Allow
				}
				check := f
				if !isExact {
					check = sup
				}
				got, err := check.Match(a)
				if err != nil {
					t.Fatal(err)
				}
				if got != want && (isExact || want) {
					t.Fatalf("seed %d, subject %+v, app %+v:\nrules %+v\nplan %s (exact %v)\nselects %v, the engine allows %v",
						seed, ten.subjects[id], a, rs, f, isExact, got, want)
				}
			}
		}
	}
	t.Logf("%d exact plans, %d inexact", exact, inexact)
	if exact == 0 || inexact == 0 {
		t.Fatalf("the generator should give both exact (%d) and inexact (%d) plans", exact, inexact)
	}
}

// TestPlanExplainsItself pins the plan of a small tenant: the Sales rule
// of the issue is a regular expression on the name, the built-in grants
// are the subject's spaces and personal apps.
func TestPlanOfTheSalesRule(t *testing.T) {
	ctx := context.Background()
	ten := &planTenant{
		subjects: map[string]*authz.Subject{"u1": {ID: "u1", Status: "active", Groups: []string{"Sales"},
			License: authz.License{Type: "professional"}, Spaces: map[string][]string{"s1": {"canview"}, "s2": {"canview"}}}},
		spaces: map[string]*authz.Related{"s1": {ID: "s1", Type: "shared"}, "s2": {ID: "s2", Type: "shared"}},
	}
	e := newEngine(t, authz.Options{Entities: ten})
	rs := []rules.Rule{{ID: "sales-q", Name: "Sales read Q apps", ResourceFilter: "App_*",
		Condition: `user.group = "Sales" and resource.name like "Q*"`, Actions: []string{"read"}, Context: "hub"}}
	module, _ := rules.CompileModule(rs, nil)
	if err := e.Load(ctx, 3, module); err != nil {
		t.Fatal(err)
	}
	p := authz.NewPlanner(e, nil)
	req := authz.PlanRequest{Subject: "u1", Action: "read", Environments: []string{"hub"}, Resource: authz.Resource{Type: "app"}}
	f, err := p.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if f.Exact() {
		t.Fatalf("rules of revision 3 are not known to the planner yet: the plan must not be exact: %s", f)
	}
	p.SetRules(3, rs)
	f, err = p.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Exact() {
		t.Fatalf("plan not exact: %s", f)
	}
	for _, want := range []string{`spaceId in ["s1" "s2"]`, `name =~i "^(?s:q.*)\\z"`, `owner in ["u1"]`} {
		if !strings.Contains(f.String(), want) {
			t.Errorf("plan %s lacks %s", f, want)
		}
	}
}
