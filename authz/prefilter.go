package authz

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// Tri is a three-valued truth: what can be told about a rule from part of
// its input.
type Tri int8

// The three truth values.
const (
	False Tri = iota
	Unknown
	True
)

func (t Tri) String() string {
	return [...]string{"false", "unknown", "true"}[t]
}

func tri(b bool) Tri {
	if b {
		return True
	}
	return False
}

func (t Tri) not() Tri { return 2 - t }

// RuleMatcher tells in Go, without OPA, whether a security rule can grant:
// its resource filter against a resource type and id, its actions and
// context, and its condition over a subject and a resource either of which
// may be unknown (nil). It reads the very values the generated Rego reads
// (the policy input built by Input.value, through the vocabulary's paths)
// with the language's semantics (authz/rules doc), and answers Unknown for
// anything it does not model — HasPrivilege, user.environment, attributes
// it cannot place — so False is always safe to act on. A differential test
// checks True and False against OPA.
type RuleMatcher struct {
	Rule    rules.Rule
	valid   bool // the rule compiles: a rule with errors grants nothing
	actions []string
	envs    []string
	terms   []filterTerm
	cond    rules.Expr // nil: always
	x       *vocabIndex
	re      map[*rules.Compare]*regexp.Regexp // matches: compiled with the matcher
	// likes: the like comparisons' expressions, compiled when an item is
	// first decided by the matcher (lists push the pattern down; ten
	// thousand rules would otherwise compile ten thousand expressions
	// every plan may never run).
	likes sync.Map // *rules.Compare → *regexp.Regexp
	// extAttrs: the attributes of the external types the filter selects
	// (lower-case name → name as declared), read at attributes.<name>.
	extAttrs map[string]string
	// HasPrivilege is true when the condition calls HasPrivilege: its
	// grants depend on other rules' grants.
	HasPrivilege bool
}

type filterTerm struct {
	kind   rules.TermKind
	typ    string   // TermType, TermID: lower-case type as written
	known  string   // TermType, TermID: canonical type when the vocabulary knows it
	id     string   // TermID
	prefix string   // TermPrefix, lower case
	types  []string // TermPrefix: known types whose name or an alias starts with prefix
}

// vocabIndex is the part of a rules.Vocabulary the matcher needs, keyed
// by lower-case names.
type vocabIndex struct {
	types   map[string]string // name or alias → canonical type
	user    map[string][]string
	common  map[string][]string
	typed   map[string][]string // type attributes (same path in every type)
	navs    map[string]*rules.Navigation
	navAttr map[string]map[string][]string
	// per canonical type: its navigations (by lower-case name) and the one
	// resource.HasPrivilege follows
	typeNavs map[string]map[string]*rules.Navigation
	related  map[string]*rules.Navigation
	// external types: lower-case attribute name → name as declared
	ext map[string]map[string]string
}

func indexVocab(v *rules.Vocabulary) *vocabIndex {
	x := &vocabIndex{types: map[string]string{}, user: map[string][]string{}, common: map[string][]string{},
		typed: map[string][]string{}, navs: map[string]*rules.Navigation{}, navAttr: map[string]map[string][]string{},
		typeNavs: map[string]map[string]*rules.Navigation{}, related: map[string]*rules.Navigation{},
		ext: map[string]map[string]string{}}
	put := func(m map[string][]string, a rules.Attribute) {
		for _, n := range append([]string{a.Name}, a.Aliases...) {
			m[strings.ToLower(n)] = a.Path
		}
	}
	for _, t := range v.ResourceTypes {
		name := strings.ToLower(t.Name)
		for _, n := range append([]string{t.Name}, t.Aliases...) {
			x.types[strings.ToLower(n)] = name
		}
		if t.External {
			x.ext[name] = map[string]string{}
			for _, a := range t.Attributes {
				x.ext[name][strings.ToLower(a.Name)] = a.Name
			}
			continue
		}
		for _, a := range t.Attributes {
			put(x.typed, a)
		}
	}
	for _, t := range v.ResourceTypes {
		name := strings.ToLower(t.Name)
		x.typeNavs[name] = map[string]*rules.Navigation{}
		for _, n := range t.Navigations {
			for i := range v.Navigations {
				if strings.EqualFold(v.Navigations[i].Name, n) {
					x.typeNavs[name][strings.ToLower(n)] = &v.Navigations[i]
					if strings.EqualFold(t.Related, n) {
						x.related[name] = &v.Navigations[i]
					}
				}
			}
		}
	}
	for _, a := range v.UserAttributes {
		put(x.user, a)
	}
	for _, a := range v.CommonAttributes {
		put(x.common, a)
	}
	for i := range v.Navigations {
		n := &v.Navigations[i]
		attrs := map[string][]string{}
		for _, a := range n.Attributes {
			put(attrs, a)
		}
		for _, name := range append([]string{n.Name}, n.Aliases...) {
			x.navs[strings.ToLower(name)] = n
			x.navAttr[strings.ToLower(name)] = attrs
		}
	}
	return x
}

