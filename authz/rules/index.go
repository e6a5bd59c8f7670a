package rules

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// DataRoot is the top-level data document the indexed compilation reads
// (data.rulekeeper_rules): rule names and the buckets of the rules
// compiled to data and of the candidates among the rules compiled to Rego.
const DataRoot = "rulekeeper_rules"

// maxDisjuncts bounds the disjunctive normal form of one condition; a
// condition with more disjuncts is compiled to Rego instead.
const maxDisjuncts = 32

// prefixLens are the lengths (in characters) of the prefixes the index
// keys on: a rule's prefix is cut to the longest of them it reaches, and a
// decision looks up its values' prefixes of these lengths only. Cutting
// only widens the candidates; the rule's conjunction still tests the whole
// prefix.
var prefixLens = []int{1, 2, 4, 8, 16, 32}

// Patch is one change to the data document DataRoot: the value at Path
// (relative to DataRoot) becomes Value, or is removed when Value is nil.
type Patch struct {
	Path  []string
	Value any
}

// An attrRef is one attribute's value list as the generated Rego reads it
// (_va[id]): a path in the input, lower-cased or not.
type attrRef struct {
	path string // JSON array of the path segments
	ci   bool
}

func newAttr(path []string, ci bool) attrRef {
	b, _ := json.Marshal(path)
	return attrRef{string(b), ci}
}

func (a attrRef) id() string {
	if a.ci {
		return "i" + a.path
	}
	return "s" + a.path
}

func (a attrRef) segments() []string {
	var p []string
	_ = json.Unmarshal([]byte(a.path), &p)
	return p
}

// An atom is one test of a conjunction as the generated Rego's _atom
// evaluates it: op over the values of attribute a (and b), with literal v;
// n negates it.
type atom struct {
	op   string
	a, b attrRef
	v    string
	n    bool
}

// data is the atom as the data document stores it: an array of the op
// and its operands, [op, a, v] (in, id, pre, suf, con, re), [op, a, b]
// (pair), [op, a] (any, ne), [op, v] (tp), [op] (anon); a negated
// atom is ["not", atom]. (An array, not an object: OPA holds an object
// in a hash map of its own, an array in a slice, and a set of 10,000
// rules has as many atoms.)
func (t atom) data() []any {
	m := []any{t.op}
	if t.a.path != "" {
		m = append(m, t.a.id())
	}
	if t.b.path != "" {
		m = append(m, t.b.id())
	}
	switch t.op {
	case "in", "id", "pre", "suf", "con", "re", "tp":
		m = append(m, t.v) // even "": a missing v would make the atom undefined
	}
	if t.n {
		return []any{"not", m}
	}
	return m
}

type conj []atom

// errNotIndexable: the condition needs Rego (HasPrivilege, too many
// disjuncts).
type notIndexable struct{}

// dnf turns a condition into a disjunction of conjunctions of atoms. With
// lenient, what cannot be expressed (HasPrivilege) counts as true, which
// yields a superset of the rule's matches: the candidate keys of a rule
// compiled to Rego.
type dnf struct {
	a       *analysis
	lenient bool
}

func (d *dnf) expr(x Expr, neg bool) []conj {
	switch x := x.(type) {
	case *Logical:
		and := (x.Op == And) != neg
		if and {
			out := []conj{{}}
			for _, o := range x.Operands {
				r := d.expr(o, neg)
				var next []conj
				for _, c1 := range out {
					for _, c2 := range r {
						next = append(next, append(slices.Clip(c1), c2...))
					}
				}
				if len(next) > maxDisjuncts {
					if d.lenient {
						next = []conj{{}}
					} else {
						panic(notIndexable{})
					}
				}
				out = next
				if len(out) == 0 {
					return nil
				}
			}
			return out
		}
		var out []conj
		for _, o := range x.Operands {
			out = append(out, d.expr(o, neg)...)
		}
		if len(out) > maxDisjuncts {
			if d.lenient {
				return []conj{{}}
			}
			panic(notIndexable{})
		}
		return out
	case *Not:
		return d.expr(x.X, !neg)
	case *Compare:
		return d.compare(x, neg)
	case *Call:
		info := d.a.calls[x]
		var t atom
		switch info.fn {
		case fnHasPrivilege:
			if d.lenient {
				return []conj{{}}
			}
			panic(notIndexable{})
		case fnIsOwned:
			t = atom{op: "ne", a: newAttr(info.ref, false)}
		case fnEmpty:
			t = atom{op: "ne", a: newAttr(info.ref, false), n: true}
		case fnIsAnonymous:
			t = atom{op: "anon"}
		}
		t.n = t.n != neg
		return []conj{{t}}
	}
	panic(fmt.Sprintf("rules: cannot index %T", x))
}

