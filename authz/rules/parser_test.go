package rules

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// sexpr prints a tree with its structure explicit, for tests.
func sexpr(e Expr) string {
	var b strings.Builder
	var walk func(e Expr)
	operand := func(o Operand) {
		switch o := o.(type) {
		case *Path:
			b.WriteString(o.String())
		case *Literal:
			b.WriteString(Quote(o.Value))
		}
	}
	walk = func(e Expr) {
		switch e := e.(type) {
		case nil:
			b.WriteString("always")
		case *Logical:
			b.WriteString("(" + e.Op.String())
			for _, x := range e.Operands {
				b.WriteByte(' ')
				walk(x)
			}
			b.WriteByte(')')
		case *Not:
			b.WriteString("(! ")
			walk(e.X)
			b.WriteByte(')')
		case *Compare:
			b.WriteString("(" + e.Op.String() + " ")
			operand(e.Left)
			b.WriteByte(' ')
			operand(e.Right)
			b.WriteByte(')')
		case *Call:
			b.WriteString("(call ")
			if e.Receiver != nil {
				b.WriteString(e.Receiver.String())
			} else {
				b.WriteString("-")
			}
			b.WriteString(" " + e.Name)
			for _, a := range e.Args {
				b.WriteByte(' ')
				operand(a)
			}
			b.WriteByte(')')
		}
	}
	walk(e)
	return b.String()
}

