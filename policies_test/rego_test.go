package policies_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/rulekeeper/rulekeeper/policies"
)

// policyModules parses the embedded policies, named "policies/<file>".
func policyModules(t testing.TB) map[string]*ast.Module {
	t.Helper()
	srcs, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) == 0 {
		t.Fatal("policies.Modules returned no module")
	}
	mods := make(map[string]*ast.Module, len(srcs))
	for name, src := range srcs {
		m, err := ast.ParseModuleWithOpts("policies/"+name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods["policies/"+name] = m
	}
	return mods
}

// testModules parses the Rego tests beside this file, named "policies_test/<file>".
func testModules(t testing.TB) map[string]*ast.Module {
	t.Helper()
	names, err := filepath.Glob("*.rego")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no Rego test files in policies_test/")
	}
	mods := make(map[string]*ast.Module, len(names))
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts("policies_test/"+name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods["policies_test/"+name] = m
	}
	return mods
}

func policyData(t testing.TB) map[string]any {
	t.Helper()
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRego runs every Rego test (policies_test/*_test.rego) against the
// embedded policies and data, one subtest per Rego test and per test case
// of the table-driven ones, and logs the coverage of the policies. The
// tests run as `opa test` runs them, without its tracing of table-driven
// tests (regoRun); a failing test is run again with tracing to explain it.
func TestRego(t *testing.T) {
	ctx := context.Background()
	pols := policyModules(t)
	all := testModules(t)
	maps.Copy(all, pols)

	// The engine's store options (authz/engine.go): AST values on read.
	st := inmem.NewFromObjectWithOpts(policyData(t), inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	c, err := compileTests(ctx, all, st)
	if err != nil {
		t.Fatalf("compile policies and tests: %v", err)
	}
	cov := cover.New()
	results := (&regoRun{
		compiler: c,
		store:    st,
		cover:    cov,
		// The table-driven tests decide over a thousand inputs each; the
		// tester's default 5 s per test is too tight on a loaded machine.
		timeout: 5 * time.Minute,
	}).run(ctx)
	if len(results) == 0 {
		t.Fatal("no Rego test ran")
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		return strings.Compare(a.Package+"."+a.Name, b.Package+"."+b.Name)
	})
	cases := 0
	for _, r := range results {
		name := strings.TrimPrefix(r.Package, "data.") + "." + r.Name
		t.Run(name, func(t *testing.T) {
			switch {
			case r.Skip:
				t.Skip("todo_ test")
			case r.Error != nil:
				t.Fatalf("%s: error: %v", r.Location, r.Error)
			}
			for path, sub := range r.SubResults.Iter {
				cases++
				if sub.Fail {
					t.Errorf("%s: case %q fails", r.Location, strings.Join(path, "/"))
				}
			}
			if r.Fail {
				t.Errorf("%s: fails", r.Location)
			}
			if t.Failed() {
				if len(r.Output) > 0 {
					t.Logf("printed:\n%s", r.Output)
				}
				explain(t, r)
			}
		})
	}

	report := cov.Report(pols)
	files := slices.Sorted(maps.Keys(pols))
	covered, notCovered := 0, 0
	for _, f := range files {
		fr := report.Files[f]
		if fr == nil {
			t.Logf("coverage %-36s no line evaluated", f)
			continue
		}
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		t.Logf("coverage %-36s %6.2f%% (%d/%d lines)", f, fr.Coverage, fr.CoveredLines, fr.CoveredLines+fr.NotCoveredLines)
		for _, rng := range fr.NotCovered {
			t.Logf("    not covered: %s:%d-%d", f, rng.Start.Row, rng.End.Row)
		}
	}
	pct := 100.0
	if covered+notCovered > 0 {
		pct = 100 * float64(covered) / float64(covered+notCovered)
	}
	t.Logf("rego: %d tests (%d table cases), policy coverage %.2f%% (%d of %d lines)",
		len(results), cases, pct, covered, covered+notCovered)
}

// explain runs the failed test r again through OPA's tester with tracing
// and logs the end of the trace of each failed case (of the test, for a
// test without cases): where the evaluation stopped.
func explain(t *testing.T, r *tester.Result) {
	t.Helper()
	all := testModules(t)
	maps.Copy(all, policyModules(t))
	ch, err := tester.NewRunner().
		SetStore(inmem.NewFromObject(policyData(t))).
		SetModules(all).
		EnableTracing(true).
		SetTimeout(5*time.Minute).
		Filter("^"+regexp.QuoteMeta(r.Package+"."+r.Name)+"$").
		RunTests(context.Background(), nil)
	if err != nil {
		t.Logf("explain: %v", err)
		return
	}
	const lines = 80
	tail := func(label string, trace []*topdown.Event) {
		var b strings.Builder
		topdown.PrettyTraceWithLocation(&b, trace)
		ls := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		if len(ls) > lines {
			ls = append([]string{fmt.Sprintf("... (%d lines before)", len(ls)-lines)}, ls[len(ls)-lines:]...)
		}
		t.Logf("trace of %s:\n%s", label, strings.Join(ls, "\n"))
	}
	for traced := range ch {
		failed := false
		for path, sub := range traced.SubResults.Iter {
			if sub.Fail && len(sub.SubResults) == 0 {
				failed = true
				tail(strings.Join(path, "/"), sub.Trace)
			}
		}
		if !failed {
			tail(traced.Name, traced.Trace)
		}
	}
}

// TestDataMatchesOPALoader checks that Data() places the JSON documents
// where OPA's own loader (opa eval/test -d policies) puts them.
func TestDataMatchesOPALoader(t *testing.T) {
	loaded, err := loader.NewFileLoader().Filtered([]string{"../policies"}, func(_ string, info os.FileInfo, _ int) bool {
		return !info.IsDir() && !strings.HasSuffix(info.Name(), ".json")
	})
	if err != nil {
		t.Fatal(err)
	}
	data := policyData(t)
	want, err := json.Marshal(loaded.Documents)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("policies.Data() differs from the OPA loader's documents:\n got %.300s\nwant %.300s", got, want)
	}
	rk, _ := data["rulekeeper"].(map[string]any)
	tables, _ := rk["tables"].(map[string]any)
	for _, k := range []string{"shared", "personal", "managed", "roles"} {
		if tables[k] == nil {
			t.Errorf("data.rulekeeper.tables.%s is missing", k)
		}
	}
	if rk["vocabulary"] == nil {
		t.Error("data.rulekeeper.vocabulary is missing")
	}
}

// prepare compiles the embedded policies (plus extra modules) the way the
// engine does and prepares the decision query.
func prepare(t testing.TB, extra map[string]string) rego.PreparedEvalQuery {
	t.Helper()
	mods := policyModules(t)
	for name, src := range extra {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods[name] = m
	}
	c := ast.NewCompiler()
	if c.Compile(mods); c.Failed() {
		t.Fatal(c.Errors)
	}
	// The engine's store options (authz/engine.go): AST values on read, so
	// the tables are not converted on every decision.
	st := inmem.NewFromObjectWithOpts(policyData(t), inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(
		rego.Query("data.rulekeeper.authz.decision"),
		rego.Compiler(c),
		rego.Store(st),
		rego.StoreReadAST(true),
	).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

func decide(t testing.TB, pq rego.PreparedEvalQuery, input map[string]any) map[string]any {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalInput(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("decision is undefined (%d results)", len(rs))
	}
	d, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		t.Fatalf("decision is %T", rs[0].Expressions[0].Value)
	}
	return d
}

func canEditInput() map[string]any {
	return map[string]any{
		"subject": map[string]any{
			"id": "u-me", "status": "active", "roles": []any{}, "groups": []any{}, "groupIds": []any{},
			"license": map[string]any{"type": "professional", "excluded": false, "capacityExhausted": false},
			"spaces":  map[string]any{"sp-1": []any{"canedit"}, "sp-2": []any{"admin"}},
		},
		"action": "delete",
		"resource": map[string]any{
			"type": "app", "id": "a-1", "owner": "u-other", "spaceId": "sp-1", "spaceType": "shared",
			"objectType": "", "public": false, "sectionAccess": false, "targetSpaceId": "", "targetSpaceType": "",
			"space": map[string]any{"id": "sp-1", "type": "shared", "owner": "u-owner"},
		},
		"context": map[string]any{"environment": "hub"},
	}
}

// TestDecisionWithoutRulesModule: no security rules module loaded means no
// rule grants, not an error.
func TestDecisionWithoutRulesModule(t *testing.T) {
	pq := prepare(t, nil)
	d := decide(t, pq, canEditInput())
	if d["allow"] != true {
		t.Fatalf("a Can edit member may delete an app: %v", d)
	}
	in := canEditInput()
	in["action"] = "change_owner"
	if d := decide(t, pq, in); d["allow"] != false {
		t.Fatalf("a Can edit member may not change the app owner: %v", d)
	}
}

// TestDecisionWithRulesModule: the generated module's grants join the union.
func TestDecisionWithRulesModule(t *testing.T) {
	pq := prepare(t, map[string]string{"generated/rules.rego": `package rulekeeper.rules

grants contains {"kind": "rule", "id": "r-1", "name": "Can edit change owners"} if {
	input.resource.type == "app"
	input.action == "change_owner"
	"canedit" in input.subject.spaces[input.resource.spaceId]
}
`})
	in := canEditInput()
	in["action"] = "change_owner"
	d := decide(t, pq, in)
	if d["allow"] != true {
		t.Fatalf("the rule grants change_owner: %v", d)
	}
	grants, _ := d["grants"].([]any)
	if len(grants) != 1 || grants[0].(map[string]any)["id"] != "r-1" {
		t.Fatalf("grants = %v, want the rule r-1", grants)
	}
}

// BenchmarkDecision measures uncached decisions over the whole policy.
func BenchmarkDecision(b *testing.B) {
	pq := prepare(b, nil)
	inputs := map[string]map[string]any{}
	inputs["shared_delete"] = canEditInput()
	obj := canEditInput()
	obj["action"] = "update"
	obj["resource"] = map[string]any{
		"type": "app.object", "id": "o-1", "owner": "u-me", "spaceId": "sp-1", "spaceType": "shared",
		"objectType": "sheet", "public": false,
		"app": map[string]any{"id": "a-1", "owner": "u-other", "spaceId": "sp-1"},
	}
	inputs["object_update"] = obj
	admin := canEditInput()
	admin["action"] = "read"
	admin["subject"].(map[string]any)["roles"] = []any{"TenantAdmin", "Developer"}
	admin["resource"] = map[string]any{"type": "user", "id": "u-other", "owner": "u-other"}
	admin["context"] = map[string]any{"environment": "console"}
	inputs["console_user_read"] = admin
	for name, in := range inputs {
		v, err := ast.InterfaceToValue(in)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
				if err != nil || len(rs) != 1 {
					b.Fatal(err, len(rs))
				}
			}
		})
	}
}

// BenchmarkBaseline is the cost of the cheapest query (input.action) on this
// machine, to read BenchmarkDecision against.
func BenchmarkBaseline(b *testing.B) {
	pq, err := rego.New(rego.Query("input.action")).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	v, err := ast.InterfaceToValue(canEditInput())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(v)); err != nil {
			b.Fatal(err)
		}
	}
}
