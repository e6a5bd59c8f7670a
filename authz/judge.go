package authz

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// A decision is the union of two parts (policies/CONTRACT.md): the
// built-in grants and the gates, which do not depend on the security rules,
// and the rules' grants. An analysis evaluates millions of decisions over
// the same resources for many similar users, so a judge splits them:
//
//   - the rule-independent part is evaluated by OPA and remembered per
//     resource, action, environment and the few subject properties the
//     static policy reads (status, license, roles, anonymous, the roles in
//     the resource's spaces, and the subject's id or group ids only where
//     they appear in the resource) — equal inputs as far as the policy can
//     see, so equal answers;
//   - the rules' grants come from the RuleMatchers when every rule is
//     decided definitely, and from OPA otherwise (HasPrivilege, …).
//
// Both shortcuts are checked: the policy is scanned once for what it reads
// of input.subject (anything else disables the memo), and every
// verifyEvery-th fast decision is compared with OPA's full decision; a
// difference aborts with errMismatch and the analysis starts again with
// OPA alone.

// verifyEvery is how often a fast decision is checked against OPA.
const verifyEvery = 97

// subjectFields are the subject properties the rule-independent part may
// read for the memo to hold.
var subjectFields = map[string]bool{"id": true, "spaces": true, "roles": true, "license": true, "flagged": true,
	"anonymous": true, "status": true, "groupIds": true}

// PartsQuery is the rule-independent part of a decision.
const PartsQuery = `x := {"grants": data.rulekeeper.builtin.grants, "denies": data.rulekeeper.gates.denies}`

// memoizable reports whether the static policies read only subjectFields
// of input.subject, spaces only by index, and input itself only by name.
func memoizable(c *compiled) bool {
	ok := true
	for name, m := range c.compiler.Modules {
		if name == GeneratedModuleName {
			continue
		}
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if !ref[0].Equal(ast.InputRootDocument) {
				return false
			}
			if len(ref) == 1 {
				ok = false // input as a whole
				return true
			}
			root, isStr := ref[1].Value.(ast.String)
			if !isStr {
				ok = false
				return true
			}
			if root != "subject" {
				return false
			}
			if len(ref) < 3 {
				ok = false
				return true
			}
			field, isStr := ref[2].Value.(ast.String)
			if !isStr || !subjectFields[string(field)] || (field == "spaces" && len(ref) < 4) {
				ok = false
			}
			return false
		})
	}
	return ok
}

type part struct {
	grants []Grant
	denies []Deny
}

// judge decides triples under one rule set, fast where it safely can.
type judge struct {
	rels    sync.Map // relKey → *relTarget
	ev      *Evaluator
	parts   rego.PreparedEvalQuery
	byType  map[string][]*RuleMatcher // enabled rules that may select a type
	exact   bool
	memo    *partMemo
	checked atomic.Int64
	// counters
	evaluated atomic.Int64 // OPA evaluations
	fallbacks atomic.Int64 // rule grants OPA had to evaluate (a matcher undecided)
}

// partMemo is shared by the judges of one analysis: the rule-independent
// part is the same under every rule set.
type partMemo struct {
	mu sync.Mutex
	m  map[string]part
}

func newJudge(ctx context.Context, ev *Evaluator, set []rules.Rule, vocab *rules.Vocabulary, types []string, memo *partMemo, exact bool) (*judge, error) {
	if vocab == nil {
		vocab = rules.DefaultVocabulary()
	}
	j := &judge{ev: ev, exact: exact || !memoizable(ev.c), memo: memo, byType: map[string][]*RuleMatcher{}}
	if j.exact {
		return j, nil
	}
	pq, err := rego.New(rego.Query(PartsQuery), rego.Compiler(ev.c.compiler), rego.Store(ev.c.store),
		rego.StoreReadAST(true)).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: prepare the rule-independent query: %w", err)
	}
	j.parts = pq
	// Rules the compiler leaves out (errors, HasPrivilege cycles) grant nothing.
	_, diags := rules.CompileModule(set, vocab)
	left := map[string]bool{}
	for _, d := range diags {
		if d.RuleID != "" && d.Severity != rules.SeverityWarning {
			left[d.RuleID] = true
		}
	}
	ms := make([]*RuleMatcher, 0, len(set))
	mv := newMatcherVocab(vocab)
	for _, r := range set {
		if m := mv.match(r); m.Valid() && !left[r.ID] {
			ms = append(ms, m)
		}
	}
	types = slices.Clone(types)
	for _, t := range vocab.ResourceTypes {
		types = append(types, strings.ToLower(t.Name))
	}
	slices.Sort(types)
	for _, t := range slices.Compact(types) {
		for _, m := range ms {
			if m.Selects(t, "") != False {
				j.byType[t] = append(j.byType[t], m)
			}
		}
	}
	return j, nil
}

