package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// TestJudgeDecidesAsThePolicy: the fast path (memoized rule-independent
// part, rule grants from the matchers) gives OPA's decision for every
// triple of random tenants and rule sets — without relying on the
// sampled self-check, which would hide a difference by starting over.
func TestJudgeDecidesAsThePolicy(t *testing.T) {
	ctx := context.Background()
	e := newInternalEngine(t, Options{CacheSize: -1})
	r := rand.New(rand.NewPCG(5, 12))
	conds := []string{`user.group = "Sales"`, `resource.name like "Q*"`, `resource.owner = user`, `user.roles = "HubAdmin"`,
		`resource.HasPrivilege("read")`, `resource.space.name = "Sales" and !user.IsAnonymous()`, ``,
		`resource.app.HasPrivilege("update") and user.group = "Ops"`, `resource.stream.HasPrivilege("read")`, `!resource.HasPrivilege("update")`}
	filters := []string{"App_*", "Space_*", "App.Object_*", "*", "App_*, Space_*"}
	fast, checked, opa := 0, 0, 0
	sets := 10
	if testing.Short() {
		sets = 3 // make test; make test-full runs all 10
	}
	for n := range sets {
		var set []rules.Rule
		for i := range 4 {
			set = append(set, rules.Rule{ID: fmt.Sprintf("r%d", i), Name: "r", ResourceFilter: filters[r.IntN(len(filters))],
				Condition: conds[r.IntN(len(conds))], Actions: []string{"read", "update"}, Context: []string{"hub", "both", "console"}[r.IntN(3)]})
		}
		module, _ := rules.CompileModule(set, nil)
		ev, err := e.WithRules(ctx, module)
		if err != nil {
			t.Fatal(err)
		}
		subjects, resources := judgeWorld(r, n)
		sc := NewScope(subjects, resources)
		j, err := newJudge(ctx, ev, set, nil, sc.types, newMemo(), false)
		if err != nil {
			t.Fatal(err)
		}
		if j.exact {
			t.Fatal("the static policy reads more of input.subject than the memo allows: judge.go's subjectFields")
		}
		for si := range sc.Subjects {
			for ri := range sc.Resources {
				for _, a := range []string{"read", "update", "delete", "export"} {
					for _, env := range []string{"hub", "console"} {
						j.checked.Store(1) // keep the sampled self-check out of the way
						got, err := sc.decide(ctx, j, si, ri, a, env)
						if err != nil {
							t.Fatal(err)
						}
						want, err := ev.evalValue(ctx, inputOf(sc.st[si], sc.rt[ri], a, env))
						if err != nil {
							t.Fatal(err)
						}
						checked++
						if !sameDecision(got, want) {
							t.Fatalf("%s %s %s %s:\n fast   %+v\n policy %+v", sc.Subjects[si].ID, sc.Resources[ri].ID, a, env, got, want)
						}
					}
				}
			}
		}
		fast += len(j.memo.m)
		opa += int(j.fallbacks.Load())
	}
	if opa*20 > checked {
		t.Fatalf("%d of %d fast decisions asked OPA: the matchers decide too little", opa, checked)
	}
	if fast == 0 || fast >= checked {
		t.Fatalf("the memo holds %d parts for %d decisions: it saves nothing", fast, checked)
	}
}

func judgeWorld(r *rand.Rand, n int) ([]Subject, []Resource) {
	sp := []*Related{{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u0"}, {ID: "sp-2", Name: "Ops", Type: "managed", Owner: "u1"}}
	var ss []Subject
	for i := range 12 {
		s := Subject{ID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("n%d", i), Status: []string{"active", "active", "disabled"}[r.IntN(3)],
			License: License{Type: []string{"professional", "analyzer", ""}[r.IntN(3)]}, Spaces: map[string][]string{},
			Groups: []string{[]string{"Sales", "Ops"}[r.IntN(2)]}, GroupIDs: []string{"g1"}, Anonymous: r.IntN(12) == 0}
		if r.IntN(4) == 0 {
			s.Roles = []string{"HubAdmin"}
		}
		if r.IntN(2) == 0 {
			s.Spaces["sp-1"] = []string{[]string{"canview", "canedit", "admin"}[r.IntN(3)]}
		}
		if r.IntN(2) == 0 {
			s.Spaces["sp-2"] = []string{[]string{"canview", "canmanage", "cancontribute"}[r.IntN(3)]}
		}
		if i == 0 {
			// u0 owns sp-1 and is also a viewer in it: two grants of
			// one table row, told apart by their names.
			s.Spaces["sp-1"] = []string{"owner", "canview"}
		}
		ss = append(ss, s)
	}
	rs := []Resource{
		{Type: "space", ID: "sp-1", Name: "Sales", Owner: "u0", SpaceID: "sp-1", SpaceType: "shared", Space: sp[0]},
		{Type: "space", ID: "sp-2", Name: "Ops", Owner: "u1", SpaceID: "sp-2", SpaceType: "managed", Space: sp[1]},
	}
	for i := range 8 {
		a := Resource{Type: "app", ID: fmt.Sprintf("a%d-%d", n, i), Name: []string{"Q1", "Budget", "q2"}[r.IntN(3)], Owner: fmt.Sprintf("u%d", r.IntN(12)),
			SectionAccess: r.IntN(4) == 0}
		if x := r.IntN(3); x < 2 {
			a.SpaceID, a.SpaceType, a.Space = sp[x].ID, sp[x].Type, sp[x]
		} else {
			a.SpaceType = "personal"
		}
		rs = append(rs, a)
		rs = append(rs, Resource{Type: "app.object", ID: fmt.Sprintf("o%d", i), Name: "S", Owner: fmt.Sprintf("u%d", r.IntN(12)),
			SpaceID: a.SpaceID, SpaceType: a.SpaceType, Space: a.Space, ObjectType: []string{"sheet", "masteritem"}[r.IntN(2)],
			Public: r.IntN(2) == 0, App: &Related{ID: a.ID, Name: a.Name, Owner: a.Owner, SpaceID: a.SpaceID}})
	}
	return ss, rs
}
