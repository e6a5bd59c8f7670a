package authz

import (
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

// TestPruneAbsentRules: the static policy's rules for inputs without
// spaceId or spaceType are left out of the engine's compilation, unless a
// module replaces the resource with `with`; rules with an else, and the
// only rule of a head, stay.
func TestPruneAbsentRules(t *testing.T) {
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	// What the shipped policy has: a `not input.resource.spaceType` or
	// `not input.resource.spaceId` line per rule written for hand-made
	// inputs.
	want := 0
	for _, src := range srcs {
		want += strings.Count(src, "\tnot input.resource.spaceType\n") + strings.Count(src, "\tnot input.resource.spaceId\n")
	}
	if want == 0 {
		t.Fatal("the policy has no rule for inputs without spaceId or spaceType: the test checks nothing")
	}
	const withResource = `package rulekeeper.rules

grants contains "x" if {
	data.rulekeeper.builtin.grants[_] with input.resource as {"type": "app"}
}
`
	const withAction = `package rulekeeper.rules

grants contains "x" if {
	data.rulekeeper.builtin.grants[_] with input.action as "read"
}
`
	// The generator's HasPrivilege form: the related resource starts
	// from rules.RelDefaults (kept), or not (pruning off).
	const relDefaults = `package rulekeeper.rules

_rel_0 := r if {
	n := input.resource.app
	is_object(n)
	r := object.union(` + "{\"spaceId\": \"\", \"spaceType\": \"\"}" + `, object.union(n, {"type": "app"}))
}

grants contains "x" if {
	r := _rel_0
	data.rulekeeper.builtin.grants[_] with input.resource as r with input.action as "read"
}
`
	const relBare = `package rulekeeper.rules

_rel_0 := r if {
	n := input.resource.app
	is_object(n)
	r := object.union(n, {"type": "app"})
}

grants contains "x" if {
	r := _rel_0
	data.rulekeeper.builtin.grants[_] with input.resource as r
}
`
	const extra = `package extra

# The only rule of its head: stays.
only if not input.resource.spaceType

# An else: stays.
e := 1 if {
	not input.resource.spaceId
} else := 2

# Negated under with, or another field: stay.
w contains 1 if not input.resource.spaceType with input.x as 1

w contains 2 if not input.resource.name

# Removed: never holds on the engine's inputs, and w keeps other rules.
w contains 3 if {
	input.action == "read"
	not input.resource.spaceId
}
`
	// The generator's own module with HasPrivilege rules.
	generated, _, diags := rules.CompileIndexed(append(slices.Clone(ShippedRules),
		rules.Rule{ID: "hp", Name: "Objects of readable apps", ResourceFilter: "App.Object_*", Actions: []string{"read"},
			Condition: `resource.app.HasPrivilege("read")`},
		rules.Rule{ID: "hs", Name: "Apps of readable spaces", ResourceFilter: "App_*", Actions: []string{"read"},
			Condition: `resource.space.HasPrivilege("read")`}), rules.DefaultVocabulary())
	if len(diags) > 0 || !strings.Contains(generated, "with input.resource as") {
		t.Fatalf("the generated module has no HasPrivilege form (%v)", diags)
	}
	for _, tc := range []struct {
		name      string
		generated string
		extra     bool
		removed   int
	}{
		{"static policy", "", false, want},
		{"HasPrivilege-style with on the resource", withResource, false, 0},
		{"with on another field", withAction, false, want},
		{"the generator's HasPrivilege module", generated, false, want},
		{"HasPrivilege's related resource from the defaults", relDefaults, false, want},
		{"a related resource without the defaults", relBare, false, 0},
		{"only rule, else, with and other fields stay", "", true, want + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := map[string]*ast.Module{}
			static := map[string]*ast.Module{}
			parse := func(name, src string, isStatic bool) {
				m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
				if err != nil {
					t.Fatal(err)
				}
				all[name] = m
				if isStatic {
					static[name] = m
				}
			}
			for name, src := range srcs {
				parse(name, src, true)
			}
			if tc.generated != "" {
				parse(GeneratedModuleName, tc.generated, false)
			}
			if tc.extra {
				parse("extra.rego", extra, true)
			}
			before := countRules(all)
			if got := pruneAbsentRules(static, all); got != tc.removed {
				t.Fatalf("removed %d rules, want %d", got, tc.removed)
			}
			if got := before - countRules(all); got != tc.removed {
				t.Fatalf("the modules lost %d rules, want %d", got, tc.removed)
			}
			for _, m := range static {
				for _, r := range m.Rules {
					if r.Else == nil && neverHolds(r.Body) && tc.removed > 0 && !(m.Package.Path.String() == "data.extra" && r.Head.Name == "only") {
						t.Errorf("%s: rule %s at line %d still has a body that never holds", m.Package.Path, r.Head.Ref(), r.Location.Row)
					}
				}
			}
			c := ast.NewCompiler()
			if c.Compile(all); c.Failed() {
				t.Fatalf("the pruned modules do not compile: %v", c.Errors)
			}
		})
	}
}