// memoKey is the subject as far as the rule-independent part can see it.
func memoKey(b *strings.Builder, s *Subject, strs map[string]bool, ident, action, env string) {
	b.Reset()
	b.WriteString(ident)
	for _, v := range []string{action, env, s.Status, s.License.Type} {
		b.WriteByte(0)
		b.WriteString(v)
	}
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(s.Anonymous) + strconv.FormatBool(s.License.Excluded) + strconv.FormatBool(s.License.CapacityExhausted))
	roles := slices.Sorted(slices.Values(s.Roles))
	for _, x := range roles {
		b.WriteString("\x00r")
		b.WriteString(x)
	}
	if strs[s.ID] {
		b.WriteString("\x00i")
		b.WriteString(s.ID)
	}
	for _, g := range s.GroupIDs {
		if strs[g] {
			b.WriteString("\x00g")
			b.WriteString(g)
		}
	}
	var sps []string
	for sp := range s.Spaces {
		if strs[sp] {
			sps = append(sps, sp)
		}
	}
	slices.Sort(sps)
	for _, sp := range sps {
		b.WriteString("\x00s")
		b.WriteString(sp)
		for _, role := range s.Spaces[sp] {
			b.WriteByte(1)
			b.WriteString(role)
		}
	}
}

// strings of a resource: every string value in it, where a subject's id,
// group ids or space ids could be compared.
func resourceStrings(t *Target) map[string]bool {
	out := map[string]bool{}
	var walk func(v ast.Value)
	walk = func(v ast.Value) {
		switch v := v.(type) {
		case ast.String:
			out[string(v)] = true
		case ast.Object:
			v.Foreach(func(_, x *ast.Term) { walk(x.Value) })
		case *ast.Array:
			v.Foreach(func(x *ast.Term) { walk(x.Value) })
		case ast.Set:
			v.Foreach(func(x *ast.Term) { walk(x.Value) })
		}
	}
	walk(t.obj)
	delete(out, "")
	return out
}

func (j *judge) part(ctx context.Context, st, rt *Target, s *Subject, strs map[string]bool, ident, action, env string) (part, error) {
	var b strings.Builder
	memoKey(&b, s, strs, ident, action, env)
	key := b.String()
	j.memo.mu.Lock()
	p, ok := j.memo.m[key]
	j.memo.mu.Unlock()
	if ok {
		return p, nil
	}
	j.evaluated.Add(1)
	rs, err := j.parts.Eval(ctx, rego.EvalParsedInput(inputOf(st, rt, action, env)))
	if err != nil {
		return part{}, fmt.Errorf("authz: evaluate the built-in grants and gates: %w", err)
	}
	if len(rs) != 1 {
		return part{}, errors.New("authz: the built-in grants and gates are undefined")
	}
	x, _ := rs[0].Bindings["x"].(map[string]any)
	gs, _ := x["grants"].([]any)
	ds, _ := x["denies"].([]any)
	for _, g := range gs {
		m, _ := g.(map[string]any)
		p.grants = append(p.grants, Grant{Kind: asString(m["kind"]), ID: asString(m["id"]), Name: asString(m["name"])})
	}
	for _, d := range ds {
		m, _ := d.(map[string]any)
		p.denies = append(p.denies, Deny{Kind: asString(m["kind"]), Reason: asString(m["reason"])})
	}
	j.memo.mu.Lock()
	j.memo.m[key] = p
	j.memo.mu.Unlock()
	return p, nil
}