func constConj(b bool) []conj {
	if b {
		return []conj{{}}
	}
	return nil
}

func (d *dnf) compare(x *Compare, neg bool) []conj {
	l, lLit := x.Left.(*Literal)
	r, rLit := x.Right.(*Literal)
	if lLit && rLit {
		return constConj(compareValues(x.Op, []string{l.Value}, []string{r.Value}) != neg)
	}
	attr := func(o Operand, ci bool) attrRef { return newAttr(d.a.refs[o.(*Path)], ci) }
	var t atom
	switch x.Op {
	case OpEq, OpNe, OpEqCase, OpNeCase:
		ci := x.Op == OpEq || x.Op == OpNe
		if lLit || rLit {
			v, p := literalSide(x, ci)
			t = atom{op: "in", a: attr(p, ci), v: v}
		} else {
			t = atom{op: "pair", a: attr(x.Left, ci), b: attr(x.Right, ci)}
		}
		t.n = x.Op == OpNe || x.Op == OpNeCase
	case OpLike:
		a := attr(x.Left, true)
		kind, s := classifyLike(strings.ToLower(r.Value))
		switch kind {
		case likeExact:
			t = atom{op: "in", a: a, v: s}
		case likeAny:
			t = atom{op: "any", a: a}
		case likePrefix:
			t = atom{op: "pre", a: a, v: s}
		case likeSuffix:
			t = atom{op: "suf", a: a, v: s}
		case likeContains:
			t = atom{op: "con", a: a, v: s}
		default:
			t = atom{op: "re", a: a, v: s}
		}
	case OpMatches:
		t = atom{op: "re", a: attr(x.Left, false), v: anchored(r.Value)}
	}
	t.n = t.n != neg
	return []conj{{t}}
}

// A keyDef is how entries are keyed: on each value of an attribute
// ("val"), each value's prefix of length n ("pfx": the decision looks up
// only the lengths some rule's prefix in the bucket is cut to), whether
// two attributes share a value ("pair"), or not at all ("scan": always a
// candidate).
type keyDef struct {
	kind string
	a, b attrRef
	c    attrRef // ppfx: the prefix's attribute (a and b the pair's)
	n    int     // pfx, ppfx: the prefix's length in characters
}

// chooseKey picks the most selective indexable atom of a conjunction: the
// key definition, the key an entry is stored under (the value or prefix;
// "" for pair and scan) and the atom's position (-1 for scan); and, when
// the key is a prefix and the conjunction also has a pair (ownership:
// resource.owner = user and resource.name like "Q*"), the pair's position
// (else -1): the key is then the pair's and the prefix's ("ppfx"), which
// a decision has only when the pair holds.
func chooseKey(c conj) (keyDef, string, int, int) {
	best, bestScore, bestKey, bestAt := keyDef{kind: "scan"}, 0, "", -1
	pairAt := -1
	consider := func(k keyDef, key string, score, at int) {
		if score > bestScore {
			best, bestScore, bestKey, bestAt = k, score, key, at
		}
	}
	for i, t := range c {
		if t.n {
			continue
		}
		switch t.op {
		case "in", "id":
			score := 3
			switch {
			case t.a.path == `["resource","id"]`:
				score = 6
			case strings.HasPrefix(t.a.path, `["subject"`):
				score = 5
			case strings.HasPrefix(t.a.path, `["context"`):
				score = 2
			}
			consider(keyDef{kind: "val", a: t.a}, t.v, score, i)
		case "pre":
			p := cut(t.v)
			consider(keyDef{kind: "pfx", a: t.a, n: utf8.RuneCountInString(p)}, p, 2, i)
		case "re":
			if p := cut(literalPrefix(t.v)); p != "" && !t.a.ci {
				consider(keyDef{kind: "pfx", a: t.a, n: utf8.RuneCountInString(p)}, p, 2, i)
			}
		case "pair":
			consider(keyDef{kind: "pair", a: t.a, b: t.b}, "", 1, i)
			if pairAt < 0 {
				pairAt = i
			}
		}
	}
	if best.kind == "pfx" && pairAt >= 0 {
		p := c[pairAt]
		return keyDef{kind: "ppfx", a: p.a, b: p.b, c: best.a, n: best.n}, bestKey, bestAt, pairAt
	}
	return best, bestKey, bestAt, -1
}

