package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Fields a Diagnostic can name.
const (
	FieldCondition      = "condition"
	FieldResourceFilter = "resourceFilter"
	FieldActions        = "actions"
	FieldContext        = "context"
	FieldName           = "name"
	FieldID             = "id"
	FieldType           = "type"
	FieldVocabulary     = "vocabulary"
)

// Severities. Only errors make a rule invalid; a warning (for example a
// resource type rulekeeper does not know, which callers of the decision
// endpoints may still name) is shown but does not stop compilation.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Diagnostic is a problem found in one field of a rule. Line and Column are
// 1-based and count characters within that field's text; for Field
// "actions" Line is 1 and Column is the 1-based index of the offending
// element of the array (Column 1 for an empty set); for "context", "name",
// "id" and "type" both are 1.
type Diagnostic struct {
	RuleID   string `json:"rule,omitempty"` // set by CompileModule
	Field    string `json:"field"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
	Severity string `json:"severity"`
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s: %s", d.Field, d.Line, d.Column, d.Severity, d.Message)
	if d.RuleID != "" {
		s = fmt.Sprintf("rule %q: %s", d.RuleID, s)
	}
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// HasErrors reports whether any diagnostic is an error.
func HasErrors(diags []Diagnostic) bool {
	for _, d := range diags {
		if d.Severity != SeverityWarning {
			return true
		}
	}
	return false
}

func sortDiagnostics(ds []Diagnostic) {
	order := map[string]int{FieldID: 0, FieldName: 1, FieldType: 2, FieldResourceFilter: 3, FieldActions: 4, FieldContext: 5, FieldCondition: 6}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if order[a.Field] != order[b.Field] {
			return order[a.Field] < order[b.Field]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// editDistance is the optimal string alignment distance between a and b,
// counted in runes: insertions, deletions, substitutions and transpositions
// of adjacent runes ("raed" is one edit from "read").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// closest returns the candidate nearest to word (case-insensitive), if it
// is near enough to be a plausible typo: at most a third of the longer
// word's length, and at least one edit allowed. Ties go to the candidate
// closest in case ("Ap" suggests "App" rather than "app"), then to the
// earlier one.
func closest(word string, candidates []string) (string, bool) {
	w := strings.ToLower(word)
	best, bestD, bestCase := "", -1, 0
	wl := len([]rune(w))
	for _, c := range candidates {
		cl := len([]rune(c))
		if bestD >= 0 && abs(cl-wl) > bestD {
			continue // cannot be closer
		}
		d := editDistance(w, strings.ToLower(c))
		cs := editDistance(word, c)
		if bestD < 0 || d < bestD || d == bestD && cs < bestCase {
			best, bestD, bestCase = c, d, cs
		}
	}
	if bestD < 0 {
		return "", false
	}
	limit := max(len([]rune(w)), len([]rune(best))) / 3
	limit = max(limit, 1)
	if bestD > limit {
		return "", false
	}
	return best, true
}

// didYouMean formats a hint from closest, or "" when nothing is close.
func didYouMean(word string, candidates []string) string {
	if c, ok := closest(word, candidates); ok {
		return fmt.Sprintf("did you mean %s?", c)
	}
	return ""
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