// ruleGrants are the rules' grants: from the matchers when all are
// definite, from OPA otherwise.
func (j *judge) ruleGrants(ctx context.Context, st, rt *Target, s *Subject, r *Resource, action, env string) ([]Grant, error) {
	var out []Grant
	for _, m := range j.byType[r.Type] {
		if !m.HasAction(action) || !m.InEnvironment(env) {
			continue
		}
		sel := m.Selects(r.Type, r.ID)
		if sel == False {
			continue
		}
		var priv Privilege
		if m.HasPrivilege {
			priv = j.privilege(ctx, s, st, rt, env, 0)
		}
		switch min(sel, m.ConditionWith(st, rt, priv)) {
		case True:
			out = append(out, Grant{Kind: "rule", ID: m.Rule.ID, Name: m.Rule.Name})
		case Unknown:
			j.evaluated.Add(1)
			j.fallbacks.Add(1)
			return j.ev.ruleGrantsValue(ctx, inputOf(st, rt, action, env))
		}
	}
	return out, nil
}

// decide is the decision for one triple.
func (j *judge) decide(ctx context.Context, st, rt *Target, s *Subject, r *Resource, strs map[string]bool, ri int, action, env string) (Decision, error) {
	// The rule-independent part is prepared on the engine's compilation,
	// which leaves out the rules for unknown license types (prune.go):
	// such a subject is decided in full (evalValue picks the policy as
	// written for it).
	if j.exact || j.ev.c.closed && !knownLicense(s.License.Type) {
		j.evaluated.Add(1)
		return j.ev.evalValue(ctx, inputOf(st, rt, action, env))
	}
	p, err := j.part(ctx, st, rt, s, strs, "#"+strconv.Itoa(ri), action, env)
	if err != nil {
		return Decision{}, err
	}
	rg, err := j.ruleGrants(ctx, st, rt, s, r, action, env)
	if err != nil {
		return Decision{}, err
	}
	grants := make([]Grant, 0, len(p.grants)+len(rg))
	grants = append(append(grants, p.grants...), rg...)
	// One table row can grant twice, once per role (a space's owner who
	// is also a viewer): those grants differ only in their names.
	slices.SortFunc(grants, compareGrants)
	grants = slices.Compact(grants)
	d := Decision{Allow: len(grants) > 0 && len(p.denies) == 0, Grants: grants, Denies: p.denies, Revision: j.ev.c.revision}
	if d.Denies == nil {
		d.Denies = []Deny{}
	}
	if j.checked.Add(1)%verifyEvery == 0 {
		j.evaluated.Add(1)
		want, err := j.ev.evalValue(ctx, inputOf(st, rt, action, env))
		if err != nil {
			return Decision{}, err
		}
		if !sameDecision(d, want) {
			return Decision{}, fmt.Errorf("%w: %s %s %s %s: fast %+v, policy %+v", errMismatch, s.ID, r.ID, action, env, d, want)
		}
	}
	return d, nil
}

// maxPrivilegeDepth bounds nested HasPrivilege (the strata are few).
const maxPrivilegeDepth = 4

type relKey struct {
	t   *Target
	nav string
}

type relTarget struct {
	t     *Target // nil: the resource has no such related object
	ident string
	strs  map[string]bool
}

