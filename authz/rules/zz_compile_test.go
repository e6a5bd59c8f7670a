package rules

import (
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func compileCPU(t *testing.T, mod string) (time.Duration, time.Duration) {
	runtime.GC()
	c0 := cpuTime()
	m, err := ast.ParseModuleWithOpts("x.rego", mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	p := cpuTime() - c0
	stub := ast.MustParseModuleWithOpts(stubBuiltin, ast.ParserOptions{RegoVersion: ast.RegoV1})
	c0 = cpuTime()
	c := ast.NewCompiler()
	c.Compile(map[string]*ast.Module{"x": m, "stub": stub})
	if c.Failed() {
		t.Fatal(c.Errors)
	}
	return p, cpuTime() - c0
}

func TestZZCompileStages(t *testing.T) {
	rules := benchRules(10_000)
	c0 := cpuTime()
	mod, _ := CompileModule(rules, nil)
	t.Logf("generate cpu %v", cpuTime()-c0)
	head := regexp.MustCompile(`\{"kind": "rule", "id": ("[^"]*"), "name": "[^"]*"\}`)
	ids := regexp.MustCompile(`(?m)^grants contains (g|"[^"]*") if`).ReplaceAllString(head.ReplaceAllString(mod, "$1"), "_ids contains $1 if")
	names := map[string]string{}
	for _, r := range rules {
		names[r.ID] = r.Name
	}
	ids += "\ngrants contains {\"kind\": \"rule\", \"id\": id, \"name\": _names[id]} if some id in _ids\n\n_names := " + litMap(names) + "\n"
	variants := map[string]string{"object heads": mod, "string heads": head.ReplaceAllString(mod, "$1"), "ids+names": ids}
	for name, m := range variants {
		bp, bc := time.Hour, time.Hour
		for range 3 {
			p, c := compileCPU(t, m)
			bp, bc = min(bp, p), min(bc, c)
		}
		t.Logf("%s: parse cpu %v compile cpu %v", name, bp, bc)
	}
}
