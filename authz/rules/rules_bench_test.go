package rules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchInput is the decision the benchmarks evaluate: read an app in the hub.
var benchInput = map[string]any{
	"subject": map[string]any{
		"id": "u-alice", "name": "alice", "groups": []any{"Sales", "EMEA"}, "roles": []any{"Developer"},
		"attributes": map[string]any{"dept": []any{"Finance"}, "priv": []any{"space:sp-1:read"}},
	},
	"action": "read",
	"resource": map[string]any{
		"type": "app", "id": "a-1", "name": "Q4 report", "owner": "u-bob", "spaceId": "sp-1",
		"attributes": map[string]any{"tag": []any{"finance"}},
		"space":      map[string]any{"id": "sp-1", "name": "Finance", "type": "shared", "owner": "u-bob"},
	},
	"context": map[string]any{"environment": "hub"},
}

// applicable are rules that apply to benchInput; every benchmarked rule set
// contains them, so its decisions do the same work whatever else it holds.
var applicable = []Rule{
	{ID: "a1", Name: "Sales reads apps", ResourceFilter: "App_*", Actions: []string{"read"}, Context: "hub",
		Condition: `user.group = "sales" and resource.name like "Q*"`},
	{ID: "a2", Name: "Finance tag", ResourceFilter: "App_*, Stream_*", Actions: []string{"read", "update"},
		Condition: `resource.@tag = user.@dept or resource.@tag = "finance"`},
	{ID: "a3", Name: "Readers of the space read its apps", ResourceFilter: "App*", Actions: []string{"read"},
		Condition: `resource.HasPrivilege("read") and !resource.space.Empty()`},
}

// fillerRules returns n rules that cannot apply to benchInput: other
// resource types (known and caller-defined), other actions, other ids, the
// console context; a few use HasPrivilege.
func fillerRules(n int, seed uint64) []Rule {
	r := rand.New(rand.NewPCG(seed, 1))
	v := DefaultVocabulary()
	var types []string
	for _, t := range v.ResourceTypes {
		types = append(types, t.Aliases[0])
	}
	for i := range 200 {
		types = append(types, fmt.Sprintf("Custom%03d", i))
	}
	cond := func(i int) string {
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf(`user.group = "G%d"`, i)
		case 1:
			return fmt.Sprintf(`resource.name like "N%d*" and user.@dept != "D%d"`, i, i%7)
		case 2:
			return fmt.Sprintf(`(user.roles = "R%d" or resource.owner = user) and !resource.IsOwned()`, i)
		}
		return ""
	}
	var out []Rule
	for len(out) < n {
		i := len(out)
		typ := types[r.IntN(len(types))]
		act := v.Actions[r.IntN(len(v.Actions))]
		ctx := []string{"hub", "console", "both"}[r.IntN(3)]
		var filter string
		switch k := r.IntN(10); {
		case k < 6:
			filter = typ + "_*"
		case k < 8:
			filter = fmt.Sprintf("%s_x%d", typ, i)
		case k < 9:
			filter = typ[:min(4, len(typ))] + "*"
		default:
			filter = typ + "_*, " + types[r.IntN(len(types))] + "_*"
		}
		rule := Rule{ID: fmt.Sprintf("f%d", i), Name: fmt.Sprintf("filler %d", i), ResourceFilter: filter,
			Actions: []string{act}, Context: ctx, Condition: cond(i)}
		if r.IntN(50) == 0 {
			rule.ResourceFilter = "App.Object_*"
			rule.Condition = `resource.app.HasPrivilege("read") and user.group = "` + fmt.Sprint("G", i) + `"`
		}
		if mayApply(rule) {
			continue
		}
		out = append(out, rule)
	}
	return out
}

// mayApply reports whether a rule could grant on benchInput's type, action
// and context (the reference evaluator with an always-true condition).
func mayApply(r Rule) bool {
	r.Condition = ""
	p := build([]Rule{r}, nil, false)
	if len(p.rules) == 0 {
		return true // invalid: do not use
	}
	return (&refEval{x: p.x, rules: p.rules}).anyGrant(benchInput)
}

func benchRules(n int) []Rule {
	return append(append([]Rule{}, applicable...), fillerRules(n-len(applicable), 42)...)
}

func prepareRules(tb testing.TB, rules []Rule) rego.PreparedEvalQuery {
	mod, diags := CompileModule(rules, nil)
	if HasErrors(diags) {
		tb.Fatalf("diagnostics: %v", diags[0])
	}
	return prepare(tb, mod, stubBuiltin)
}

// BenchmarkDecision is the cost of one decision (Eval of
// data.rulekeeper.rules.grants) with 10 and with 10,000 enabled rules,
// the same three of which apply. Run with -bench Decision; the ratio of
// the two ns/op figures is the growth with rules that cannot apply.
func BenchmarkDecision(b *testing.B) {
	in, err := ast.InterfaceToValue(benchInput)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			pq := prepareRules(b, benchRules(n))
			ctx := context.Background()
			rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
			if err != nil || len(rs) != 1 {
				b.Fatal(err, rs)
			}
			if got := len(rs[0].Expressions[0].Value.([]any)); got != len(applicable) {
				b.Fatalf("%d grants, want %d: %v", got, len(applicable), rs[0].Expressions[0].Value)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile10000 is CompileModule plus OPA's PrepareForEval for
// 10,000 rules: the time a replica needs to swap in a new rule revision.
func BenchmarkCompile10000(b *testing.B) {
	rules := benchRules(10_000)
	for b.Loop() {
		start := time.Now()
		mod, _ := CompileModule(rules, nil)
		gen := time.Since(start)
		prepare(b, mod, stubBuiltin)
		b.ReportMetric(gen.Seconds(), "generate-s")
		b.ReportMetric(float64(len(mod))/1e6, "module-MB")
	}
}

// TestDecisionScaling checks the benchmark's claim in an ordinary test run:
// a decision with 10,000 rules costs at most a small factor more than with
// 10 (a generous bound, as timings on shared machines are noisy; the
// benchmark gives the real figure).
func TestDecisionScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	in, _ := ast.InterfaceToValue(benchInput)
	measure := func(n int) time.Duration {
		pq := prepareRules(t, benchRules(n))
		ctx := context.Background()
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			for range 200 {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(in)); err != nil {
					t.Fatal(err)
				}
			}
			best = min(best, time.Since(start)/200)
		}
		return best
	}
	small, large := measure(10), measure(10_000)
	ratio := float64(large) / float64(small)
	t.Logf("decision: %v with 10 rules, %v with 10,000 (%.2f×)", small, large, ratio)
	if ratio > 2.5 {
		t.Errorf("decision cost grows with rules that cannot apply: %.2f×", ratio)
	}
}

func TestBenchRulesAreValid(t *testing.T) {
	rules := benchRules(2000)
	_, diags := CompileModule(rules, nil)
	for _, d := range diags {
		if d.Severity == SeverityError {
			t.Fatal(d)
		}
	}
	var custom int
	for _, r := range rules {
		if strings.Contains(r.ResourceFilter, "Custom") {
			custom++
		}
	}
	if custom == 0 {
		t.Fatal("no caller-defined types in the filler")
	}
}
