package authz

import (
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// alwaysSent are the input fields every input the engine evaluates
// carries: Input.valueWith builds the resource object with spaceId and
// spaceType always, "" when the resource is in no space or the caller did
// not say (an absent field and "" are one value of the Go Input). The
// static policy has rules for inputs written by hand without them
// (`not input.resource.spaceType`, policies/spaces.rego and others): OPA's
// rule index cannot leave a rule about an absent field out, so every
// decision entered them, and with the engine's inputs their bodies never
// hold.
var alwaysSent = []ast.Ref{
	ast.MustParseRef("input.resource.spaceId"),
	ast.MustParseRef("input.resource.spaceType"),
}

// pruneAbsentRules removes from the static modules the rules that cannot
// hold on the engine's inputs: a rule whose body has the expression
// `not input.resource.spaceId` or `not input.resource.spaceType` (one of
// alwaysSent, negated, without with), has no else, and shares its head
// with another rule that stays (so that no reference is left without a
// rule). Stock OPA, given the same policy files, keeps them.
//
// Nothing is removed when any module replaces the input, the resource or
// one of those fields with `with` by a value that may lack them (the
// generated module's HasPrivilege helpers, which keep them, apart). It
// reports how many rules it removed.
func pruneAbsentRules(static map[string]*ast.Module, all map[string]*ast.Module) int {
	for _, m := range all {
		if replacesSentFields(m) {
			return 0
		}
	}
	return pruneWhere(static, all, neverHolds)
}

// pruneWhere removes from the static modules the rules without an else
// whose body never holds (never), each only while another rule with its
// head (package and ref, over all modules) stays. It reports how many it
// removed.
func pruneWhere(static map[string]*ast.Module, all map[string]*ast.Module, never func(ast.Body) bool) int {
	type site struct {
		m *ast.Module
		r *ast.Rule
	}
	var drop []site
	head := func(m *ast.Module, r *ast.Rule) string { return m.Package.Path.String() + "." + r.Ref().String() }
	heads := map[string]int{} // rules per head (package and ref), over every module
	for _, m := range all {
		for _, r := range m.Rules {
			heads[head(m, r)]++
		}
	}
	for _, m := range static {
		for _, r := range m.Rules {
			if h := head(m, r); r.Else == nil && never(r.Body) && heads[h] > 1 {
				heads[h]--
				drop = append(drop, site{m, r})
			}
		}
	}
	for _, d := range drop {
		kept := d.m.Rules[:0]
		for _, r := range d.m.Rules {
			if r != d.r {
				kept = append(kept, r)
			}
		}
		d.m.Rules = kept
	}
	return len(drop)
}

// neverHolds reports whether body has `not <ref>` for a ref in alwaysSent.
func neverHolds(body ast.Body) bool {
	for _, e := range body {
		if !e.Negated || len(e.With) > 0 {
			continue
		}
		t, ok := e.Terms.(*ast.Term)
		if !ok {
			continue
		}
		ref, ok := t.Value.(ast.Ref)
		if !ok {
			continue
		}
		for _, s := range alwaysSent {
			if ref.Equal(s) {
				return true
			}
		}
	}
	return false
}

// replacesSentFields reports whether m has a with modifier on the input,
// the resource or a field of alwaysSent (or below one) that may leave
// them out. The generated module's HasPrivilege replaces the resource by a
// related one (r := _rel_N ... with input.resource as r), which starts
// from rules.RelDefaults: that one keeps them, when every _rel_ helper of
// m is built so.
func replacesSentFields(m *ast.Module) bool {
	related := func(body ast.Body, w *ast.With) bool {
		ref, _ := w.Target.Value.(ast.Ref)
		return ref.Equal(resourceRef) && relatedIn(body, w.Value)
	}
	if replaces(m, alwaysSent, related) {
		return true
	}
	for _, r := range m.Rules {
		if strings.HasPrefix(string(r.Head.Name), relPrefix) && !startsFromDefaults(r) {
			return true
		}
	}
	return false
}

var (
	resourceRef = ast.MustParseRef("input.resource")
	relDefaults = ast.MustParseTerm(rules.RelDefaults)
)

// relPrefix names the generated module's related-resource helpers.
const relPrefix = "_rel_"

// relatedIn reports whether v is a variable body assigns a _rel_ helper.
func relatedIn(body ast.Body, v *ast.Term) bool {
	if _, ok := v.Value.(ast.Var); !ok {
		return false
	}
	for _, e := range body {
		if !e.IsAssignment() && !e.IsEquality() {
			continue
		}
		if x, ok := e.Operand(1).Value.(ast.Var); ok && e.Operand(0).Equal(v) && strings.HasPrefix(string(x), relPrefix) {
			return true
		}
	}
	return false
}

// startsFromDefaults reports whether the _rel_ helper r's value is
// object.union(rules.RelDefaults, ...).
func startsFromDefaults(r *ast.Rule) bool {
	if r.Head.Value == nil || len(r.Body) == 0 {
		return false
	}
	last := r.Body[len(r.Body)-1]
	if !last.IsAssignment() || !last.Operand(0).Equal(r.Head.Value) {
		return false
	}
	call, ok := last.Operand(1).Value.(ast.Call)
	return ok && len(call) == 3 && call[0].String() == "object.union" && call[1].Equal(relDefaults)
}

// licenseTypeRef is the field knownLicense vouches for.
var licenseTypeRef = ast.MustParseRef("input.subject.license.type")

// licenseTypes are the values the license type of a subject takes in the
// store (resources/licenses: professional, analyzer, analyzer_capacity;
// "" for a user without a license). Any other value, which a caller may
// still send (AuthZEN, what-if, analysis subjects), is "no license" to the
// static policy, which has a rule for it that never holds on one of these
// (policies/gates.rego, no_license).
var licenseTypes = []string{"", "professional", "analyzer", "analyzer_capacity"}

// knownLicense reports whether t is one of licenseTypes: the inputs the
// engine may evaluate with a compilation pruneClosedRules has pruned.
func knownLicense(t string) bool { return slices.Contains(licenseTypes, t) }

// pruneClosedRules removes from the static modules the rules that cannot
// hold when the license type is one of licenseTypes: a rule whose body has
// `not input.subject.license.type == v` for every v of licenseTypes
// (without with), has no else, and shares its head with another rule that
// stays. The engine evaluates an input with such a compilation only when
// knownLicense holds for it, and compiles the policy as written for the
// others (compiled.planFor). OPA's rule index cannot leave such a rule out
// (it cannot ask for "none of these values"), so every decision entered it.
//
// Nothing is removed when any module replaces the input, the subject, its
// license or the type with `with`. It reports how many rules it removed.
func pruneClosedRules(static map[string]*ast.Module, all map[string]*ast.Module) int {
	for _, m := range all {
		if replaces(m, []ast.Ref{licenseTypeRef}, nil) {
			return 0
		}
	}
	return pruneWhere(static, all, excludesLicenseTypes)
}

// excludesLicenseTypes reports whether body has `not
// input.subject.license.type == v` (or `= v`, either side) for every v of
// licenseTypes.
func excludesLicenseTypes(body ast.Body) bool {
	found := map[string]bool{}
	for _, e := range body {
		if !e.Negated || len(e.With) > 0 {
			continue
		}
		ref, v, ok := refEquals(e)
		s, isStr := v.(ast.String)
		if ok && isStr && ref.Equal(licenseTypeRef) {
			found[string(s)] = true
		}
	}
	for _, v := range licenseTypes {
		if !found[v] {
			return false
		}
	}
	return true
}

// refEquals is the ref e compares and the value it compares it with,
// when e is `ref == v` or `ref = v` (either side).
func refEquals(e *ast.Expr) (ast.Ref, ast.Value, bool) {
	if !(e.IsEquality() || e.IsCall() && e.Operator().Equal(ast.Equal.Ref())) || len(e.Operands()) != 2 {
		return nil, nil, false
	}
	a, b := e.Operand(0), e.Operand(1)
	if _, ok := a.Value.(ast.Ref); !ok {
		a, b = b, a
	}
	ref, ok := a.Value.(ast.Ref)
	return ref, b.Value, ok
}

// replaces reports whether m has a with modifier on one of refs, on a
// field below it or on one of its prefixes (input itself included),
// other than those keeps (nil: none) allows.
func replaces(m *ast.Module, refs []ast.Ref, keeps func(ast.Body, *ast.With) bool) bool {
	found := false
	ast.WalkBodies(m, func(body ast.Body) bool {
		for _, e := range body {
			for _, w := range e.With {
				t, ok := w.Target.Value.(ast.Ref)
				if !ok || keeps != nil && keeps(body, w) {
					continue
				}
				for _, ref := range refs {
					if ref.HasPrefix(t) || t.HasPrefix(ref) {
						found = true
					}
				}
			}
		}
		return found
	})
	return found
}

// flaggedRef is the field Input.valueWith computes (Subject.flagged), and
// flagTests the four flags it folds, each with the value that sets it.
var (
	flaggedRef = ast.MustParseRef("input.subject.flagged")
	flagTests  = []struct {
		ref ast.Ref
		set ast.Value
	}{
		{ast.MustParseRef("input.subject.status"), ast.String("disabled")},
		{ast.MustParseRef("input.subject.anonymous"), ast.Boolean(true)},
		{ast.MustParseRef("input.subject.license.excluded"), ast.Boolean(true)},
		{ast.MustParseRef("input.subject.license.capacityExhausted"), ast.Boolean(true)},
	}
)

// pruneUnflaggedRules removes from the static modules the gates' bodies for
// inputs without input.subject.flagged (policies/gates.rego): a rule whose body has
// `not input.subject.flagged` and an equality of one of the four flags with the
// value that sets it (without with), has no else, and shares its head with
// another rule that stays. The engine's inputs carry the field whenever a
// static module reads it (valueWith), true or false: true fails the
// `not`, and false means that none of the four flags is set, which fails
// the equality. The bodies that ask `input.subject.flagged == true` first stay:
// OPA's rule index then reads that one field for most subjects, where the
// bodies on the flags alone had it read each of the four.
//
// Nothing is removed when any module replaces the input, the subject or
// one of those fields with `with`. It reports how many rules it removed.
func pruneUnflaggedRules(static map[string]*ast.Module, all map[string]*ast.Module) int {
	refs := []ast.Ref{flaggedRef}
	for _, f := range flagTests {
		refs = append(refs, f.ref)
	}
	for _, m := range all {
		if replaces(m, refs, nil) {
			return 0
		}
	}
	return pruneWhere(static, all, unflaggedOnly)
}

// unflaggedOnly reports whether body has `not input.subject.flagged` and `<flag>
// == <value that sets it>` (or `=`, either side) for one of flagTests,
// neither with a with modifier.
func unflaggedOnly(body ast.Body) bool {
	var notFlagged, flag bool
	for _, e := range body {
		if len(e.With) > 0 {
			continue
		}
		if e.Negated {
			if t, ok := e.Terms.(*ast.Term); ok {
				if ref, ok := t.Value.(ast.Ref); ok && ref.Equal(flaggedRef) {
					notFlagged = true
				}
			}
			continue
		}
		ref, v, ok := refEquals(e)
		if !ok {
			continue
		}
		for _, f := range flagTests {
			if ref.Equal(f.ref) && v.Compare(f.set) == 0 {
				flag = true
			}
		}
	}
	return notFlagged && flag
}

// Decisions the security rules cannot grant. The rules module (authz/rules:
// the plain module's _ids bodies, the indexed module's _didx bodies) names
// in every body the resource type, the action and mostly the environment
// it is about, and its grants iterate those bodies' set: a decision of
// another type, action or environment gets no grant from it — most of
// loadbench's mix, whose requests are mostly of actions no rule names —
// yet OPA evaluates the module's grants for it, and the decision package
// joins them to the built-in grants (decision.rego's allow: the set of
// both compared with {set()}, one builtin call).
//
// rulesGuardsOf reads those names from the compiled module (OPA's own
// compilation of it: every body as OPA evaluates it). The engine's
// compilation has, besides, a copy of the decision package without the
// rules (noRulesModule: package rulekeeper.authz_no_rules, its references
// to data.rulekeeper.rules.grants partially evaluated as undefined, which
// is what the policy says of a policy without a rules module: it grants
// nothing; policies_test checks that it decides as with an empty one),
// and a decision none of the guards admits evaluates that package's allow
// (compiled.bare): the same built-in grants and gates, from the same
// compiler, without the module's evaluation. The decision is OPA's either
// way.

// guard is what a body of the rules module requires of the resource type,
// the action and the environment (guardedRefs, in that order): one value
// each, "" when it requires none.
type guard [3]string

// guardedRefs are the input fields a guard names.
var guardedRefs = [3]ast.Ref{
	ast.MustParseRef("input.resource.type"),
	ast.MustParseRef("input.action"),
	ast.MustParseRef("input.context.environment"),
}

// rulesGuards are the guards of the bodies the rules module's grants can
// come from: a decision whose type, action and environment none admits
// gets no grant from the module.
type rulesGuards struct {
	set    map[guard]bool
	shapes []uint8 // the wildcard shapes in set: bit i set when dimension i is ""
}

// admits reports whether a decision of resource type typ, action and
// environment env may get a grant from the module.
func (g *rulesGuards) admits(typ, action, env string) bool {
	in := guard{typ, action, env}
	for _, s := range g.shapes {
		k := in
		for i := range k {
			if s&(1<<i) != 0 {
				k[i] = ""
			}
		}
		if g.set[k] {
			return true
		}
	}
	return false
}

var rulesPkgRef = ast.MustParseRef("data." + rules.Package)

// rulesGuardsOf reads the guards of the rules module compiled in
// compiler; ok is false when it cannot vouch for them: the module's
// grants are not all rules it can read, a static module (any module but
// the generated one) reads the module other than through
// data.rulekeeper.rules.grants (the copy of the decision package without
// the rules would not see the rest) or replaces the input or a guarded field with `with` (it may
// evaluate the rules on another input than the decision's), or the data
// document has a rulekeeper.rules of its own.
func rulesGuardsOf(compiler *ast.Compiler, root ast.Value) (*rulesGuards, bool) {
	if _, err := root.Find(rulesPkgRef[1:]); err == nil {
		return nil, false
	}
	gen := compiler.Modules[GeneratedModuleName]
	if gen == nil || !gen.Package.Path.Equal(rulesPkgRef) {
		return nil, false
	}
	for name, m := range compiler.Modules {
		if name == GeneratedModuleName {
			continue
		}
		if replaces(m, guardedRefs[:], nil) {
			return nil, false // it may evaluate the rules on another input
		}
		other := false
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if r.HasPrefix(rulesPkgRef) && !r.Equal(rulesGrantsRef) {
				other = true
			}
			return other
		})
		if other {
			return nil, false
		}
	}
	rs := compiler.GetRulesWithPrefix(rulesGrantsRef)
	if len(rs) == 0 {
		return nil, false
	}
	var all []guard
	for _, r := range rs {
		if len(r.Head.Args) > 0 || !r.Ref().Equal(rulesGrantsRef) {
			return nil, false
		}
		all = append(all, ruleGuards(compiler, r, 0)...)
	}
	g := &rulesGuards{set: map[guard]bool{}}
	seen := map[uint8]bool{}
	for _, x := range all {
		g.set[x] = true
		var s uint8
		for i, v := range x {
			if v == "" {
				s |= 1 << i
			}
		}
		if !seen[s] {
			seen[s] = true
			g.shapes = append(g.shapes, s)
		}
	}
	slices.Sort(g.shapes)
	return g, true
}