// related builds the related resource of rt through nav as the generated
// Rego does: the carried fields of the resource, overlaid with the
// navigation object, overlaid with the copied fields, with the type set.
func (j *judge) related(rt *Target, nav *rules.Navigation) *relTarget {
	k := relKey{rt, nav.Name}
	if v, ok := j.rels.Load(k); ok {
		return v.(*relTarget)
	}
	out := &relTarget{}
	if n := rt.obj.Get(ast.StringTerm(nav.Field)); n != nil {
		if no, ok := n.Value.(ast.Object); ok {
			base := ast.NewObject()
			for _, c := range nav.Carry {
				if v := rt.obj.Get(ast.StringTerm(c)); v != nil {
					base.Insert(ast.StringTerm(c), v)
				}
			}
			rel := union(base, no)
			cp := ast.NewObject()
			for from, to := range nav.Copy {
				if v := no.Get(ast.StringTerm(from)); v != nil {
					cp.Insert(ast.StringTerm(to), v)
				}
			}
			rel = union(rel, cp)
			rel = union(rel, ast.NewObject([2]*ast.Term{ast.StringTerm("type"), ast.StringTerm(nav.Type)}))
			t := &Target{obj: rel, term: ast.NewTerm(rel)}
			out = &relTarget{t: t, ident: "@" + rel.String(), strs: resourceStrings(t)}
		}
	}
	j.rels.Store(k, out)
	return out
}

// union is object.union: b's values win, objects on both sides merge.
func union(a, b ast.Object) ast.Object {
	out := ast.NewObject()
	a.Foreach(func(k, v *ast.Term) {
		if bv := b.Get(k); bv != nil {
			ao, aok := v.Value.(ast.Object)
			bo, bok := bv.Value.(ast.Object)
			if aok && bok {
				out.Insert(k, ast.NewTerm(union(ao, bo)))
			} else {
				out.Insert(k, bv)
			}
			return
		}
		out.Insert(k, v)
	})
	b.Foreach(func(k, v *ast.Term) {
		if a.Get(k) == nil {
			out.Insert(k, v)
		}
	})
	return out
}

// privilege answers HasPrivilege in Go: the built-in grants on the
// related resource (memoized, as for any resource) or a grant of any rule
// that may grant the action on it — the generated Rego reads the rules of
// lower strata, which are exactly those (rules on a cycle are left out).
// Gates do not count, as in the Rego.
func (j *judge) privilege(ctx context.Context, s *Subject, st, rt *Target, env string, depth int) Privilege {
	return func(nav *rules.Navigation, action string) Tri {
		if depth >= maxPrivilegeDepth {
			return Unknown
		}
		rel := j.related(rt, nav)
		if rel.t == nil {
			return False
		}
		p, err := j.part(ctx, st, rel.t, s, rel.strs, rel.ident, action, env)
		if err != nil {
			return Unknown // OPA answers instead, and reports the error
		}
		if len(p.grants) > 0 {
			return True
		}
		typ := nav.Type
		ids := values(rel.t.obj, []string{"id"})
		id := ""
		if len(ids) == 1 {
			id = ids[0]
		}
		out := False
		for _, m := range j.byType[typ] {
			if !m.HasAction(action) || !m.InEnvironment(env) {
				continue
			}
			sel := m.Selects(typ, id)
			if sel == False {
				continue
			}
			var priv Privilege
			if m.HasPrivilege {
				priv = j.privilege(ctx, s, st, rel.t, env, depth+1)
			}
			t := min(sel, m.ConditionWith(st, rel.t, priv))
			if t == True {
				return True
			}
			out = max(out, t)
		}
		return out
	}
}

func sameDecision(a, b Decision) bool {
	ga := slices.Clone(a.Grants)
	gb := slices.Clone(b.Grants)
	slices.SortFunc(ga, compareGrants)
	slices.SortFunc(gb, compareGrants)
	da, db := slices.Clone(a.Denies), slices.Clone(b.Denies)
	dk := func(x, y Deny) int { return cmp.Compare(x.Reason, y.Reason) }
	slices.SortFunc(da, dk)
	slices.SortFunc(db, dk)
	return a.Allow == b.Allow && slices.Equal(ga, gb) &&
		slices.EqualFunc(da, db, func(x, y Deny) bool { return x.Reason == y.Reason })
}

// compareGrants orders grants by kind, id and name.
func compareGrants(x, y Grant) int {
	return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.ID, y.ID), cmp.Compare(x.Name, y.Name))
}

var errMismatch = errors.New("authz: the fast path and the policy disagree")
