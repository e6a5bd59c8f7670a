package rules

import (
	"strings"
	"testing"
)

// TestLimits: each limit is an error on its field at the rule's start, and
// a rule just under every limit is accepted.
func TestLimits(t *testing.T) {
	terms := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `user.group = "G"`
		}
		return strings.Join(parts, " or ")
	}
	filter := func(n int) string { return strings.TrimSuffix(strings.Repeat("App_*,", n), ",") }
	tests := []struct {
		name  string
		rule  Rule
		field string // "" no error
		msg   string
	}{
		{"at every limit", Rule{Name: strings.Repeat("n", MaxNameLength), ResourceFilter: filter(MaxFilterTerms), Condition: terms(MaxTerms)}, "", ""},
		{"name too long", Rule{Name: strings.Repeat("é", MaxNameLength+1)}, FieldName, "at most 200"},
		{"too many filter terms", Rule{ResourceFilter: filter(MaxFilterTerms + 1)}, FieldResourceFilter, "at most 50"},
		{"condition too long", Rule{Condition: `user.name = "` + strings.Repeat("x", MaxConditionLength) + `"`}, FieldCondition, "at most 4096"},
		{"too many terms", Rule{Condition: terms(MaxTerms + 1)}, FieldCondition, "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Rule{ID: "r1", Name: "rule", ResourceFilter: "App_*", Actions: []string{"read"}, Context: "both"}
			if tt.rule.Name != "" {
				r.Name = tt.rule.Name
			}
			if tt.rule.ResourceFilter != "" {
				r.ResourceFilter = tt.rule.ResourceFilter
			}
			r.Condition = tt.rule.Condition
			diags := Check(r, nil)
			if tt.field == "" {
				if HasErrors(diags) {
					t.Fatalf("rejected: %v", diags)
				}
				return
			}
			for _, d := range diags {
				if d.Severity == SeverityError && d.Field == tt.field && strings.Contains(d.Message, tt.msg) && d.Line == 1 && d.Column == 1 {
					return
				}
			}
			t.Fatalf("want an error on %s saying %q, got %v", tt.field, tt.msg, diags)
		})
	}
}
