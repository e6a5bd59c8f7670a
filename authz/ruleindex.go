package authz

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// The candidates of the indexed rules, found in Go.
//
// The indexed module (authz/rules, Index) keeps its rules in buckets of
// its data document, data.rulekeeper_rules.b[type][action][environment]:
// a scan object s (rule id → atom) and an object k of lookup keys (key →
// rule id → atom). Looking the input's keys up there in Rego cost a
// decision a probe of an object of thousands of keys per key and an
// _atom call per candidate found, whether its atoms hold or not. The
// engine keeps a copy of the buckets (ruleIndex), looks the keys up in it
// when it builds the input (ruleValueTerm), tests there the atoms Go can
// (values, prefixes, suffixes, pairs, contains, patterns, negations:
// everything but the rules compiled to Rego for HasPrivilege, and a
// pattern regexp.Compile refuses) and hands the module the rules they prove
// (input.va[rules.ProvedID]) and the candidates whose atoms the module
// must test ([id, atom] at input.va[rules.TestID]). The module still names
// every granting rule, and finds them itself when the input has no
// candidates (index_emit.go, foundBodies).
//
// A revision's copy is not changed once made: Patch makes the next one
// from it, copying only the shards of the keys the patches change (a rule
// write at 10,000 rules copies a few hundred map entries).

// shards is the number of maps a bucket's lookup keys are spread over.
const shards = 64

// ruleIndex is one revision's copy of the buckets, by type, action and
// environment as the data document names them ("*" any type or
// environment, "?" the types the vocabulary does not know).
type ruleIndex struct {
	buckets map[[3]string]*ruleBucket
	filter  *keyFilter
	// at is the index of each value list in the module's (ruleValuesOf),
	// by attribute id, for the atoms.
	at    map[string]int
	vs    []ruleValue
	known map[string]bool // the module's _known_types
}

// A ruleBucket holds the candidates of one bucket: its scan entries and,
// by lookup key, its keyed ones.
type ruleBucket struct {
	scan []*cand
	keys [shards]map[string][]*cand
}

// A cand is one rule stored under an entry, with its atom compiled for
// Go.
type cand struct {
	id   *ast.Term
	test goAtom
	// va1 is input.va when the rule is the one the decision proves:
	// {ProvedID: [id]}, shared.
	va1 *ast.Term
	// pair is [id, atom], for the module to test the atom (nil when Go
	// decides it alone), and reads the value lists (indices in the
	// module's) the atom reads: input.va holds only those.
	pair  *ast.Term
	reads []int
}

