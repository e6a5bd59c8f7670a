package policies_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// regoRun runs Rego tests as `opa test` does, with one difference: OPA's
// tester records a table-driven test's cases (test_x[name]) with a tracer
// that makes the evaluator copy every local variable into every trace event
// of the test, which was half the time of the table tests (thousands of
// decisions each). caseTracer keeps the same test-case events without the
// copies. A failing test is run again through OPA's tester with full
// tracing (explain), to show where it fails.
type regoRun struct {
	compiler *ast.Compiler
	store    storage.Store
	cover    topdown.QueryTracer // nil: no coverage
	timeout  time.Duration
}

// compileTests compiles modules with the compiler stages of OPA's tester
// (test rules renamed apart, test-case markers in table-driven tests): the
// tester compiles before it selects the tests to run, and the filter here
// selects none.
func compileTests(ctx context.Context, modules map[string]*ast.Module, store storage.Store) (*ast.Compiler, error) {
	c := ast.NewCompiler().
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithEnablePrintStatements(true).
		WithDefaultRegoVersion(ast.RegoV1)
	ch, err := tester.NewRunner().
		SetCompiler(c).
		SetStore(store).
		SetModules(modules).
		Filter(`^$`).
		RunTests(ctx, nil)
	if err != nil {
		return nil, err
	}
	for r := range ch {
		return nil, fmt.Errorf("the compile-only run ran %s.%s", r.Package, r.Name)
	}
	return c, nil
}

// run evaluates every test rule of the compiled modules, GOMAXPROCS at a
// time, and returns their results in the tester's form.
func (rr *regoRun) run(ctx context.Context) []*tester.Result {
	type job struct {
		mod  *ast.Module
		rule *ast.Rule
	}
	var jobs []job
	for _, mod := range rr.compiler.Modules {
		for _, rule := range mod.Rules {
			if name, _ := testRuleName(rule.Head); name != "" {
				jobs = append(jobs, job{mod, rule})
			}
		}
	}
	results := make([]*tester.Result, len(jobs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = rr.runOne(ctx, j.mod, j.rule)
		})
	}
	wg.Wait()
	return results
}

// testRuleName is the name of the test a rule defines (test_ or todo_) and
// the reference of the test, or "" for another rule (the tester's ruleName).
func testRuleName(h *ast.Head) (string, ast.Ref) {
	rgp := h.Ref().GroundPrefix()
	for i, term := range rgp {
		var n string
		switch v := term.Value.(type) {
		case ast.Var:
			n = string(v)
		case ast.String:
			n = string(v)
		}
		if strings.HasPrefix(n, tester.TestPrefix) || strings.HasPrefix(n, tester.SkipTestPrefix) {
			return n, rgp[:i+1]
		}
	}
	return "", nil
}

func (rr *regoRun) runOne(ctx context.Context, mod *ast.Module, rule *ast.Rule) *tester.Result {
	name, ref := testRuleName(rule.Head)
	res := &tester.Result{Location: rule.Loc(), Package: mod.Package.Path.String(), Name: ref.String()}
	if strings.HasPrefix(name, tester.SkipTestPrefix) {
		res.Skip = true
		return res
	}
	ctx, cancel := context.WithTimeout(ast.WithCompiler(ctx, rr.compiler), rr.timeout)
	defer cancel()
	var printed bytes.Buffer
	var builtinErrs []topdown.Error
	table := rule.Head.DocKind() == ast.PartialObjectDoc
	cases := &caseTracer{}
	t0 := time.Now()
	pq, err := rego.New(
		rego.Store(rr.store),
		rego.StoreReadAST(true),
		rego.Compiler(rr.compiler),
		rego.Query(mod.Package.Path.Extend(ref).String()),
		rego.PrintHook(topdown.NewPrintHook(&printed)),
		rego.BuiltinErrorList(&builtinErrs),
	).PrepareForEval(ctx)
	var rs rego.ResultSet
	if err == nil {
		var opts []rego.EvalOption
		if table {
			opts = append(opts, rego.EvalQueryTracer(cases))
		}
		if rr.cover != nil {
			opts = append(opts, rego.EvalQueryTracer(rr.cover))
		}
		rs, err = pq.Eval(ctx, opts...)
	}
	res.Duration = time.Since(t0)
	res.Output = printed.Bytes()
	switch {
	case err != nil:
		res.Error = err
	case len(builtinErrs) == 1:
		res.Error = &builtinErrs[0]
	case len(builtinErrs) > 1:
		res.Error = fmt.Errorf("%v", builtinErrs)
	case len(rs) == 0:
		res.Fail = true
	case table:
		res.Fail, res.SubResults = cases.results(rs[0].Expressions[0].Value)
	default:
		b, ok := rs[0].Expressions[0].Value.(bool)
		res.Fail = !ok || !b
	}
	return res
}

// caseTracer records the test-case events of a table-driven test: the case
// names the test binds, whether or not the case then succeeds. It asks the
// evaluator for no local variables (the tester's tracer asks for all).
type caseTracer struct {
	mu    sync.Mutex
	names [][]string
}

func (*caseTracer) Enabled() bool { return true }

func (*caseTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (c *caseTracer) TraceEvent(e topdown.Event) {
	if e.Op != topdown.TestCaseOp {
		return
	}
	expr, ok := e.Node.(*ast.Expr)
	if !ok {
		return
	}
	arr, ok := expr.Operand(0).Value.(*ast.Array)
	if !ok {
		return
	}
	path := make([]string, arr.Len())
	for i := range arr.Len() {
		path[i] = caseName(arr.Elem(i))
	}
	c.mu.Lock()
	c.names = append(c.names, path)
	c.mu.Unlock()
}

// caseName is a case's key as the tester prints it: a string as is, any
// other value as JSON.
func caseName(t *ast.Term) string {
	v, err := ast.JSON(t.Value)
	if err != nil {
		return "INVALID"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "INVALID"
	}
	return string(b)
}

// results are the cases of a table-driven test: each value of the result
// (true passes, anything else fails) and each case named by a test-case
// event but missing from the result (its body failed).
func (c *caseTracer) results(v any) (bool, tester.SubResultMap) {
	fail, out := valueResults(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, path := range c.names {
		if lookup(out, path) != nil {
			continue
		}
		fail = true
		m := out
		for _, k := range path {
			sub := m[k]
			if sub == nil {
				sub = &tester.SubResult{Name: k, SubResults: tester.SubResultMap{}}
				m[k] = sub
			}
			sub.Fail = true
			m = sub.SubResults
		}
	}
	return fail, out
}

// valueResults are the cases of a table-driven test's value: true passes,
// an object holds cases of its own, anything else fails.
func valueResults(v any) (bool, tester.SubResultMap) {
	out := tester.SubResultMap{}
	fail := false
	obj, _ := v.(map[string]any)
	for k, x := range obj {
		sub := &tester.SubResult{Name: k, SubResults: tester.SubResultMap{}}
		if m, ok := x.(map[string]any); ok {
			sub.Fail, sub.SubResults = valueResults(m)
		} else {
			sub.Fail = x != true
		}
		out[k] = sub
		fail = fail || sub.Fail
	}
	return fail, out
}

func lookup(m tester.SubResultMap, path []string) *tester.SubResult {
	sub := m[path[0]]
	if sub == nil || len(path) == 1 {
		return sub
	}
	return lookup(sub.SubResults, path[1:])
}
