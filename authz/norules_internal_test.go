package authz

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

// TestRulesGuards: the guards read from a rules module admit exactly the
// decisions its grants can come from, for the modules the generator
// writes (plain and indexed) and hand-written ones; a module or a static
// policy the analysis cannot vouch for gives no guards (every decision
// then evaluates the module).
func TestRulesGuards(t *testing.T) {
	plain, diags := rules.CompileModule(ShippedRules, rules.DefaultVocabulary())
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	indexed, _, diags := rules.CompileIndexed(ShippedRules, rules.DefaultVocabulary())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	const pkg = "package rulekeeper.rules\n\n"
	shipped := []struct {
		g    guard
		want bool
	}{
		{guard{"app", "read", "hub"}, true},     // owners open their apps
		{guard{"app", "read", "console"}, true}, // ContentAdmin
		{guard{"app", "update", "console"}, true},
		{guard{"app", "update", "hub"}, false},
		{guard{"app", "read", ""}, false},
		{guard{"extension", "read", "hub"}, true}, // any environment
		{guard{"extension", "read", "elsewhere"}, true},
		{guard{"theme", "read", ""}, true},
		{guard{"theme", "update", "hub"}, false},
		{guard{"rule", "create", "console"}, true},
		{guard{"rule", "create", "hub"}, false},
		{guard{"space", "read", "hub"}, false},
		{guard{"App", "read", "hub"}, false},
	}
	type check = struct {
		g    guard
		want bool
	}
	for _, tc := range []struct {
		name   string
		module string
		static string // replaces decision.rego's last line when set
		ok     bool
		checks []check
	}{
		{name: "plain", module: plain, ok: true, checks: shipped},
		{name: "indexed", module: indexed, ok: true, checks: shipped},
		{name: "own guards", module: pkg + "grants contains \"x\" if {\n\tinput.resource.type == \"a\"\n\tinput.action = \"r\"\n}\n", ok: true,
			checks: []check{{guard{"a", "r", "hub"}, true}, {guard{"a", "r", ""}, true}, {guard{"a", "w", "hub"}, false}, {guard{"b", "r", "hub"}, false}}},
		{name: "no guard", module: pkg + "grants contains \"x\" if input.subject.id == \"u\"\n", ok: true,
			checks: []check{{guard{"a", "r", "hub"}, true}, {guard{"", "", ""}, true}}},
		{name: "negated and with", module: pkg + "grants contains \"x\" if {\n\tnot input.action == \"r\"\n\tinput.resource.type == \"a\" with input.resource.type as \"a\"\n}\n", ok: true,
			checks: []check{{guard{"a", "r", "hub"}, true}, {guard{"b", "w", "console"}, true}}},
		{name: "contradiction", module: pkg + "grants contains \"x\" if {\n\tinput.action == \"r\"\n\tinput.action == \"w\"\n}\n", ok: true,
			checks: []check{{guard{"a", "r", "hub"}, false}, {guard{"a", "w", "hub"}, false}}},
		{name: "through sets and an else", module: pkg + `grants contains {"id": x} if {
	some x in _s
	input.context.environment == "hub"
}

_s contains y if {
	some y in _t
}

_s contains "z" if input.resource.type == "c"

_t := ["t"] if {
	input.action == "r"
} else := ["u"] if {
	input.action == "w"
}
`, ok: true, checks: []check{{guard{"a", "r", "hub"}, true}, {guard{"b", "w", "hub"}, true}, {guard{"c", "x", "hub"}, true},
			{guard{"a", "x", "hub"}, false}, {guard{"a", "r", "console"}, false}}},
		{name: "a default", module: pkg + "grants contains x if {\n\tsome x in _t\n\tinput.action == \"r\"\n}\n\ndefault _t := []\n\n_t := [\"t\"] if input.resource.type == \"a\"\n", ok: true,
			checks: []check{{guard{"b", "r", "hub"}, true}, {guard{"a", "w", "hub"}, false}}},
		{name: "a function", module: pkg + "grants contains x if {\n\tx := _f(1)\n\tinput.action == \"r\"\n}\n\n_f(n) := n if input.resource.type == \"a\"\n", ok: true,
			checks: []check{{guard{"b", "r", "hub"}, true}, {guard{"a", "w", "hub"}, false}}},
		{name: "complete grants", module: pkg + "grants := {\"x\"} if input.action == \"r\"\n", ok: true,
			checks: []check{{guard{"a", "r", "hub"}, true}, {guard{"a", "w", "hub"}, false}}},
		{name: "the static policy reads the module otherwise", module: plain, ok: false,
			static: "\nread_ids := data.rulekeeper.rules._ids\n"},
		{name: "the static policy replaces the input", module: plain, ok: false,
			static: "\nother if {\n\tdata.rulekeeper.rules.grants with input.action as \"read\"\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compileWithStatic(t, tc.static, tc.module)
			g, ok := rulesGuardsOf(c, ast.NewObject())
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			for _, ch := range tc.checks {
				if got := g.admits(ch.g[0], ch.g[1], ch.g[2]); got != ch.want {
					t.Errorf("admits %q: %v, want %v (guards %v)", ch.g, got, ch.want, g.set)
				}
			}
		})
	}
	// A data document with a rulekeeper.rules of its own: no guards.
	mods, _ := parseModules(map[string]string{"x.rego": "package x\n\ny := data.rulekeeper.rules.grants\n"}, plain)
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		t.Fatal(c.Errors)
	}
	if _, ok := rulesGuardsOf(c, ast.MustParseTerm(`{"rulekeeper": {"rules": {}}}`).Value); ok {
		t.Error("guards with data at data.rulekeeper.rules")
	}
}

