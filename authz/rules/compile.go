package rules

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Package is the Rego package of the generated module.
const Package = "rulekeeper.rules"

// BuiltinGrants is the reference HasPrivilege evaluates for the built-in
// policy (tables, roles, ownership); it must not depend on this package.
const BuiltinGrants = "data.rulekeeper.builtin.grants"

// CompileRule compiles one rule, enabled or not, into a complete module as
// the validate endpoint shows it. HasPrivilege there consults the built-in
// policy only (the other rules are not known). On errors it returns "" and
// the diagnostics; warnings come back with the module.
func CompileRule(r Rule, v *Vocabulary) (string, []Diagnostic) {
	r.Disabled = false
	mod, diags := compileRules([]Rule{r}, v, false)
	if HasErrors(diags) {
		return "", diags
	}
	return mod, diags
}

// CompileModule compiles the enabled rules into one module, package
// rulekeeper.rules, defining grants. A rule with errors is left out of the
// module and its diagnostics (RuleID set) are returned beside the module;
// so are warnings. The module is always valid Rego v1: with no usable rule
// it defines grants as the empty set.
func CompileModule(rules []Rule, v *Vocabulary) (string, []Diagnostic) {
	return compileRules(rules, v, true)
}

func compileRules(rules []Rule, v *Vocabulary, tag bool) (string, []Diagnostic) {
	p := build(rules, v, tag)
	if p.x == nil {
		return emptyModule(0), p.diags
	}
	return emit(p.units, p.x, p.n), p.diags
}

// program is a rule set checked and stratified, ready to emit.
type program struct {
	x     *vocab
	units []*unit
	rules []*analysis // the rules compiled into the module
	n     int
	diags []Diagnostic
}

func build(rules []Rule, v *Vocabulary, tag bool) *program {
	x, err := indexOrDefault(v)
	if err != nil {
		return &program{diags: []Diagnostic{vocabularyDiag(err)}}
	}
	as, diags := analyzeAll(rules, x, tag)
	p := buildFrom(as, x)
	p.diags = append(diags, p.diags...)
	return p
}

// analyzeAll checks every enabled rule and keeps those without errors.
func analyzeAll(rules []Rule, x *vocab, tag bool) ([]*analysis, []Diagnostic) {
	var out []*analysis
	var diags []Diagnostic
	ids := map[string]bool{}
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		a, ds := analyze(r, x)
		if a != nil && ids[r.ID] {
			ds = append(ds, Diagnostic{Field: FieldID, Line: 1, Column: 1, Severity: SeverityError,
				Message: fmt.Sprintf("duplicate rule id %q: only the first rule with this id is compiled", r.ID)})
			a = nil
		}
		if tag {
			for i := range ds {
				ds[i].RuleID = r.ID
			}
		}
		diags = append(diags, ds...)
		if a != nil {
			ids[r.ID] = true
			out = append(out, a)
		}
	}
	return out, diags
}

// A unit is one rule compiled for one variant: "" for a rule that does not
// use HasPrivilege (its code serves every type), the name of a known type,
// or otherType for the types the vocabulary does not know. A rule using
// HasPrivilege is split by type because the related resource, and so the
// rules it depends on, differ by type; that keeps the dependency graph
// acyclic for any vocabulary whose navigations do not loop.
type unit struct {
	a       *analysis
	rule    int // index in the analysed rules
	variant string
	vindex  int // index of the variant within the rule
	level   int // stratum
	deps    []*unit
	state   int8 // DFS: 0 new, 1 on stack, 2 done
}

const otherType = "?"

func (u *unit) label() string {
	id := u.a.rule.ID
	if id == "" {
		id = u.a.rule.Name
	}
	if u.variant == "" || u.variant == otherType {
		return fmt.Sprintf("%q", id)
	}
	return fmt.Sprintf("%q on %s", id, u.variant)
}

// target is the navigation a HasPrivilege call reaches for a variant, or
// nil when there is none (the call is then false).
func target(c *callInfo, variant string, x *vocab) *navInfo {
	t := x.types[variant]
	if variant == "" || variant == otherType || t == nil || t.name != variant {
		return nil
	}
	if c.nav == nil {
		return t.related
	}
	return t.navs[c.nav.name]
}