// provedBy reports whether finding a conjunction under kd (its atom at at,
// and the pair at at2 for "ppfx") proves its atom t at position i.
func provedBy(kd keyDef, at, at2, i int, t atom) bool {
	return i == at2 || i == at && implied(kd, t)
}

// implied reports whether finding a conjunction under its key already
// proves the key's atom t: a value found among the attribute's values, a
// prefix looked up whole, two attributes that share a value. (An id is
// compared with == rather than found among values; a prefix cut shorter,
// or one from a pattern, still has to be tested.)
func implied(kd keyDef, t atom) bool {
	switch kd.kind {
	case "val":
		return t.op == "in"
	case "pfx", "ppfx":
		return t.op == "pre" && utf8.RuneCountInString(t.v) == kd.n
	case "pair":
		return t.op == "pair"
	}
	return false
}

func cut(s string) string {
	r := []rune(s)
	n := 0
	for _, l := range prefixLens {
		if l <= len(r) {
			n = l
		}
	}
	return string(r[:n])
}

// literalPrefix is the literal every match of the anchored pattern starts
// with ("" if none, or if the pattern does not compile).
func literalPrefix(pattern string) string {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return ""
	}
	p, _ := re.LiteralPrefix()
	return p
}

// A bucket is where a decision looks for rules: document ("b": the rules
// compiled to data, and the rules compiled to Rego as candidates, whose
// conjunction is empty there), resource type ("*" any, "?" types the
// vocabulary does not know), action and environment ("*" either). The
// module has one body per bucket and kind of key, guarded by
// the bucket's type, action and environment, so that OPA's rule index
// picks the bodies of the input's buckets and a decision no bucket
// matches evaluates none.
type bucket struct{ doc, typ, action, env string }

func (b bucket) path() []string { return []string{b.doc, b.typ, b.action, b.env} }

// An entryKey names one entry of the data document: the bucket, the kind
// of key ("s" scan, "k" a lookup key: valueKey, prefixKey, pairKey or
// pairPrefixKey) and the key. Its value is an object of rule ids.
type entryKey struct {
	bucket
	kind, key string
}

func (k entryKey) path() []string {
	p := append(k.bucket.path(), k.kind)
	if k.kind == "s" {
		return p
	}
	return append(p, k.key)
}

// valueKey and prefixKey are the lookup keys of a bucket's "k" object: an
// attribute id (a JSON array, so the id ends where the array does), then
// "=" and a value of the attribute, or "^" and a prefix of one. A decision
// looks up one key per value and per prefix length in _kp (the engine
// computes them with the value lists, the module's _vkf
// otherwise), so a bucket costs one loop over the input's keys whatever
// attributes and prefix lengths its rules use.
func valueKey(attr, v string) string  { return attr + "=" + v }
func prefixKey(attr, p string) string { return attr + "^" + p }

// pairPrefixKey is the lookup key of a prefix of attribute c's value
// when attributes a and b share a value (the module's _kq).
func pairPrefixKey(a, b, c, p string) string { return a + "&" + b + "&" + prefixKey(c, p) }

// pairKey is the lookup key a decision has when attributes a and b share
// a value (the module's _kr; ownership: resource.owner = user): one key,
// which the engine computes with the others, instead of a loop over the
// bucket's pairs and both attributes' values in Rego.
func pairKey(a, b string) string { return a + "&" + b }