// TestNoRulesModule: the copy of the decision package leaves out the
// bodies that read the rules' grants and keeps the rest; a package that
// reads them in a way the copy cannot settle has no copy.
func TestNoRulesModule(t *testing.T) {
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	mods, err := parseModules(srcs, "")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := noRulesModule(mods)
	if !ok {
		t.Fatal("no copy of the shipped decision package")
	}
	found := false
	ast.WalkRefs(m, func(r ast.Ref) bool {
		found = found || r.HasPrefix(rulesPkgRef)
		return found
	})
	if found || !m.Package.Path.Equal(noRulesPkgRef) {
		t.Fatalf("the copy reads the rules or is in another package:\n%v", m)
	}
	names := map[string]bool{}
	for _, r := range m.Rules {
		names[r.Head.Name.String()] = true
	}
	for _, n := range []string{"allow", "grants", "decision"} {
		if !names[n] {
			t.Errorf("the copy has no %s:\n%v", n, m)
		}
	}
	for _, tc := range []struct{ name, src string }{
		{"negated", "\nnone if not data.rulekeeper.rules.grants\n"},
		{"in a comprehension", "\nn := count([g | some g in data.rulekeeper.rules.grants])\n"},
		{"another rule of the module", "\nids := data.rulekeeper.rules._ids\n"},
		{"the package in full", "\nagain := data.rulekeeper.authz.allow\n"},
	} {
		s := map[string]string{"decision.rego": srcs["decision.rego"] + tc.src}
		mods, err := parseModules(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := noRulesModule(mods); ok {
			t.Errorf("%s: a copy:\n%v", tc.name, m)
		}
	}
}

// TestDecisionsTheRulesCannotGrant: with the shipped rules (plain and
// indexed) and with HasPrivilege rules in force, every decision of a mix
// of subjects (roles the rules name, none), resource types, actions and
// environments is the same whether the engine decides those the rules
// cannot grant with the copy without them (compiled.bare: the guards admit
// none, or, indexed, the input's buckets hold no candidate) or every one
// with the module; both plans are used, and the rules grant some of the
// decisions (the test fails if a guard, or a candidate found, left one of
// them out).
func TestDecisionsTheRulesCannotGrant(t *testing.T) {
	ctx := context.Background()
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	privileged := append(append([]rules.Rule(nil), ShippedRules...),
		rules.Rule{ID: "hp1", Name: "Objects of updatable apps", ResourceFilter: "App.Object_*", Actions: []string{"read", "update"},
			Condition: `resource.app.HasPrivilege("update") and resource.owner = user`},
		rules.Rule{ID: "g1", Name: "Sales reloads", ResourceFilter: "App_*", Actions: []string{"reload"},
			Condition: `user.group = "Sales"`, Context: "hub"})
	plain, _ := rules.CompileModule(ShippedRules, rules.DefaultVocabulary())
	plainP, _ := rules.CompileModule(privileged, rules.DefaultVocabulary())
	indexed, idata, _ := rules.CompileIndexed(ShippedRules, rules.DefaultVocabulary())
	indexedP, idataP, _ := rules.CompileIndexed(privileged, rules.DefaultVocabulary())
	var ins []*Input
	subjects := []Subject{
		{ID: "u-1", Name: "ann", Roles: []string{"ContentAdmin"}, Groups: []string{"Sales"}, License: License{Type: "professional"}, Spaces: map[string][]string{"sp-1": {"canedit"}}},
		{ID: "u-2", Name: "bob", Roles: []string{"SecurityAdmin", "TenantAdmin"}, License: License{Type: "analyzer"}},
		{ID: "u-3", Name: "cy", Groups: []string{"Sales"}, License: License{Type: ""}, Spaces: map[string][]string{"sp-1": {"canview"}}},
		{ID: "u-4", Name: "di", Anonymous: true, License: License{Type: "professional"}},
		{ID: "u-5", Name: "ed", License: License{Type: "enterprise"}, Spaces: map[string][]string{"sp-1": {"admin"}}},
	}
	shared := &Related{ID: "sp-1", Name: "S", Type: "shared", Owner: "u-9"}
	resources := []Resource{
		{Type: "app", ID: "a-1", Owner: "u-1", SpaceID: "sp-1", SpaceType: "shared", Space: shared},
		{Type: "app", ID: "a-2", Owner: "u-3", SpaceType: "personal"},
		{Type: "app.object", ID: "o-1", Owner: "u-1", ObjectType: "sheet", SpaceID: "sp-1", SpaceType: "shared", Space: shared,
			App: &Related{ID: "a-1", Owner: "u-1", SpaceID: "sp-1"}},
		{Type: "extension", ID: "x-1"}, {Type: "theme", ID: "t-1"}, {Type: "rule", ID: "r-1"},
		{Type: "space", ID: "sp-1", SpaceID: "sp-1", SpaceType: "shared", Space: shared},
		{Type: "ticket", ID: "k-1"},
	}
	for _, s := range subjects {
		for _, r := range resources {
			for _, a := range []string{"read", "update", "delete", "reload", "export", "create", "publish", "change_owner"} {
				for _, env := range []string{"hub", "console", ""} {
					ins = append(ins, &Input{Subject: s, Action: a, Resource: r, Environment: env})
				}
			}
		}
	}
	for _, tc := range []struct {
		name, module string
		data         map[string]any
	}{{"plain", plain, nil}, {"plain, HasPrivilege", plainP, nil}, {"indexed", indexed, idata}, {"indexed, HasPrivilege", indexedP, idataP}} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(ctx, Options{Modules: srcs, Data: data, CacheSize: -1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.data != nil {
				err = e.LoadIndexed(ctx, 1, tc.module, tc.data)
			} else {
				err = e.Load(ctx, 1, tc.module)
			}
			if err != nil {
				t.Fatal(err)
			}
			c := e.current.Load()
			if c.bare == nil {
				t.Fatal("no plan for the decisions the rules cannot grant")
			}
			full := *c
			full.bare = nil
			if indexedSet := tc.data != nil; c.bare.found != indexedSet {
				t.Fatalf("bare.found %v with the indexed module %v", c.bare.found, indexedSet)
			}
			bare, none, ruled := 0, 0, 0
			for i, in := range ins {
				var pr Input
				if p, _ := c.planOf(c.proj.apply(in, &pr)); p == &c.bare.p {
					bare++
				} else if _, nf := pr.valueFound(&e.strs, c.proj); nf && c.bareForNoneFound(&pr) != nil {
					none++
				}
				got, err1 := e.eval(ctx, c, c.proj.apply(in, &pr))
				want, err2 := e.eval(ctx, &full, full.proj.apply(in, &pr))
				if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("input %d %+v:\nwith the copy %+v (%v)\nwith the rules %+v (%v)", i, in, got, err1, want, err2)
				}
				for _, g := range want.Grants {
					if g.Kind == "rule" {
						ruled++
						break
					}
				}
			}
			if bare == 0 || bare+none == len(ins) || ruled == 0 || (tc.data != nil) != (none > 0) {
				t.Fatalf("%d of %d decided without the rules by the guards, %d for no candidate, %d granted by a rule: the mix tests nothing",
					bare, len(ins), none, ruled)
			}
			t.Logf("%d of %d decided without the rules by the guards, %d for no candidate, %d granted by a rule", bare, len(ins), none, ruled)
		})
	}
}

