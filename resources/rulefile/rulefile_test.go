package rulefile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/rulefile"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

func TestParseShapes(t *testing.T) {
	tests := []struct {
		file  string
		names []string
		ids   []string
	}{
		{"testdata/one.yaml", []string{"Sales reads Q apps"}, []string{""}},
		{"testdata/list.yaml", []string{"Sales reads Q apps", "Finance reads themes"}, []string{"", "finance-themes"}},
		{"testdata/rules.json", []string{"Owner edits own apps"}, []string{"r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := rulefile.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			var names, ids []string
			for _, r := range f.Rules() {
				names, ids = append(names, r.Name), append(ids, r.ID)
				if r.Context == "" || r.Type != store.RuleCustom {
					t.Fatalf("defaults not applied: %+v", r)
				}
			}
			if !reflect.DeepEqual(names, tt.names) || !reflect.DeepEqual(ids, tt.ids) {
				t.Fatalf("names %q ids %q", names, ids)
			}
			if ps := f.Validate(rules.DefaultVocabulary()); ps.HasErrors() {
				t.Fatalf("valid file: %v", ps)
			}
		})
	}
}

// Problems are said in the file's terms: line and column of the file, the
// rule's name, the field — never a Go type.
func TestProblemsPointIntoTheFile(t *testing.T) {
	tests := []struct {
		name, file string
		line, col  int
		want       string
		validate   bool // the problem is found by Validate, not Parse
	}{
		{"unknown field", "nme: x\nresourceFilter: App_*\nactions: [read]\n", 1, 1, `unknown field "nme" — did you mean "name"?`, false},
		{"actions not a list", "name: x\nresourceFilter: App_*\nactions: read\n", 3, 10, "actions is a list", false},
		{"disabled not a bool", "name: x\nresourceFilter: App_*\nactions: [read]\ndisabled: maybe\n", 4, 11, "true or false", false},
		{"bad type", "name: x\nresourceFilter: App_*\nactions: [read]\ntype: system\n", 4, 7, `unknown type "system"`, false},
		{"yaml syntax", "name: x\ncondition: \"unterminated\n", 2, 1, "not valid YAML: found unexpected end of stream", false},
		{"rule not a mapping", "rules:\n  - just a string\n", 2, 5, "a rule is a mapping", false},
		{"unknown top key", "rules: []\nrulez: []\n", 2, 1, `unknown key "rulez"`, false},
		{"unclosed quote", "name: x\nresourceFilter: App_*\ncondition: user.group = \"Sales\" and resource.name like \"Q*\nactions: [read]\n", 3, 56, "rule \"x\": condition:", true},
		{"unknown attribute in a block", "- name: y\n  resourceFilter: App_*\n  condition: |\n    user.name = \"a\"\n    or user.nosuch = \"b\"\n  actions: [read]\n", 5, 8, "nosuch", true},
		{"unknown action", "name: x\nresourceFilter: App_*\nactions: [read, fly]\n", 3, 17, "fly", true},
		{"no name", "resourceFilter: App_*\nactions: [read]\n", 1, 1, "no name", true},
		{"duplicate id", "- {id: a, name: x, resourceFilter: App_*, actions: [read]}\n- {id: a, name: y, resourceFilter: App_*, actions: [read]}\n", 2, 8, `id "a" is used by rule "x" too`, true},
		{"same name without ids", "- {name: x, resourceFilter: App_*, actions: [read]}\n- {name: X, resourceFilter: App_*, actions: [read]}\n", 2, 3, "matched by its name", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := rulefile.Parse([]byte(tt.file))
			var ps rulefile.Problems
			if tt.validate {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				ps = f.Validate(rules.DefaultVocabulary())
			} else if err != nil {
				ps = err.(rulefile.Problems)
			}
			if !ps.HasErrors() {
				t.Fatalf("no problem found in %q", tt.file)
			}
			p := ps[0]
			text := ps.Error()
			if p.Line != tt.line || p.Column != tt.col || !strings.Contains(text, tt.want) {
				t.Fatalf("got %d:%d %q, want %d:%d containing %q", p.Line, p.Column, text, tt.line, tt.col, tt.want)
			}
			if strings.Contains(text, "secrules") || strings.Contains(text, "store.") || strings.Contains(text, "type ") && strings.Contains(text, "struct") {
				t.Fatalf("a Go type in %q", text)
			}
		})
	}
}

