package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	opafmt "github.com/open-policy-agent/opa/v1/format"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// deepMerge overlays over onto base: objects merge, null deletes, anything
// else replaces.
func deepMerge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = deepMerge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func decodeJSON(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if len(raw) > 0 {
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestEval(t *testing.T) {
	var file struct {
		BaseRule  json.RawMessage `json:"baseRule"`
		BaseInput json.RawMessage `json:"baseInput"`
		Cases     []struct {
			Name  string            `json:"name"`
			Rule  json.RawMessage   `json:"rule"`
			Rules []json.RawMessage `json:"rules"`
			Input json.RawMessage   `json:"input"`
			Want  []string          `json:"want"`
		} `json:"cases"`
	}
	loadJSON(t, "eval.json", &file)
	base := decodeJSON(t, file.BaseInput)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var rules []Rule
			if c.Rule != nil {
				rules = append(rules, mergeRule(t, file.BaseRule, c.Rule))
			}
			for _, r := range c.Rules {
				rules = append(rules, mergeRule(t, file.BaseRule, r))
			}
			in := deepMerge(base, decodeJSON(t, c.Input))
			p := build(rules, nil, true)
			if HasErrors(p.diags) {
				t.Fatalf("diagnostics: %v", p.diags)
			}
			mod := emit(p.units, p.x, p.n)
			got := evalGrants(t, prepare(t, mod, stubBuiltin), in)
			want := (&refEval{x: p.x, rules: p.rules}).grants(in)
			slices.Sort(c.Want)
			if !slices.Equal(got, c.Want) || !slices.Equal(want, c.Want) {
				t.Errorf("OPA %q, reference %q, want %q\n%s", got, want, c.Want, mod)
			}
		})
	}
}

// sampleRules are the rules of the golden module.
var sampleRules = []Rule{
	{ID: "r1", Name: "Sales reads Q reports", ResourceFilter: "App_*, Stream_*", Actions: []string{"read", "update"}, Context: "hub",
		Condition: `user.group = "Sales" and (resource.name like "Q*" or resource.@tag matches "fin.*") and !resource.space.Empty()`},
	{ID: "r2", Name: "Objects of readable apps", ResourceFilter: "App.Object_*", Actions: []string{"read"},
		Condition: `resource.app.HasPrivilege("read") and (resource.owner = user or resource.public = "true")`},
	{ID: "r3", Name: "Readers of the space", ResourceFilter: "App_*", Actions: []string{"read"}, Context: "both",
		Condition: `resource.HasPrivilege("read")`},
	{ID: "r4", Name: "Owners of caller-defined resources", ResourceFilter: "DataConnection*", Actions: []string{"update"},
		Condition: `resource.owner = user`},
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/golden/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the generated module (run go test -update after checking the change):\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	mod, diags := CompileModule(sampleRules, nil)
	if HasErrors(diags) {
		t.Fatal(diags)
	}
	golden(t, "module.rego", mod)
	one, diags := CompileRule(sampleRules[0], nil)
	if HasErrors(diags) {
		t.Fatal(diags)
	}
	golden(t, "rule.rego", one)
}

// TestGeneratedRegoIsClean checks that opa fmt would leave generated
// modules as they are and that they compile in OPA's strict mode (no unused
// variables, no shadowing, no deprecated built-ins).
func TestGeneratedRegoIsClean(t *testing.T) {
	g := gen{r: newRand(3)}
	for i := range 20 {
		var rules []Rule
		for j := range 20 {
			rules = append(rules, g.rule(i*20+j))
		}
		rules = append(rules, sampleRules...)
		plain, _ := CompileModule(rules, nil)
		mods := []string{plain}
		if i%4 == 0 { // the module of the index: its shape varies less
			indexed, _, _ := CompileIndexed(rules, nil)
			mods = append(mods, indexed)
		}
		for _, mod := range mods {
			m, err := ast.ParseModuleWithOpts("rules.rego", mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			stub := ast.MustParseModuleWithOpts(stubBuiltin, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if out, err := opafmt.SourceWithOpts("rules.rego", []byte(mod), opafmt.Opts{}); err != nil || string(out) != mod {
				t.Fatalf("opa fmt would change the module: %v\n%s", err, diffLines(mod, string(out)))
			}
			c := ast.NewCompiler().WithStrict(true)
			c.Compile(map[string]*ast.Module{"rules.rego": m, "stub.rego": stub})
			if c.Failed() {
				t.Fatalf("strict compile: %v\n%s", c.Errors, mod)
			}
		}
	}
}

// diffLines is the first line where a and b differ, with both versions.
func diffLines(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n  %q\n  %q", i+1, la[i], lb[i])
		}
	}
	return "lengths differ"
}