type parseCases struct {
	OK []struct {
		In   string `json:"in"`
		Want string `json:"want"`
	} `json:"ok"`
	Errors []struct {
		In      string `json:"in"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
		Hint    string `json:"hint"`
	} `json:"errors"`
}

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestParse(t *testing.T) {
	var cases parseCases
	loadJSON(t, "parse.json", &cases)
	for _, c := range cases.OK {
		t.Run(c.In, func(t *testing.T) {
			e, diags := Parse(c.In)
			if len(diags) > 0 {
				t.Fatalf("Parse(%q): %v", c.In, diags)
			}
			if got := sexpr(e); got != c.Want {
				t.Errorf("Parse(%q)\n got %s\nwant %s", c.In, got, c.Want)
			}
			// The printer gives back the same tree.
			printed := Format(e)
			e2, diags := Parse(printed)
			if len(diags) > 0 || sexpr(e2) != c.Want {
				t.Errorf("round trip of %q through %q: %s %v", c.In, printed, sexpr(e2), diags)
			}
		})
	}
	for _, c := range cases.Errors {
		t.Run("error/"+c.In, func(t *testing.T) {
			e, diags := Parse(c.In)
			if len(diags) != 1 {
				t.Fatalf("Parse(%q) = %s, %v; want one error", c.In, sexpr(e), diags)
			}
			d := diags[0]
			if d.Field != FieldCondition || d.Severity != SeverityError || d.Line != c.Line || d.Column != c.Column ||
				!strings.Contains(d.Message, c.Message) || !strings.Contains(d.Hint, c.Hint) {
				t.Errorf("Parse(%q):\n got %d:%d %q (hint %q)\nwant %d:%d %q (hint containing %q)", c.In, d.Line, d.Column, d.Message, d.Hint, c.Line, c.Column, c.Message, c.Hint)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[string]string{
		`(a.b="1" OR c.d='2') && !e.f like "x"`:               "",
		`(a.b="1" OR c.d="2") && !e.f like "x"`:               `(a.b = "1" or c.d = "2") and !e.f like "x"`,
		`a.b="1" || c.d="2" && e.f matches "x"`:               `a.b = "1" or c.d = "2" and e.f matches "x"`,
		`!(a.b="1" && c.d !== "2")`:                           `!(a.b = "1" and c.d !== "2")`,
		`resource.App.HasPrivilege( "read" )`:                 `resource.App.HasPrivilege("read")`,
		`user.name == "tab\there"`:                            `user.name == "tab\there"`,
		`((((resource.IsOwned()))))`:                          `resource.IsOwned()`,
		`!!(a.b = "1" or (c.d = "2" or !(e.f = "3")))`:        `!!(a.b = "1" or c.d = "2" or !e.f = "3")`,
		`a.b = "1" and (c.d = "2" or e.f = "3") and g.h = ""`: `a.b = "1" and (c.d = "2" or e.f = "3") and g.h = ""`,
	} {
		e, diags := Parse(in)
		if want == "" {
			if len(diags) == 0 {
				t.Errorf("Parse(%q) should fail", in)
			}
			continue
		}
		if len(diags) > 0 {
			t.Fatalf("Parse(%q): %v", in, diags)
		}
		if got := Format(e); got != want {
			t.Errorf("Format(Parse(%q))\n got %s\nwant %s", in, got, want)
		}
	}
	if Format(nil) != "" {
		t.Error("Format(nil) should be empty")
	}
	// A tree built by hand with a chain nested in a chain of the same
	// operator keeps its grouping.
	p := func(s string) *Compare {
		return &Compare{Op: OpEq, Left: &Path{Segments: []Segment{{Name: s}}}, Right: &Literal{Value: "x"}}
	}
	nested := &Logical{Op: Or, Operands: []Expr{p("a"), &Logical{Op: Or, Operands: []Expr{p("b"), p("c")}}}}
	if got := Format(nested); got != `a = "x" or (b = "x" or c = "x")` {
		t.Errorf("nested: %s", got)
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := strings.Repeat("(", 10_000) + `a.b = "1"` + strings.Repeat(")", 10_000)
	if _, diags := Parse(deep); len(diags) != 1 || !strings.Contains(diags[0].Message, "nested too deeply") {
		t.Fatalf("deep nesting: %v", diags)
	}
	nots := strings.Repeat("!", 10_000) + `a.b = "1"`
	if _, diags := Parse(nots); len(diags) != 1 {
		t.Fatalf("deep negation: %v", diags)
	}
	ok := strings.Repeat("(", 100) + `a.b = "1"` + strings.Repeat(")", 100)
	if _, diags := Parse(ok); len(diags) != 0 {
		t.Fatalf("100 levels should parse: %v", diags)
	}
}

func TestParseFilter(t *testing.T) {
	type term struct {
		Kind             TermKind
		Type, ID, Prefix string
		Line, Column     int
	}
	for _, c := range []struct {
		in   string
		want []term
		errs []string // "line:column:message fragment"
	}{
		{in: "*", want: []term{{Kind: TermAll, Line: 1, Column: 1}}},
		{in: "App_*", want: []term{{Kind: TermType, Type: "App", Line: 1, Column: 1}}},
		{in: "App.Object_*, Stream_9f2c_a", want: []term{
			{Kind: TermType, Type: "App.Object", Line: 1, Column: 1},
			{Kind: TermID, Type: "Stream", ID: "9f2c_a", Line: 1, Column: 15}}},
		{in: "  App* ,\n  *", want: []term{{Kind: TermPrefix, Prefix: "App", Line: 1, Column: 3}, {Kind: TermAll, Line: 2, Column: 3}}},
		{in: "", errs: []string{"1:1:the resource filter is empty"}},
		{in: " \n ", errs: []string{"1:1:the resource filter is empty"}},
		{in: "App_*,", want: []term{{Kind: TermType, Type: "App", Line: 1, Column: 1}}, errs: []string{"1:7:empty term"}},
		{in: "App_*,,Stream_*", want: []term{{Kind: TermType, Type: "App", Line: 1, Column: 1}, {Kind: TermType, Type: "Stream", Line: 1, Column: 8}}, errs: []string{"1:7:empty term"}},
		{in: "App", errs: []string{"1:1:bad filter term \"App\""}},
		{in: "App_", errs: []string{"1:1:the id is missing"}},
		{in: "App_a*", errs: []string{"1:1:wildcards are not allowed in an id"}},
		{in: "_*", errs: []string{"1:1:is not a resource type name"}},
		{in: "A*p*", errs: []string{"1:1:bad filter term"}},
		{in: "App_*, Str eam_*", want: []term{{Kind: TermType, Type: "App", Line: 1, Column: 1}}, errs: []string{"1:8:terms contain no spaces"}},
		{in: "App_*,\n\tSp@ce_*", want: []term{{Kind: TermType, Type: "App", Line: 1, Column: 1}}, errs: []string{"2:2:is not a resource type name"}},
	} {
		terms, diags := ParseFilter(c.in)
		var got []term
		for _, t := range terms {
			got = append(got, term{t.Kind, t.Type, t.ID, t.Prefix, t.Pos.Line, t.Pos.Column})
		}
		if len(got) != len(c.want) {
			t.Errorf("ParseFilter(%q) = %+v, want %+v", c.in, got, c.want)
		} else {
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("ParseFilter(%q)[%d] = %+v, want %+v", c.in, i, got[i], c.want[i])
				}
			}
		}
		if len(diags) != len(c.errs) {
			t.Errorf("ParseFilter(%q) diagnostics %v, want %v", c.in, diags, c.errs)
			continue
		}
		for i, d := range diags {
			var line, col int
			var frag string
			parts := strings.SplitN(c.errs[i], ":", 3)
			json.Unmarshal([]byte(parts[0]), &line)
			json.Unmarshal([]byte(parts[1]), &col)
			frag = parts[2]
			if d.Field != FieldResourceFilter || d.Line != line || d.Column != col || !strings.Contains(d.Message, frag) {
				t.Errorf("ParseFilter(%q): got %d:%d %q, want %s", c.in, d.Line, d.Column, d.Message, c.errs[i])
			}
		}
	}
}