// maxGuardDepth bounds how deep ruleGuards follows the sets a body
// iterates (a deeper one narrows nothing).
const maxGuardDepth = 4

// ruleGuards are the guards of r's bodies (its else bodies too): each
// holds only for the decisions one of them admits.
func ruleGuards(compiler *ast.Compiler, r *ast.Rule, depth int) []guard {
	var out []guard
	for ; r != nil; r = r.Else {
		out = append(out, bodyGuards(compiler, r.Body, depth)...)
	}
	return out
}

// bodyGuards are the guards under which body may hold: its own equalities
// of guardedRefs with strings, narrowed by the guards of every set of the
// rules module it reads an element of (`x = data.rulekeeper.rules.s[k]`:
// defined only when some body of s holds). An expression with a with
// modifier or negated narrows nothing; nil means body never holds.
func bodyGuards(compiler *ast.Compiler, body ast.Body, depth int) []guard {
	cur := []guard{{}}
	for _, e := range body {
		if e.Negated || len(e.With) > 0 {
			continue
		}
		if ref, v, ok := refEquals(e); ok {
			if s, ok := v.(ast.String); ok {
				for i, gr := range guardedRefs {
					if ref.Equal(gr) {
						var g guard
						g[i] = string(s)
						cur = meet(cur, []guard{g})
					}
				}
			}
		}
		if depth < maxGuardDepth {
			if rs := elementOf(compiler, e); rs != nil {
				var sub []guard
				for _, r := range rs {
					sub = append(sub, ruleGuards(compiler, r, depth+1)...)
				}
				cur = meet(cur, sub)
			}
		}
	}
	return cur
}