// TestIndexKeysOnTypeAndAction asks OPA's rule index which rule bodies (of
// _ids, which grants maps to grant objects) a decision has to evaluate: only those for its resource type, action and
// context, however many other rules there are.
func TestIndexKeysOnTypeAndAction(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600 // make test; make test-full indexes all 3000
	}
	rules := benchRules(n)
	mod, diags := CompileModule(rules, nil)
	if HasErrors(diags) {
		t.Fatal(diags)
	}
	m := ast.MustParseModuleWithOpts(mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
	c := ast.NewCompiler()
	c.Compile(map[string]*ast.Module{"rules.rego": m})
	if c.Failed() {
		t.Fatal(c.Errors)
	}
	idx := c.RuleIndex(ast.MustParseRef("data.rulekeeper.rules._ids"))
	if idx == nil {
		t.Fatal("no index for _ids")
	}
	in, _ := ast.InterfaceToValue(benchInput)
	res, err := idx.Lookup(inputResolver{in})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := idx.AllRules(inputResolver{in})
	var names []string
	for _, r := range res.Rules {
		names = append(names, r.Head.String())
	}
	t.Logf("index: %d of %d rule bodies are candidates", len(res.Rules), len(all.Rules))
	// The three applicable rules give five bodies for (app, read); the
	// union bodies of the sets HasPrivilege reads add at most a few more.
	if len(res.Rules) > 8 {
		t.Errorf("%d candidate bodies for one decision:\n%s", len(res.Rules), strings.Join(names, "\n"))
	}
}

type inputResolver struct{ input ast.Value }

func (r inputResolver) Resolve(ref ast.Ref) (ast.Value, error) {
	if !ref[0].Equal(ast.InputRootDocument) {
		return nil, ast.UnknownValueErr{}
	}
	v, err := r.input.Find(ref[1:])
	if err != nil {
		return nil, nil
	}
	return v, nil
}

func TestCompileModuleDiagnostics(t *testing.T) {
	rules := []Rule{
		{ID: "ok", Name: "ok", ResourceFilter: "App_*", Actions: []string{"read"}},
		{ID: "bad", Name: "bad", ResourceFilter: "App_*", Actions: []string{"read"}, Condition: `user.gruop = "x"`},
		{ID: "ok", Name: "duplicate", ResourceFilter: "App_*", Actions: []string{"read"}},
		{ID: "warn", Name: "warn", ResourceFilter: "Ap_*", Actions: []string{"read"}},
		{ID: "off", Name: "off", ResourceFilter: "App_*", Actions: []string{"read"}, Disabled: true, Condition: "(("},
	}
	mod, diags := CompileModule(rules, nil)
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%s %s %s", d.RuleID, d.Field, d.Severity))
	}
	want := []string{"bad condition error", "ok id error", "warn resourceFilter warning"}
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics %q, want %q", got, want)
	}
	if !strings.Contains(mod, `_names := {"ok": "ok", "warn": "warn"}`) || strings.Contains(mod, `"bad"`) || strings.Contains(mod, `"duplicate"`) ||
		strings.Contains(mod, `"off"`) {
		t.Errorf("module holds the wrong rules:\n%s", mod)
	}
	if !strings.Contains(mod, "from 2 security rule(s)") {
		t.Errorf("header should count the 2 compiled rules:\n%s", mod[:100])
	}
}

func TestEmptyModule(t *testing.T) {
	for _, rules := range [][]Rule{nil, {{ID: "x", Name: "x", ResourceFilter: "App_*", Actions: []string{"read"}, Disabled: true}}} {
		mod, diags := CompileModule(rules, nil)
		if len(diags) > 0 {
			t.Fatal(diags)
		}
		got := evalGrants(t, prepare(t, mod), map[string]any{"action": "read"})
		if len(got) != 0 {
			t.Errorf("grants %v", got)
		}
	}
}

func TestCompileRule(t *testing.T) {
	r := Rule{ID: "r", Name: "n", ResourceFilter: "App_*", Actions: []string{"read"}, Disabled: true, Condition: `user.name = "x"`}
	mod, diags := CompileRule(r, nil)
	if len(diags) > 0 || !strings.Contains(mod, `"x" in _lv0`) {
		t.Errorf("a disabled rule still shows its Rego: %v\n%s", diags, mod)
	}
	r.Condition = `user.name = `
	if mod, diags := CompileRule(r, nil); mod != "" || len(diags) != 1 {
		t.Errorf("invalid rule: %q %v", mod, diags)
	}
}

// folderVocabulary has a type whose related resource is of the same type
// (a folder's parent folder), the one way to a HasPrivilege cycle.
func folderVocabulary() *Vocabulary {
	v := DefaultVocabulary()
	v.Navigations = append(v.Navigations, Navigation{Name: "parent", Type: "folder", Field: "parent",
		Attributes: []Attribute{{Name: "id", Path: []string{"id"}}, {Name: "name", Path: []string{"name"}}}})
	v.ResourceTypes = append(v.ResourceTypes, ResourceType{Name: "folder", Aliases: []string{"Folder"}, Navigations: []string{"parent"}, Related: "parent"})
	return v
}