// stratify builds the units, their HasPrivilege dependencies and strata.
// A unit's stratum is one more than the highest stratum of the units it
// depends on (0 with none); each stratum only reads lower ones, so the
// generated Rego has no recursion. Rules on a dependency cycle are left
// out with a diagnostic, and the rest is stratified again.
func stratify(as []*analysis, x *vocab) ([]*unit, []Diagnostic) {
	var diags []Diagnostic
	excluded := map[int]bool{}
	for {
		units := buildUnits(as, x, excluded)
		cycle := levels(units)
		if cycle == nil {
			return units, diags
		}
		var path []string
		for _, u := range cycle {
			path = append(path, "rule "+u.label())
		}
		path = append(path, "rule "+cycle[0].label())
		seen := map[int]bool{}
		for _, u := range cycle {
			if seen[u.rule] {
				continue
			}
			seen[u.rule] = true
			excluded[u.rule] = true
			p := u.a.privs[0].NamePos
			if u.a.privs[0].Receiver != nil {
				p = u.a.privs[0].Receiver.Position()
			}
			diags = append(diags, Diagnostic{RuleID: u.a.rule.ID, Field: FieldCondition, Line: p.Line, Column: p.Column, Severity: SeverityError,
				Message: "HasPrivilege makes the rule depend on its own result: " + strings.Join(path, " → "),
				Hint:    "rules that grant an action used in HasPrivilege on the related resource must not themselves depend on it"})
		}
	}
}

type unitKey struct {
	rule    int
	variant string
}

func buildUnits(as []*analysis, x *vocab, excluded map[int]bool) []*unit {
	var units []*unit
	byKey := map[unitKey]*unit{}
	add := func(u *unit) {
		units = append(units, u)
		byKey[unitKey{u.rule, u.variant}] = u
	}
	// granting[action][type] lists the rules granting action on a known type.
	granting := map[string]map[string][]int{}
	for i, a := range as {
		if excluded[i] {
			continue
		}
		if len(a.privs) == 0 {
			add(&unit{a: a, rule: i})
		} else {
			for vi, t := range a.known {
				add(&unit{a: a, rule: i, variant: t.name, vindex: vi})
			}
			if a.open {
				add(&unit{a: a, rule: i, variant: otherType, vindex: len(a.known)})
			}
		}
		for _, act := range a.actions {
			m := granting[act]
			if m == nil {
				m = map[string][]int{}
				granting[act] = m
			}
			for _, t := range a.known {
				m[t.name] = append(m[t.name], i)
			}
		}
	}
	for _, u := range units {
		if len(u.a.privs) == 0 {
			continue
		}
		seen := map[*unit]bool{}
		for _, call := range u.a.privs {
			c := u.a.calls[call]
			nav := target(c, u.variant, x)
			if nav == nil {
				continue
			}
			for _, j := range granting[c.action][nav.target] {
				d := byKey[unitKey{j, ""}]
				if d == nil {
					d = byKey[unitKey{j, nav.target}]
				}
				if d != nil && !seen[d] {
					seen[d] = true
					u.deps = append(u.deps, d)
				}
			}
		}
	}
	return units
}

// levels assigns strata; it returns the units of a cycle if it meets one.
func levels(units []*unit) []*unit {
	var stack []*unit
	var visit func(u *unit) []*unit
	visit = func(u *unit) []*unit {
		switch u.state {
		case 2:
			return nil
		case 1:
			i := slices.Index(stack, u)
			return slices.Clone(stack[i:])
		}
		u.state = 1
		stack = append(stack, u)
		u.level = 0
		for _, d := range u.deps {
			if c := visit(d); c != nil {
				return c
			}
			u.level = max(u.level, d.level+1)
		}
		stack = stack[:len(stack)-1]
		u.state = 2
		return nil
	}
	for _, u := range units {
		if c := visit(u); c != nil {
			return c
		}
	}
	return nil
}

// ---- emission ----