// A bodyKey names the bodies the module has for a bucket: one per kind of
// key (kind ""), so that the module only changes when a bucket appears or
// goes.
type bodyKey struct {
	bucket
	kind string
}

func (k entryKey) body() bodyKey { return bodyKey{bucket: k.bucket} }

// A keyAttr counts the entries keyed on an attribute's values (n 0) or
// on its prefixes of length n: the module lists them (_kv, _kp), and a
// decision computes the keys of those only. With pa and pb, the key is
// had only when these share a value: a prefix's ("ppfx", _kq) or, attr
// being none, the pair's own ("pair", _kr).
type keyAttr struct {
	attr   attrRef
	n      int
	pa, pb attrRef
}

type entryRef struct {
	e  entryKey
	kd keyDef
}

// keyAttr is what the entry is keyed on, if on values or prefixes.
func (e entryRef) keyAttr() (keyAttr, bool) {
	switch e.kd.kind {
	case "val":
		return keyAttr{attr: e.kd.a}, true
	case "pfx":
		return keyAttr{attr: e.kd.a, n: e.kd.n}, true
	case "ppfx":
		return keyAttr{attr: e.kd.c, n: e.kd.n, pa: e.kd.a, pb: e.kd.b}, true
	case "pair":
		return keyAttr{pa: e.kd.a, pb: e.kd.b}, true
	}
	return keyAttr{}, false
}

func entryOf(b bucket, kd keyDef, key string) entryKey {
	switch kd.kind {
	case "val":
		return entryKey{bucket: b, kind: "k", key: valueKey(kd.a.id(), key)}
	case "pfx":
		return entryKey{bucket: b, kind: "k", key: prefixKey(kd.a.id(), key)}
	case "ppfx":
		return entryKey{bucket: b, kind: "k", key: pairPrefixKey(kd.a.id(), kd.b.id(), kd.c.id(), key)}
	case "pair":
		return entryKey{bucket: b, kind: "k", key: pairKey(kd.a.id(), kd.b.id())}
	}
	return entryKey{bucket: b, kind: "s"}
}

// indexedRule is one enabled rule in the index.
type indexedRule struct {
	a       *analysis
	rego    bool
	entries []entryRef
	attrs   []attrRef
	vattrs  []attrRef // the attributes its stored atoms read through _va
}

// Index is a rule set compiled for decisions whose cost does not grow with
// the number of rules. Each rule's condition is put in disjunctive normal
// form; each conjunction is stored in a data document under its resource
// type, action, environment and the key of its most selective atom (a
// subject or resource value, a name prefix, a pair of attributes that must
// share a value), and the generated module looks up only the keys the
// input's actual values give. Rules the data form cannot express
// (HasPrivilege) are compiled to Rego, one body per rule id, and evaluated
// only when the buckets name them as candidates. Put and Delete change one
// rule's contribution and say which parts of the data document changed
// and whether the module did. An Index is not safe for concurrent use.
type Index struct {
	x       *vocab
	rules   map[string]*indexedRule
	entries map[entryKey]map[string]any // rule id → its test there, an atom (["g", id] for a rule compiled to Rego: a candidate)
	keys    map[keyAttr]int
	vattrs  map[attrRef]int
	buckets map[bodyKey]int
	attrs   map[attrRef]int
	names   map[string]string
	module  string
	dirty   bool
}

func (ix *Index) reset() {
	*ix = Index{x: ix.x, rules: map[string]*indexedRule{}, entries: map[entryKey]map[string]any{}, keys: map[keyAttr]int{}, vattrs: map[attrRef]int{},
		buckets: map[bodyKey]int{}, attrs: map[attrRef]int{}, names: map[string]string{}, dirty: true}
}

// NewIndex returns an empty index over vocabulary v (nil: the default).
func NewIndex(v *Vocabulary) (*Index, error) {
	x, err := indexOrDefault(v)
	if err != nil {
		return nil, err
	}
	ix := &Index{x: x}
	ix.reset()
	return ix, nil
}

