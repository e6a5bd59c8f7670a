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