// elementOf are the rules of the module's set whose element e reads (as
// `x = data.rulekeeper.rules.s[k]`, either side, or the ref alone), when
// every rule under that path is a rule of it; nil otherwise.
func elementOf(compiler *ast.Compiler, e *ast.Expr) []*ast.Rule {
	var refs []ast.Ref
	switch {
	case e.IsEquality():
		for _, t := range e.Operands() {
			if r, ok := t.Value.(ast.Ref); ok {
				refs = append(refs, r)
			}
		}
	default:
		if t, ok := e.Terms.(*ast.Term); ok {
			if r, ok := t.Value.(ast.Ref); ok {
				refs = append(refs, r)
			}
		}
	}
	for _, r := range refs {
		n := len(rulesPkgRef) + 1
		if len(r) <= n || !r.HasPrefix(rulesPkgRef) {
			continue
		}
		path := r[:n]
		if _, ok := path[n-1].Value.(ast.String); !ok {
			continue
		}
		rs := compiler.GetRulesWithPrefix(path)
		if len(rs) == 0 {
			continue
		}
		exact := true
		for _, x := range rs {
			if len(x.Head.Args) > 0 || !x.Ref().Equal(path) {
				exact = false
			}
		}
		if exact {
			return rs
		}
	}
	return nil
}