// NewRuleMatcher prepares a rule (nil vocabulary: rules.DefaultVocabulary).
// A rule with errors never grants (CompileModule leaves it out) and its
// matcher says False to everything.
func NewRuleMatcher(r rules.Rule, v *rules.Vocabulary) *RuleMatcher {
	return newMatcherVocab(v).match(r)
}

// matcherVocab is a vocabulary indexed once for many matchers, which
// share it (an index of its own per matcher would cost thousands of
// indexings and copies for thousands of rules).
type matcherVocab struct {
	v  *rules.Vocabulary // as given (nil: the default)
	x  *vocabIndex
	ck *rules.Checker
}

func newMatcherVocab(v *rules.Vocabulary) *matcherVocab {
	given := v
	if v == nil {
		v = rules.DefaultVocabulary()
	}
	return &matcherVocab{v: given, x: indexVocab(v), ck: rules.NewChecker(v)}
}

func (mv *matcherVocab) match(r rules.Rule) *RuleMatcher {
	return mv.matchParsed(r, nil, false)
}

// matchParsed is match of a rule whose condition cond was checked (and
// parsed) against the matchers' vocabulary already, when checked.
func (mv *matcherVocab) matchParsed(r rules.Rule, cond rules.Expr, checked bool) *RuleMatcher {
	m := &RuleMatcher{Rule: r, x: mv.x}
	if r.Disabled {
		return m
	}
	if !checked {
		var diags []rules.Diagnostic
		cond, diags = mv.ck.Parsed(r) // checked, and parsed once
		if rules.HasErrors(diags) {
			return m
		}
	}
	terms, diags := rules.ParseFilter(r.ResourceFilter)
	if rules.HasErrors(diags) {
		return m
	}
	for _, t := range terms {
		ft := filterTerm{kind: t.Kind, typ: strings.ToLower(t.Type), id: t.ID, prefix: strings.ToLower(t.Prefix)}
		ft.known = m.x.types[ft.typ]
		if t.Kind == rules.TermPrefix {
			seen := map[string]bool{}
			for alias, typ := range m.x.types {
				if strings.HasPrefix(alias, ft.prefix) && !seen[typ] {
					seen[typ] = true
					ft.types = append(ft.types, typ)
				}
			}
			slices.Sort(ft.types)
		}
		m.terms = append(m.terms, ft)
		var selected []string
		switch t.Kind {
		case rules.TermAll:
			for typ := range m.x.ext {
				selected = append(selected, typ)
			}
		case rules.TermPrefix:
			selected = ft.types
		default:
			selected = []string{ft.known}
		}
		for _, typ := range selected {
			for k, name := range m.x.ext[typ] {
				if m.extAttrs == nil {
					m.extAttrs = map[string]string{}
				}
				m.extAttrs[k] = name
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range r.Actions {
		a = NormalizeAction(a)
		if a != "" && !seen[a] {
			seen[a] = true
			m.actions = append(m.actions, a)
		}
	}
	slices.Sort(m.actions)
	switch strings.ToLower(strings.TrimSpace(r.Context)) {
	case rules.ContextHub:
		m.envs = []string{"hub"}
	case rules.ContextConsole:
		m.envs = []string{"console"}
	default:
		m.envs = []string{"console", "hub"}
	}
	m.cond = cond
	m.valid = true
	m.HasPrivilege = walkCalls(cond, func(c *rules.Call) bool { return strings.EqualFold(c.Name, "HasPrivilege") })
	if err := m.compileRegexps(cond); err != nil {
		m.valid = false
	}
	return m
}

// NormalizeAction maps an action as a rule may write it ("Change owner",
// "READ") to its API name ("change_owner", "read").
func NormalizeAction(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	if !strings.ContainsAny(a, " -") {
		return a
	}
	return actionSeparators.Replace(a)
}

var actionSeparators = strings.NewReplacer(" ", "_", "-", "_")

func walkCalls(e rules.Expr, f func(*rules.Call) bool) bool {
	switch e := e.(type) {
	case *rules.Logical:
		return slices.ContainsFunc(e.Operands, func(o rules.Expr) bool { return walkCalls(o, f) })
	case *rules.Not:
		return walkCalls(e.X, f)
	case *rules.Call:
		return f(e)
	}
	return false
}

func (m *RuleMatcher) compileRegexps(e rules.Expr) error {
	switch e := e.(type) {
	case *rules.Logical:
		for _, o := range e.Operands {
			if err := m.compileRegexps(o); err != nil {
				return err
			}
		}
	case *rules.Not:
		return m.compileRegexps(e.X)
	case *rules.Compare:
		lit, ok := e.Right.(*rules.Literal)
		if !ok || e.Op != rules.OpMatches {
			return nil // a like pattern always compiles (likeRegexp)
		}
		re, err := regexp.Compile("^(?:" + lit.Value + ")$")
		if err != nil {
			return fmt.Errorf("rule %q: %w", m.Rule.ID, err)
		}
		if m.re == nil {
			m.re = map[*rules.Compare]*regexp.Regexp{}
		}
		m.re[e] = re
	}
	return nil
}

// likePattern is the expression of a like comparison with a literal
// pattern (ok false: the pattern is not a literal).
func likePattern(c *rules.Compare) (string, bool) {
	lit, ok := c.Right.(*rules.Literal)
	if !ok || c.Op != rules.OpLike {
		return "", false
	}
	return LikePattern(strings.ToLower(lit.Value)), true
}

// likeRegexp is the compiled likePattern of c (nil: not a literal pattern).
func (m *RuleMatcher) likeRegexp(c *rules.Compare) *regexp.Regexp {
	if re, ok := m.likes.Load(c); ok {
		return re.(*regexp.Regexp)
	}
	p, ok := likePattern(c)
	if !ok {
		return nil
	}
	re, err := regexp.Compile(p) // LikePattern quotes every other character
	if err != nil {
		return nil // never seen; Unknown is safe
	}
	m.likes.Store(c, re)
	return re
}

// LikePattern translates a like pattern of the rule language (* any run of
// characters, ? one) into an anchored RE2 pattern that MongoDB's PCRE reads
// alike (the planner's FilterRegex).
func LikePattern(p string) string {
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
	b.WriteString(`)\z`) // \z, not $: PCRE (MongoDB) lets $ match before a final newline
	return b.String()
}

// Valid reports whether the rule compiles and is enabled (only then can it grant).
func (m *RuleMatcher) Valid() bool { return m.valid }

// Actions are the rule's actions, normalised and sorted.
func (m *RuleMatcher) Actions() []string { return m.actions }

// Environments are the environments the rule's context covers, sorted.
func (m *RuleMatcher) Environments() []string { return m.envs }

// HasAction reports whether the rule names action.
func (m *RuleMatcher) HasAction(action string) bool {
	_, ok := slices.BinarySearch(m.actions, action)
	return ok
}

// InEnvironment reports whether the rule's context covers env.
func (m *RuleMatcher) InEnvironment(env string) bool { return slices.Contains(m.envs, env) }

// Selects tells whether the rule's resource filter selects a resource of
// type typ (lower case, as in the input) and id ("" when not known yet:
// Unknown for id terms of that type).
func (m *RuleMatcher) Selects(typ, id string) Tri {
	if !m.valid {
		return False
	}
	out := False
	for _, t := range m.terms {
		var r Tri
		switch t.kind {
		case rules.TermAll:
			r = True
		case rules.TermType, rules.TermID:
			switch {
			case t.known != "":
				r = tri(t.known == typ)
			case t.typ == typ:
				r = Unknown // a type the vocabulary does not know: as sent
			}
			if r != False && t.kind == rules.TermID {
				if id == "" {
					r = Unknown
				} else if id != t.id {
					r = False
				}
			}
		case rules.TermPrefix:
			if _, ok := slices.BinarySearch(t.types, typ); ok {
				r = True
			} else if strings.HasPrefix(typ, t.prefix) {
				r = Unknown
			}
		}
		out = max(out, r)
	}
	return out
}

// Target is a subject or resource prepared for Condition: the policy
// input's view of it, built once.
type Target struct {
	obj  ast.Object
	term *ast.Term
}

func newTarget(in ast.Value, key string) *Target {
	t := in.(ast.Object).Get(ast.StringTerm(key))
	return &Target{obj: t.Value.(ast.Object), term: t}
}

// SubjectTarget prepares a subject (nil: unknown).
func SubjectTarget(s *Subject) *Target {
	if s == nil {
		return nil
	}
	in := Input{Subject: *s}
	return newTarget(in.value(), "subject")
}

// ResourceTarget prepares a resource (nil: unknown).
func ResourceTarget(r *Resource) *Target {
	if r == nil {
		return nil
	}
	in := Input{Resource: *r}
	return newTarget(in.value(), "resource")
}

// Condition evaluates the rule's condition for a subject and a resource;
// either may be nil (unknown). It does not look at the filter, actions or
// context (see Selects, HasAction, InEnvironment).
func (m *RuleMatcher) Condition(s, r *Target) Tri {
	return m.ConditionWith(s, r, nil)
}

// Privilege answers HasPrivilege(action) on the related resource reached
// from the resource through nav (as the generated Rego builds it).
type Privilege func(nav *rules.Navigation, action string) Tri

// ConditionWith is Condition with HasPrivilege answered by priv (nil:
// Unknown).
func (m *RuleMatcher) ConditionWith(s, r *Target, priv Privilege) Tri {
	if !m.valid {
		return False
	}
	if m.cond == nil {
		return True
	}
	return m.eval(m.cond, s, r, priv)
}

func (m *RuleMatcher) eval(e rules.Expr, s, r *Target, priv Privilege) Tri {
	switch e := e.(type) {
	case *rules.Logical:
		if e.Op == rules.And {
			out := True
			for _, o := range e.Operands {
				v := m.eval(o, s, r, priv)
				if v == False {
					return False
				}
				out = min(out, v)
			}
			return out
		}
		out := False
		for _, o := range e.Operands {
			v := m.eval(o, s, r, priv)
			if v == True {
				return True
			}
			out = max(out, v)
		}
		return out
	case *rules.Not:
		return m.eval(e.X, s, r, priv).not()
	case *rules.Compare:
		return m.compare(e, s, r)
	case *rules.Call:
		return m.call(e, s, r, priv)
	}
	return Unknown
}

func (m *RuleMatcher) compare(c *rules.Compare, s, r *Target) Tri {
	left, ok := m.operand(c.Left, s, r)
	if !ok {
		return Unknown
	}
	right, ok := m.operand(c.Right, s, r)
	if !ok {
		return Unknown
	}
	switch c.Op {
	case rules.OpEq, rules.OpNe:
		hit := slices.ContainsFunc(left, func(a string) bool {
			a = strings.ToLower(a)
			return slices.ContainsFunc(right, func(b string) bool { return a == strings.ToLower(b) })
		})
		return tri(hit == (c.Op == rules.OpEq))
	case rules.OpEqCase, rules.OpNeCase:
		hit := slices.ContainsFunc(left, func(a string) bool { return slices.Contains(right, a) })
		return tri(hit == (c.Op == rules.OpEqCase))
	case rules.OpLike:
		re := m.likeRegexp(c)
		if re == nil {
			return Unknown
		}
		return tri(slices.ContainsFunc(left, func(a string) bool { return re.MatchString(strings.ToLower(a)) }))
	case rules.OpMatches:
		re := m.re[c]
		if re == nil {
			return Unknown
		}
		return tri(slices.ContainsFunc(left, re.MatchString))
	}
	return Unknown
}

func (m *RuleMatcher) call(c *rules.Call, s, r *Target, priv Privilege) Tri {
	switch strings.ToLower(c.Name) {
	case "hasprivilege":
		if priv == nil || r == nil || len(c.Args) != 1 {
			return Unknown
		}
		lit, ok := c.Args[0].(*rules.Literal)
		if !ok {
			return Unknown
		}
		typ := values(r.obj, []string{"type"})
		if len(typ) != 1 {
			return Unknown
		}
		navs, known := m.x.typeNavs[typ[0]]
		if !known {
			return False // a type the vocabulary does not know has no related resource
		}
		var nav *rules.Navigation
		switch {
		case c.Receiver == nil || len(c.Receiver.Segments) == 1 && strings.EqualFold(c.Receiver.Segments[0].Name, "resource"):
			nav = m.x.related[typ[0]]
		case len(c.Receiver.Segments) == 2 && strings.EqualFold(c.Receiver.Segments[0].Name, "resource"):
			n := m.x.navs[strings.ToLower(c.Receiver.Segments[1].Name)]
			if n == nil {
				return Unknown
			}
			nav = navs[strings.ToLower(n.Name)]
		default:
			return Unknown
		}
		if nav == nil {
			return False
		}
		return priv(nav, NormalizeAction(lit.Value))
	case "isanonymous":
		if s == nil {
			return Unknown
		}
		v := s.obj.Get(ast.StringTerm("anonymous"))
		return tri(v != nil && v.Value.Compare(ast.Boolean(true)) == 0)
	case "isowned":
		if c.Receiver == nil || len(c.Receiver.Segments) == 0 || !strings.EqualFold(c.Receiver.Segments[0].Name, "resource") {
			return Unknown
		}
		segs := append(slices.Clone(c.Receiver.Segments), rules.Segment{Name: "owner"})
		vals, ok := m.path(&rules.Path{Segments: segs}, s, r)
		if !ok {
			return Unknown
		}
		return tri(nonEmpty(vals))
	case "empty":
		if c.Receiver == nil || len(c.Receiver.Segments) == 0 {
			return Unknown
		}
		vals, ok := m.path(c.Receiver, s, r)
		if !ok {
			return Unknown
		}
		return tri(!nonEmpty(vals))
	}
	return Unknown
}

func nonEmpty(vals []string) bool {
	return slices.ContainsFunc(vals, func(v string) bool { return v != "" })
}

func (m *RuleMatcher) operand(o rules.Operand, s, r *Target) ([]string, bool) {
	switch o := o.(type) {
	case *rules.Literal:
		return []string{o.Value}, true
	case *rules.Path:
		return m.path(o, s, r)
	}
	return nil, false
}

// path resolves an attribute path to the values the generated Rego reads;
// false when the path or its object is unknown.
func (m *RuleMatcher) path(p *rules.Path, s, r *Target) ([]string, bool) {
	segs := p.Segments
	if len(segs) == 0 {
		return nil, false
	}
	root := strings.ToLower(segs[0].Name)
	rest := segs[1:]
	switch root {
	case "user":
		if s == nil {
			return nil, false
		}
		switch {
		case len(rest) == 0:
			return values(s.obj, []string{"id"}), true
		case len(rest) == 1 && strings.HasPrefix(rest[0].Name, "@"):
			return values(s.obj, []string{"attributes", rest[0].Name[1:]}), true
		case len(rest) == 1:
			if path, ok := m.x.user[strings.ToLower(rest[0].Name)]; ok {
				return values(s.obj, path), true
			}
		}
		return nil, false // user.environment.*, or unknown
	case "resource":
		if r == nil {
			return nil, false
		}
		if path, ok := m.resourcePath(rest); ok {
			return values(r.obj, path), true
		}
	}
	return nil, false
}

// resourcePath is where in the policy's view of the resource the
// attribute resource.<rest> lives (the path the generated Rego reads);
// false when the vocabulary cannot place it.
func (m *RuleMatcher) resourcePath(rest []rules.Segment) ([]string, bool) {
	if len(rest) == 0 {
		return nil, false
	}
	name := strings.ToLower(rest[0].Name)
	if len(rest) == 1 {
		if strings.HasPrefix(rest[0].Name, "@") {
			return []string{"attributes", rest[0].Name[1:]}, true
		}
		if path, ok := m.x.common[name]; ok {
			return path, true
		}
	}
	if nav, ok := m.x.navs[name]; ok {
		if len(rest) == 1 {
			return []string{nav.Field, "id"}, true
		}
		if len(rest) == 2 {
			if path, ok := m.x.navAttr[name][strings.ToLower(rest[1].Name)]; ok {
				return append([]string{nav.Field}, path...), true
			}
		}
		return nil, false
	}
	if len(rest) == 1 {
		if declared, ok := m.extAttrs[name]; ok {
			return rules.ExternalAttributePath(declared), true
		}
		if path, ok := m.x.typed[name]; ok {
			return path, true
		}
	}
	return nil, false
}

// values reads obj at path as the rules' value lists do: a string is one
// value, an array several, booleans and numbers their text; a missing
// attribute has none.
func values(obj ast.Object, path []string) []string {
	var t *ast.Term
	for i, k := range path {
		t = obj.Get(ast.StringTerm(k))
		if t == nil {
			return nil
		}
		if i < len(path)-1 {
			next, ok := t.Value.(ast.Object)
			if !ok {
				return nil
			}
			obj = next
		}
	}
	if arr, ok := t.Value.(*ast.Array); ok {
		out := make([]string, 0, arr.Len())
		arr.Foreach(func(e *ast.Term) {
			if s, ok := scalar(e.Value); ok {
				out = append(out, s)
			}
		})
		return out
	}
	if s, ok := scalar(t.Value); ok {
		return []string{s}
	}
	return nil
}

func scalar(v ast.Value) (string, bool) {
	switch v := v.(type) {
	case ast.String:
		return string(v), true
	case ast.Boolean:
		if v {
			return "true", true
		}
		return "false", true
	case ast.Number:
		return v.String(), true
	}
	return "", false
}