// CompileIndexed compiles the enabled rules into an indexed module and its
// data document (the value of data.rulekeeper_rules), with the
// diagnostics CompileModule gives for the same rules.
func CompileIndexed(rs []Rule, v *Vocabulary) (string, map[string]any, []Diagnostic) {
	ix, err := NewIndex(v)
	if err != nil {
		return emptyModule(0), map[string]any{}, []Diagnostic{vocabularyDiag(err)}
	}
	diags := ix.Build(rs)
	return ix.Module(), ix.Data(), diags
}

// Build replaces the index's rules with rs and returns the diagnostics of
// the rules left out (RuleID set) and the warnings.
func (ix *Index) Build(rs []Rule) []Diagnostic {
	ix.reset()
	as, diags := analyzeAll(rs, ix.x, true)
	for _, a := range as {
		ix.add(a)
	}
	diags = append(diags, ix.cycles()...)
	return diags
}

// cycles reports the Rego-compiled rules stratification leaves out.
func (ix *Index) cycles() []Diagnostic {
	p := ix.regoProgram()
	var out []Diagnostic
	for _, d := range p.diags {
		if d.Severity != SeverityWarning {
			out = append(out, d)
		}
	}
	return out
}

// Len is the number of rules in the index.
func (ix *Index) Len() int { return len(ix.rules) }

// Parsed is the condition of the enabled rule id as the index parsed and
// checked it (nil: always); false when the index does not hold the rule.
// The expression is shared: it must not be changed.
func (ix *Index) Parsed(id string) (Expr, bool) {
	ir := ix.rules[id]
	if ir == nil {
		return nil, false
	}
	return ir.a.cond, true
}

// Check returns the diagnostics of putting r in the index (its own errors
// and, for a rule compiled to Rego, a HasPrivilege cycle it would close),
// and the module the index would then have, without changing the index.
func (ix *Index) Check(r Rule) (string, []Diagnostic) {
	if r.Disabled {
		return ix.Module(), nil
	}
	as, diags := analyzeAll([]Rule{r}, ix.x, true)
	if HasErrors(diags) || len(as) == 0 {
		return "", diags
	}
	if !needsRego(as[0]) {
		return ix.Module(), diags
	}
	regos := []*analysis{}
	for _, id := range slices.Sorted(maps.Keys(ix.rules)) {
		if ir := ix.rules[id]; ir.rego && id != r.ID {
			regos = append(regos, ir.a)
		}
	}
	regos = append(regos, as[0])
	p := buildFrom(regos, ix.x)
	for _, d := range p.diags {
		if d.RuleID == r.ID && d.Severity != SeverityWarning {
			return "", append(diags, d)
		}
	}
	attrs, buckets, keys, vattrs := maps.Clone(ix.attrs), maps.Clone(ix.buckets), maps.Clone(ix.keys), maps.Clone(ix.vattrs)
	if old := ix.rules[r.ID]; old != nil {
		for _, a := range old.attrs {
			if attrs[a]--; attrs[a] == 0 {
				delete(attrs, a)
			}
		}
		for _, a := range old.vattrs {
			if vattrs[a]--; vattrs[a] == 0 {
				delete(vattrs, a)
			}
		}
		for _, e := range old.entries {
			if buckets[e.e.body()]--; buckets[e.e.body()] == 0 {
				delete(buckets, e.e.body())
			}
			if ka, ok := e.keyAttr(); ok {
				if keys[ka]--; keys[ka] == 0 {
					delete(keys, ka)
				}
			}
		}
	}
	ir := ix.compileRule(as[0])
	for _, a := range ir.attrs {
		attrs[a]++
	}
	for _, a := range ir.vattrs {
		vattrs[a]++
	}
	for _, e := range ir.entries {
		buckets[e.e.body()]++
		if ka, ok := e.keyAttr(); ok {
			keys[ka]++
		}
	}
	return emitIndexed(p, ix.x, attrs, buckets, keys, vattrs), diags
}

