package authz

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// The value lists of the security rules, computed with the input.
//
// The indexed rules module (authz/rules, Index) looks its buckets up by
// the input's attribute values, each read as a list of strings and, for
// the case-insensitive operators, lower-cased: in Rego, a function call
// and a comprehension per attribute per decision (_vli, _vls), the larger
// part of what the rules cost a decision. The module names those lists
// (_vf[id] := _vli(input.<path>)); the engine reads the names when it
// compiles a revision (ruleValuesOf) and puts the lists in the input it
// builds (valueWith), at input.va[id] (rules.ValuesKey), which the module
// reads instead of computing them. The module computes the lists itself
// when the input has no input.va (another caller, such as a stock OPA given the same module
// and a hydrated input), so both are the same lists by construction: the
// tests compare them (rulevalues_test.go). This is input preparation, one
// list per attribute and decision, not a cache.
//
// The buckets are looked up by keys (an attribute id, then "=" and a
// value, or "^" and a prefix of one of the lengths the module's _kp
// lists): the engine computes them with the lists and looks them up in its
// copy of the buckets (ruleindex.go), the module's _vkf otherwise. The
// keys are made from the input's own strings, lower-cased in the key's
// buffer, and the atoms Go tests read those strings too: a list term is
// built only for what input.va hands the module (the lists the atoms left
// to it read, of those it reads itself: its _ka). With 10,000 rules a
// decision keys on more attributes (names, emails) whose values recur
// less, and each interned list was a lookup in a table of thousands.

var (
	kValues             = ast.StringTerm(rules.ValuesKey)
	textTrue, textFalse = ast.StringTerm("true"), ast.StringTerm("false")
)

// A ruleValue is one value list the rules module reads: its id (the key
// of _va and of input.va), the attribute's path in the input and whether
// its values are lower-cased.
type ruleValue struct {
	key  *ast.Term
	path []*ast.Term
	ci   bool
	// The lookup keys of the attribute's values (the module's _kv and
	// _kp: keyed by value, by prefixes of these lengths); keyed: either.
	val   bool
	plens []int
	keyed bool
	// listed: the module reads the list itself (its _ka: the atoms
	// do), not only its keys; input.va holds only those.
	listed bool
	// pairs are the keys of this attribute's prefixes when two other
	// attributes share a value (the module's _kq), by their indices.
	pairs []pairKeys
	// shared are the keys had when this attribute shares a value with
	// another (the module's _kr): the other's index and the key.
	shared []sharedKey
	needed bool // a pair's attribute: computed for the keys
	// tree holds the paths of the lists in use (the same in every
	// ruleValue of a module), by which ruleValueTerm finds them in the
	// input.
	tree *valueNode
	// index is the revision's copy of the buckets (the same in every
	// ruleValue of a revision; ruleindex.go), in which ruleValueTerm
	// finds the candidates; nil: the module finds them.
	index *ruleIndex
}

// withIndex is a copy of vs whose candidates are found in ix.
func withIndex(vs []ruleValue, ix *ruleIndex) []ruleValue {
	out := make([]ruleValue, len(vs))
	copy(out, vs)
	for i := range out {
		out[i].index = ix
	}
	return out
}

// A valueNode is one segment of the paths of the value lists in use: the
// lists whose path ends here (indices in the module's ruleValues) and the
// segments that follow.
type valueNode struct {
	key  *ast.Term
	at   []int
	kids []*valueNode
	by   map[string]*valueNode
}

// child is n's child named s, added if new.
func (n *valueNode) child(s *ast.Term) *valueNode {
	name := string(s.Value.(ast.String))
	if c := n.by[name]; c != nil {
		return c
	}
	c := &valueNode{key: s, by: map[string]*valueNode{}}
	n.kids = append(n.kids, c)
	n.by[name] = c
	return c
}