// hashOf is the hash of key b (FNV-1a): its low bits pick the shard, its
// high bits the filter's bits.
func hashOf(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// shardOf is the shard of the key whose hash is h.
func shardOf(h uint64) int { return int(h % shards) }

// filterBits is the size of a revision's key filter: a bit set (16 KB)
// that a decision reads for every key before the buckets' maps, which at
// 10,000 rules are too large to stay in the processor's caches between
// decisions, while most keys of an input are in no bucket.
const filterBits = 1 << 17

// A keyFilter has two bits set for every key of every bucket (and, after
// patches, of keys since removed): a key whose bits are not both set is
// in no bucket.
type keyFilter [filterBits / 64]uint64

func filterAt(h uint64) (uint64, uint64) {
	return (h >> 32) % filterBits, (h>>49 ^ h>>7) % filterBits
}

func (f *keyFilter) add(h uint64) {
	i, j := filterAt(h)
	f[i/64] |= 1 << (i % 64)
	f[j/64] |= 1 << (j % 64)
}

func (f *keyFilter) has(h uint64) bool {
	i, j := filterAt(h)
	return f[i/64]&(1<<(i%64)) != 0 && f[j/64]&(1<<(j%64)) != 0
}

var (
	kProved, kTest = ast.StringTerm(rules.ProvedID), ast.StringTerm(rules.TestID)
	// noneFound is input.va of a decision that finds no candidate.
	noneFound = ast.ObjectTerm([2]*ast.Term{kProved, ast.InternedEmptyArray})
	dataRoot  = ast.StringTerm(rules.DataRoot)
)

// newRuleIndex copies the buckets of the data document root (the store's,
// as read for the evaluator) for the module whose value lists are vs and
// whose known resource types are known.
func newRuleIndex(root ast.Value, vs []ruleValue, known map[string]bool) *ruleIndex {
	ix := &ruleIndex{buckets: map[[3]string]*ruleBucket{}, filter: new(keyFilter), at: make(map[string]int, len(vs)), vs: vs, known: known}
	for i := range vs {
		ix.at[string(vs[i].key.Value.(ast.String))] = i
	}
	b := objectAt(root, dataRoot, ast.StringTerm("b"))
	if b == nil {
		return ix
	}
	b.Foreach(func(typ, x *ast.Term) {
		objectOf(x).Foreach(func(action, y *ast.Term) {
			objectOf(y).Foreach(func(env, z *ast.Term) {
				bk := &ruleBucket{}
				if s := objectAt(z.Value, ast.StringTerm("s")); s != nil {
					bk.scan = ix.cands(s)
				}
				if k := objectAt(z.Value, ast.StringTerm("k")); k != nil {
					k.Foreach(func(key, e *ast.Term) {
						s, ok := key.Value.(ast.String)
						if !ok {
							return
						}
						h := hashOf([]byte(s))
						ix.filter.add(h)
						m := &bk.keys[shardOf(h)]
						if *m == nil {
							*m = map[string][]*cand{}
						}
						(*m)[string(s)] = ix.cands(objectOf(e))
					})
				}
				ix.buckets[[3]string{stringOf(typ), stringOf(action), stringOf(env)}] = bk
			})
		})
	})
	return ix
}

// objectOf is t's object (nil if t is none).
func objectOf(t *ast.Term) ast.Object {
	if t == nil {
		return nil
	}
	o, _ := t.Value.(ast.Object)
	return o
}

// objectAt is the object at path in v (nil if there is none).
func objectAt(v ast.Value, path ...*ast.Term) ast.Object {
	for _, k := range path {
		o, ok := v.(ast.Object)
		if !ok {
			return nil
		}
		t := o.Get(k)
		if t == nil {
			return nil
		}
		v = t.Value
	}
	o, _ := v.(ast.Object)
	return o
}

// cands are the rules of an entry (rule id → atom).
func (ix *ruleIndex) cands(e ast.Object) []*cand {
	if e == nil || e.Len() == 0 {
		return nil
	}
	out := make([]*cand, 0, e.Len())
	e.Foreach(func(id, atom *ast.Term) {
		c := &cand{id: id, test: ix.compile(atom),
			va1: ast.ObjectTerm([2]*ast.Term{kProved, ast.ArrayTerm(id)})}
		if c.test.needsOPA() {
			c.pair = ast.ArrayTerm(id, atom)
			c.reads = ix.reads(atom, nil)
		}
		out = append(out, c)
	})
	return out
}

// patched is the copy of ix after patches (rules.Patch paths under
// DataRoot), reading the new entries from root, the data document after
// them. ix is not changed: only the buckets and the shards the patches
// touch are copied.
func (ix *ruleIndex) patched(root ast.Value, patches []rules.Patch) *ruleIndex {
	next := *ix
	next.buckets = maps.Clone(ix.buckets)
	next.filter = new(keyFilter)
	*next.filter = *ix.filter
	copied := map[*ruleBucket]*[shards]bool{}
	for _, p := range patches {
		if len(p.Path) < 5 || p.Path[0] != "b" {
			continue
		}
		k := [3]string{p.Path[1], p.Path[2], p.Path[3]}
		bk := next.buckets[k]
		done := copied[bk]
		if bk == nil || done == nil {
			c := &ruleBucket{}
			if bk != nil {
				*c = *bk
			}
			bk, done = c, new([shards]bool)
			next.buckets[k] = bk
			copied[bk] = done
		}
		path := make([]*ast.Term, 0, len(p.Path)+1)
		path = append(path, dataRoot)
		for _, s := range p.Path {
			path = append(path, ast.StringTerm(s))
		}
		e := objectAt(root, path...)
		switch {
		case p.Path[4] == "s":
			bk.scan = ix.cands(e)
		case p.Path[4] == "k" && len(p.Path) == 6:
			key := p.Path[5]
			h := hashOf([]byte(key))
			sh := shardOf(h)
			if !done[sh] {
				bk.keys[sh] = maps.Clone(bk.keys[sh])
				if bk.keys[sh] == nil {
					bk.keys[sh] = map[string][]*cand{}
				}
				done[sh] = true
			}
			if cs := ix.cands(e); cs != nil {
				next.filter.add(h)
				bk.keys[sh][key] = cs
			} else {
				delete(bk.keys[sh], key)
			}
		}
	}
	return &next
}

// knownTypesOf reads the module's _known_types (a constant set).
func knownTypesOf(m *ast.Module) map[string]bool {
	known := map[string]bool{}
	if m == nil {
		return known
	}
	for _, r := range m.Rules {
		ref := r.Head.Ref()
		if len(ref) != 1 || ref[0].String() != "_known_types" || r.Head.Value == nil {
			continue
		}
		if set, ok := r.Head.Value.Value.(ast.Set); ok {
			set.Foreach(func(t *ast.Term) { known[stringOf(t)] = true })
		}
	}
	return known
}

// bucketsOf sets p's buckets to those the module's bodies read for
// the input's resource type, action and environment (index_emit.go: the
// type's, "*" and, for a type the vocabulary does not know, "?"; the
// environment's for the hub and the console, "*" for any other).
func (ix *ruleIndex) bucketsOf(typ, action, env string, p *keyProbe) {
	if env != rules.ContextHub && env != rules.ContextConsole {
		env = "*"
	}
	p.filter = ix.filter
	types := [3]string{typ, "*", "?"}
	n := 2
	if !ix.known[typ] {
		n = 3
	}
	for _, t := range types[:n] {
		if bk := ix.buckets[[3]string{t, action, env}]; bk != nil {
			p.bks[p.nb] = bk
			p.nb++
		}
	}
}

// A keyProbe looks the input's keys up in its buckets and collects the
// candidates found.
type keyProbe struct {
	bks    [3]*ruleBucket
	nb     int
	filter *keyFilter
	cands  []*cand
	cbuf   [16]*cand
	keys   *[]string // tests: every key probed
}

// probe looks the key b up in the buckets.
func (p *keyProbe) probe(b []byte) {
	if p.keys != nil {
		*p.keys = append(*p.keys, string(b))
	}
	if p.nb == 0 {
		return
	}
	h := hashOf(b)
	if !p.filter.has(h) {
		return
	}
	sh := shardOf(h)
	for _, bk := range p.bks[:p.nb] {
		if cs, ok := bk.keys[sh][string(b)]; ok {
			p.cands = append(p.cands, cs...)
		}
	}
}

// The atoms as Go tests them (index.go's atom.data, index_emit.go's
// _atom), and what a test finds: the atom holds, does not, or is left to
// the module (the rules compiled to Rego for HasPrivilege, a pattern Go
// does not compile, an atom over a list the module does not read).
const (
	opModule uint8 = iota
	opTrue
	opIn
	opID
	opPair
	opPre
	opSuf
	opAny
	opNe
	opAnon
	opTp
	opAnd
	opOr
	opCon
	opRe
	opNot
)

// positiveOps are the atoms _pos tests (index_emit.go's atomTests), of
// which ["not", atom] is the negation; "not" of any other op holds in
// the module (_pos has no body for it), and is left to it.
var positiveOps = map[string]bool{"in": true, "id": true, "pair": true, "pre": true, "suf": true, "any": true,
	"con": true, "re": true, "ne": true, "anon": true, "tp": true}

type verdict uint8

const (
	fails verdict = iota
	holds
	module
)

// A goAtom is an atom compiled for Go: op over the value lists at a (and
// b) with literal v; kids for and / or (each kid of or an and).
type goAtom struct {
	op   uint8
	a, b int
	v    string
	kids []goAtom
	re   *regexp.Regexp // opRe: v compiled, as regex.match compiles it
}

// compile is the Go test of the atom t ([op, operands...]); an atom it
// does not know, or over a list the module does not read itself, is the
// module's.
func (ix *ruleIndex) compile(t *ast.Term) goAtom {
	arr, ok := t.Value.(*ast.Array)
	if !ok || arr.Len() == 0 {
		return goAtom{}
	}
	str := func(i int) (string, bool) {
		if i >= arr.Len() {
			return "", false
		}
		s, ok := arr.Elem(i).Value.(ast.String)
		return string(s), ok
	}
	list := func(i int) (int, bool) {
		s, ok := str(i)
		if !ok {
			return 0, false
		}
		at, ok := ix.at[s]
		return at, ok && ix.vs[at].listed
	}
	op, _ := str(0)
	switch op {
	case "t":
		return goAtom{op: opTrue}
	case "anon":
		return goAtom{op: opAnon}
	case "tp":
		if v, ok := str(1); ok {
			return goAtom{op: opTp, v: v}
		}
	case "id":
		if v, ok := str(2); ok {
			return goAtom{op: opID, v: v}
		}
	case "in", "pre", "suf":
		a, ok1 := list(1)
		v, ok2 := str(2)
		if ok1 && ok2 {
			return goAtom{op: map[string]uint8{"in": opIn, "pre": opPre, "suf": opSuf}[op], a: a, v: v}
		}
	case "any", "ne":
		if a, ok := list(1); ok {
			return goAtom{op: map[string]uint8{"any": opAny, "ne": opNe}[op], a: a}
		}
	case "pair":
		a, ok1 := list(1)
		b, ok2 := list(2)
		if ok1 && ok2 {
			return goAtom{op: opPair, a: a, b: b}
		}
	case "con":
		a, ok1 := list(1)
		v, ok2 := str(2)
		if ok1 && ok2 {
			return goAtom{op: opCon, a: a, v: v}
		}
	case "re":
		// regex.match compiles its pattern with regexp.Compile (OPA's
		// topdown); a pattern that does not compile makes the module's
		// call an error, which is the module's to answer.
		a, ok1 := list(1)
		v, ok2 := str(2)
		if ok1 && ok2 {
			if re, err := regexp.Compile(v); err == nil {
				return goAtom{op: opRe, a: a, v: v, re: re}
			}
		}
	case "not":
		if arr.Len() == 2 {
			if inner, ok := arr.Elem(1).Value.(*ast.Array); ok && inner.Len() > 0 && positiveOps[stringOf(inner.Elem(0))] {
				if k := ix.compile(arr.Elem(1)); k.op != opModule {
					return goAtom{op: opNot, kids: []goAtom{k}}
				}
			}
		}
	case "and":
		if c, ok := arr.Elem(1).Value.(*ast.Array); ok && arr.Len() == 2 {
			g := goAtom{op: opAnd}
			c.Foreach(func(t *ast.Term) { g.kids = append(g.kids, ix.compile(t)) })
			return g
		}
	case "or":
		if c, ok := arr.Elem(1).Value.(*ast.Array); ok && arr.Len() == 2 {
			g := goAtom{op: opOr}
			ok := true
			c.Foreach(func(t *ast.Term) {
				ts, isArr := t.Value.(*ast.Array)
				if !isArr {
					ok = false
					return
				}
				k := goAtom{op: opAnd}
				ts.Foreach(func(t *ast.Term) { k.kids = append(k.kids, ix.compile(t)) })
				g.kids = append(g.kids, k)
			})
			if ok {
				return g
			}
		}
	}
	return goAtom{}
}

// reads appends to out the indices of the value lists the atom t reads
// (the attribute ids among its operands, at any depth), once each.
func (ix *ruleIndex) reads(t *ast.Term, out []int) []int {
	switch v := t.Value.(type) {
	case ast.String:
		if at, ok := ix.at[string(v)]; ok && !slices.Contains(out, at) {
			out = append(out, at)
		}
	case *ast.Array:
		v.Foreach(func(x *ast.Term) { out = ix.reads(x, out) })
	}
	return out
}

// needsOPA reports whether the module may have to test the atom.
func (g *goAtom) needsOPA() bool {
	switch g.op {
	case opModule:
		return true
	case opAnd, opOr, opNot:
		for i := range g.kids {
			if g.kids[i].needsOPA() {
				return true
			}
		}
	}
	return false
}

// atomInput is what the atoms read of an input: the value lists (nil:
// the input has none), and the resource's id and type and whether the
// subject is anonymous.
type atomInput struct {
	lists   []*ast.Term
	raw     []value // the input's own value, where no list was built
	vs      []ruleValue
	id, typ string
	anon    bool
}

// values are the values of list i: the list's, or the input's own (a
// string or strings) and whether to lower-case them.
func (in *atomInput) values(i int) (value, bool) {
	if l := in.lists[i]; l != nil {
		return termValue(l), false
	}
	return in.raw[i], in.vs[i].ci
}

// foldIs reports whether s, lower-cased with lower, is v (at, in s
// lower-cased: 0 for the whole of it, 1 for a prefix, 2 for a suffix),
// without building the lower-cased s when s is ASCII.
func foldIs(s, v string, lower bool, at int) bool {
	if lower && !isASCII(s) {
		s, lower = strings.ToLower(s), false
	}
	switch {
	case at == 0 && len(s) != len(v), len(s) < len(v):
		return false
	case at == 1:
		s = s[:len(v)]
	case at == 2:
		s = s[len(s)-len(v):]
	}
	if !lower {
		return s == v
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != v[i] {
			return false
		}
	}
	return true
}

// test is the atom's verdict on in.
func (g *goAtom) test(in *atomInput) verdict {
	switch g.op {
	case opTrue:
		return holds
	case opIn:
		x, lower := in.values(g.a)
		for i := range countOf(x) {
			if s, _ := stringAt(x, i); foldIs(s, g.v, lower, 0) {
				return holds
			}
		}
		return fails
	case opID:
		return verdictOf(in.id == g.v)
	case opTp:
		return verdictOf(strings.HasPrefix(in.typ, g.v))
	case opAnon:
		return verdictOf(in.anon)
	case opPre, opSuf, opAny, opNe:
		x, lower := in.values(g.a)
		for i := range countOf(x) {
			s, _ := stringAt(x, i)
			switch {
			case g.op == opPre && foldIs(s, g.v, lower, 1), g.op == opSuf && foldIs(s, g.v, lower, 2),
				g.op == opAny, g.op == opNe && s != "":
				return holds
			}
		}
		return fails
	case opCon, opRe:
		// some x in va[a]; contains(x, v) / regex.match(v, x), on the
		// list's values (lower-cased as _vli does, for such a list).
		x, lower := in.values(g.a)
		for i := range countOf(x) {
			s, ok := stringAt(x, i)
			if !ok {
				continue
			}
			if lower {
				s = strings.ToLower(s)
			}
			if g.op == opCon && strings.Contains(s, g.v) || g.op == opRe && g.re.MatchString(s) {
				return holds
			}
		}
		return fails
	case opNot:
		switch g.kids[0].test(in) {
		case holds:
			return fails
		case fails:
			return holds
		}
		return module
	case opPair:
		x, _ := in.values(g.a)
		y, _ := in.values(g.b)
		return verdictOf(x.kind != vNone && y.kind != vNone && shareValue(x, y, in.vs[g.a].ci))
	case opAnd:
		v := holds
		for i := range g.kids {
			switch g.kids[i].test(in) {
			case fails:
				return fails
			case module:
				v = module
			}
		}
		return v
	case opOr:
		v := fails
		for i := range g.kids {
			switch g.kids[i].test(in) {
			case holds:
				return holds
			case module:
				v = module
			}
		}
		return v
	}
	return module
}

func verdictOf(b bool) verdict {
	if b {
		return holds
	}
	return fails
}

// indexed is p for a revision whose data document is root: its value
// lists find the candidates in a copy of root's buckets (p itself, whose
// lists a compilation shares with the revisions of the same module, is
// not changed). p nil, or without value lists: p.
func (p *projection) indexed(compiler *ast.Compiler, root ast.Value) *projection {
	if p == nil || len(p.values) == 0 {
		return p
	}
	q := *p
	q.values = withIndex(p.values, newRuleIndex(root, p.values, knownTypesOf(compiler.Modules[GeneratedModuleName])))
	return &q
}

// patched is p after patches of the rules' data document, root being
// the document after them.
func (p *projection) patched(root ast.Value, patches []rules.Patch) *projection {
	if p == nil || len(p.values) == 0 || p.values[0].index == nil {
		return p
	}
	q := *p
	q.values = withIndex(p.values, p.values[0].index.patched(root, patches))
	return &q
}