// TestGrantsOnlyFound: the analysis vouches that the rules module grants
// nothing for an input whose buckets hold no candidate (input.va is
// noneFound) for the indexed modules the generator writes, and for none
// that may grant otherwise: a body that does not iterate the candidates, a
// list read another way, a default, a with, a static module that replaces
// input.va, a plain module.
func TestGrantsOnlyFound(t *testing.T) {
	privileged := append(append([]rules.Rule(nil), ShippedRules...),
		rules.Rule{ID: "hp1", Name: "Objects of updatable apps", ResourceFilter: "App.Object_*", Actions: []string{"read", "update"},
			Condition: `resource.app.HasPrivilege("update") and resource.owner = user`},
		rules.Rule{ID: "m1", Name: "Patterns", ResourceFilter: "App_*", Actions: []string{"reload"},
			Condition: `user.name matches "^a" and !(user.group = "Sales")`, Context: "hub"})
	indexed, _, diags := rules.CompileIndexed(ShippedRules, rules.DefaultVocabulary())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	indexedP, _, diags := rules.CompileIndexed(privileged, rules.DefaultVocabulary())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	plain, diags := rules.CompileModule(ShippedRules, rules.DefaultVocabulary())
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	const pkg = "package rulekeeper.rules\n\n"
	// found is the emitter's shape, written out: grants iterate _didx,
	// whose bodies iterate _dfound or input.va["@"].
	const found = `_dfound := input.va["@t"] if {
	input.va
} else := _dk

_dk contains "k" if input.action == "read"

_didx contains id if {
	input.resource.type == "app"
	some id in _dfound
}

_didx contains id if {
	input.resource.type == "app"
	some c in input.va["@"]
	id := c[0]
}
`
	const grants = "grants contains {\"id\": id} if {\n\tsome id in _didx\n}\n\n"
	for _, tc := range []struct {
		name, module, static string
		want                 bool
	}{
		{"indexed", indexed, "", true},
		{"indexed, HasPrivilege, patterns and negations", indexedP, "", true},
		{"written out", pkg + grants + found, "", true},
		{"plain", plain, "", false},
		{"no rules", pkg + "grants := set()\n", "", false},
		{"grants besides", pkg + grants + found + "grants contains {\"id\": \"x\"} if input.action == \"read\"\n", "", false},
		{"grants of a negation", pkg + "grants contains {\"id\": \"x\"} if {\n\tnot _didx[\"y\"]\n}\n\n" + found, "", false},
		{"a complete grants", pkg + "grants := _dfound\n\n" + found, "", false},
		{"a body that iterates the buckets", pkg + grants + found + "_didx contains id if {\n\tsome id in _dk\n}\n", "", false},
		{"the proved rules read otherwise", pkg + grants + strings.Replace(found, "input.va\n}", "true\n}", 1), "", false},
		{"the proved rules under a with", pkg + grants + strings.Replace(found, `some id in _dfound`, `some id in _dfound with input.va as {"@t": ["z"]}`, 1), "", false},
		{"a default", pkg + grants + found + "default _dfound := [\"z\"]\n", "", false},
		{"a static module replaces input.va", pkg + grants + found,
			"\nother if {\n\tdata.rulekeeper.rules.grants with input.va as {\"@t\": [\"z\"]}\n}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compileWithStatic(t, tc.static, tc.module)
			if got := grantsOnlyFound(c); got != tc.want {
				t.Errorf("grantsOnlyFound %v, want %v", got, tc.want)
			}
		})
	}
}

// compileWithStatic compiles the static policies, with static appended
// to decision.rego, and the rules module source module.
func compileWithStatic(t *testing.T, static, module string) *ast.Compiler {
	t.Helper()
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	srcs["decision.rego"] += static
	mods, err := parseModules(srcs, module)
	if err != nil {
		t.Fatal(err)
	}
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c
}