// Put adds r, or replaces the rule with its id (a disabled rule is
// removed). It returns the patches of the data document, whether the
// module changed, and r's diagnostics; a rule with errors is left out (and
// a previous rule with its id removed).
func (ix *Index) Put(r Rule) ([]Patch, bool, []Diagnostic) {
	before := ix.Module()
	patches := ix.remove(r.ID)
	var diags []Diagnostic
	if !r.Disabled {
		var as []*analysis
		as, diags = analyzeAll([]Rule{r}, ix.x, true)
		if len(as) == 1 {
			patches = append(patches, ix.add(as[0])...)
			if ix.rules[r.ID].rego {
				for _, d := range ix.cycles() {
					if d.RuleID == r.ID {
						diags = append(diags, d)
					}
				}
			}
		}
	}
	return compact(patches), ix.Module() != before, diags
}

// Delete removes the rule with id id.
func (ix *Index) Delete(id string) ([]Patch, bool) {
	before := ix.Module()
	patches := ix.remove(id)
	return compact(patches), ix.Module() != before
}

// nameShard is the object of data.rulekeeper_rules.names that holds rule
// id's name: the id's last two characters ("" if it has fewer), as the
// module computes it (substring(id, abs(count(id) - 2), 2)). A rule write
// then changes an object of a few names: OPA's store rebuilds an object to
// remove a key and rehashes it to replace one, so one object of every name
// would make each write cost a pass over all rules.
func nameShard(id string) string {
	r := []rune(id)
	if len(r) < 2 {
		return ""
	}
	return string(r[len(r)-2:])
}

// compact keeps the last patch of each path.
func compact(ps []Patch) []Patch {
	last := map[string]int{}
	for i, p := range ps {
		last[strings.Join(p.Path, "\x00")] = i
	}
	var out []Patch
	for i, p := range ps {
		if last[strings.Join(p.Path, "\x00")] == i {
			out = append(out, p)
		}
	}
	return out
}

// needsRego: HasPrivilege, or a condition too large for the data form.
func needsRego(a *analysis) (rego bool) {
	if len(a.privs) > 0 {
		return true
	}
	if a.cond == nil {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(notIndexable); !ok {
				panic(r)
			}
			rego = true
		}
	}()
	(&dnf{a: a}).expr(a.cond, false)
	return false
}

// buckets lists, per resource filter alternative, the bucket type and an
// atom the alternative adds (TermID: the id; a prefix for unknown types).
type typeAlt struct {
	typ   string
	extra *atom
}

func (ix *Index) typeAlts(a *analysis) []typeAlt {
	var out []typeAlt
	for _, t := range a.terms {
		switch t.Kind {
		case TermAll:
			out = append(out, typeAlt{typ: "*"})
		case TermType:
			out = append(out, typeAlt{typ: t.typ})
		case TermID:
			out = append(out, typeAlt{typ: t.typ, extra: &atom{op: "id", a: newAttr([]string{"resource", "id"}, false), v: t.ID}})
		case TermPrefix:
			for _, k := range t.prefixed {
				out = append(out, typeAlt{typ: k.name})
			}
			out = append(out, typeAlt{typ: "?", extra: &atom{op: "tp", v: t.prefix}})
		}
	}
	return out
}

func envKey(context string) string {
	switch context {
	case ContextHub, ContextConsole:
		return context
	}
	return "*"
}

