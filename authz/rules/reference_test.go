package rules

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// refEval is a reference evaluator written directly over the AST: the
// semantics the generated Rego must reproduce. It shares only parsing and
// the checker's path resolution with the compiler.
type refEval struct {
	x     *vocab
	rules []*analysis
}

const stubBuiltin = `package rulekeeper.builtin

grants contains {"kind": "table", "id": "stub"} if {
	some p in input.subject.attributes.priv
	p == concat(":", [input.resource.type, input.resource.id, input.action])
}
`

// builtin mirrors stubBuiltin: the subject's "priv" attribute lists the
// "type:id:action" triples the built-in policy grants.
func (r *refEval) builtin(in map[string]any) bool {
	typ, ok1 := get(in, "resource", "type").(string)
	id, ok2 := get(in, "resource", "id").(string)
	act, ok3 := in["action"].(string)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	want := typ + ":" + id + ":" + act
	privs, _ := get(in, "subject", "attributes", "priv").([]any)
	for _, p := range privs {
		if p == want {
			return true
		}
	}
	return false
}

// grants returns the sorted ids of the rules granting the input.
func (r *refEval) grants(in map[string]any) []string {
	var ids []string
	for _, a := range r.rules {
		if r.ruleGrants(a, in) {
			ids = append(ids, a.rule.ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func (r *refEval) anyGrant(in map[string]any) bool {
	return slices.ContainsFunc(r.rules, func(a *analysis) bool { return r.ruleGrants(a, in) })
}

func (r *refEval) knownType(typ string) *typeInfo {
	if t := r.x.types[typ]; t != nil && t.name == typ {
		return t
	}
	return nil
}

func (r *refEval) ruleGrants(a *analysis, in map[string]any) bool {
	typ, _ := get(in, "resource", "type").(string)
	id, idOK := get(in, "resource", "id").(string)
	match := false
	for _, t := range a.terms {
		switch t.Kind {
		case TermAll:
			match = true
		case TermType:
			match = match || t.typ == typ
		case TermID:
			match = match || (t.typ == typ && idOK && t.ID == id)
		case TermPrefix:
			if strings.HasPrefix(typ, t.prefix) {
				match = true
			} else if k := r.knownType(typ); k != nil {
				for _, al := range k.aliases {
					if strings.HasPrefix(al, t.prefix) {
						match = true
					}
				}
			}
		}
	}
	if !match {
		return false
	}
	act, _ := in["action"].(string)
	if !slices.Contains(a.actions, act) {
		return false
	}
	if a.context != ContextBoth {
		if env, _ := get(in, "context", "environment").(string); env != a.context {
			return false
		}
	}
	return a.cond == nil || r.eval(a, a.cond, in)
}

func (r *refEval) eval(a *analysis, e Expr, in map[string]any) bool {
	switch e := e.(type) {
	case *Logical:
		for _, x := range e.Operands {
			v := r.eval(a, x, in)
			if e.Op == And && !v {
				return false
			}
			if e.Op == Or && v {
				return true
			}
		}
		return e.Op == And
	case *Not:
		return !r.eval(a, e.X, in)
	case *Compare:
		return refCompare(e.Op, r.operand(a, e.Left, in), r.operand(a, e.Right, in))
	case *Call:
		c := a.calls[e]
		switch c.fn {
		case fnIsAnonymous:
			return get(in, "subject", "anonymous") == true
		case fnIsOwned:
			return hasValue(getPath(in, c.ref))
		case fnEmpty:
			return !hasValue(getPath(in, c.ref))
		case fnHasPrivilege:
			typ, _ := get(in, "resource", "type").(string)
			t := r.knownType(typ)
			if t == nil {
				return false
			}
			nav := t.related
			if c.nav != nil {
				nav = t.navs[c.nav.name]
			}
			if nav == nil {
				return false
			}
			rel, ok := relatedResource(in, nav)
			if !ok {
				return false
			}
			nested := maps.Clone(in)
			nested["resource"] = rel
			nested["action"] = c.action
			return r.builtin(nested) || r.anyGrant(nested)
		}
	}
	panic(fmt.Sprintf("reference: %T", e))
}

// relatedResource builds the related resource the way Navigation documents.
func relatedResource(in map[string]any, nav *navInfo) (map[string]any, bool) {
	res, _ := in["resource"].(map[string]any)
	n, ok := res[nav.field].(map[string]any)
	if !ok {
		return nil, false
	}
	out := map[string]any{}
	for _, c := range nav.carry {
		if v, ok := res[c]; ok {
			out[c] = v
		}
	}
	maps.Copy(out, n)
	for from, to := range nav.copy {
		if v, ok := n[from]; ok {
			out[to] = v
		}
	}
	out["type"] = nav.target
	return out, true
}

func (r *refEval) operand(a *analysis, o Operand, in map[string]any) []string {
	switch o := o.(type) {
	case *Literal:
		return []string{o.Value}
	case *Path:
		return values(getPath(in, a.refs[o]))
	}
	return nil
}

func get(v any, path ...string) any { return getPath(v, path) }

func getPath(v any, path []string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v, ok = m[p]
		if !ok {
			return nil
		}
	}
	return v
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// values is an attribute as a list of strings.
func values(v any) []string {
	if arr, ok := v.([]any); ok {
		var out []string
		for _, x := range arr {
			if s, ok := scalarText(x); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := scalarText(v); ok {
		return []string{s}
	}
	return nil
}

func hasValue(v any) bool {
	return slices.ContainsFunc(values(v), func(s string) bool { return s != "" })
}

func refCompare(op CompareOp, a, b []string) bool {
	any2 := func(f func(x, y string) bool) bool {
		for _, x := range a {
			for _, y := range b {
				if f(x, y) {
					return true
				}
			}
		}
		return false
	}
	switch op {
	case OpEq:
		return any2(func(x, y string) bool { return strings.ToLower(x) == strings.ToLower(y) })
	case OpNe:
		return !refCompare(OpEq, a, b)
	case OpEqCase:
		return any2(func(x, y string) bool { return x == y })
	case OpNeCase:
		return !refCompare(OpEqCase, a, b)
	case OpLike:
		return any2(func(x, y string) bool { return globMatch([]rune(strings.ToLower(y)), []rune(strings.ToLower(x))) })
	case OpMatches:
		return any2(func(x, y string) bool {
			re, err := regexp.Compile(`^(?:` + y + `)$`)
			return err == nil && re.MatchString(x)
		})
	}
	panic("op")
}

// globMatch is a plain backtracking wildcard matcher (* any run, ? one rune),
// deliberately unlike the compiler's translation to Rego builtins.
func globMatch(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && globMatch(p[1:], s[1:])
	}
	return len(s) > 0 && s[0] == p[0] && globMatch(p[1:], s[1:])
}