func TestHasPrivilegeCycle(t *testing.T) {
	v := folderVocabulary()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	cyclic := Rule{ID: "inherit", Name: "inherit", ResourceFilter: "Folder_*", Actions: []string{"read"},
		Condition: `user.name = "x" or resource.HasPrivilege("read")`}
	other := Rule{ID: "names", Name: "names", ResourceFilter: "Folder_*", Actions: []string{"read"}, Condition: `resource.name = "public"`}
	uses := Rule{ID: "uses", Name: "uses", ResourceFilter: "Folder_*", Actions: []string{"update"}, Condition: `resource.parent.HasPrivilege("read")`}
	mod, diags := CompileModule([]Rule{cyclic, other, uses}, v)
	if len(diags) != 1 || diags[0].RuleID != "inherit" || diags[0].Line != 1 || diags[0].Column != 20 ||
		!strings.Contains(diags[0].Message, `depend on its own result: rule "inherit" on folder → rule "inherit" on folder`) {
		t.Fatalf("diagnostics: %v", diags)
	}
	if strings.Contains(mod, `"inherit"`) || !strings.Contains(mod, `"names"`) || !strings.Contains(mod, `"uses"`) {
		t.Errorf("module:\n%s", mod)
	}
	// The rest still works: "uses" reads "names" on the parent.
	pq := prepare(t, mod, stubBuiltin)
	in := map[string]any{"action": "update", "subject": map[string]any{"id": "u"},
		"resource": map[string]any{"type": "folder", "id": "f2", "parent": map[string]any{"id": "f1", "name": "Public"}}}
	if got := evalGrants(t, pq, in); !slices.Equal(got, []string{"uses"}) {
		t.Errorf("grants %v", got)
	}
	// A single rule shows the cycle in CompileRule too.
	if mod, diags := CompileRule(cyclic, v); mod != "" || len(diags) != 1 {
		t.Errorf("CompileRule: %q %v", mod, diags)
	}
}

func TestVocabulary(t *testing.T) {
	v := DefaultVocabulary()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back Vocabulary
	if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil {
		t.Fatalf("JSON round trip: %v %v", err, back.Validate())
	}
	for name, mutate := range map[string]func(v *Vocabulary){
		"duplicate type":        func(v *Vocabulary) { v.ResourceTypes = append(v.ResourceTypes, ResourceType{Name: "App"}) },
		"unknown navigation":    func(v *Vocabulary) { v.ResourceTypes[0].Navigations = []string{"nope"} },
		"related not navigable": func(v *Vocabulary) { v.ResourceTypes[0].Related = "space" },
		"conflicting paths": func(v *Vocabulary) {
			v.ResourceTypes[0].Attributes = append(v.ResourceTypes[0].Attributes, Attribute{Name: "spaceId", Path: []string{"x"}})
		},
		"navigation to unknown type": func(v *Vocabulary) { v.Navigations[0].Type = "nowhere" },
		"duplicate action":           func(v *Vocabulary) { v.Actions = append(v.Actions, "READ") },
		"bad type name":              func(v *Vocabulary) { v.ResourceTypes[0].Name = "a b" },
		"attribute without path":     func(v *Vocabulary) { v.UserAttributes[0].Path = nil },
	} {
		v := DefaultVocabulary()
		mutate(v)
		if v.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
		if diags := Check(Rule{Name: "x", ResourceFilter: "*", Actions: []string{"read"}}, v); len(diags) != 1 || diags[0].Field != FieldVocabulary {
			t.Errorf("%s: Check gave %v", name, diags)
		}
	}
	var nilVocab *Vocabulary
	if nilVocab.Validate() == nil {
		t.Error("nil vocabulary")
	}
}

func TestNormalizeAction(t *testing.T) {
	for in, want := range map[string]string{"Read": "read", " Change owner ": "change_owner", "export-data": "export_data"} {
		if got := normalizeAction(in); got != want {
			t.Errorf("normalizeAction(%q) = %q", in, got)
		}
	}
}

func TestClassifyLike(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind likeKind
		s    string
	}{
		{"abc", likeExact, "abc"}, {"*", likeAny, ""}, {"***", likeAny, ""}, {"ab*", likePrefix, "ab"},
		{"*ab", likeSuffix, "ab"}, {"*ab**", likeContains, "ab"}, {"a*b", likeRegex, `^(?s:a.*b)$`},
		{"a?", likeRegex, `^(?s:a.)$`}, {"a.b*", likePrefix, "a.b"}, {"[x]?", likeRegex, `^(?s:\[x\].)$`}, {"", likeExact, ""},
	} {
		k, s := classifyLike(c.in)
		if k != c.kind || s != c.s {
			t.Errorf("classifyLike(%q) = %v %q, want %v %q", c.in, k, s, c.kind, c.s)
		}
	}
}

func TestRegoStrings(t *testing.T) {
	for _, s := range []string{"plain", "q\"uote", "back\\slash", "new\nline", "tab\t", "<&>", "\u2028", "é☃", "\x00\x1f", "} if { true"} {
		src := fmt.Sprintf("package x\np := %s\n", lit(s))
		m, err := ast.ParseModuleWithOpts("x.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := m.Rules[0].Head.Value.Value.(ast.String); string(got) != s {
			t.Errorf("%q came back as %q", s, got)
		}
	}
	if got := ref([]string{"subject", "attributes", "cost-center", "in", "ok_1"}); got != `input.subject.attributes["cost-center"]["in"].ok_1` {
		t.Error(got)
	}
}