func TestMarshalParsesBackToTheSameRules(t *testing.T) {
	rs := []store.Rule{
		{ID: "a", Name: "multi\nline", Description: "d: with colon", ResourceFilter: "App_*", Condition: "user.name = \"x\"\nor user.name = 'y'", Actions: []string{"read", "update"}, Context: "hub", Type: store.RuleCustom},
		{ID: "b", Name: "readonly one", ResourceFilter: "Theme_*", Actions: []string{}, Context: "both", Disabled: true, Type: store.RuleReadOnly},
	}
	out, err := rulefile.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := rulefile.Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := f.Rules(); !reflect.DeepEqual(got, rs) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", got, rs, out)
	}
}

// The served schema and the parser agree on what is a rule file.
func TestSchemaAgreesWithTheParser(t *testing.T) {
	var doc any
	if err := json.Unmarshal(rulefile.Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("rulefile.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("rulefile.json")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // file → the parser accepts it
		"name: x\nresourceFilter: App_*\nactions: [read]\n":                         true,
		"- name: x\n  resourceFilter: App_*\n  actions: [read]\n  disabled: true\n": true,
		"rules: []\n": true,
		"":            true,
		"nme: x\nresourceFilter: App_*\nactions: [read]\n":                   false,
		"name: x\nresourceFilter: App_*\nactions: read\n":                    false,
		"name: x\nresourceFilter: App_*\nactions: [read]\ndisabled: maybe\n": false,
		"name: x\nresourceFilter: App_*\nactions: [read]\ntype: system\n":    false,
		"rules: [x]\n": false,
		"42\n":         false,
	}
	for _, name := range []string{"testdata/one.yaml", "testdata/list.yaml", "testdata/rules.json"} {
		data, _ := os.ReadFile(name)
		files[string(data)] = true
	}
	for file, ok := range files {
		_, perr := rulefile.Parse([]byte(file))
		if (perr == nil) != ok {
			t.Fatalf("parser on %q: %v", file, perr)
		}
		var v any
		if err := yaml.Unmarshal([]byte(file), &v); err != nil {
			t.Fatal(err)
		}
		v = jsonish(v)
		serr := sch.Validate(v)
		if (serr == nil) != ok {
			t.Fatalf("schema on %q: %v", file, serr)
		}
	}
}

// jsonish turns a YAML value into what encoding/json would give.
func jsonish(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(err)
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/one.yaml", "testdata/list.yaml", "testdata/rules.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules:\n  - name: x\n    condition: |\n      a\n      b\n"))
	f.Add([]byte("- [1, 2]\n- {name: &a x, id: *a}\n"))
	vocab := rules.DefaultVocabulary()
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := rulefile.Parse(data)
		if err != nil {
			ps, ok := err.(rulefile.Problems)
			if !ok || len(ps) == 0 || ps[0].Line < 1 || ps[0].Column < 1 {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		for _, p := range file.Validate(vocab) {
			if p.Line < 1 || p.Column < 1 {
				t.Fatalf("problem without a position: %+v", p)
			}
		}
		// What parses writes back to the same rules.
		out, err := rulefile.Marshal(file.Rules())
		if err != nil {
			t.Fatal(err)
		}
		again, err := rulefile.Parse(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !reflect.DeepEqual(again.Rules(), file.Rules()) {
			t.Fatalf("round trip differs:\n%+v\n%+v", again.Rules(), file.Rules())
		}
	})
}
