package rules

import (
	"encoding/json"
	"strings"
	"testing"
)

type wantDiag struct {
	Field    string `json:"field"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Hint     string `json:"hint"`
}

func (w wantDiag) matches(d Diagnostic) bool {
	return d.Field == w.Field && d.Line == w.Line && d.Column == w.Column && d.Severity == w.Severity &&
		strings.Contains(d.Message, w.Message) && strings.Contains(d.Hint, w.Hint)
}

// mergeRule overlays the JSON object over base.
func mergeRule(t *testing.T, base, over json.RawMessage) Rule {
	t.Helper()
	var r Rule
	if err := json.Unmarshal(base, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(over, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheck(t *testing.T) {
	var file struct {
		Base  json.RawMessage `json:"base"`
		Cases []struct {
			Name  string          `json:"name"`
			Rule  json.RawMessage `json:"rule"`
			Diags []wantDiag      `json:"diags"`
		} `json:"cases"`
	}
	loadJSON(t, "check.json", &file)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := mergeRule(t, file.Base, c.Rule)
			got := Check(r, nil)
			ok := len(got) == len(c.Diags)
			for i := 0; ok && i < len(got); i++ {
				ok = c.Diags[i].matches(got[i])
			}
			if !ok {
				t.Errorf("Check(%+v)\n got:", r)
				for _, d := range got {
					t.Errorf("   %s", d)
				}
				t.Errorf("want: %+v", c.Diags)
			}
			// A rule is compilable exactly when it has no errors.
			mod, diags := CompileRule(r, nil)
			if HasErrors(got) != (mod == "") || len(diags) != len(got) {
				t.Errorf("CompileRule disagrees with Check: module %v, %d diagnostics vs %d", mod != "", len(diags), len(got))
			}
		})
	}
}

func TestClosest(t *testing.T) {
	for _, c := range []struct {
		word  string
		cands []string
		want  string
	}{
		{"user.gruop", []string{"user.group", "user.roles", "user.name"}, "user.group"},
		{"GRUOP", []string{"group"}, "group"},
		{"raed", []string{"read", "update"}, "read"},
		{"xyz", []string{"read", "update"}, ""},
		{"a", []string{"b"}, "b"},
		{"", []string{}, ""},
		{"Ap", []string{"app", "App", "apikey"}, "App"},
	} {
		got, _ := closest(c.word, c.cands)
		if got != c.want {
			t.Errorf("closest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"kitten", "sitting", 3}, {"été", "ete", 2}, {"raed", "read", 1}, {"", "abc", 3}, {"ca", "abc", 3}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

func TestDiagnosticString(t *testing.T) {
	d := Diagnostic{RuleID: "r1", Field: FieldCondition, Line: 2, Column: 3, Message: "bad", Hint: "fix it", Severity: SeverityError}
	if got := d.String(); got != `rule "r1": condition:2:3: error: bad (fix it)` {
		t.Error(got)
	}
	if HasErrors([]Diagnostic{{Severity: SeverityWarning}}) || !HasErrors([]Diagnostic{{Severity: SeverityError}}) {
		t.Error("HasErrors")
	}
}
