package rules

import (
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestZZCompileStages(t *testing.T) {
	rules := benchRules(10_000)
	start := time.Now()
	mod, _ := CompileModule(rules, nil)
	t.Logf("generate %v, %d bytes, %d lines", time.Since(start), len(mod), len(splitLines(mod)))
	start = time.Now()
	m, err := ast.ParseModuleWithOpts("x.rego", mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil { t.Fatal(err) }
	t.Logf("parse %v, %d rules", time.Since(start), len(m.Rules))
	stub := ast.MustParseModuleWithOpts(stubBuiltin, ast.ParserOptions{RegoVersion: ast.RegoV1})
	start = time.Now()
	c := ast.NewCompiler().WithMetrics(nil)
	c.Compile(map[string]*ast.Module{"x": m, "stub": stub})
	if c.Failed() { t.Fatal(c.Errors) }
	t.Logf("compile %v", time.Since(start))
}

func splitLines(s string) []int { n := []int{}; for i, c := range s { if c == '\n' { n = append(n, i) } }; return n }