func lit(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// litList and litMap render as opa fmt does: ", " and ": " separators.
func litList(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = lit(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func litMap(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = lit(k) + ": " + lit(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var regoKeywords = map[string]bool{
	"as": true, "contains": true, "default": true, "else": true, "every": true, "false": true, "if": true,
	"import": true, "in": true, "not": true, "null": true, "package": true, "some": true, "true": true, "with": true,
}

// ref renders input.<path>, bracketing segments that are not plain identifiers.
func ref(path []string) string {
	var b strings.Builder
	b.WriteString("input")
	for _, s := range path {
		if identRE.MatchString(s) && !regoKeywords[s] {
			b.WriteByte('.')
			b.WriteString(s)
		} else {
			b.WriteByte('[')
			b.WriteString(lit(s))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func emptyModule(n int) string {
	return header(n) + "grants := set()\n"
}

func header(n int) string {
	return fmt.Sprintf("# Code generated by rulekeeper (authz/rules) from %d security rule(s). DO NOT EDIT.\npackage %s\n\n", n, Package)
}

// privKey names a HasPrivilege helper: the stratum of the rules asking,
// the navigation to the related resource and the action.
type privKey struct {
	level  int
	nav    int
	action string
}

// setKey names a set of grants HasPrivilege helpers read: stratum, exact
// resource type ("" for rules with no type constraint) and action.
type setKey struct {
	level       int
	typ, action string
}

type attrKey struct {
	ref string
	ci  bool
}

// alt is one alternative of a rule's resource filter for a unit: the
// expressions constraining type (and id), and the exact known type they
// fix ("" for none, otherType for anything else).
type alt struct {
	exprs []string
	typ   string
}

type unitCode struct {
	u       *unit
	cond    []rexpr
	k       constness
	alts    []alt
	helpers []string
}

type emitter struct {
	x         *vocab
	priv      map[privKey]string
	privOrder []privKey
	rel       map[int]bool
	known     bool
	attrs     map[attrKey]string
	attrOrder []attrKey
	// need[type+"\x00"+action] is the highest stratum of a HasPrivilege
	// helper asking for action on type: grants of lower strata for that
	// type and action go to sets it reads; all others straight to grants.
	need        map[string]int
	needAny     map[string]int
	sets        map[setKey]string
	setOrder    []setKey
	grantBodies int
	// indexed: rule bodies are _g<stratum>[id], evaluated for the
	// candidates of the index only (index.go).
	indexed bool
	levels  map[int]bool
}

// emit writes the module. Rule bodies add the rule's id to _ids, and one
// rule turns the ids into grant objects (cheaper for OPA to compile than an
// object in every head). Bodies go to _ids directly, except those a
// HasPrivilege helper has to read (a related type and an action some
// HasPrivilege asks for): they go to small per-stratum sets, unioned into
// _ids by bodies that OPA's index also keys on type and action. Keeping
// those sets small matters at compile time too: OPA's recursion check
// walks, from every rule, everything it references.
func emit(units []*unit, x *vocab, n int) string {
	if len(units) == 0 {
		return emptyModule(n)
	}
	e := &emitter{x: x, priv: map[privKey]string{}, rel: map[int]bool{}, attrs: map[attrKey]string{},
		need: map[string]int{}, needAny: map[string]int{}, sets: map[setKey]string{}}
	codes := make([]*unitCode, len(units))
	for i, u := range units {
		codes[i] = e.compileUnit(u)
	}
	var body strings.Builder
	last := -1
	for _, c := range codes {
		if c.u.rule != last {
			last = c.u.rule
			fmt.Fprintf(&body, "# rule %s %s\n", lit(c.u.a.rule.ID), lit(c.u.a.rule.Name))
		}
		e.writeUnit(&body, c)
	}
	var out strings.Builder
	out.WriteString(header(n))
	if e.grantBodies == 0 && len(e.setOrder) == 0 {
		out.WriteString("grants := set()\n\n") // every condition was constant false
	} else {
		names := map[string]string{}
		for _, c := range codes {
			names[c.u.a.rule.ID] = c.u.a.rule.Name
		}
		out.WriteString("# The grant of each rule whose id a body below adds to _ids.\n")
		out.WriteString("grants contains {\"kind\": \"rule\", \"id\": id, \"name\": name} if {\n\tsome id in _ids\n\tname := _names[id]\n}\n\n")
		fmt.Fprintf(&out, "_names := %s\n\n", litMap(names))
	}
	for _, k := range e.setOrder {
		var guard []string
		if k.typ != "" {
			guard = append(guard, "input.resource.type == "+lit(k.typ))
		}
		guard = append(guard, "input.action == "+lit(k.action))
		fmt.Fprintf(&out, "_ids contains id if {\n\t%s\n\tsome id in %s\n}\n\n", strings.Join(guard, "\n\t"), e.sets[k])
	}
	out.WriteString(body.String())
	e.privHelpers(&out)
	e.relHelpers(&out)
	if e.known {
		fmt.Fprintf(&out, "_known_types := %s\n\n", setLit(x.typeNames))
	}
	e.valueLists(&out)
	return out.String()
}

// valueLists writes the value list of every attribute the conditions
// read, then the helpers they use.
func (e *emitter) valueLists(out *strings.Builder) {
	for _, k := range e.attrOrder {
		fmt.Fprintf(out, "# values of %s\n", k.ref)
		fmt.Fprintf(out, "default %s := []\n\n", e.attrs[k])
		fmt.Fprintf(out, "%s := %s\n\n", e.attrs[k], valueList(k.ref, k.ci))
	}
	out.WriteString(valueHelpers)
	out.WriteString("\n")
	out.WriteString(strings.TrimSuffix(indexedValueHelpers, "\n"))
}

// valueList lists the values at ref (lower-cased if ci) with the index's
// helpers (_vli, _vls): a string, the common case, is one value without a
// comprehension nor a function call per value. They read ref once, as an
// argument (authz's projection analysis recognises the form), and leave
// the list undefined when the input has no value at ref: the list's
// default rule makes it [] then, so that tests on it may be negated in
// place.
func valueList(ref string, ci bool) string {
	if ci {
		return fmt.Sprintf("_vli(%s)", ref)
	}
	return fmt.Sprintf("_vls(%s)", ref)
}

func setLit(ss []string) string {
	if len(ss) == 0 {
		return "set()"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = lit(s)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

const valueHelpers = `# An attribute's values: a string is one value, an array holds several,
# booleans and numbers count as their text; anything else has none.
# (else: the common case, a string, evaluates one body.)
_arr(x) := x if {
	is_array(x)
} else := [x]

_str(x) := x if {
	is_string(x)
} else := sprintf("%v", [x]) if {
	type_name(x) in {"boolean", "number"}
}

_ne(xs) if {
	some s in xs
	s != ""
}
`

// attr names the cached list of an attribute's values (lower-cased if ci).
// The list has a default, so it is [] rather than undefined for a missing
// attribute and tests on it may be negated in place.
func (e *emitter) attr(path []string, ci bool) string {
	k := attrKey{ref(path), ci}
	if n, ok := e.attrs[k]; ok {
		return n
	}
	n := fmt.Sprintf("_v%d", len(e.attrOrder))
	if ci {
		n = fmt.Sprintf("_lv%d", len(e.attrOrder))
	}
	e.attrs[k] = n
	e.attrOrder = append(e.attrOrder, k)
	return n
}

func needKey(typ, action string) string { return typ + "\x00" + action }

func (e *emitter) setFor(level int, a alt, action string) string {
	var need int
	var ok bool
	switch a.typ {
	case otherType:
		e.grantBodies++
		return "_ids"
	case "":
		need, ok = e.needAny[action]
	default:
		need, ok = e.need[needKey(a.typ, action)]
	}
	if !ok || need <= level {
		e.grantBodies++
		return "_ids"
	}
	k := setKey{level, a.typ, action}
	if n, ok := e.sets[k]; ok {
		return n
	}
	n := fmt.Sprintf("_s%d_%d", level, len(e.setOrder))
	e.sets[k] = n
	e.setOrder = append(e.setOrder, k)
	return n
}

// alts lists, for a unit, the alternatives of type constraints; a body is
// generated per alternative and action. Prefix terms are expanded into
// one alternative per known type they select plus one for the types the
// vocabulary does not know, so every body naming a known type says which.
func (e *emitter) alts(u *unit) []alt {
	const typeRef = "input.resource.type"
	eq := func(t string) string { return typeRef + " == " + lit(t) }
	notKnown := func() string {
		// object.get: a missing type must not be hoisted out of the not.
		e.known = true
		return `not _known_types[object.get(input, ["resource", "type"], null)]`
	}
	typed := func(t *typeInfo) bool { return u.variant == "" || u.variant == t.name }
	var out []alt
	for _, t := range u.a.terms {
		switch t.Kind {
		case TermAll:
			switch u.variant {
			case "":
				out = append(out, alt{})
			case otherType:
				out = append(out, alt{exprs: []string{notKnown()}, typ: otherType})
			default:
				out = append(out, alt{exprs: []string{eq(u.variant)}, typ: u.variant})
			}
		case TermType, TermID:
			var s []string
			if t.Kind == TermID {
				s = []string{"input.resource.id == " + lit(t.ID)}
			}
			switch {
			case t.known == nil && (u.variant == "" || u.variant == otherType):
				out = append(out, alt{exprs: append([]string{eq(t.typ)}, s...), typ: otherType})
			case t.known != nil && typed(t.known):
				out = append(out, alt{exprs: append([]string{eq(t.typ)}, s...), typ: t.typ})
			}
		case TermPrefix:
			for _, k := range t.prefixed {
				if typed(k) {
					out = append(out, alt{exprs: []string{eq(k.name)}, typ: k.name})
				}
			}
			if u.variant == "" || u.variant == otherType {
				out = append(out, alt{exprs: []string{fmt.Sprintf("startswith(%s, %s)", typeRef, lit(t.prefix)), notKnown()}, typ: otherType})
			}
		}
	}
	// Drop alternatives implied by another (a superset of its constraints).
	var kept []alt
	for i, s := range out {
		redundant := false
		for j, o := range out {
			if i != j && subset(o.exprs, s.exprs) && (!subset(s.exprs, o.exprs) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			kept = append(kept, s)
		}
	}
	return kept
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func (e *emitter) compileUnit(u *unit) *unitCode {
	cc := &condCompiler{e: e, u: u, prefix: fmt.Sprintf("_h%d_%d_", u.rule, u.vindex)}
	c := &unitCode{u: u}
	if u.a.cond != nil {
		c.cond, c.k = cc.expr(u.a.cond)
	}
	if c.k != constFalse {
		c.alts = e.alts(u)
		if len(c.cond) > 2 && len(c.alts)*len(u.a.actions) > 1 {
			name := fmt.Sprintf("_c%d_%d", u.rule, u.vindex)
			cc.helper(name, [][]rexpr{c.cond})
			c.cond = []rexpr{{text: name, negSafe: true}}
		}
	}
	c.helpers = cc.helpers
	return c
}

func (e *emitter) writeUnit(w *strings.Builder, c *unitCode) {
	u := c.u
	switch u.variant {
	case "":
	case otherType:
		fmt.Fprintf(w, "# for resource types not in the vocabulary, stratum %d\n", u.level)
	default:
		fmt.Fprintf(w, "# for resource type %s, stratum %d\n", u.variant, u.level)
	}
	if c.k == constFalse {
		w.WriteString("# (the condition cannot hold here)\n\n")
		return
	}
	var envExpr string
	switch u.a.context {
	case ContextHub, ContextConsole:
		envExpr = "input.context.environment == " + lit(u.a.context)
	}
	grant := lit(u.a.rule.ID)
	for _, a := range c.alts {
		for _, act := range u.a.actions {
			if e.indexed {
				e.levels[u.level] = true
				fmt.Fprintf(w, "_g%d[%s] if {\n", u.level, grant)
			} else {
				fmt.Fprintf(w, "%s contains %s if {\n", e.setFor(u.level, a, act), grant)
			}
			for _, s := range a.exprs {
				fmt.Fprintf(w, "\t%s\n", s)
			}
			fmt.Fprintf(w, "\tinput.action == %s\n", lit(act))
			if envExpr != "" {
				fmt.Fprintf(w, "\t%s\n", envExpr)
			}
			for _, x := range c.cond {
				fmt.Fprintf(w, "\t%s\n", x)
			}
			w.WriteString("}\n\n")
		}
	}
	for _, h := range c.helpers {
		w.WriteString(h)
	}
}

func (e *emitter) privName(level int, nav *navInfo, action string) string {
	k := privKey{level, nav.index, action}
	if n, ok := e.priv[k]; ok {
		return n
	}
	n := fmt.Sprintf("_p%d_%d", level, len(e.privOrder))
	e.priv[k] = n
	e.privOrder = append(e.privOrder, k)
	e.rel[nav.index] = true
	nk := needKey(nav.target, action)
	if l, ok := e.need[nk]; !ok || level > l {
		e.need[nk] = level
	}
	if l, ok := e.needAny[action]; !ok || level > l {
		e.needAny[action] = level
	}
	return n
}

func (e *emitter) privHelpers(out *strings.Builder) {
	for _, k := range e.privOrder {
		name := e.priv[k]
		nav := e.x.navList[k.nav]
		fmt.Fprintf(out, "# HasPrivilege(%s) on the related %s: the built-in policy or a rule of a lower stratum grants it.\n", lit(k.action), nav.target)
		refs := []string{BuiltinGrants}
		if e.indexed {
			// The rules compiled to data (_ddx: emitIndexed) and those
			// compiled to Rego of lower strata.
			refs = append(refs, "_ddx")
			for j := 0; j < k.level; j++ {
				if e.levels[j] {
					refs = append(refs, fmt.Sprintf("_s%d", j))
				}
			}
		}
		for j := 0; j < k.level && !e.indexed; j++ {
			for _, typ := range []string{nav.target, ""} {
				if s, ok := e.sets[setKey{j, typ, k.action}]; ok {
					refs = append(refs, s)
				}
			}
		}
		// The value lists a caller put in the input (ValuesKey) are the
		// input resource's: the rules on the related one compute theirs.
		va, given := "", ""
		if e.indexed {
			va = " with input." + ValuesKey + " as false"
			// The caller may have decided it (PrivID): then its answer.
			fmt.Fprintf(out, "%s if input.%s[%q].%s\n\n", name, ValuesKey, PrivID, name)
			given = fmt.Sprintf("\n\tnot _pgiven(%q)", name)
		}
		for _, r := range refs {
			fmt.Fprintf(out, "%s if {%s\n\tr := _rel_%d\n\t%s[_] with input.resource as r with input.action as %s%s\n}\n\n", name, given, k.nav, r, lit(k.action), va)
		}
	}
	if e.indexed && len(e.privOrder) > 0 {
		fmt.Fprintf(out, "_pgiven(n) if {\n\t_ = input.%s[%q][n]\n}\n\n", ValuesKey, PrivID)
	}
}

// PrivID is the item of input.va (ValuesKey) that may hold, by name, the
// answers of the indexed module's HasPrivilege helpers (_p<stratum>_<n>):
// the caller (the engine) may evaluate one apart, on the related resource
// at the top level, as the helper's bodies do under with (what the
// built-in policy and the rules of lower strata grant there), and give its
// answer; a helper not given is evaluated by the module.
const PrivID = "@p"

// RelDefaults is the object every related resource a HasPrivilege
// condition evaluates the policy on starts from: the fields every resource
// of the engine carries, "" when unknown.
const RelDefaults = `{"spaceId": "", "spaceType": ""}`

func (e *emitter) relHelpers(out *strings.Builder) {
	for i, nav := range e.x.navList {
		if !e.rel[i] {
			continue
		}
		expr := "n"
		if len(nav.carry) > 0 {
			expr = fmt.Sprintf("object.union(object.filter(input.resource, %s), n)", litList(nav.carry))
		}
		if len(nav.copy) > 0 {
			expr = fmt.Sprintf("object.union(%s, {to: n[from] | some from, to in %s})", expr, litMap(nav.copy))
		}
		expr = fmt.Sprintf("object.union(%s, {\"type\": %s})", expr, lit(nav.target))
		// spaceId and spaceType "" unless the related resource has them,
		// as in every resource the engine sends (the policy reads "" and
		// absent alike; the engine leaves its rules for absent ones out
		// of its compilation, authz/prune.go).
		expr = fmt.Sprintf("object.union(%s, %s)", RelDefaults, expr)
		fmt.Fprintf(out, "# The related %s of the resource, as a resource of its own.\n", nav.target)
		fmt.Fprintf(out, "_rel_%d := r if {\n\tn := %s\n\tis_object(n)\n\tr := %s\n}\n\n", i, ref([]string{"resource", nav.field}), expr)
	}
}

// ---- conditions ----

// rexpr is one Rego expression of a conjunction.
//
// Only some expressions may be negated in place. OPA hoists the arguments
// of a call out of a negation, so `not f(input.x)` is false, not true, when
// input.x is missing. Tests on the attribute value lists (never undefined),
// on input.subject.anonymous and references to rules without arguments are
// safe; anything declaring a variable is negated through a helper rule.
type rexpr struct {
	text    string
	neg     bool // rendered with "not"
	negSafe bool // may be negated in place
}

func (r rexpr) String() string {
	if r.neg {
		return "not " + r.text
	}
	return r.text
}

type constness int8

const (
	notConst constness = iota
	constTrue
	constFalse
)

func constOf(b bool) constness {
	if b {
		return constTrue
	}
	return constFalse
}

type condCompiler struct {
	e       *emitter
	u       *unit
	prefix  string
	n, v    int
	helpers []string
}

func (cc *condCompiler) newVar() string {
	cc.v++
	return fmt.Sprintf("v%d", cc.v)
}

// helper defines a rule true when any of the bodies holds.
func (cc *condCompiler) helper(name string, bodies [][]rexpr) {
	var b strings.Builder
	for _, body := range bodies {
		fmt.Fprintf(&b, "%s if {\n", name)
		for _, x := range body {
			fmt.Fprintf(&b, "\t%s\n", x)
		}
		b.WriteString("}\n\n")
	}
	cc.helpers = append(cc.helpers, b.String())
}

func (cc *condCompiler) newHelper(bodies [][]rexpr) string {
	name := fmt.Sprintf("%s%d", cc.prefix, cc.n)
	cc.n++
	cc.helper(name, bodies)
	return name
}

// expr compiles a condition to a conjunction, or to a constant.
func (cc *condCompiler) expr(x Expr) ([]rexpr, constness) {
	switch x := x.(type) {
	case *Logical:
		if x.Op == And {
			var out []rexpr
			for _, o := range x.Operands {
				r, k := cc.expr(o)
				switch k {
				case constFalse:
					return nil, constFalse
				case constTrue:
					continue
				}
				out = append(out, r...)
			}
			if len(out) == 0 {
				return nil, constTrue
			}
			return out, notConst
		}
		var alts [][]rexpr
		for _, o := range x.Operands {
			r, k := cc.expr(o)
			switch k {
			case constTrue:
				return nil, constTrue
			case constFalse:
				continue
			}
			alts = append(alts, r)
		}
		switch len(alts) {
		case 0:
			return nil, constFalse
		case 1:
			return alts[0], notConst
		}
		return []rexpr{{text: cc.newHelper(alts), negSafe: true}}, notConst
	case *Not:
		r, k := cc.expr(x.X)
		switch k {
		case constTrue:
			return nil, constFalse
		case constFalse:
			return nil, constTrue
		}
		if len(r) == 1 && r[0].negSafe {
			r[0].neg = !r[0].neg
			return r, notConst
		}
		return []rexpr{{text: cc.newHelper([][]rexpr{r}), neg: true, negSafe: true}}, notConst
	case *Compare:
		return cc.compare(x)
	case *compiled:
		return x.r, notConst
	case *Call:
		info := cc.u.a.calls[x]
		switch info.fn {
		case fnHasPrivilege:
			nav := target(info, cc.u.variant, cc.e.x)
			if nav == nil {
				return nil, constFalse
			}
			return []rexpr{{text: cc.e.privName(cc.u.level, nav, info.action), negSafe: true}}, notConst
		case fnIsOwned:
			// The lower-cased list: it has a value "" where the other has,
			// and is the list an equality on the attribute reads.
			return []rexpr{{text: "_ne(" + cc.e.attr(info.ref, true) + ")", negSafe: true}}, notConst
		case fnEmpty:
			return []rexpr{{text: "_ne(" + cc.e.attr(info.ref, true) + ")", neg: true, negSafe: true}}, notConst
		case fnIsAnonymous:
			return []rexpr{{text: "input.subject.anonymous == true", negSafe: true}}, notConst
		}
	}
	panic(fmt.Sprintf("rules: cannot compile %T", x))
}

func (cc *condCompiler) values(o Operand, ci bool) string {
	return cc.e.attr(cc.u.a.refs[o.(*Path)], ci)
}

func (cc *condCompiler) compare(x *Compare) ([]rexpr, constness) {
	l, lLit := x.Left.(*Literal)
	r, rLit := x.Right.(*Literal)
	if lLit && rLit {
		return nil, constOf(compareValues(x.Op, []string{l.Value}, []string{r.Value}))
	}
	safe := func(text string) []rexpr { return []rexpr{{text: text, negSafe: true}} }
	// scan tests each value: test builds the test from the variable's name
	// (never a format string: literals come from the user).
	scan := func(vals string, test func(v string) string) []rexpr {
		v := cc.newVar()
		return []rexpr{{text: "some " + v + " in " + vals}, {text: test(v)}}
	}
	switch x.Op {
	case OpEq, OpNe, OpEqCase, OpNeCase:
		ci := x.Op == OpEq || x.Op == OpNe
		var out []rexpr
		if lLit || rLit {
			v, p := literalSide(x, ci)
			out = safe(fmt.Sprintf("%s in %s", lit(v), cc.values(p, ci)))
		} else {
			right := cc.values(x.Right, ci)
			out = scan(cc.values(x.Left, ci), func(v string) string { return v + " in " + right })
		}
		if x.Op == OpNe || x.Op == OpNeCase {
			return cc.expr(&Not{X: &compiled{out}})
		}
		return out, notConst
	case OpLike:
		vals := cc.values(x.Left, true)
		kind, s := classifyLike(strings.ToLower(r.Value))
		switch kind {
		case likeExact:
			return safe(fmt.Sprintf("%s in %s", lit(s), vals)), notConst
		case likeAny:
			return safe(fmt.Sprintf("count(%s) > 0", vals)), notConst
		case likePrefix:
			return safe(fmt.Sprintf("strings.any_prefix_match(%s, %s)", vals, lit(s))), notConst
		case likeSuffix:
			return safe(fmt.Sprintf("strings.any_suffix_match(%s, %s)", vals, lit(s))), notConst
		case likeContains:
			return scan(vals, func(v string) string { return "contains(" + v + ", " + lit(s) + ")" }), notConst
		}
		return scan(vals, func(v string) string { return "regex.match(" + lit(s) + ", " + v + ")" }), notConst
	case OpMatches:
		pattern := lit(anchored(r.Value))
		return scan(cc.values(x.Left, false), func(v string) string { return "regex.match(" + pattern + ", " + v + ")" }), notConst
	}
	panic("rules: unknown operator")
}

// literalSide splits an equality with one literal side (equality is
// symmetric) into the literal's value, lower-cased if ci, and the other
// operand.
func literalSide(x *Compare, ci bool) (string, Operand) {
	lt, p := x.Left, x.Right
	if _, ok := x.Right.(*Literal); ok {
		lt, p = x.Right, x.Left
	}
	v := lt.(*Literal).Value
	if ci {
		v = strings.ToLower(v)
	}
	return v, p
}

// compiled wraps already compiled expressions as an Expr, so that != can
// reuse the negation of Not.
type compiled struct{ r []rexpr }

func (*compiled) Position() Pos { return Pos{} }
func (*compiled) exprNode()     {}

type likeKind int

const (
	likeExact likeKind = iota
	likeAny
	likePrefix
	likeSuffix
	likeContains
	likeRegex
)

// classifyLike picks the cheapest test for a (lower-cased) like pattern; s
// is the literal part, or for likeRegex the anchored regular expression.
func classifyLike(p string) (likeKind, string) {
	for strings.Contains(p, "**") {
		p = strings.ReplaceAll(p, "**", "*")
	}
	if !strings.ContainsRune(p, '?') {
		inner := strings.Trim(p, "*")
		if !strings.Contains(inner, "*") {
			pre, suf := strings.HasPrefix(p, "*"), strings.HasSuffix(p, "*")
			switch {
			case p == "*":
				return likeAny, ""
			case !pre && !suf:
				return likeExact, p
			case !pre && suf:
				return likePrefix, inner
			case pre && !suf:
				return likeSuffix, inner
			default:
				return likeContains, inner
			}
		}
	}
	return likeRegex, likeRegexp(p)
}

// likeRegexp translates a like pattern: * any run of characters, ? one.
func likeRegexp(p string) string {
	var b strings.Builder
	b.WriteString("^(?s:")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(")$")
	return b.String()
}

// anchored makes a matches pattern match whole values only.
func anchored(p string) string { return "^(?:" + p + ")$" }

// compareValues is the semantics of a comparison over two value lists,
// used to fold comparisons of two literals.
func compareValues(op CompareOp, a, b []string) bool {
	switch op {
	case OpEq, OpNe:
		hit := slices.ContainsFunc(a, func(x string) bool {
			return slices.ContainsFunc(b, func(y string) bool { return strings.ToLower(x) == strings.ToLower(y) })
		})
		return hit == (op == OpEq)
	case OpEqCase, OpNeCase:
		hit := slices.ContainsFunc(a, func(x string) bool { return slices.Contains(b, x) })
		return hit == (op == OpEqCase)
	case OpLike:
		re := regexp.MustCompile(likeRegexp(strings.ToLower(b[0])))
		return slices.ContainsFunc(a, func(x string) bool { return re.MatchString(strings.ToLower(x)) })
	case OpMatches:
		re, err := regexp.Compile(anchored(b[0]))
		return err == nil && slices.ContainsFunc(a, re.MatchString)
	}
	return false
}