// compileRule computes a rule's entries without storing them.
func (ix *Index) compileRule(a *analysis) *indexedRule {
	ir := &indexedRule{a: a, rego: needsRego(a)}
	const doc = "b"
	conds := []conj{{}}
	if a.cond != nil {
		conds = (&dnf{a: a, lenient: ir.rego}).expr(a.cond, false)
	}
	seenAttr, seenVAttr := map[attrRef]bool{}, map[attrRef]bool{}
	addAttr := func(r attrRef) {
		if r.path != "" && !seenAttr[r] {
			seenAttr[r] = true
			ir.attrs = append(ir.attrs, r)
		}
	}
	addVAttr := func(r attrRef) {
		if r.path != "" && !seenVAttr[r] {
			seenVAttr[r] = true
			ir.vattrs = append(ir.vattrs, r)
		}
	}
	// A rule of either environment is stored in the hub's and the
	// console's buckets too: a decision in either then reads one bucket.
	// "*" serves the other environments (none given).
	envs := []string{envKey(a.context)}
	if envs[0] == "*" {
		envs = append(envs, ContextHub, ContextConsole)
	}
	for _, alt := range ix.typeAlts(a) {
		for _, c := range conds {
			if alt.extra != nil {
				c = append(slices.Clip(c), *alt.extra)
			}
			kd, key, at, at2 := chooseKey(c)
			addAttr(kd.a)
			addAttr(kd.b)
			addAttr(kd.c)
			if !ir.rego {
				for i, t := range c {
					addAttr(t.a)
					addAttr(t.b)
					if !provedBy(kd, at, at2, i, t) {
						addVAttr(t.a)
						addVAttr(t.b)
					}
				}
			}
			for _, act := range a.actions {
				for _, env := range envs {
					ir.entries = append(ir.entries, entryRef{e: entryOf(bucket{doc, alt.typ, act, env}, kd, key), kd: kd})
				}
			}
		}
	}
	seen := map[entryRef]bool{}
	ir.entries = slices.DeleteFunc(ir.entries, func(e entryRef) bool {
		dup := seen[e]
		seen[e] = true
		return dup
	})
	return ir
}

// conjsFor recomputes what a rule stores under one entry: its
// conjunctions there, without the atoms its key proves, as one atom
// (holds, if a conjunction keeps none).
func (ix *Index) conjsFor(ir *indexedRule, e entryKey) any {
	conds := []conj{{}}
	if ir.a.cond != nil {
		conds = (&dnf{a: ir.a}).expr(ir.a.cond, false)
	}
	var out []any
	for _, alt := range ix.typeAlts(ir.a) {
		if alt.typ != e.typ {
			continue
		}
		for _, c := range conds {
			if alt.extra != nil {
				c = append(slices.Clip(c), *alt.extra)
			}
			kd, key, at, at2 := chooseKey(c)
			if entryOf(e.bucket, kd, key) != e {
				continue
			}
			atoms := make([]any, 0, len(c))
			for i, t := range c {
				if !provedBy(kd, at, at2, i, t) {
					atoms = append(atoms, t.data())
				}
			}
			if len(atoms) == 0 {
				return holds
			}
			out = append(out, atoms)
		}
	}
	switch {
	case len(out) > 1:
		return []any{"or", out}
	case len(out[0].([]any)) > 1:
		return []any{"and", out[0]}
	}
	return out[0].([]any)[0]
}

// holds is what a rule stores under an entry whose finding proves it: the
// atom ["t"]. Otherwise a rule stores its one atom left, ["and", atoms]
// for one conjunction of several, or ["or", conjunctions] (index_emit.go:
// _atom decides all of them by op).
var holds = []any{"t"}

func (ix *Index) add(a *analysis) []Patch {
	ir := ix.compileRule(a)
	id := a.rule.ID
	ix.rules[id] = ir
	ix.names[id] = a.rule.Name
	patches := []Patch{{Path: []string{"names", nameShard(id), id}, Value: a.rule.Name}}
	for _, r := range ir.attrs {
		if ix.attrs[r] == 0 {
			ix.dirty = true
		}
		ix.attrs[r]++
	}
	for _, r := range ir.vattrs {
		if ix.vattrs[r] == 0 {
			ix.dirty = true
		}
		ix.vattrs[r]++
	}
	if ir.rego {
		ix.dirty = true
	}
	for _, e := range ir.entries {
		if ix.buckets[e.e.body()] == 0 {
			ix.dirty = true
		}
		ix.buckets[e.e.body()]++
		if ka, ok := e.keyAttr(); ok {
			if ix.keys[ka] == 0 {
				ix.dirty = true
			}
			ix.keys[ka]++
		}
		m := ix.entries[e.e]
		if m == nil {
			m = map[string]any{}
			ix.entries[e.e] = m
		}
		if _, ok := m[id]; !ok {
			if ir.rego {
				// A candidate: its _g bodies decide (index_emit.go).
				m[id] = []any{"g", id}
			} else {
				m[id] = ix.conjsFor(ir, e.e)
			}
		}
		patches = append(patches, Patch{Path: e.e.path()})
	}
	return ix.fill(patches)
}

