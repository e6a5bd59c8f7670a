package authz

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// dumpIndex is ix as text, by bucket and key, for comparisons.
func dumpIndex(ix *ruleIndex) string {
	var b strings.Builder
	cands := func(cs []*cand) string {
		var out []string
		for _, c := range cs {
			s := c.id.String()
			if c.pair != nil {
				s += " " + c.pair.String()
			}
			out = append(out, fmt.Sprintf("%s %+v", s, c.test))
		}
		slices.Sort(out)
		return strings.Join(out, "; ")
	}
	for _, k := range slices.SortedFunc(maps.Keys(ix.buckets), func(a, b [3]string) int { return slices.Compare(a[:], b[:]) }) {
		bk := ix.buckets[k]
		fmt.Fprintf(&b, "%v scan: %s\n", k, cands(bk.scan))
		var keys []string
		for sh := range bk.keys {
			for key, cs := range bk.keys[sh] {
				if shardOf(hashOf([]byte(key))) != sh {
					keys = append(keys, "WRONG SHARD "+key)
				}
				keys = append(keys, fmt.Sprintf("  %s: %s", key, cands(cs)))
			}
		}
		slices.Sort(keys)
		b.WriteString(strings.Join(keys, "\n") + "\n")
	}
	return b.String()
}

// TestRuleIndexFollowsPatches: the engine's copy of the buckets after
// rule writes applied as patches is the copy a fresh read of the same data
// document makes, every key it holds passes its filter, and the copy of
// the revision before each write is left as it was.
func TestRuleIndexFollowsPatches(t *testing.T) {
	ctx := context.Background()
	ix, err := rules.NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	conds := []string{
		`user.group = "G%[1]d"`, `user.group = "G%[1]d" and resource.name like "Q%[1]d*"`, `resource.owner = user and resource.name like "O%[1]d*"`,
		`user.name = "u%[1]d"`, `resource.space.name = "S%[1]d"`, `user.group = "G%[1]d" and resource.name matches "R%[1]d-[0-9]+"`,
		`user.group = "G%[1]d" and !(resource.name like "T*")`, `user.@dept = resource.@dept and user.group = "G%[1]d"`, `user.email = "e%[1]d@x.org"`,
		`resource.name like "*rep%[1]d"`,
	}
	rule := func(i, v int) rules.Rule {
		return rules.Rule{ID: fmt.Sprintf("r%03d", i), Name: fmt.Sprintf("rule %d", i), ResourceFilter: []string{"App_*", "App_*, Stream_*", "*"}[i%3],
			Condition: fmt.Sprintf(conds[i%len(conds)], v), Actions: []string{"read"}, Context: []string{"hub", "both"}[i%2]}
	}
	var rs []rules.Rule
	for i := range 60 {
		rs = append(rs, rule(i, i))
	}
	if diags := ix.Build(rs); rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	e := newInternalEngine(t, Options{CacheSize: -1})
	if err := e.LoadIndexed(ctx, 1, ix.Module(), ix.Data()); err != nil {
		t.Fatal(err)
	}
	patched := 0
	for w := range 80 {
		i := (w * 7) % 60
		var patches []rules.Patch
		var changed bool
		if w%5 == 4 {
			patches, changed = ix.Delete(fmt.Sprintf("r%03d", i))
		} else {
			var diags []rules.Diagnostic
			patches, changed, diags = ix.Put(rule(i, 100+w))
			if rules.HasErrors(diags) {
				t.Fatal(diags)
			}
		}
		before := e.current.Load()
		old := dumpIndex(before.proj.values[0].index)
		if changed {
			err = e.LoadIndexed(ctx, int64(w+2), ix.Module(), ix.Data())
		} else {
			err = e.Patch(ctx, int64(w+2), patches)
			patched++
		}
		if err != nil {
			t.Fatal(err)
		}
		c := e.current.Load()
		got := c.proj.values[0].index
		fresh := newRuleIndex(c.data.root, got.vs, got.known)
		if g, f := dumpIndex(got), dumpIndex(fresh); g != f {
			t.Fatalf("write %d: the patched copy of the buckets\n%s\nis not a fresh read's\n%s", w, g, f)
		}
		for _, bk := range got.buckets {
			for sh := range bk.keys {
				for key := range bk.keys[sh] {
					if !got.filter.has(hashOf([]byte(key))) {
						t.Fatalf("write %d: key %q is not in the filter", w, key)
					}
				}
			}
		}
		if dumpIndex(before.proj.values[0].index) != old {
			t.Fatalf("write %d: the copy of the revision before changed", w)
		}
	}
	if patched < 40 {
		t.Errorf("%d of 80 writes were patches", patched)
	}
}

