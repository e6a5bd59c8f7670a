package authz

import (
	"context"
	"regexp"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// HasPrivilege of the indexed rules, decided apart.
//
// A rule compiled to Rego that calls HasPrivilege (resource.space.
// HasPrivilege("update")) reaches, through its _g body, a helper of the
// module (_p<stratum>_<n>) that evaluates the built-in policy and the
// rules of lower strata on the related resource under with: input.
// resource and input.action replaced, input.va false. OPA evaluates
// everything under with anew (no rule cache is shared with the decision),
// and with input.va false the rules module finds the related resource's
// candidates in Rego: such a decision cost ~300 µs instead of ~35. When
// the candidates the engine found (ruleValueTerm) include such a rule,
// the engine evaluates the helpers that rule reads itself, each as the
// top-level queries of its bodies on the related input (the same subject
// and context, the related resource and the helper's action, and the
// candidates of the related resource found in Go), and hands the module
// their answers (input.va[rules.PrivID]), which the helpers return instead
// of evaluating their bodies.

// privPlan is what a plan knows of the module's HasPrivilege helpers.
type privPlan struct {
	// byRule are the helpers each rule compiled to Rego reads (its _g
	// bodies), by rule id.
	byRule map[string][]*privHelper
}

// A privHelper is one helper (_p<stratum>_<n>): its related resource (a
// query binding allowVar to it) and action, and the queries of its
// bodies, any of which has a result when the privilege is granted.
type privHelper struct {
	name    *ast.Term
	rel     ast.Body
	action  *ast.Term
	queries []ast.Body
}

var (
	privName   = regexp.MustCompile(`^_p[0-9]+_[0-9]+$`)
	strataName = regexp.MustCompile(`^_g[0-9]+$`)
)

// newPrivPlan reads the helpers of the generated module of compiler (nil
// if it has none, or one this reading does not understand: the module
// then evaluates them all itself).
func newPrivPlan(compiler *ast.Compiler) *privPlan {
	m := compiler.Modules[GeneratedModuleName]
	if m == nil {
		return nil
	}
	pkg := m.Package.Path
	helpers := map[string]*privHelper{}
	for _, r := range m.Rules {
		ref := r.Head.Ref()
		if len(ref) != 1 || !privName.MatchString(ref[0].String()) || len(r.Head.Args) > 0 {
			continue
		}
		name := ref[0].String()
		h := helpers[name]
		if h == nil {
			h = &privHelper{name: ast.StringTerm(name)}
			helpers[name] = h
		}
		// The given answer's body (one expression, no with) reads input.va.
		var rel, call *ast.Expr
		for _, e := range r.Body {
			switch {
			case len(e.With) > 0:
				call = e
			case e.IsAssignment() || e.IsEquality():
				rel = e
			}
		}
		if call == nil {
			continue
		}
		if rel == nil || len(call.With) != 3 {
			return nil
		}
		relRef, ok := rel.Operand(1).Value.(ast.Ref)
		if !ok {
			return nil
		}
		target, ok := call.Terms.(*ast.Term)
		if !ok {
			return nil
		}
		for _, w := range call.With {
			if w.Target.String() == "input.action" {
				h.action = w.Value
			}
		}
		if h.action == nil {
			return nil
		}
		qc := compiler.QueryCompiler()
		rq, err := qc.Compile(ast.NewBody(ast.Equality.Expr(ast.VarTerm(string(allowVar)), ast.NewTerm(relRef))))
		if err != nil {
			return nil
		}
		h.rel = rq
		q, err := compiler.QueryCompiler().Compile(ast.NewBody(ast.NewExpr(target.Copy())))
		if err != nil {
			return nil
		}
		h.queries = append(h.queries, q)
	}
	if len(helpers) == 0 {
		return nil
	}
	pp := &privPlan{byRule: map[string][]*privHelper{}}
	for _, r := range m.Rules {
		ref := r.Head.Ref()
		if len(ref) != 2 || !strataName.MatchString(ref[0].String()) {
			continue
		}
		id, ok := ref[1].Value.(ast.String)
		if !ok {
			continue
		}
		ast.WalkRefs(r.Body, func(x ast.Ref) bool {
			if len(x) == len(pkg)+1 && x.HasPrefix(pkg) {
				if h := helpers[stringOf(x[len(pkg)])]; h != nil {
					pp.byRule[string(id)] = appendOnce(pp.byRule[string(id)], h)
				}
			}
			return false
		})
	}
	for _, h := range helpers {
		if h.rel == nil || len(h.queries) == 0 {
			return nil
		}
	}
	return pp
}

func appendOnce(hs []*privHelper, h *privHelper) []*privHelper {
	for _, x := range hs {
		if x == h {
			return hs
		}
	}
	return append(hs, h)
}

// withPrivileges is input with, in input.va, the answers of the helpers
// the rules compiled to Rego among its candidates (input.va[rules.TestID],
// atoms ["g", id]) read; input itself when there are none.
func (c *compiled) withPrivileges(ctx context.Context, p *plan, input *ast.Term, a *terms) *ast.Term {
	pp := p.priv
	if pp == nil || c.proj == nil {
		return input
	}
	obj := input.Value.(ast.Object)
	va := objectOf(obj.Get(kValues))
	if va == nil {
		return input
	}
	t := va.Get(kTest)
	if t == nil {
		return input
	}
	tests, ok := t.Value.(*ast.Array)
	if !ok {
		return input
	}
	var helpers []*privHelper
	tests.Foreach(func(t *ast.Term) {
		atom, ok := t.Value.(*ast.Array).Elem(1).Value.(*ast.Array)
		if ok && atom.Len() == 2 && stringOf(atom.Elem(0)) == "g" {
			for _, h := range pp.byRule[stringOf(atom.Elem(1))] {
				helpers = appendOnce(helpers, h)
			}
		}
	})
	if len(helpers) == 0 {
		return input
	}
	c.guard.RLock()
	defer c.guard.RUnlock()
	var roots [][2]*ast.Term // the input's items but va
	obj.Foreach(func(k, v *ast.Term) {
		if !k.Equal(kValues) {
			roots = append(roots, [2]*ast.Term{k, v})
		}
	})
	given := make([][2]*ast.Term, 0, len(helpers))
	for _, h := range helpers {
		v, ok := c.privilege(ctx, p, h, input, roots, a)
		if !ok {
			continue // the module evaluates it
		}
		given = append(given, [2]*ast.Term{h.name, ast.InternedTerm(v)})
	}
	if len(given) == 0 {
		return input
	}
	nva := va.Copy()
	nva.Insert(kPriv, ast.NewTerm(ast.NewObject(given...)))
	out := make([][2]*ast.Term, 0, len(roots)+1)
	out = append(append(out, roots...), [2]*ast.Term{kValues, ast.NewTerm(nva)})
	return ast.NewTerm(ast.NewObject(out...))
}

var kPriv = ast.StringTerm(rules.PrivID)

// privilege evaluates the helper h on input (its items but va: roots) as
// its bodies do, at the top level; ok is false when it could not (the
// module evaluates it then).
func (c *compiled) privilege(ctx context.Context, p *plan, h *privHelper, input *ast.Term, roots [][2]*ast.Term, a *terms) (granted, ok bool) {
	cancel := cancelOf(ctx)
	rc := getRuleCache()
	err := c.run(ctx, p, h.rel, input, rc, cancel)
	rel := rc.result.allow
	rc.release()
	if err != nil {
		return false, false
	}
	if rel == nil {
		return false, true // no related resource: no body holds
	}
	related := make([][2]*ast.Term, 0, len(roots)+1)
	for _, r := range roots {
		switch {
		case r[0].Equal(kResource):
			r[1] = rel
		case r[0].Equal(kAction):
			r[1] = h.action
		}
		related = append(related, r)
	}
	// The candidates of the related resource, found in Go as for any
	// input (none given: the module finds them).
	if va, _ := ruleValueTerm(a, related, c.proj.values, nil); va != nil {
		related = append(related, [2]*ast.Term{kValues, va})
	}
	in := ast.NewTerm(ast.NewObject(related...))
	for _, q := range h.queries {
		rc := getRuleCache()
		err := c.run(ctx, p, q, in, rc, cancel)
		n := rc.result.n
		rc.release()
		if err != nil {
			return false, false
		}
		if n > 0 {
			return true, true
		}
	}
	return false, true
}