func (ix *Index) remove(id string) []Patch {
	ir := ix.rules[id]
	if ir == nil {
		return nil
	}
	delete(ix.rules, id)
	delete(ix.names, id)
	patches := []Patch{{Path: []string{"names", nameShard(id), id}}}
	for _, r := range ir.attrs {
		ix.attrs[r]--
		if ix.attrs[r] == 0 {
			delete(ix.attrs, r)
			ix.dirty = true
		}
	}
	for _, r := range ir.vattrs {
		if ix.vattrs[r]--; ix.vattrs[r] == 0 {
			delete(ix.vattrs, r)
			ix.dirty = true
		}
	}
	if ir.rego {
		ix.dirty = true
	}
	for _, e := range ir.entries {
		if ix.buckets[e.e.body()]--; ix.buckets[e.e.body()] == 0 {
			delete(ix.buckets, e.e.body())
			ix.dirty = true
		}
		if ka, ok := e.keyAttr(); ok {
			if ix.keys[ka]--; ix.keys[ka] == 0 {
				delete(ix.keys, ka)
				ix.dirty = true
			}
		}
		if m := ix.entries[e.e]; m != nil {
			delete(m, id)
			if len(m) == 0 {
				delete(ix.entries, e.e)
			}
		}
		patches = append(patches, Patch{Path: e.e.path()})
	}
	return ix.fill(patches)
}

// fill sets each patch's value from the current state.
func (ix *Index) fill(ps []Patch) []Patch {
	for i := range ps {
		p := ps[i].Path
		ps[i].Value = nil
		switch {
		case p[0] == "names":
			if n, ok := ix.names[p[2]]; ok {
				ps[i].Value = n
			}
		default:
			k := entryKey{bucket: bucket{p[0], p[1], p[2], p[3]}, kind: p[4]}
			if len(p) == 6 {
				k.key = p[5]
			}
			if m := ix.entries[k]; len(m) > 0 {
				ps[i].Value = maps.Clone(m)
			}
		}
	}
	return ps
}

// Data is the whole data document (the value of data.rulekeeper_rules):
// names[shard][id], and b[type][action][environment] the buckets (a
// candidate among the rules compiled to Rego has one conjunction, the
// atom ["g", id]), each
// with s (scan: rule id → conjunctions) and k[key] (valueKey, prefixKey,
// pairKey, pairPrefixKey: rule id → conjunctions).
func (ix *Index) Data() map[string]any {
	names := make(map[string]any, len(ix.names))
	for id, n := range ix.names {
		dir(names, nameShard(id))[id] = n
	}
	out := map[string]any{"names": names, "b": map[string]any{}}
	for k, m := range ix.entries {
		if len(m) == 0 {
			continue
		}
		d := out
		path := k.path()
		for _, seg := range path[:len(path)-1] {
			d = dir(d, seg)
		}
		d[path[len(path)-1]] = maps.Clone(m)
	}
	return out
}

func dir(m map[string]any, k string) map[string]any {
	if x, ok := m[k].(map[string]any); ok {
		return x
	}
	x := map[string]any{}
	m[k] = x
	return x
}

// regoProgram stratifies the rules compiled to Rego.
func (ix *Index) regoProgram() *program {
	var as []*analysis
	for _, id := range slices.Sorted(maps.Keys(ix.rules)) {
		if ir := ix.rules[id]; ir.rego {
			as = append(as, ir.a)
		}
	}
	return buildFrom(as, ix.x)
}

func buildFrom(as []*analysis, x *vocab) *program {
	units, diags := stratify(as, x)
	p := &program{x: x, units: units, diags: diags}
	last := -1
	for _, u := range units {
		if u.rule != last {
			last = u.rule
			p.rules = append(p.rules, u.a)
		}
	}
	p.n = len(p.rules)
	return p
}

// Module is the generated module for the index's current rules.
func (ix *Index) Module() string {
	if ix.dirty {
		ix.module = emitIndexed(ix.regoProgram(), ix.x, ix.attrs, ix.buckets, ix.keys, ix.vattrs)
		ix.dirty = false
	}
	return ix.module
}
