package rules

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzParse checks that the parser never panics, that every diagnostic has
// a position inside the text, that printing a parsed condition and parsing
// it again gives the same tree (and the same text), and that a condition
// the checker accepts compiles to Rego OPA accepts. The seed corpus is in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(`user.group = "Sales" and resource.name like "Q*"`)
	f.Fuzz(func(t *testing.T, s string) {
		e, diags := Parse(s)
		checkPositions(t, s, diags)
		if len(diags) == 0 {
			printed := Format(e)
			e2, diags2 := Parse(printed)
			if len(diags2) > 0 {
				t.Fatalf("Parse(Format(Parse(%q))) = Parse(%q): %v", s, printed, diags2)
			}
			if a, b := sexpr(e), sexpr(e2); a != b {
				t.Fatalf("round trip changed the tree:\n%q\n%s\n%s", s, a, b)
			}
			if again := Format(e2); again != printed {
				t.Fatalf("Format is not stable: %q then %q", printed, again)
			}
		}

		terms, fdiags := ParseFilter(s)
		checkPositions(t, s, fdiags)
		for _, term := range terms {
			if term.Text == "" || term.Pos.Line < 1 || term.Pos.Column < 1 {
				t.Fatalf("ParseFilter(%q): bad term %+v", s, term)
			}
		}

		for _, filter := range []string{"*", "App.Object_*, Stream_*"} {
			r := Rule{ID: s, Name: s, ResourceFilter: filter, Condition: s, Actions: []string{"read", "update"}}
			mod, diags := CompileRule(r, nil)
			checkPositions(t, s, diags)
			if HasErrors(diags) {
				continue
			}
			m, err := ast.ParseModuleWithOpts("rules.rego", mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatalf("generated Rego does not parse: %v\n%s", err, mod)
			}
			c := ast.NewCompiler()
			c.Compile(map[string]*ast.Module{"rules.rego": m})
			if c.Failed() {
				t.Fatalf("generated Rego does not compile: %v\n%s", c.Errors, mod)
			}
		}
	})
}

// checkPositions requires every diagnostic about the condition to point
// into the text (or just past its end).
func checkPositions(t *testing.T, s string, diags []Diagnostic) {
	t.Helper()
	lines := strings.Split(s, "\n")
	for _, d := range diags {
		if d.Line < 1 || d.Column < 1 {
			t.Fatalf("%q: diagnostic without position: %v", s, d)
		}
		if d.Field != FieldCondition && d.Field != FieldResourceFilter {
			continue
		}
		if d.Line > len(lines) || d.Column > len([]rune(lines[d.Line-1]))+1 {
			t.Fatalf("%q: diagnostic outside the text: %v", s, d)
		}
	}
}