func countRules(ms map[string]*ast.Module) int {
	n := 0
	for _, m := range ms {
		n += len(m.Rules)
	}
	return n
}

// TestPruneClosedRules: the rule for license types other than the store's
// leaves the engine's compilation (one rule of the static policy); a rule
// missing one of the four values, a `with` on the subject, or a rule alone
// under its head keeps it.
func TestPruneClosedRules(t *testing.T) {
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range licenseTypes {
		if !knownLicense(v) {
			t.Errorf("knownLicense(%q) is false", v)
		}
	}
	for _, v := range []string{"enterprise", "Professional", "analyzer ", "none"} {
		if knownLicense(v) {
			t.Errorf("knownLicense(%q) is true", v)
		}
	}
	const partial = `package extra
d contains 1 if {
	not input.subject.license.type == "professional"
	not input.subject.license.type == "analyzer"
	not input.subject.license.type == ""
}
d contains 2 if input.x
`
	const withSubject = `package extra
p if data.rulekeeper.gates.denies with input.subject as {}
`
	const alone = `package extra
only if {
	not input.subject.license.type == "professional"
	not input.subject.license.type == "analyzer"
	not input.subject.license.type == "analyzer_capacity"
	not "" == input.subject.license.type
}
`
	for _, tc := range []struct {
		name, extra string
		removed     int
	}{
		{"static policy", "", 1},
		{"a rule missing one value stays", partial, 1},
		{"with on the subject", withSubject, 0},
		{"a rule alone under its head stays", alone, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkPrune(t, srcs, tc.extra, tc.removed, pruneClosedRules)
		})
	}
}

// TestPruneUnflaggedRules: the gates' bodies for inputs without
// input.subject.flagged (`not input.subject.flagged` and one of the four
// flags) are left out of the engine's compilation, one per gate, unless a
// module replaces the subject with `with`; a body without a flag test, and
// the only rule of a head, stay.
func TestPruneUnflaggedRules(t *testing.T) {
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	// The shipped gates: one `not input.subject.flagged` body per folded
	// gate (user_disabled, anonymous, license_excluded,
	// capacity_exhausted).
	want := strings.Count(srcs["gates.rego"], "\tnot input.subject.flagged\n")
	if want != 4 {
		t.Fatalf("gates.rego has %d bodies for inputs without flagged, want 4", want)
	}
	const noFlag = `package extra
d contains 1 if {
	not input.subject.flagged
	input.subject.status == "active"
}
d contains 2 if input.x
`
	const withSubject = `package extra
p if data.rulekeeper.gates.denies with input.subject as {}
`
	const alone = `package extra
only if {
	not input.subject.flagged
	"disabled" = input.subject.status
}
`
	for _, tc := range []struct {
		name, extra string
		removed     int
	}{
		{"static policy", "", want},
		{"a body without a flag's value stays", noFlag, want},
		{"with on the subject", withSubject, 0},
		{"a rule alone under its head stays", alone, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := checkPrune(t, srcs, tc.extra, tc.removed, pruneUnflaggedRules)
			for _, r := range all["gates.rego"].Rules {
				if tc.removed > 0 && strings.Contains(r.Body.String(), "not input.subject.flagged") {
					t.Errorf("a body for inputs without flagged stayed: %v", r.Body)
				}
			}
		})
	}
}

// checkPrune parses the shipped modules srcs and extra (if any) as the
// engine does, applies prune, and checks that it says it removed removed
// rules, that the modules lost that many and that they still compile; it
// returns the pruned modules.
func checkPrune(t *testing.T, srcs map[string]string, extra string, removed int, prune func(static, all map[string]*ast.Module) int) map[string]*ast.Module {
	t.Helper()
	all := map[string]*ast.Module{}
	static := map[string]*ast.Module{}
	for name, src := range srcs {
		m := ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		all[name], static[name] = m, m
	}
	if extra != "" {
		m := ast.MustParseModuleWithOpts(extra, ast.ParserOptions{RegoVersion: ast.RegoV1})
		all["extra.rego"], static["extra.rego"] = m, m
	}
	before := countRules(all)
	if got := prune(static, all); got != removed {
		t.Fatalf("removed %d rules, want %d", got, removed)
	}
	if got := before - countRules(all); got != removed {
		t.Fatalf("the modules lost %d rules, want %d", got, removed)
	}
	c := ast.NewCompiler()
	if c.Compile(all); c.Failed() {
		t.Fatalf("the pruned modules do not compile: %v", c.Errors)
	}
	return all
}