// walk sets found[i] to the value at the path of each list i under n,
// x being the value at n: each path is read once for all the lists under
// it.
func (n *valueNode) walk(x *ast.Term, found []value) {
	for _, i := range n.at {
		found[i] = termValue(x)
	}
	if len(n.kids) == 0 {
		return
	}
	o, ok := x.Value.(ast.Object)
	if !ok {
		return
	}
	if l := o.Len(); l == 0 {
		return
	} else if l < len(n.kids) {
		// Fewer items than paths (custom properties: an object of a few
		// of the properties the rules name): each item looked up in by.
		o.Foreach(func(k, v *ast.Term) {
			if s, ok := k.Value.(ast.String); ok {
				if c := n.by[string(s)]; c != nil {
					c.walk(v, found)
				}
			}
		})
		return
	}
	for _, c := range n.kids {
		if v := o.Get(c.key); v != nil {
			c.walk(v, found)
		}
	}
}

// pairKeys are the prefix keys (of lengths plens) of an attribute when
// the attributes at a and b (indices in the value lists) share a value.
type pairKeys struct {
	a, b  int
	plens []int
	id    string // the keys' start: rules' pairPrefixKey without "^" and the prefix
}

// A sharedKey is the lookup key (rules' pairKey) a decision has when
// two attributes share a value: the other's index in the value lists.
type sharedKey struct {
	b   int
	key string
}

// ruleValuesOf finds the value lists the generated module m reads: its
// rules _vf["<id>"] := _vli(input.<path>) (or _vls). A path that is not
// all strings is left to the module.
func ruleValuesOf(m *ast.Module) []ruleValue {
	if m == nil {
		return nil
	}
	var out []ruleValue
	for _, r := range m.Rules {
		ref := r.Head.Ref()
		if len(ref) != 2 || !ref[0].Equal(ast.VarTerm("_vf")) || r.Head.Value == nil || len(r.Head.Args) > 0 || r.Else != nil {
			continue
		}
		key, ok := ref[1].Value.(ast.String)
		if !ok || key == "" {
			continue
		}
		call, ok := r.Head.Value.Value.(ast.Call)
		if !ok || len(call) != 2 {
			continue
		}
		fn := call[0].String()
		if fn != "_vli" && fn != "_vls" {
			continue
		}
		in, ok := call[1].Value.(ast.Ref)
		if !ok || len(in) < 2 || !in[0].Equal(ast.InputRootDocument) {
			continue
		}
		path := make([]*ast.Term, 0, len(in)-1)
		for _, t := range in[1:] {
			if _, ok := t.Value.(ast.String); !ok {
				path = nil
				break
			}
			path = append(path, t)
		}
		if path == nil {
			continue
		}
		out = append(out, ruleValue{key: ast.StringTerm(string(key)), path: path, ci: fn == "_vli"})
	}
	vals, plens, listed, pairs, shared := keyAttrsOf(m)
	at := map[string]int{}
	for i := range out {
		id := string(out[i].key.Value.(ast.String))
		at[id] = i
		out[i].val, out[i].plens = vals[id], plens[id]
		out[i].listed = listed == nil || listed[id]
		out[i].keyed = out[i].val || len(out[i].plens) > 0
	}
	for _, q := range pairs {
		a, ok1 := at[q.ids[0]]
		b, ok2 := at[q.ids[1]]
		c, ok3 := at[q.ids[2]]
		if !ok1 || !ok2 || !ok3 {
			return nil // the module computes them
		}
		out[a].needed, out[b].needed, out[c].needed = true, true, true
		out[c].pairs = append(out[c].pairs, pairKeys{a: a, b: b, plens: q.plens, id: q.ids[0] + "&" + q.ids[1] + "&" + q.ids[2]})
	}
	for _, q := range shared {
		a, ok1 := at[q[0]]
		b, ok2 := at[q[1]]
		if !ok1 || !ok2 {
			return nil // the module computes them
		}
		out[a].needed, out[b].needed = true, true
		out[a].shared = append(out[a].shared, sharedKey{b: b, key: q[0] + "&" + q[1]})
	}
	root := &valueNode{by: map[string]*valueNode{}}
	for i := range out {
		v := &out[i]
		if !v.listed && !v.keyed && !v.needed {
			continue
		}
		n := root
		for _, seg := range v.path {
			n = n.child(seg)
		}
		n.at = append(n.at, i)
	}
	for i := range out {
		out[i].tree = root
	}
	return out
}

