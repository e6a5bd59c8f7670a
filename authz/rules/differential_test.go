package rules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// gen produces random rules and inputs over a small universe, so that
// rules and inputs meet often.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

var (
	genPaths = []string{
		"user", "user.name", "user.userId", "user.group", "user.roles", "user.@dept", "user.email",
		"user.environment.browser", "resource.name", "resource.id", "resource.owner", "resource.@tag",
		"resource.resourcetype", "resource.space.name", "resource.space.owner", "resource.space",
		"resource.stream.type", "resource.app.owner", "resource.app.name", "resource.objectType",
		"resource.public", "user.@level",
	}
	genValues = []string{
		"Sales", "sales", "SALES", "u1", "U1", "Q4 report", "q4 REPORT", "Finance", "", "true", "3",
		"s1", "a1", "hub", "Chrome", "shared", "sheet", "émile", "ÉMILE",
	}
	genLike    = []string{"q*", "*report", "*", "?1", "fin*", "*ale*", "s?les", "", "**", "a*b?c", "q4 report", "*.*", "[x]*"}
	genRegex   = []string{"Q.*", "(?i)q.*", "[a-z]+", "fin-.*", "u[0-9]", "s|a1", ".*", "S.l.s", ""}
	genActions = []string{"read", "update", "publish"}
	genFilters = []string{
		"App_*", "App.Object_*", "Stream_*", "Space_s1", "App_a1", "App*", "A*", "S*", "*",
		"DataConnection_*", "User_*", "app.object_o1", "St*",
	}
)

func (g gen) operand() string {
	if g.r.IntN(3) == 0 {
		return Quote(g.pick(genValues...))
	}
	return g.pick(genPaths...)
}

func (g gen) cond(depth int) string {
	n := g.r.IntN(10)
	if depth <= 0 && n < 6 {
		n = 6 + g.r.IntN(4)
	}
	switch n {
	case 0, 1:
		return g.cond(depth-1) + g.pick(" and ", " && ", " AND ") + g.cond(depth-1)
	case 2, 3:
		return g.cond(depth-1) + g.pick(" or ", " || ", " Or ") + g.cond(depth-1)
	case 4:
		return "!" + g.cond(depth-1)
	case 5:
		return "(" + g.cond(depth-1) + ")"
	case 6:
		return g.pick(genPaths...) + " " + g.pick("=", "!=", "==", "!==") + " " + g.operand()
	case 7:
		switch g.r.IntN(3) {
		case 0:
			return g.pick(genPaths...) + " " + g.pick("like", "LIKE") + " " + Quote(g.pick(genLike...))
		case 1:
			return g.pick(genPaths...) + " matches " + Quote(g.pick(genRegex...))
		}
		return g.operand() + " " + g.pick("=", "!=") + " " + g.pick(genPaths...)
	default:
		return g.pick(
			`resource.HasPrivilege("read")`, `resource.HasPrivilege("update")`, `resource.app.HasPrivilege("read")`,
			`resource.space.HasPrivilege("read")`, `resource.stream.hasprivilege("publish")`, `resource.IsOwned()`,
			`resource.app.IsOwned()`, `user.@dept.Empty()`, `resource.space.Empty()`, `user.IsAnonymous()`,
			`resource.@tag.empty()`,
		)
	}
}

func (g gen) rule(i int) Rule {
	var terms []string
	for range 1 + g.r.IntN(2) {
		terms = append(terms, g.pick(genFilters...))
	}
	var acts []string
	for _, a := range genActions {
		if g.r.IntN(2) == 0 {
			acts = append(acts, a)
		}
	}
	if len(acts) == 0 {
		acts = []string{"read"}
	}
	cond := ""
	if g.r.IntN(8) != 0 {
		cond = g.cond(1 + g.r.IntN(3))
	}
	return Rule{
		ID: fmt.Sprintf("r%d", i), Name: fmt.Sprintf("rule \"%d\"\n", i),
		ResourceFilter: strings.Join(terms, ", "), Condition: cond, Actions: acts,
		Context: g.pick("hub", "console", "both", ""),
	}
}

func (g gen) strs(pool ...string) any {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return g.pick(pool...)
	}
	var out []any
	for range g.r.IntN(3) {
		out = append(out, g.pick(pool...))
	}
	if g.r.IntN(6) == 0 {
		out = append(out, 3, true)
	}
	return out
}

func put(m map[string]any, k string, v any) {
	if v != nil {
		m[k] = v
	}
}