// TestFoundCandidatesAgreeWithTheModule: the rules module given the
// candidates the engine found and tested (input.va: proved, left to the
// module, HasPrivilege answers) grants exactly what it grants on the same
// input without them, finding and testing every candidate itself, as a
// stock OPA does.
func TestFoundCandidatesAgreeWithTheModule(t *testing.T) {
	ctx := context.Background()
	conds := []struct{ filter, cond string }{
		{"App_*", `user.group = "Sales"`}, {"App_*, Stream_*", `user.group = "Sales" and resource.name like "Q*"`},
		{"App_*", `resource.owner = user and resource.name like "Q4*"`}, {"*", `user.email == "a@x.org"`},
		{"App_*", `user.group = "Sales" and resource.name matches "^Q[0-9]"`}, {"App_*, App.Object_*", `user.group = "EMEA" and !(resource.name like "Q*")`},
		{"App_*", `resource.name like "*report"`}, {"App_*", `resource.name like "*rep*"`}, {"App_*", `resource.@dept = user.@dept`},
		{"App_*", `resource.space.HasPrivilege("read") and user.group = "Sales"`}, {"App.Object_*", `resource.app.HasPrivilege("read")`},
		{"Space_*", `user.group = "EMEA" or user.name = "bob"`}, {"App_*", `resource.id == "a-1" or resource.isOwned()`},
		{"App_*", `user.isAnonymous() and resource.name like "Q*"`}, {"App_*", `user.roles = "Admin" and resource.space.name = "Sales"`},
		{"Ext*", `user.group = "Sales"`}, {"App_*", `user.group = "Sales" and resource.space.HasPrivilege("update")`},
	}
	var rs []rules.Rule
	for i, c := range conds {
		rs = append(rs, rules.Rule{ID: fmt.Sprintf("r%02d", i), Name: c.cond, ResourceFilter: c.filter,
			Condition: c.cond, Actions: []string{"read", "update"}, Context: []string{"hub", "both"}[i%2]})
	}
	e := indexedEngine(t, rs)
	c := e.current.Load()
	subjects := []Subject{
		{ID: "U1", Name: "Ann", Email: "A@X.org", Status: "active", Roles: []string{"Admin"}, Groups: []string{"Sales", "EMEA"},
			License: License{Type: "professional"}, Attributes: map[string][]string{"dept": {"Fin"}}},
		{ID: "u2", Name: "bob", Status: "active", Groups: []string{"emea"}, License: License{Type: "professional"}},
		{ID: "", Anonymous: true},
	}
	resources := []Resource{
		{Type: "app", ID: "a-1", Name: "Q4 Report", Owner: "U1", SpaceID: "sp-1", SpaceType: "shared", Attributes: map[string][]string{"dept": {"FIN"}},
			Space: &Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "U1"}},
		{Type: "app", ID: "a-2", Name: "budget rep", Owner: "u2", SpaceID: "sp-2", SpaceType: "managed",
			Space: &Related{ID: "sp-2", Name: "EMEA", Type: "managed", Owner: "u3"}},
		{Type: "app.object", ID: "o-1", Name: "sheet", Owner: "u2", App: &Related{ID: "a-1", Name: "Q4 Report", Owner: "U1", SpaceID: "sp-1"}},
		{Type: "space", ID: "sp-1", Name: "Sales", Owner: "U1", SpaceType: "shared"},
		{Type: "extension", ID: "x-1", Name: "Q ext"},
		{Type: "app", ID: "a-3", Name: "QÜBER REPORT", Owner: "U1", SpaceID: "sp-1", Space: &Related{ID: "sp-1", Name: "SALES", Type: "shared", Owner: "U1"}},
	}
	var proved, tested, given, granted, checked int
	for _, s := range subjects {
		for _, r := range resources {
			for _, action := range []string{"read", "update"} {
				for _, env := range []string{"hub", "console", ""} {
					in := &Input{Subject: s, Action: action, Resource: r, Environment: env}
					var projected Input
					pi := c.proj.apply(in, &projected)
					p, err := c.planFor(knownLicense(pi.Subject.License.Type))
					if err != nil {
						t.Fatal(err)
					}
					found := c.withPrivileges(ctx, p, pi.valueWith(&e.strs, c.proj), &terms{pool: &e.strs})
					if va := objectOf(found.Value.(ast.Object).Get(kValues)); va != nil {
						if x := va.Get(kProved); x != nil && x.Value.(*ast.Array).Len() > 0 {
							proved++
						}
						if va.Get(kTest) != nil {
							tested++
						}
						if va.Get(kPriv) != nil {
							given++
						}
					}
					a, err := c.decideWith(ctx, p, found)
					if err != nil {
						t.Fatal(err)
					}
					b, err := c.decideWith(ctx, p, ast.NewTerm(pi.value()))
					if err != nil {
						t.Fatal(err)
					}
					if a.Allow != b.Allow || !slices.Equal(a.Grants, b.Grants) {
						t.Errorf("%+v:\nwith the engine's candidates %+v\nwithout %+v", in, a, b)
					}
					if len(b.Grants) > 0 {
						granted++
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d inputs: %d granted, %d with rules proved in Go, %d with atoms left to the module, %d with HasPrivilege given", checked, granted, proved, tested, given)
	if proved == 0 || tested == 0 || given == 0 || granted < checked/10 {
		t.Errorf("%d inputs: %d granted, %d with rules proved, %d with atoms tested by the module, %d with HasPrivilege given", checked, granted, proved, tested, given)
	}
}

// TestFoldIs: a value lower-cased as Rego's lower does, compared whole, as
// a prefix or as a suffix, with or without lower-casing.
func TestFoldIs(t *testing.T) {
	tests := []struct {
		s, v  string
		lower bool
		at    int
		want  bool
	}{
		{"Q4 Report", "q4 report", true, 0, true}, {"Q4 Report", "q4 report", false, 0, false}, {"q4", "q4 report", true, 0, false},
		{"Q4 Report", "q4", true, 1, true}, {"Q4 Report", "Q4", false, 1, true}, {"Q4 Report", "q4", false, 1, false},
		{"Q4 Report", "report", true, 2, true}, {"Q4 Report", "Report", false, 2, true}, {"rt", "report", true, 2, false},
		{"ÜBER Q", "über", true, 1, true}, {"ÜBER Q", "über q", true, 0, true}, {"Ab ÜBER", "über", true, 2, true}, {"ÜBER", "über", false, 0, false},
		{"", "", true, 0, true}, {"x", "", true, 1, true}, {"İ", strings.ToLower("İ"), true, 0, true},
	}
	for _, tc := range tests {
		if got := foldIs(tc.s, tc.v, tc.lower, tc.at); got != tc.want {
			t.Errorf("foldIs(%q, %q, %v, %d) = %v", tc.s, tc.v, tc.lower, tc.at, got)
		}
	}
}

// String is g as the dumps of the buckets compare it: its pattern by its
// text, not by the compiled value's address.
func (g goAtom) String() string {
	return fmt.Sprintf("{op:%d a:%d b:%d v:%q kids:%v}", g.op, g.a, g.b, g.v, g.kids)
}

// TestGoAtomsOfPatternsAndNegations: contains, matches and negated atoms
// as Go tests them, on a list the module lower-cases (_vli) given as the
// input's own string (lower-cased by the test), as a list term, and on a
// case-sensitive list: the verdicts _atom gives.
func TestGoAtomsOfPatternsAndNegations(t *testing.T) {
	ix := &ruleIndex{at: map[string]int{"i": 0, "s": 1}, vs: []ruleValue{{ci: true, listed: true}, {listed: true}}}
	atom := func(s string) goAtom {
		return ix.compile(ast.MustParseTerm(s))
	}
	tests := []struct {
		atom string
		ci   string // the value of both lists
		want verdict
	}{
		{`["con", "i", "rep"]`, "Q4 Report", holds},
		{`["con", "s", "rep"]`, "Q4 Report", fails},
		{`["re", "i", "^q[0-9] r"]`, "Q4 Report", holds},
		{`["re", "s", "^q[0-9] r"]`, "Q4 Report", fails},
		{`["re", "s", "^Q[0-9] R"]`, "Q4 Report", holds},
		{`["not", ["con", "i", "rep"]]`, "Q4 Report", fails},
		{`["not", ["re", "s", "^q"]]`, "Q4 Report", holds},
		{`["not", ["pre", "i", "q4"]]`, "Q4 Report", fails},
		{`["not", ["and", [["t"]]]]`, "Q4 Report", module}, // _pos has no "and": the module's
		{`["re", "s", "("]`, "Q4 Report", module},          // regex.match errs: the module's
		{`["con", "i", "über"]`, "ÜBER", holds},
	}
	for i, tc := range tests {
		g := atom(tc.atom)
		for _, asList := range []bool{false, true} {
			in := atomInput{vs: ix.vs, lists: make([]*ast.Term, 2), raw: make([]value, 2)}
			if asList {
				in.lists[0] = ast.ArrayTerm(ast.StringTerm(strings.ToLower(tc.ci)))
				in.lists[1] = ast.ArrayTerm(ast.StringTerm(tc.ci))
			} else {
				in.raw[0] = value{s: tc.ci, kind: vString}
				in.raw[1] = value{s: tc.ci, kind: vString}
			}
			if got := g.test(&in); got != tc.want {
				t.Errorf("%d %s on %q (as a list: %v): %d, want %d", i, tc.atom, tc.ci, asList, got, tc.want)
			}
		}
	}
}