// pairSpec is one item of the module's _kq: the pair's attribute ids, the
// prefix's, and the prefix lengths.
type pairSpec struct {
	ids   [3]string
	plens []int
}

// keyAttrsOf reads the module's _kv (the attribute ids keyed by value),
// _kp (the prefix lengths keyed on, by attribute id), _ka (the
// attribute ids whose lists the module reads; nil when it has no _ka: all
// of them), _kq (the pairs' prefixes) and _kr (the pairs keyed on), all
// constants.
func keyAttrsOf(m *ast.Module) (map[string]bool, map[string][]int, map[string]bool, []pairSpec, [][2]string) {
	vals, plens := map[string]bool{}, map[string][]int{}
	var listed map[string]bool
	var pairs []pairSpec
	var shared [][2]string
	for _, r := range m.Rules {
		ref := r.Head.Ref()
		if len(ref) != 1 || r.Head.Value == nil || len(r.Head.Args) > 0 {
			continue
		}
		switch ref[0].String() {
		case "_kr":
			tuplesOf(r.Head.Value.Value, 2, func(q *ast.Array) {
				shared = append(shared, [2]string{stringOf(q.Elem(0)), stringOf(q.Elem(1))})
			})
		case "_kq":
			tuplesOf(r.Head.Value.Value, 4, func(q *ast.Array) {
				pairs = append(pairs, pairSpec{ids: [3]string{stringOf(q.Elem(0)), stringOf(q.Elem(1)), stringOf(q.Elem(2))},
					plens: lengthsOf(q.Elem(3).Value)})
			})
		case "_ka":
			listed = map[string]bool{}
			if set, ok := r.Head.Value.Value.(ast.Set); ok {
				set.Foreach(func(t *ast.Term) {
					if s, ok := t.Value.(ast.String); ok {
						listed[string(s)] = true
					}
				})
			}
		case "_kv":
			if set, ok := r.Head.Value.Value.(ast.Set); ok {
				set.Foreach(func(t *ast.Term) {
					if s, ok := t.Value.(ast.String); ok {
						vals[string(s)] = true
					}
				})
			}
		case "_kp":
			if obj, ok := r.Head.Value.Value.(ast.Object); ok {
				obj.Foreach(func(k, v *ast.Term) {
					if s, ok := k.Value.(ast.String); ok {
						plens[string(s)] = append(plens[string(s)], lengthsOf(v.Value)...)
					}
				})
			}
		}
	}
	return vals, plens, listed, pairs, shared
}

// tuplesOf calls f with each item of the array v that is an array of n
// items.
func tuplesOf(v ast.Value, n int, f func(*ast.Array)) {
	if arr, ok := v.(*ast.Array); ok {
		arr.Foreach(func(t *ast.Term) {
			if q, ok := t.Value.(*ast.Array); ok && q.Len() == n {
				f(q)
			}
		})
	}
}

// stringOf is t's string ("" if t is none).
func stringOf(t *ast.Term) string {
	s, _ := t.Value.(ast.String)
	return string(s)
}

