package rules

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Rule is a QMC-style security rule.
type Rule struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description,omitempty"`
	ResourceFilter string   `json:"resourceFilter"`
	Condition      string   `json:"condition"`
	Actions        []string `json:"actions"`
	Context        string   `json:"context"` // hub | console | both ("" is both)
	Disabled       bool     `json:"disabled,omitempty"`
	Type           string   `json:"type,omitempty"` // default | readonly | custom ("" is custom)
}

// Contexts a rule applies in.
const (
	ContextHub     = "hub"
	ContextConsole = "console"
	ContextBoth    = "both"
)

// The functions of the condition language (names match case-insensitively).
const (
	fnHasPrivilege = "hasprivilege"
	fnIsOwned      = "isowned"
	fnEmpty        = "empty"
	fnIsAnonymous  = "isanonymous"
)

var functionNames = []string{"HasPrivilege", "IsOwned", "Empty", "IsAnonymous"}

// analysis is a checked rule, ready to compile.
type analysis struct {
	rule     Rule
	cond     Expr // nil: always
	terms    []resolvedTerm
	actions  []string
	context  string
	refs     map[*Path][]string // value path in the input, from "input"
	calls    map[*Call]*callInfo
	privs    []*Call // HasPrivilege calls, in source order
	known    []*typeInfo
	open     bool // may select types the vocabulary does not know
	lenient  bool // selects a type the vocabulary does not know: any attribute allowed
	filterOK bool
}

type resolvedTerm struct {
	FilterTerm
	typ      string      // TermType, TermID: canonical lower-case type
	known    *typeInfo   // TermType, TermID: nil for a type the vocabulary does not know
	prefix   string      // TermPrefix: lower case
	prefixed []*typeInfo // TermPrefix: known types with a name or alias starting with prefix
}

type callInfo struct {
	fn     string
	nav    *navInfo // HasPrivilege, IsOwned: receiver resource.<nav>; nil for resource itself
	action string   // HasPrivilege
	ref    []string // IsOwned, Empty: the value tested
}

// Check parses and checks a rule against the vocabulary and returns its
// diagnostics (errors and warnings), sorted by field and position. A nil
// vocabulary means DefaultVocabulary().
func Check(r Rule, v *Vocabulary) []Diagnostic {
	return NewChecker(v).Check(r)
}

// Checker is Check for many rules against one vocabulary, indexed once
// (indexing a vocabulary costs more than checking a rule). It is safe for
// concurrent use.
type Checker struct {
	x   *vocab
	err error
}

// NewChecker indexes v (nil: DefaultVocabulary()) for Check.
func NewChecker(v *Vocabulary) *Checker {
	x, err := indexOrDefault(v)
	return &Checker{x: x, err: err}
}

// Check is the package's Check against the checker's vocabulary.
func (c *Checker) Check(r Rule) []Diagnostic {
	if c.err != nil {
		return []Diagnostic{vocabularyDiag(c.err)}
	}
	_, diags := analyze(r, c.x)
	return diags
}

// Parsed is Check with r's condition as parsed when it has no errors (nil:
// always), so that a caller reading the condition need not parse it again.
func (c *Checker) Parsed(r Rule) (Expr, []Diagnostic) {
	if c.err != nil {
		return nil, []Diagnostic{vocabularyDiag(c.err)}
	}
	a, diags := analyze(r, c.x)
	if a == nil {
		return nil, diags
	}
	return a.cond, diags
}

func vocabularyDiag(err error) Diagnostic {
	return Diagnostic{Field: FieldVocabulary, Line: 1, Column: 1, Message: err.Error(), Severity: SeverityError}
}

func indexOrDefault(v *Vocabulary) (*vocab, error) {
	if v == nil {
		v = DefaultVocabulary()
	}
	return indexVocabulary(v)
}

type checker struct {
	a     *analysis
	v     *vocab
	diags []Diagnostic
}

func (c *checker) errorf(field string, p Pos, hint, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Field: field, Line: p.Line, Column: p.Column,
		Message: fmt.Sprintf(format, args...), Hint: hint, Severity: SeverityError})
}

func (c *checker) warnf(field string, p Pos, hint, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Field: field, Line: p.Line, Column: p.Column,
		Message: fmt.Sprintf(format, args...), Hint: hint, Severity: SeverityWarning})
}