// meet is the guards that both a guard of a and one of b admit.
func meet(a, b []guard) []guard {
	var out []guard
	for _, x := range a {
	next:
		for _, y := range b {
			g := x
			for i := range g {
				switch {
				case y[i] == "":
				case g[i] == "":
					g[i] = y[i]
				case g[i] != y[i]:
					continue next
				}
			}
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

// The decision package (policies/decision.rego) and its copy without the
// rules module (noRulesModule).
var (
	decisionPkgRef = ast.MustParseRef("data.rulekeeper.authz")
	noRulesPkgRef  = ast.MustParseRef("data.rulekeeper.authz_no_rules")
)

// noRulesModuleName is the file name of the copy.
const noRulesModuleName = "engine/authz_no_rules.rego"

// noRulesModule is a copy of the static module of the decision package
// (the one package decisionPkgRef) as package noRulesPkgRef, with every
// body that reads data.rulekeeper.rules.grants left out: a body whose
// expression (not negated, without with) is or assigns that reference, or
// calls a function with it as an argument, cannot hold when it is
// undefined; an else chain goes on with the next body, and a rule none of
// whose bodies is left is left out. ok is false when the module reads it
// in any other way (negated, within a comprehension, a composite term) or
// names its own package in full: then there is no copy.
func noRulesModule(static map[string]*ast.Module) (*ast.Module, bool) {
	var src *ast.Module
	for _, m := range static {
		if m.Package.Path.Equal(decisionPkgRef) {
			if src != nil {
				return nil, false
			}
			src = m
		}
	}
	if src == nil {
		return nil, false
	}
	m := src.Copy()
	m.Package.Path = noRulesPkgRef.Copy()
	ok := true
	ast.WalkRefs(m, func(r ast.Ref) bool {
		if r.HasPrefix(decisionPkgRef) {
			ok = false
		}
		return !ok
	})
	if !ok {
		return nil, false
	}
	kept := m.Rules[:0]
	for _, r := range m.Rules {
		r, ok = withoutRules(r)
		if !ok {
			return nil, false
		}
		if r != nil {
			kept = append(kept, r)
		}
	}
	m.Rules = kept
	// The rest must not read the rules module at all.
	ast.WalkRefs(m, func(r ast.Ref) bool {
		if r.HasPrefix(rulesPkgRef) {
			ok = false
		}
		return !ok
	})
	return m, ok
}

// withoutRules is r's else chain without the bodies that read
// data.rulekeeper.rules.grants (nil: none is left).
func withoutRules(r *ast.Rule) (*ast.Rule, bool) {
	var head, tail *ast.Rule
	for x := r; x != nil; x = x.Else {
		reads, ok := readsRulesGrants(x.Body)
		if !ok {
			return nil, false
		}
		if v := x.Head.Value; v != nil && !reads {
			// A value that is the reference or a call on it is
			// undefined: the body gives none.
			reads, ok = readsRulesGrants(ast.NewBody(ast.NewExpr(v)))
			if !ok {
				return nil, false
			}
		}
		if reads {
			continue
		}
		if head == nil {
			// The first body left takes the place of the rule, with
			// the rule's own head (name, default and args) and the
			// value of the body kept.
			y := *r
			y.Head = r.Head.Copy()
			y.Head.Value = x.Head.Value
			y.Body, y.Else = x.Body, nil
			head, tail = &y, &y
			continue
		}
		y := *x
		y.Else = nil
		tail.Else, tail = &y, &y
	}
	return head, true
}

// readsRulesGrants reports whether body has an expression that cannot
// hold with data.rulekeeper.rules.grants undefined (reads); ok is false
// when it reads it in a way whose outcome that does not settle.
func readsRulesGrants(body ast.Body) (reads, ok bool) {
	isIt := func(t *ast.Term) bool {
		r, isRef := t.Value.(ast.Ref)
		return isRef && r.Equal(rulesGrantsRef)
	}
	for _, e := range body {
		direct := false
		switch ts := e.Terms.(type) {
		case *ast.Term:
			direct = isIt(ts)
			if call, isCall := ts.Value.(ast.Call); isCall {
				for _, t := range call[1:] {
					direct = direct || isIt(t)
				}
			}
		case []*ast.Term:
			for _, t := range ts[1:] {
				direct = direct || isIt(t)
			}
		}
		nested := false
		ast.WalkRefs(e, func(r ast.Ref) bool {
			if r.HasPrefix(rulesPkgRef) {
				nested = true
			}
			return nested
		})
		switch {
		case direct && !e.Negated && len(e.With) == 0:
			reads = true
		case nested && !direct:
			return false, false
		case direct:
			return false, false
		}
	}
	return reads, true
}

// Decisions whose candidates the rules module cannot grant. With an
// indexed module, the engine finds the input's candidates in Go
// (ruleindex.go) and hands them to the module in input.va: the rules
// proved at input.va["@t"], those whose atoms the module tests at
// input.va["@"]. When it finds none, input.va is noneFound,
// {"@t": []}, and the module's grants come only from those two lists
// (authz/rules, index_emit.go: grants iterate _didx, each of whose bodies
// iterates _dfound, which is input.va["@t"] when input.va is set, or
// input.va["@"]): the module grants nothing, whatever the guards admit.
// Such a decision (most app reads in loadbench's mix: the reader owns
// none of the apps the demo tenant's one app-read rule is about) is
// decided by the copy of the decision package without the rules
// (compiled.bare), as a decision no guard admits is: OPA evaluates the
// same built-in grants and gates, from the same compiler and on the same
// input, without evaluating a module that can only answer the empty set.
//
// grantsOnlyFound checks that claim on the compiled module rather than
// trusting the emitter: every body of grants, and recursively of the
// rules of the module it iterates, must iterate (a top-level equality,
// not negated and without with, whose side is a reference r[x]) a
// collection that is empty or undefined under noneFound — input.va["@"],
// input.va["@t"], a rule of the module all of whose bodies do so, or a
// complete rule whose one body is `input.va` and assigns it
// input.va["@t"] (that body holds, so its else is never evaluated) — and
// no module but the generated one may replace input.va with `with`.

// The input's candidates (input.va) as the indexed module reads them.
var (
	vaRef     = ast.MustParseRef("input." + rules.ValuesKey)
	provedRef = vaRef.Append(ast.StringTerm(rules.ProvedID))
	testedRef = vaRef.Append(ast.StringTerm(rules.TestID))
)

// maxFoundDepth bounds how deep grantsOnlyFound follows the rules a body
// iterates (the emitter's chain is grants, _didx, _dfound).
const maxFoundDepth = 4

// grantsOnlyFound reports whether the rules module compiled in compiler
// grants nothing to an input whose input.va is noneFound (above).
func grantsOnlyFound(compiler *ast.Compiler) bool {
	for name, m := range compiler.Modules {
		if name != GeneratedModuleName && replaces(m, []ast.Ref{vaRef}, nil) {
			return false
		}
	}
	for _, r := range compiler.GetRulesWithPrefix(rulesGrantsRef) {
		if r.Head.RuleKind() != ast.MultiValue {
			return false // a value of its own, even from an empty list
		}
	}
	return emptyWhenNoneFound(compiler, rulesGrantsRef, 0)
}

// emptyWhenNoneFound reports whether ref's value is undefined or an
// empty collection for an input whose input.va is noneFound: one of the
// two lists of input.va, or a rule of the rules module none of whose
// bodies can hold (or whose value is the empty list of proved rules).
func emptyWhenNoneFound(compiler *ast.Compiler, ref ast.Ref, depth int) bool {
	if ref.Equal(testedRef) || ref.Equal(provedRef) {
		return true
	}
	if depth > maxFoundDepth || len(ref) != len(rulesPkgRef)+1 || !ref.HasPrefix(rulesPkgRef) {
		return false
	}
	rs := compiler.GetRulesWithPrefix(ref)
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if r.Default || len(r.Head.Args) > 0 || !r.Ref().Equal(ref) {
			return false
		}
		switch r.Head.RuleKind() {
		case ast.MultiValue:
			if !iteratesEmpty(compiler, r.Body, depth) {
				return false
			}
		default:
			if len(rs) != 1 || !isProvedList(r) {
				return false
			}
		}
	}
	return true
}

// iteratesEmpty reports whether body has a top-level expression that
// fails when emptyWhenNoneFound holds: an equality (not negated, without
// with) one of whose sides is a reference r[x] into such a collection.
func iteratesEmpty(compiler *ast.Compiler, body ast.Body, depth int) bool {
	for _, e := range body {
		if e.Negated || len(e.With) > 0 || !e.IsEquality() {
			continue
		}
		for _, t := range e.Operands() {
			if r, ok := t.Value.(ast.Ref); ok && len(r) > 1 && emptyWhenNoneFound(compiler, r[:len(r)-1], depth+1) {
				return true
			}
		}
	}
	return false
}

// isProvedList reports whether the complete rule r's first body is
// exactly `input.va` and the assignment of input.va["@t"] to its value:
// under noneFound it holds (input.va is an object), so r's value is the
// empty list and its else bodies are not evaluated.
func isProvedList(r *ast.Rule) bool {
	v, ok := r.Head.Value.Value.(ast.Var)
	if !ok || len(r.Body) != 2 {
		return false
	}
	tested, assigned := false, false
	for _, e := range r.Body {
		if e.Negated || len(e.With) > 0 {
			return false
		}
		switch {
		case e.IsEquality():
			a, b := e.Operand(0), e.Operand(1)
			if a.Equal(ast.VarTerm(string(v))) && b.Equal(ast.NewTerm(provedRef)) {
				assigned = true
			}
		default:
			if t, ok := e.Terms.(*ast.Term); ok && t.Equal(ast.NewTerm(vaRef)) {
				tested = true
			}
		}
	}
	return tested && assigned
}