// lengthsOf are the positive integers of the array v (prefix lengths).
func lengthsOf(v ast.Value) []int {
	a, ok := v.(*ast.Array)
	if !ok {
		return nil
	}
	var out []int
	for i := range a.Len() {
		if n, ok := a.Elem(i).Value.(ast.Number); ok {
			if n, ok := n.Int(); ok && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

// visitKeys probes the lookup keys of the values in list (an array of
// strings, as listOf makes it): each value's key if v is keyed by value,
// and its prefix's for each length of v.plens it reaches (in characters,
// as Rego's count and substring count them).
func (v *ruleValue) visitKeys(p *keyProbe, list *ast.Term) {
	a, ok := list.Value.(*ast.Array)
	if !ok || !v.keyed {
		return
	}
	for i := range a.Len() {
		if s, ok := a.Elem(i).Value.(ast.String); ok {
			v.visitValueKeys(p, string(s), false)
		}
	}
}

// visitKeysOf is visitKeys of the list of x (listOf, which it does not
// build) for a string or strings x; ok is false for any other x (the
// caller lists it).
func (v *ruleValue) visitKeysOf(p *keyProbe, x value) bool {
	switch x.kind {
	case vString:
		v.visitValueKeys(p, x.s, v.ci)
		return true
	case vStrings:
		for _, s := range x.ss {
			v.visitValueKeys(p, s, v.ci)
		}
		return true
	case vNone:
		return false
	}
	switch t := x.t.Value.(type) {
	case ast.String:
		v.visitValueKeys(p, string(t), v.ci)
		return true
	case *ast.Array:
		for i := range t.Len() {
			if _, ok := t.Elem(i).Value.(ast.String); !ok {
				return false
			}
		}
		for i := range t.Len() {
			v.visitValueKeys(p, string(t.Elem(i).Value.(ast.String)), v.ci)
		}
		return true
	}
	return false
}

// visitValueKeys probes the keys of one value s of the attribute (lower
// is whether to lower-case it: the input's own string of a
// case-insensitive attribute): its value's key and its prefixes' of the
// lengths v.plens.
func (v *ruleValue) visitValueKeys(p *keyProbe, s string, lower bool) {
	if !v.keyed {
		return
	}
	var buf [128]byte
	b := append(buf[:0], v.key.Value.(ast.String)...)
	n := len(b) + 1 // where the value starts
	b = append(b, '=')
	if lower {
		b = appendLower(b, s)
	} else {
		b = append(b, s...)
	}
	if v.val {
		p.probe(b)
	}
	if len(v.plens) == 0 {
		return
	}
	b[n-1] = '^'
	visitCutKeys(p, v.plens, b, n)
}

// appendLower appends strings.ToLower(s) to b, without building it for
// an ASCII s.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// visitPrefixKeys probes the keys id + "^" + s's prefixes of the lengths
// plens (in characters, as Rego's count and substring count them).
func visitPrefixKeys(p *keyProbe, id string, plens []int, s string) {
	var buf [128]byte
	b := append(append(append(buf[:0], id...), '^'), s...)
	visitCutKeys(p, plens, b, len(id)+1)
}

// visitCutKeys probes the keys b[:n+i] (b[:n] being the attribute id
// and "^") of the prefixes of b[n:] of the lengths plens, in characters.
func visitCutKeys(p *keyProbe, plens []int, b []byte, n int) {
	val := b[n:]
	c, at := 0, 0 // characters counted, at byte at
	for _, l := range plens {
		for c < l && at < len(val) {
			_, size := utf8.DecodeRune(val[at:])
			at += size
			c++
		}
		if c < l {
			break
		}
		p.probe(b[:n+at])
	}
}

// shareValue reports whether x and y (each a string or strings: a list
// listOf made, or the input's value) have a value in common, lower-cased
// with ci (the values of a list are already).
func shareValue(x, y value, ci bool) bool {
	for i := range countOf(x) {
		a, ok := stringAt(x, i)
		if !ok {
			continue
		}
		for j := range countOf(y) {
			if b, ok := stringAt(y, j); ok && sameValue(a, b, ci) {
				return true
			}
		}
	}
	return false
}

// A value is an attribute's value as findRules reads it: a term of the
// input (kind vTerm), or, for the subject's fields, read from the Go
// input rather than from the subject object (subjectSource), one of its
// strings (vString) or lists of strings (vStrings), with no term built.
// The zero value is none: the input has no such attribute.
type value struct {
	t    *ast.Term
	s    string
	ss   []string
	kind uint8
}

const (
	vNone uint8 = iota
	vTerm
	vString
	vStrings
)

// termValue is the value of the term t (none if t is nil).
func termValue(t *ast.Term) value {
	if t == nil {
		return value{}
	}
	return value{t: t, kind: vTerm}
}

// countOf is the number of values of x, a string or an array (none or
// anything else: none).
func countOf(x value) int {
	switch x.kind {
	case vString:
		return 1
	case vStrings:
		return len(x.ss)
	case vNone:
		return 0
	}
	switch v := x.t.Value.(type) {
	case *ast.Array:
		return v.Len()
	case ast.String:
		return 1
	}
	return 0
}

// stringAt is x's value i (x a string, or an array), if a string.
func stringAt(x value, i int) (string, bool) {
	switch x.kind {
	case vString:
		return x.s, true
	case vStrings:
		return x.ss[i], true
	}
	t := x.t
	if a, ok := t.Value.(*ast.Array); ok {
		t = a.Elem(i)
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

// sameValue reports whether a and b are the same value, lower-cased with
// ci (strings.ToLower, without building it for ASCII strings).
func sameValue(a, b string, ci bool) bool {
	if a == b {
		return true
	}
	if !ci || len(a) != len(b) && isASCII(a) && isASCII(b) {
		return false
	}
	if !isASCII(a) || !isASCII(b) {
		return strings.ToLower(a) == strings.ToLower(b)
	}
	for i := 0; i < len(a); i++ {
		c, d := a[i], b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// ruleValueTerm is input.va: the candidates of the input's buckets (the
// input's keys looked up in the revision's copy of the buckets,
// ruleindex.go), the rules whose atoms hold at rules.ProvedID and those
// whose atoms the module tests at rules.TestID, with, then, the value
// list of each of vs the module reads itself (_ka) found in the input
// whose top-level items are roots (with subj set, the subject's fields
// are read from it, not from roots). It is nil when vs has no copy of the
// buckets, or when an attribute holds a value the module lists
// differently, a number: then the module finds and tests them all. An
// attribute the input does not have gets no list (the module's _va is
// undefined for it too). tested reports whether input.va leaves atoms to
// the module (rules.TestID); it is true with a nil input.va too. With
// input.va and no atom left to the module, the module reads no subject
// field (doc.go, "The subject's fields the rules alone read").
func ruleValueTerm(a *terms, roots [][2]*ast.Term, vs []ruleValue, subj *subjectSource) (va *ast.Term, tested bool) {
	if len(vs) == 0 || vs[0].index == nil {
		return nil, true
	}
	var p keyProbe
	return findRules(a, roots, vs, &p, subj)
}

// findRules is ruleValueTerm with the probe p (whose keys, if set, get
// every key of the input, even when it has no bucket).
func findRules(a *terms, roots [][2]*ast.Term, vs []ruleValue, p *keyProbe, subj *subjectSource) (*ast.Term, bool) {
	ix := vs[0].index
	p.cands = p.cbuf[:0]
	var in atomInput
	var action, env string
	for _, r := range roots {
		switch stringOf(r[0]) {
		case "action":
			action = stringOf(r[1])
		case "resource":
			if subj != nil && subj.r != nil {
				in.typ, in.id = subj.r.Type, subj.r.ID
			} else {
				o := objectOf(r[1])
				in.typ, in.id = stringIn(o, kType), stringIn(o, kID)
			}
		case "context":
			env = stringIn(objectOf(r[1]), kEnvironment)
		case "subject":
			if subj != nil {
				in.anon = subj.anonymous()
			} else if o := objectOf(r[1]); o != nil {
				in.anon = ast.Boolean(true).Equal(valueIn(o, kAnonymous))
			}
		}
	}
	if ix != nil {
		ix.bucketsOf(in.typ, action, env, p)
	}
	if p.nb == 0 && p.keys == nil {
		return noneFound, false
	}
	var buf [24][2]*ast.Term
	var lbuf [24]*ast.Term
	items := buf[:0]
	lists := lbuf[:0] // by index in vs, for the pairs' keys and the atoms
	if len(vs) > len(lbuf) {
		lists = make([]*ast.Term, 0, len(vs))
	}
	lists = lists[:len(vs)]
	var fbuf, rbuf [24]value
	found, raw := fbuf[:0], rbuf[:0] // raw: the input's value, for a list not built
	if len(vs) > len(fbuf) {
		found, raw = make([]value, 0, len(vs)), make([]value, 0, len(vs))
	}
	found, raw = found[:len(vs)], raw[:len(vs)]
	for _, r := range roots { // vs[0].tree: ruleValuesOf sets it
		if s, ok := r[0].Value.(ast.String); ok {
			if c := vs[0].tree.by[string(s)]; c != nil {
				switch {
				case subj != nil && s == "subject":
					subj.walk(a, c, found)
				case subj != nil && subj.r != nil && s == "resource":
					walkResource(a, subj.r, r[1], c, found)
				default:
					c.walk(r[1], found)
				}
			}
		}
	}
	pairs := false
	for i := range vs {
		v := &vs[i]
		pairs = pairs || len(v.pairs) > 0 || len(v.shared) > 0
		if !v.listed && !v.keyed && !v.needed {
			continue
		}
		x := found[i]
		if x.kind == vNone {
			continue
		}
		if len(v.pairs) == 0 {
			// Read for its keys, compared with another list for a pair's
			// keys, or by the atoms Go tests: no list term (nor the
			// interned lower-cased values it would hold) is needed unless
			// the module reads it (below).
			if v.visitKeysOf(p, x) {
				raw[i] = x
				continue
			}
		}
		l, ok := listOf(a, x, v.ci)
		if !ok {
			return nil, true
		}
		lists[i] = l
		v.visitKeys(p, l)
	}
	if pairs {
		for i := range vs {
			for _, q := range vs[i].shared {
				xa, xb := listOrRaw(lists, raw, i), listOrRaw(lists, raw, q.b)
				if xa.kind != vNone && xb.kind != vNone && shareValue(xa, xb, vs[i].ci) {
					p.probe([]byte(q.key))
				}
			}
			for _, q := range vs[i].pairs {
				xa, xb := listOrRaw(lists, raw, q.a), listOrRaw(lists, raw, q.b)
				if xa.kind == vNone || xb.kind == vNone || lists[i] == nil || !shareValue(xa, xb, vs[q.a].ci) {
					continue
				}
				c, ok := lists[i].Value.(*ast.Array)
				if !ok {
					continue
				}
				for j := range c.Len() {
					if s, ok := c.Elem(j).Value.(ast.String); ok {
						visitPrefixKeys(p, q.id, q.plens, string(s))
					}
				}
			}
		}
	}
	for _, bk := range p.bks[:p.nb] {
		p.cands = append(p.cands, bk.scan...)
	}
	// The candidates' atoms: those Go tests decide, the others are the
	// module's.
	in.lists, in.raw, in.vs = lists, raw, vs
	var pbuf, tbuf [8]*ast.Term
	proved, tests := pbuf[:0], tbuf[:0]
	var one *cand
	var wbuf [24]bool
	reads := wbuf[:0] // by index in vs: the lists the tests read
	for _, c := range p.cands {
		switch c.test.test(&in) {
		case holds:
			if !slices.ContainsFunc(proved, c.id.Equal) {
				proved = append(proved, c.id)
				one = c
			}
		case module:
			tests = append(tests, c.pair)
			if len(reads) == 0 {
				if len(vs) > len(wbuf) {
					reads = make([]bool, len(vs))
				}
				reads = reads[:len(vs)]
			}
			for _, i := range c.reads {
				reads[i] = true
			}
		}
	}
	// input.va holds the lists the atoms left to the module read (a test's
	// probe gets every list the module reads itself).
	for i := range vs {
		if !vs[i].listed || !(p.keys != nil || len(reads) > 0 && reads[i]) {
			continue
		}
		if lists[i] == nil && raw[i].kind != vNone {
			l, ok := listOf(a, raw[i], vs[i].ci)
			if !ok {
				return nil, true
			}
			lists[i] = l
		}
		if lists[i] != nil {
			items = append(items, [2]*ast.Term{vs[i].key, lists[i]})
		}
	}
	if len(tests) == 0 && p.keys == nil {
		switch len(proved) {
		case 0:
			return noneFound, false
		case 1:
			return one.va1, false // shared: no object to build
		}
		return a.term(ast.NewObject([2]*ast.Term{kProved, a.term(ast.NewArray(slices.Clone(proved)...))})), false
	}
	pt := ast.InternedEmptyArray
	if len(proved) > 0 {
		pt = a.term(ast.NewArray(slices.Clone(proved)...))
	}
	// (A test's probe, which gets the keys, gets the lists too.)
	items = append(items, [2]*ast.Term{kProved, pt}, [2]*ast.Term{kTest, a.term(ast.NewArray(slices.Clone(tests)...))})
	return a.term(ast.NewObject(items...)), len(tests) > 0
}

// listOrRaw is list i if built, else the input's value.
func listOrRaw(lists []*ast.Term, raw []value, i int) value {
	if lists[i] != nil {
		return termValue(lists[i])
	}
	return raw[i]
}

// valueIn is the value of o at key k (nil if o is none or has no k).
func valueIn(o ast.Object, k *ast.Term) ast.Value {
	if o == nil {
		return nil
	}
	if t := o.Get(k); t != nil {
		return t.Value
	}
	return nil
}

// stringIn is the string of o at key k ("" if none).
func stringIn(o ast.Object, k *ast.Term) string {
	s, _ := valueIn(o, k).(ast.String)
	return string(s)
}

// listOf is the module's list of x (_vli with ci, else _vls): a string is
// one value, an array its strings and booleans (as their text), anything
// else none; lower-cased with ci. ok is false for a value whose text the
// engine does not write as the module does (a number).
func listOf(a *terms, x value, ci bool) (*ast.Term, bool) {
	switch x.kind {
	case vString:
		return stringList(a, x.s, ci), true
	case vStrings:
		switch len(x.ss) {
		case 0:
			return ast.InternedEmptyArray, true
		case 1:
			return stringList(a, x.ss[0], ci), true
		}
		out := make([]*ast.Term, len(x.ss))
		for i, s := range x.ss {
			out[i] = lowerText(a, s, ci)
		}
		return a.term(ast.NewArray(out...)), true
	case vNone:
		return nil, true
	}
	return listOfTerm(a, x.t, ci)
}

// stringList is [s] (lower-cased with ci), of the pool's terms if any.
func stringList(a *terms, s string, ci bool) *ast.Term {
	if a.pool != nil {
		if ci {
			return a.pool.lowerList(s)
		}
		return a.pool.list(s)
	}
	return a.term(ast.NewArray(lowerText(a, s, ci)))
}

// lowerText is the term of s, lower-cased with ci.
func lowerText(a *terms, s string, ci bool) *ast.Term {
	if !ci {
		return a.str(s)
	}
	if a.pool != nil {
		return a.pool.lower(s)
	}
	return a.str(strings.ToLower(s))
}

// listOfTerm is listOf of a term of the input.
func listOfTerm(a *terms, x *ast.Term, ci bool) (*ast.Term, bool) {
	switch v := x.Value.(type) {
	case ast.String:
		s := string(v)
		if a.pool != nil {
			if ci {
				return a.pool.lowerList(s), true
			}
			return a.pool.list(s), true
		}
		if ci {
			s = strings.ToLower(s)
		}
		if s == string(v) {
			return a.term(ast.NewArray(x)), true
		}
		return a.term(ast.NewArray(a.str(s))), true
	case *ast.Array:
		plain := true
		for i := range v.Len() {
			s, ok := v.Elem(i).Value.(ast.String)
			if !ok || ci && !isLower(string(s)) {
				plain = false
				break
			}
		}
		if plain {
			return x, true
		}
		out := make([]*ast.Term, 0, v.Len())
		for i := range v.Len() {
			t, ok := textOf(a, v.Elem(i), ci)
			if !ok {
				return nil, false
			}
			if t != nil {
				out = append(out, t)
			}
		}
		return a.term(ast.NewArray(out...)), true
	}
	t, ok := textOf(a, x, ci)
	if !ok {
		return nil, false
	}
	if t == nil {
		return ast.InternedEmptyArray, true
	}
	return a.term(ast.NewArray(t)), true
}

// textOf is _str(x), lower-cased with ci: a string itself, a boolean its
// text, anything else none (nil); ok is false for a number.
func textOf(a *terms, x *ast.Term, ci bool) (*ast.Term, bool) {
	switch v := x.Value.(type) {
	case ast.String:
		if !ci {
			return x, true
		}
		if a.pool != nil {
			return a.pool.lower(string(v)), true
		}
		if l := strings.ToLower(string(v)); l != string(v) {
			return a.str(l), true
		}
		return x, true
	case ast.Boolean:
		if v {
			return textTrue, true
		}
		return textFalse, true
	case ast.Number:
		return nil, false
	}
	return nil, true
}

// ruleBuckets are the resource types, actions and environments the
// indexed module has buckets for (its _dk bodies' guards): a decision
// of another type, action or environment reads no value list, and its
// input carries none (nil: every decision does). "" stands for any type
// or environment.
type ruleBuckets map[[3]string]bool

// ruleBucketsOf reads the guards of m's bucket bodies (_dk); nil when one
// has no action guard.
func ruleBucketsOf(m *ast.Module) ruleBuckets {
	if m == nil {
		return nil
	}
	b := ruleBuckets{}
	for _, r := range m.Rules {
		if name := r.Head.Ref()[0].String(); name != "_dk" && name != "_dk_star" {
			continue
		}
		var k [3]string // type, action, environment
		for _, e := range r.Body {
			if e.Negated || !e.IsCall() || !ast.Equal.Ref().Equal(e.Operator()) {
				continue
			}
			ts := e.Terms.([]*ast.Term)
			l, ok1 := ts[1].Value.(ast.Ref)
			v, ok2 := ts[2].Value.(ast.String)
			if !ok1 || !ok2 {
				continue
			}
			for i, ref := range guardRefs {
				if l.Equal(ref) {
					k[i] = string(v)
				}
			}
		}
		if k[1] == "" {
			return nil
		}
		b[k] = true
	}
	return b
}

// guardRefs are what a bucket body's guards compare: the resource type,
// the action and the environment.
var guardRefs = [3]ast.Ref{ast.MustParseRef("input.resource.type"), ast.MustParseRef("input.action"), ast.MustParseRef("input.context.environment")}

// reads reports whether a decision of resource type typ, action and
// environment env may read the value lists.
func (b ruleBuckets) reads(typ, action, env string) bool {
	if b == nil {
		return true
	}
	for _, t := range [2]string{typ, ""} {
		for _, e := range [2]string{env, ""} {
			if b[[3]string{t, action, e}] {
				return true
			}
		}
	}
	return false
}

// isLower reports whether strings.ToLower(s) == s, without building it
// for an ASCII s.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return strings.ToLower(s) == s
		case 'A' <= c && c <= 'Z':
			return false
		}
	}
	return true
}
