package authz

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// TestRuleValuesAreTheModulesLists: the value lists the engine puts in
// the input (input.va) are, for every attribute whose list the rules read
// (_ka), exactly what the module computes without them (its _vf rules on
// the same input, as a stock OPA would): same keys, same lists, in order;
// and the lookup keys the engine probes in its copy of the buckets are the
// module's _vkf.
func TestRuleValuesAreTheModulesLists(t *testing.T) {
	ctx := context.Background()
	conds := []struct{ filter, cond string }{
		{"App_*", `user.group = "Sales"`}, {"App_*, Stream_*", `user.name = "Ann" and resource.name like "Q*"`},
		{"App_*", `resource.owner = user`}, {"*", `user.email == "a@x.org"`}, {"App_*", `user.userId = "U1"`},
		{"App.Object_*", `user.roles = "Admin"`}, {"App_*", `user.license = "professional"`}, {"Stream_*", `user.status = "active"`},
		{"App_*", `resource.space.name = "Sales" or resource.stream.name == "EMEA"`}, {"App_*", `resource.@dept = user.@dept`},
		{"App_*", `resource.sectionAccess = "true"`}, {"App.Object_*", `resource.public = "false"`},
		{"App.Object_*", `resource.app.name like "*report"`}, {"App_*", `resource.id == "a-1"`}, {"App_*", `resource.spaceType = "shared"`},
		{"App_*", `user.groupId = "g1" and resource.name matches "^Q[0-9]"`}, {"App_*, App.Object_*", `!(user.@region = "North")`},
		{"App_*", `resource.name like "Über Q*"`}, {"App_*", `resource.name like "Über Quartal*"`},
		{"App_*", `resource.owner = user and resource.name like "Q4 R*"`}, {"App.Object_*", `resource.app.owner = user and resource.app.name like "My*"`},
	}
	var rs []rules.Rule
	for i, c := range conds {
		rs = append(rs, rules.Rule{ID: fmt.Sprintf("r%02d", i), Name: c.cond, ResourceFilter: c.filter,
			Condition: c.cond, Actions: []string{"read"}, Context: []string{"hub", "both"}[i%2]})
	}
	e := indexedEngine(t, rs)
	c := e.current.Load()
	if len(c.proj.values) < 10 {
		t.Fatalf("the engine found %d value lists in the module", len(c.proj.values))
	}
	listed := 0
	for _, v := range c.proj.values {
		if v.listed {
			listed++
		}
	}
	if listed < 3 || listed == len(c.proj.values) {
		t.Fatalf("%d of the %d value lists are read by the module itself (_ka)", listed, len(c.proj.values))
	}
	// The lists the module reads itself (_ka); the others are read for
	// their keys only.
	pq, err := rego.New(rego.Query("x = {a: l | some a, l in data.rulekeeper.rules._vf; data.rulekeeper.rules._ka[a]}"), rego.Compiler(c.compiler), rego.Store(c.store)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kq, err := rego.New(rego.Query("data.rulekeeper.rules._vkf"), rego.Compiler(c.compiler), rego.Store(c.store)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subjects := []Subject{
		{ID: "U1", Name: "Ann", Email: "A@X.org", Status: "active", Roles: []string{"Admin", "x"}, Groups: []string{"Sales", "EMEA"},
			GroupIDs: []string{"G1"}, License: License{Type: "Professional"}, Attributes: map[string][]string{"dept": {"Fin"}, "region": {"North", "south"}}},
		{ID: "u2"},
		{ID: "", Anonymous: true, Attributes: map[string][]string{"dept": {}}},
		{ID: "u3", Name: "bob", Groups: []string{"sales"}, Roles: []string{"admin"}, Attributes: map[string][]string{"Dept": {"fin"}}},
	}
	resources := []Resource{
		{Type: "app", ID: "a-1", Name: "Q4 Report", Owner: "U1", SpaceID: "sp-1", SpaceType: "shared", SectionAccess: true,
			Attributes: map[string][]string{"dept": {"FIN", "ops"}},
			Space:      &Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-space"}},
		{Type: "app.object", ID: "o-1", Name: "sheet", Owner: "u2", Public: false,
			App: &Related{ID: "a-1", Name: "My REPORT", Owner: "U1", SpaceID: "sp-1"}},
		{Type: "space", ID: "sp-2", Name: "EMEA", SpaceType: "managed"},
		{Type: "app"},
		{Type: "app", ID: "a-2", Name: "Über Quartalsbericht"},
	}
	checked, keyed, paired, shared := 0, 0, 0, 0
	for _, s := range subjects {
		for _, r := range resources {
			for _, env := range []string{"hub", "console", ""} {
				in := &Input{Subject: s, Action: "read", Resource: r, Environment: env}
				var projected Input
				full := in.valueWith(&e.strs, c.proj)
				if full.Value.(ast.Object).Get(kValues) == nil {
					t.Fatalf("%+v: no input.va", in)
				}
				// What the module lists on the same (projected) input
				// without input.va.
				plain := c.proj.apply(in, &projected).value()
				// The lists and every key probed, as a test's probe gets
				// them (findRules): the subject's and the resource's fields read from their
				// objects (as for HasPrivilege's related input), and from
				// the Go input (as valueWith reads them).
				for _, viaGo := range []bool{false, true} {
					src := &subjectSource{s: &in.Subject, f: &c.proj.f, r: &in.Resource}
					roots := inputRoots(full)
					subj := src
					if !viaGo {
						subj = nil
						for i := range roots {
							if roots[i][0].Equal(kSubject) {
								roots[i][1] = src.object(&terms{pool: &e.strs})
							}
						}
					}
					var probed []string
					got, _ := findRules(&terms{pool: &e.strs}, roots, c.proj.values, &keyProbe{keys: &probed}, subj)
					rs, err := pq.Eval(ctx, rego.EvalParsedInput(plain))
					if err != nil || len(rs) != 1 {
						t.Fatal(rs, err)
					}
					want, err := ast.InterfaceToValue(rs[0].Bindings["x"])
					if err != nil {
						t.Fatal(err)
					}
					// The keys probed are _vkf in the module.
					lists := got.Value.(ast.Object).Diff(ast.NewObject([2]*ast.Term{kProved, ast.NullTerm()}, [2]*ast.Term{kTest, ast.NullTerm()}))
					if lists.Compare(want) != 0 {
						t.Fatalf("%+v (from Go: %v):\ninput.va %v\nmodule   %v", in, viaGo, lists, want)
					}
					krs, err := kq.Eval(ctx, rego.EvalParsedInput(plain))
					if err != nil || len(krs) != 1 {
						t.Fatal(krs, err)
					}
					wantKeys, err := ast.InterfaceToValue(krs[0].Expressions[0].Value)
					if err != nil {
						t.Fatal(err)
					}
					gotKeys := ast.NewSet()
					for _, k := range probed {
						gotKeys.Add(ast.StringTerm(k))
					}
					wantSet := ast.NewSet()
					wantKeys.(*ast.Array).Foreach(wantSet.Add)
					if gotKeys.Compare(wantSet) != 0 {
						t.Fatalf("%+v (from Go: %v):\ninput.va keys %v\nmodule _vkf   %v", in, viaGo, gotKeys, wantKeys)
					}
					if !viaGo {
						continue
					}
					if gotKeys.Len() > 0 {
						keyed++
					}
					gotKeys.Foreach(func(k *ast.Term) {
						switch s := string(k.Value.(ast.String)); {
						case strings.HasSuffix(s, "]") && strings.Contains(s, "]&"):
							shared++ // a pair's own key (_kr)
						case strings.Contains(s, "]&"):
							paired++
						}
					})
					checked++
				}
			}
		}
	}
	t.Logf("%d inputs, %d with lookup keys, %d keys of a prefix under a pair, %d keys of a pair", checked, keyed, paired, shared)
	if keyed < checked/4 || paired == 0 || shared == 0 {
		t.Errorf("%d of %d inputs have lookup keys, %d keys of a prefix under a pair, %d keys of a pair", keyed, checked, paired, shared)
	}
	// No bucket for the action: the decision reads no value list nor
	// candidate, and the input carries none.
	in := &Input{Subject: subjects[0], Action: "export", Resource: resources[0], Environment: "hub"}
	if in.valueWith(&e.strs, c.proj).Value.(ast.Object).Get(kValues) != nil {
		t.Error("input.va for an action no rule has")
	}
}

// TestRuleValuesOfARelatedResource: HasPrivilege evaluates the rules on
// the related resource (input.resource replaced), whose value lists are
// not those the engine computed for the input: the indexed module must
// compute them there, and decide as the plain compilation does.
func TestRuleValuesOfARelatedResource(t *testing.T) {
	ctx := context.Background()
	rs := []rules.Rule{
		{ID: "q-apps", Name: "Q apps", ResourceFilter: "App_*", Condition: `resource.name like "Q*"`, Actions: []string{"read"}, Context: "hub"},
		{ID: "sheets", Name: "Sheets of readable apps", ResourceFilter: "App.Object_*", Condition: `resource.app.HasPrivilege("read")`,
			Actions: []string{"read"}, Context: "hub"},
	}
	indexed := indexedEngine(t, rs)
	plain := newInternalEngine(t, Options{CacheSize: -1})
	if err := plain.Load(ctx, 1, compileRules(t, rs)); err != nil {
		t.Fatal(err)
	}
	s := Subject{ID: "u1", Name: "u1", Status: "active", License: License{Type: "professional"}}
	granted := 0
	for _, appName := range []string{"Q4 report", "Budget"} {
		for _, objName := range []string{"Q sheet", "sheet"} {
			in := &Input{Subject: s, Action: "read", Environment: "hub", Resource: Resource{Type: "app.object", ID: "o1", Name: objName, Owner: "u2",
				ObjectType: "sheet", App: &Related{ID: "a1", Name: appName, Owner: "u2"}}}
			a, err := indexed.Evaluate(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := plain.Evaluate(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if a.Allow != b.Allow || len(a.Grants) != len(b.Grants) {
				t.Errorf("app %q, object %q: indexed %+v, plain %+v", appName, objName, a, b)
			}
			if a.Allow {
				granted++
			}
		}
	}
	if granted != 2 {
		t.Errorf("%d decisions granted, want 2 (the objects of the Q app)", granted)
	}
}

// indexedEngine is an engine without a decision cache with rs in force,
// compiled to an index.
func indexedEngine(t *testing.T, rs []rules.Rule) *Engine {
	t.Helper()
	mod, data, diags := rules.CompileIndexed(rs, nil)
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	e := newInternalEngine(t, Options{CacheSize: -1})
	if err := e.LoadIndexed(context.Background(), 1, mod, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestShareValue: two values lists share a value as Rego compares the
// module's lists (lower-cased with ci), whether each is a list listOf made
// or the input's own string or array.
func TestShareValue(t *testing.T) {
	s, arr := ast.StringTerm, func(v ...string) *ast.Term {
		ts := make([]*ast.Term, len(v))
		for i, x := range v {
			ts[i] = ast.StringTerm(x)
		}
		return ast.ArrayTerm(ts...)
	}
	tests := []struct {
		x, y *ast.Term
		ci   bool
		want bool
	}{
		{s("U1"), s("u1"), true, true},
		{s("U1"), s("u1"), false, false},
		{s("u-1"), s("u-12"), true, false},
		{s("ÜBER"), arr("x", "über"), true, true},
		{s("ÜBER"), arr("x", "über"), false, false},
		{arr("a", "B"), arr("c", "b"), true, true},
		{arr(), s("a"), true, false},
		{ast.ArrayTerm(ast.NumberTerm("1")), s("1"), true, false},
		{s("İ"), s("i̇"), true, strings.ToLower("İ") == strings.ToLower("i̇")},
	}
	// goValue is x as the subject's Go fields are read (a string, or
	// strings), if it is one.
	goValue := func(x *ast.Term) (value, bool) {
		switch v := x.Value.(type) {
		case ast.String:
			return value{s: string(v), kind: vString}, true
		case *ast.Array:
			var ss []string
			for i := range v.Len() {
				s, ok := v.Elem(i).Value.(ast.String)
				if !ok {
					return value{}, false
				}
				ss = append(ss, string(s))
			}
			return value{ss: ss, kind: vStrings}, true
		}
		return value{}, false
	}
	goValues := 0
	for i, tc := range tests {
		if got := shareValue(termValue(tc.x), termValue(tc.y), tc.ci); got != tc.want {
			t.Errorf("%d: shareValue(%v, %v, %v) = %v", i, tc.x, tc.y, tc.ci, got)
		}
		if x, ok := goValue(tc.x); ok {
			goValues++
			if got := shareValue(x, termValue(tc.y), tc.ci); got != tc.want {
				t.Errorf("%d: shareValue(Go %v, %v, %v) = %v", i, tc.x, tc.y, tc.ci, got)
			}
			if y, ok := goValue(tc.y); ok {
				if got := shareValue(x, y, tc.ci); got != tc.want {
					t.Errorf("%d: shareValue(Go %v, Go %v, %v) = %v", i, tc.x, tc.y, tc.ci, got)
				}
			}
		}
	}
	if goValues < len(tests)-1 {
		t.Errorf("%d Go values", goValues)
	}
}

// inputRoots are the top-level items of the input term in, without va.
func inputRoots(in *ast.Term) [][2]*ast.Term {
	var roots [][2]*ast.Term
	in.Value.(ast.Object).Foreach(func(k, v *ast.Term) {
		if !k.Equal(kValues) {
			roots = append(roots, [2]*ast.Term{k, v})
		}
	})
	return roots
}