var one = Pos{Line: 1, Column: 1}

// Limits on one rule, far above what real QMC rule sets need (their
// longest conditions are a few hundred characters with a dozen terms):
// they keep one rule from costing every decision and every compile.
const (
	MaxNameLength      = 200  // characters
	MaxConditionLength = 4096 // characters
	MaxTerms           = 100  // comparisons and function calls in a condition
	MaxFilterTerms     = 50   // comma-separated terms of the resource filter
)

// checkLimits reports the limits r exceeds; true when the condition is
// too long to parse at all.
func (c *checker) checkLimits() bool {
	r := c.a.rule
	if n := utf8.RuneCountInString(r.Name); n > MaxNameLength {
		c.errorf(FieldName, one, "", "the name has %d characters; at most %d are allowed", n, MaxNameLength)
	}
	if n := strings.Count(r.ResourceFilter, ",") + 1; n > MaxFilterTerms {
		c.errorf(FieldResourceFilter, one, "use a prefix such as App* or one rule per group of types",
			"the resource filter has %d terms; at most %d are allowed", n, MaxFilterTerms)
	}
	if n := utf8.RuneCountInString(r.Condition); n > MaxConditionLength {
		c.errorf(FieldCondition, one, "split the rule into several rules",
			"the condition has %d characters; at most %d are allowed", n, MaxConditionLength)
		return true
	}
	return false
}

// countTerms counts the comparisons and function calls of a condition.
func countTerms(e Expr) int {
	switch e := e.(type) {
	case *Logical:
		n := 0
		for _, o := range e.Operands {
			n += countTerms(o)
		}
		return n
	case *Not:
		return countTerms(e.X)
	}
	return 1
}

func analyze(r Rule, v *vocab) (*analysis, []Diagnostic) {
	a := &analysis{rule: r, refs: map[*Path][]string{}, calls: map[*Call]*callInfo{}}
	c := &checker{a: a, v: v}

	if strings.TrimSpace(r.Name) == "" {
		c.errorf(FieldName, one, "give the rule a name", "the rule has no name")
	}
	switch strings.ToLower(strings.TrimSpace(r.Type)) {
	case "", "default", "readonly", "read-only", "read only", "custom":
	default:
		c.errorf(FieldType, one, "default, readonly or custom", "unknown rule type %q", r.Type)
	}
	c.checkContext()
	c.checkFilter()
	c.checkActions()

	if c.checkLimits() {
		sortDiagnostics(c.diags)
		return nil, c.diags
	}
	cond, diags := Parse(r.Condition)
	c.diags = append(c.diags, diags...)
	a.cond = cond
	if cond != nil {
		if n := countTerms(cond); n > MaxTerms {
			c.errorf(FieldCondition, one, "split the rule into several rules",
				"the condition has %d comparisons and function calls; at most %d are allowed", n, MaxTerms)
		} else {
			c.checkExpr(cond)
		}
	}
	sortDiagnostics(c.diags)
	if HasErrors(c.diags) {
		return nil, c.diags
	}
	return a, c.diags
}

func (c *checker) checkContext() {
	switch strings.ToLower(strings.Join(strings.Fields(c.a.rule.Context), " ")) {
	case "", "both", "both in hub and qmc", "both in hub and console":
		c.a.context = ContextBoth
	case "hub", "only in hub":
		c.a.context = ContextHub
	case "console", "qmc", "only in qmc", "only in console":
		c.a.context = ContextConsole
	default:
		c.errorf(FieldContext, one, "hub, console or both", "unknown context %q", c.a.rule.Context)
	}
}

func (c *checker) checkActions() {
	if len(c.a.rule.Actions) == 0 {
		c.errorf(FieldActions, one, "select at least one action, e.g. read", "the rule grants no action")
		return
	}
	for i, raw := range c.a.rule.Actions {
		act := normalizeAction(raw)
		switch {
		case act == "":
			c.errorf(FieldActions, Pos{Line: 1, Column: i + 1}, "", "empty action")
		case !c.knownAction(act):
			c.unknownAction(i, raw, act)
		case !slices.Contains(c.a.actions, act):
			c.a.actions = append(c.a.actions, act)
		}
	}
}