func (g gen) input() map[string]any {
	subj := map[string]any{}
	put(subj, "id", g.pick("u1", "u2", "U1"))
	put(subj, "name", g.strs("Sales", "u1", "émile", "q4 report"))
	put(subj, "email", g.strs("a@x", ""))
	put(subj, "groups", g.strs("Sales", "sales", "EMEA", "Finance"))
	put(subj, "roles", g.strs("TenantAdmin", "Sales"))
	if g.r.IntN(4) == 0 {
		subj["anonymous"] = true
	}
	attrs := map[string]any{}
	put(attrs, "dept", g.strs("Sales", "finance", ""))
	if g.r.IntN(4) == 0 {
		attrs["level"] = g.r.IntN(4)
	}
	var privs []any
	for range g.r.IntN(4) {
		privs = append(privs, g.pick("app", "space", "app.object")+":"+g.pick("a1", "s1", "o1")+":"+g.pick(genActions...))
	}
	if privs != nil {
		attrs["priv"] = privs
	}
	subj["attributes"] = attrs

	res := map[string]any{}
	typ := g.pick("app", "app.object", "space", "stream", "dataconnection", "user", "apple")
	put(res, "type", typ)
	put(res, "id", g.pick("a1", "s1", "o1", "x"))
	put(res, "name", g.strs("Q4 report", "q1", "Finance", "fin-x", "Sales", "", "a-b.c", "[x]yz"))
	put(res, "owner", g.strs("u1", "u2", "U1", ""))
	rattrs := map[string]any{}
	put(rattrs, "tag", g.strs("finance", "Sales", "x"))
	res["attributes"] = rattrs
	if g.r.IntN(2) == 0 {
		res["objectType"] = g.pick("sheet", "story")
		res["public"] = g.r.IntN(2) == 0
	}
	if g.r.IntN(4) != 0 {
		sp := map[string]any{"id": g.pick("s1", "s2")}
		put(sp, "name", g.strs("Sales", "shared", "Finance"))
		put(sp, "type", g.pick("shared", "managed"))
		put(sp, "owner", g.strs("u1", "u2"))
		res["space"] = sp
	}
	if g.r.IntN(3) != 0 {
		app := map[string]any{"id": g.pick("a1", "a2")}
		put(app, "name", g.strs("Q4 report", "Sales"))
		put(app, "owner", g.strs("u1", "U1"))
		app["spaceId"] = "s1"
		res["app"] = app
	}
	ctx := map[string]any{}
	if g.r.IntN(5) != 0 {
		ctx["environment"] = g.pick("hub", "console")
	}
	put(ctx, "browser", g.strs("Chrome", "chrome"))
	return map[string]any{"subject": subj, "resource": res, "action": g.pick(genActions...), "context": ctx}
}

func prepare(t testing.TB, module string, extra ...string) rego.PreparedEvalQuery {
	t.Helper()
	return prepareWith(t, module, func(*rego.Rego) {}, extra...)
}

// prepareWith prepares the grants query of module with opt (a store) and
// extra modules.
func prepareWith(t testing.TB, module string, opt func(*rego.Rego), extra ...string) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){
		rego.Query("data.rulekeeper.rules.grants"),
		rego.Module("generated/rules.rego", module),
		rego.StrictBuiltinErrors(true),
		opt,
	}
	for i, m := range extra {
		opts = append(opts, rego.Module(fmt.Sprintf("extra%d.rego", i), m))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, module)
	}
	return pq
}

func evalGrants(t testing.TB, pq rego.PreparedEvalQuery, in map[string]any) []string {
	t.Helper()
	v, err := ast.InterfaceToValue(in)
	if err != nil {
		t.Fatal(err)
	}
	return evalValue(t, pq, v)
}

// evalValue is evalGrants of an input already converted.
func evalValue(t testing.TB, pq rego.PreparedEvalQuery, v ast.Value) []string {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(v))
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("grants undefined: %v", rs)
	}
	var ids []string
	for _, g := range rs[0].Expressions[0].Value.([]any) {
		ids = append(ids, g.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// TestDifferential compares OPA's evaluation of the generated Rego with the
// reference evaluator over thousands of random rules and inputs.
func TestDifferential(t *testing.T) {
	modules, rulesPer, inputsPer := 250, 16, 40
	if testing.Short() {
		modules = 40
	}
	g := gen{newRand(20240601)}
	start := time.Now()
	var nRules, nAccepted, nEvals, nGranted, nPriv int
	for m := range modules {
		var rs []Rule
		for i := range rulesPer {
			rs = append(rs, g.rule(m*rulesPer+i))
		}
		p := build(rs, nil, true)
		mod := emit(p.units, p.x, p.n)
		nRules += len(rs)
		nAccepted += len(p.rules)
		for _, a := range p.rules {
			if len(a.privs) > 0 {
				nPriv++
			}
		}
		pq := prepare(t, mod, stubBuiltin)
		ref := &refEval{x: p.x, rules: p.rules}
		for range inputsPer {
			in := g.input()
			got := evalGrants(t, pq, in)
			want := ref.grants(in)
			nEvals++
			if len(want) > 0 {
				nGranted++
			}
			if !slices.Equal(got, want) {
				var b strings.Builder
				for _, a := range p.rules {
					r := a.rule
					fmt.Fprintf(&b, "  %s filter=%q actions=%v context=%q\n      %s\n", r.ID, r.ResourceFilter, r.Actions, r.Context, r.Condition)
				}
				t.Fatalf("module %d: OPA %v, reference %v\ninput %v\nrules:\n%s\nmodule:\n%s", m, got, want, in, b.String(), mod)
			}
		}
	}
	t.Logf("%d rules (%d compiled, %d using HasPrivilege), %d decisions (%d with grants) in %v",
		nRules, nAccepted, nPriv, nEvals, nGranted, time.Since(start).Round(time.Millisecond))
	if nGranted < nEvals/10 {
		t.Errorf("only %d of %d decisions granted anything: the generator is too sparse", nGranted, nEvals)
	}
}