// knownAction reports whether a selected type grants act: a built-in
// type the vocabulary's actions, an external type its own. A filter too
// unclear to tell accepts every action some type has.
func (c *checker) knownAction(act string) bool {
	if !c.a.filterOK || c.a.open {
		return c.v.actions[act] || c.v.extActions[act] != nil
	}
	return slices.ContainsFunc(c.a.known, func(t *typeInfo) bool { return t.grants(c.v, act) })
}

// unknownAction reports action raw (act normalised), suggesting the
// actions of the selected types.
func (c *checker) unknownAction(i int, raw, act string) {
	var cands []string
	external := false
	if !c.a.filterOK || c.a.open {
		cands = c.v.allActions
	} else {
		seen := map[string]bool{}
		for _, t := range c.a.known {
			if t.external {
				external = true
				for a := range t.actions {
					seen[a] = true
				}
			} else {
				for _, a := range c.v.actionList {
					seen[a] = true
				}
			}
		}
		cands = slices.Sorted(maps.Keys(seen))
	}
	p := Pos{Line: 1, Column: i + 1}
	if where := c.v.extActions[act]; where != nil {
		c.errorf(FieldActions, p, "add the type to the resource filter", "action %q is an action of %s, which the resource filter does not select",
			raw, strings.Join(slices.Sorted(maps.Keys(where)), ", "))
		return
	}
	if external && len(cands) <= 12 {
		c.errorf(FieldActions, p, didYouMean(act, cands), "unknown action %q: the selected types (%s) have the actions %s",
			raw, c.selectedNames(), strings.Join(cands, ", "))
		return
	}
	c.errorf(FieldActions, p, didYouMean(act, cands), "unknown action %q", raw)
}

func (c *checker) checkFilter() {
	terms, diags := ParseFilter(c.a.rule.ResourceFilter)
	c.diags = append(c.diags, diags...)
	c.a.filterOK = len(diags) == 0
	seen := map[*typeInfo]bool{}
	addKnown := func(t *typeInfo) {
		if !seen[t] {
			seen[t] = true
			c.a.known = append(c.a.known, t)
		}
	}
	for _, t := range terms {
		rt := resolvedTerm{FilterTerm: t}
		switch t.Kind {
		case TermAll:
			c.a.open = true
			for _, ti := range c.v.typeList {
				addKnown(ti)
			}
		case TermType, TermID:
			ti := c.v.types[strings.ToLower(t.Type)]
			if ti == nil {
				rt.typ = strings.ToLower(t.Type)
				c.a.open, c.a.lenient = true, true
				c.warnf(FieldResourceFilter, t.Pos, c.v.typeHint(t.Type),
					"%q is not a resource type rulekeeper knows: the rule applies only to decisions that name type %q", t.Type, rt.typ)
			} else {
				rt.typ, rt.known = ti.name, ti
				addKnown(ti)
			}
		case TermPrefix:
			rt.prefix = strings.ToLower(t.Prefix)
			c.a.open = true
			for _, ti := range c.v.typeList {
				if slices.ContainsFunc(ti.aliases, func(s string) bool { return strings.HasPrefix(s, rt.prefix) }) {
					rt.prefixed = append(rt.prefixed, ti)
					addKnown(ti)
				}
			}
			if len(rt.prefixed) == 0 {
				c.warnf(FieldResourceFilter, t.Pos, "", "no resource type rulekeeper knows starts with %q", t.Prefix)
			}
		}
		c.a.terms = append(c.a.terms, rt)
	}
	slices.SortFunc(c.a.known, func(x, y *typeInfo) int { return x.index - y.index })
}

// anyType reports whether f holds for a selected known type, or whether
// the filter is too unclear to tell (it has errors, or names a type the
// vocabulary does not know).
func (c *checker) anyType(f func(*typeInfo) bool) bool {
	if !c.a.filterOK || c.a.lenient {
		return true
	}
	return slices.ContainsFunc(c.a.known, f)
}

func (c *checker) selectedNames() string {
	var names []string
	for _, t := range c.a.known {
		names = append(names, t.name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (c *checker) checkExpr(e Expr) {
	switch e := e.(type) {
	case *Logical:
		for _, x := range e.Operands {
			c.checkExpr(x)
		}
	case *Not:
		c.checkExpr(e.X)
	case *Compare:
		c.checkOperand(e.Left)
		c.checkOperand(e.Right)
		switch e.Op {
		case OpLike, OpMatches:
			lit, ok := e.Right.(*Literal)
			if !ok {
				c.errorf(FieldCondition, e.Right.Position(), fmt.Sprintf("write the pattern as a string, e.g. %s %s \"Q*\"", describeOperand(e.Left), e.Op),
					"the right side of %s must be a string literal", e.Op)
				return
			}
			if e.Op == OpMatches {
				if _, err := regexp.Compile(lit.Value); err != nil {
					c.errorf(FieldCondition, lit.Pos, "the pattern uses Go (RE2) syntax and must match the whole value",
						"bad regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				}
			}
		}
		_, l := e.Left.(*Literal)
		_, r := e.Right.(*Literal)
		if l && r {
			c.warnf(FieldCondition, e.Left.Position(), "compare an attribute with a value", "the comparison has no attribute: it is always true or always false")
		}
	case *Call:
		c.checkCall(e)
	}
}

func (c *checker) checkOperand(o Operand) {
	if p, ok := o.(*Path); ok {
		if ref, ok := c.resolvePath(p); ok {
			c.a.refs[p] = ref
		}
	}
}

// resolvePath maps an attribute path to its place in the decision input.
func (c *checker) resolvePath(p *Path) ([]string, bool) {
	segs := p.Segments
	root := strings.ToLower(segs[0].Name)
	bad := func(s Segment, hint, format string, args ...any) ([]string, bool) {
		c.errorf(FieldCondition, s.Pos, hint, format, args...)
		return nil, false
	}
	tooLong := func(n int) ([]string, bool) {
		return bad(segs[n], "", "%s has no attribute %q", (&Path{Segments: segs[:n]}).String(), segs[n].Name)
	}
	switch root {
	case "user":
		if len(segs) == 1 {
			return []string{"subject", "id"}, true
		}
		s := segs[1]
		name := strings.ToLower(s.Name)
		switch {
		case name == "environment":
			if len(segs) != 3 {
				if len(segs) < 3 {
					return bad(s, "e.g. user.environment.browser", "user.environment needs an attribute name")
				}
				return tooLong(3)
			}
			return []string{"context", segs[2].Name}, true
		case strings.HasPrefix(s.Name, "@"):
			if len(segs) > 2 {
				return tooLong(2)
			}
			return []string{"subject", "attributes", s.Name[1:]}, true
		}
		ai := c.v.user[name]
		if ai == nil {
			cands := []string{"user.environment", "user.@"}
			for _, a := range c.v.user {
				cands = append(cands, "user."+a.name)
			}
			slices.Sort(cands)
			return bad(p.Segments[0], didYouMean("user."+s.Name, cands), "unknown attribute user.%s", s.Name)
		}
		if len(segs) > 2 {
			return tooLong(2)
		}
		return append([]string{"subject"}, ai.path...), true
	case "resource":
		if len(segs) == 1 {
			return bad(segs[0], "did you mean resource.id?", "resource alone is not a value")
		}
		s := segs[1]
		name := strings.ToLower(s.Name)
		if strings.HasPrefix(s.Name, "@") {
			if len(segs) > 2 {
				return tooLong(2)
			}
			return []string{"resource", "attributes", s.Name[1:]}, true
		}
		if ai := c.v.common[name]; ai != nil {
			if len(segs) > 2 {
				return tooLong(2)
			}
			return append([]string{"resource"}, ai.path...), true
		}
		if ni := c.v.navs[name]; ni != nil {
			if !c.anyType(func(t *typeInfo) bool { return t.navs[ni.name] != nil }) {
				return bad(segs[0], "", "resource.%s is not defined for the selected resource types (%s)", s.Name, c.selectedNames())
			}
			if len(segs) == 2 {
				return []string{"resource", ni.field, "id"}, true
			}
			if len(segs) > 3 {
				return tooLong(3)
			}
			t := segs[2]
			if strings.HasPrefix(t.Name, "@") {
				return []string{"resource", ni.field, "attributes", t.Name[1:]}, true
			}
			if ai := ni.attrs[strings.ToLower(t.Name)]; ai != nil {
				return append([]string{"resource", ni.field}, ai.path...), true
			}
			var cands []string
			for _, n := range ni.anames {
				cands = append(cands, "resource."+s.Name+"."+n)
			}
			return bad(segs[0], didYouMean(p.String(), cands), "unknown attribute %s", p.String())
		}
		if path, ok, done := c.externalAttr(segs, name); done {
			return path, ok
		}
		if ai := c.v.resAttrs[name]; ai != nil {
			if !c.anyType(func(t *typeInfo) bool { return ai.types[t.name] }) {
				var where []string
				for _, t := range c.v.typeList {
					if ai.types[t.name] {
						where = append(where, t.name)
					}
				}
				return bad(segs[0], "add its type to the resource filter", "resource.%s is not defined for the selected resource types (%s); it is defined for %s",
					s.Name, c.selectedNames(), strings.Join(where, ", "))
			}
			if len(segs) > 2 {
				return tooLong(2)
			}
			return append([]string{"resource"}, ai.path...), true
		}
		if c.a.lenient {
			// A type rulekeeper does not know: its attributes are whatever
			// the caller sends.
			return append([]string{"resource"}, segmentNames(segs[1:])...), true
		}
		cands := []string{"resource.@"}
		for _, a := range c.v.common {
			cands = append(cands, "resource."+a.name)
		}
		for _, a := range c.v.resAttrs {
			if c.anyType(func(t *typeInfo) bool { return a.types[t.name] }) {
				cands = append(cands, "resource."+a.name)
			}
		}
		for _, t := range c.a.known {
			for _, n := range t.anames {
				cands = append(cands, "resource."+n)
			}
		}
		for _, n := range c.v.navList {
			if c.anyType(func(t *typeInfo) bool { return t.navs[n.name] != nil }) {
				cands = append(cands, "resource."+n.name)
			}
		}
		slices.Sort(cands)
		return bad(segs[0], didYouMean("resource."+s.Name, cands), "unknown attribute resource.%s", s.Name)
	}
	return bad(segs[0], didYouMean(segs[0].Name, []string{"user", "resource"}), "unknown attribute %s: attributes start with user or resource", p.String())
}

// externalAttr resolves resource.<name> when a selected external type
// declares it (done true): its attributes live at
// input.resource.attributes. A built-in type selected beside it that
// reads the same name elsewhere makes the path ambiguous: an error.
func (c *checker) externalAttr(segs []Segment, name string) (path []string, ok, done bool) {
	var ext []string
	declared := ""
	for _, t := range c.a.known {
		if t.external && t.attrs[name] != nil {
			ext = append(ext, t.name)
			if declared == "" {
				declared = t.attrs[name].name
			}
		}
	}
	if len(ext) == 0 {
		return nil, false, false
	}
	if ai := c.v.resAttrs[name]; ai != nil {
		var clash []string
		for _, t := range c.a.known {
			if ai.types[t.name] {
				clash = append(clash, t.name)
			}
		}
		if len(clash) > 0 {
			c.errorf(FieldCondition, segs[0].Pos, "narrow the resource filter, or use resource.@"+segs[1].Name+" for the external types",
				"resource.%s means an attribute of %s and a field of %s: the rule cannot read both", segs[1].Name,
				strings.Join(ext, ", "), strings.Join(clash, ", "))
			return nil, false, true
		}
	}
	if len(segs) > 2 {
		c.errorf(FieldCondition, segs[2].Pos, "", "%s has no attribute %q", (&Path{Segments: segs[:2]}).String(), segs[2].Name)
		return nil, false, true
	}
	return append([]string{"resource"}, ExternalAttributePath(declared)...), true, true
}

func segmentNames(segs []Segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Name
	}
	return out
}

func (c *checker) checkCall(e *Call) {
	fn := strings.ToLower(e.Name)
	info := &callInfo{fn: fn}
	recv := ""
	if e.Receiver != nil {
		recv = strings.ToLower(e.Receiver.String())
	}
	arity := func(n int) bool {
		if len(e.Args) != n {
			plural := "s"
			if n == 1 {
				plural = ""
			}
			hint := fmt.Sprintf("%s takes %d argument%s", e.Name, n, plural)
			if fn == fnHasPrivilege {
				hint = `e.g. resource.HasPrivilege("read")`
			}
			c.errorf(FieldCondition, e.NamePos, hint, "%s() takes %d argument%s, got %d", e.Name, n, plural, len(e.Args))
			return false
		}
		return true
	}
	// navReceiver resolves "resource" (nil nav) or "resource.<nav>".
	navReceiver := func() (*navInfo, bool) {
		if recv == "resource" {
			return nil, true
		}
		if e.Receiver != nil && len(e.Receiver.Segments) == 2 && strings.EqualFold(e.Receiver.Segments[0].Name, "resource") {
			if ni := c.v.navs[strings.ToLower(e.Receiver.Segments[1].Name)]; ni != nil {
				return ni, true
			}
		}
		return nil, false
	}
	switch fn {
	case fnHasPrivilege:
		nav, ok := navReceiver()
		if !ok {
			c.errorf(FieldCondition, e.Position(), `e.g. resource.HasPrivilege("read") or resource.app.HasPrivilege("read")`,
				"HasPrivilege applies to resource or to a related resource such as resource.space")
			return
		}
		if nav == nil {
			if !c.anyType(func(t *typeInfo) bool { return t.related != nil }) {
				c.errorf(FieldCondition, e.Position(), "", "resource.HasPrivilege needs a related resource, and the selected resource types (%s) have none", c.selectedNames())
				return
			}
		} else if !c.anyType(func(t *typeInfo) bool { return t.navs[nav.name] != nil }) {
			c.errorf(FieldCondition, e.Position(), "", "resource.%s is not defined for the selected resource types (%s)", e.Receiver.Segments[1].Name, c.selectedNames())
			return
		}
		info.nav = nav
		if !arity(1) {
			return
		}
		lit, ok := e.Args[0].(*Literal)
		if !ok {
			c.errorf(FieldCondition, e.Args[0].Position(), `e.g. resource.HasPrivilege("read")`, "the argument of HasPrivilege must be an action in double quotes")
			return
		}
		act := normalizeAction(lit.Value)
		if !c.v.actions[act] {
			c.errorf(FieldCondition, lit.Pos, didYouMean(act, c.v.actionList), "unknown action %q", lit.Value)
			return
		}
		info.action = act
		c.a.privs = append(c.a.privs, e)
	case fnIsOwned:
		nav, ok := navReceiver()
		if !ok {
			c.errorf(FieldCondition, e.Position(), "e.g. resource.IsOwned()", "IsOwned applies to resource or to a related resource such as resource.app")
			return
		}
		if !arity(0) {
			return
		}
		info.nav = nav
		if nav == nil {
			info.ref = append([]string{"resource"}, c.v.common["owner"].pathOr("owner")...)
		} else {
			if !c.anyType(func(t *typeInfo) bool { return t.navs[nav.name] != nil }) {
				c.errorf(FieldCondition, e.Position(), "", "resource.%s is not defined for the selected resource types (%s)", e.Receiver.Segments[1].Name, c.selectedNames())
				return
			}
			info.ref = append([]string{"resource", nav.field}, nav.attrs["owner"].pathOr("owner")...)
		}
	case fnEmpty:
		if e.Receiver == nil || recv == "user" || recv == "resource" {
			c.errorf(FieldCondition, e.Position(), "e.g. resource.@tag.Empty() or resource.space.Empty()", "Empty applies to an attribute")
			return
		}
		if !arity(0) {
			return
		}
		ref, ok := c.resolvePath(e.Receiver)
		if !ok {
			return
		}
		info.ref = ref
	case fnIsAnonymous:
		if recv != "user" {
			c.errorf(FieldCondition, e.Position(), "write user.IsAnonymous()", "IsAnonymous applies to user")
			return
		}
		if !arity(0) {
			return
		}
	default:
		c.errorf(FieldCondition, e.NamePos, didYouMean(e.Name, functionNames), "unknown function %s()", e.Name)
		return
	}
	if e.Receiver == nil {
		return
	}
	c.a.calls[e] = info
}

func (a *attrInfo) pathOr(def string) []string {
	if a == nil {
		return []string{def}
	}
	return a.path
}
