package rules

import (
	"fmt"
	"strings"
)

// TermKind is the kind of a resource filter term.
type TermKind int

// The resource filter term kinds.
const (
	TermAll    TermKind = iota // *           every resource
	TermType                   // Type_*      every resource of one type
	TermID                     // Type_<id>   one resource
	TermPrefix                 // Prefix*     every type whose name starts with Prefix
)

// FilterTerm is one comma-separated term of a resource filter, as written.
// Type and Prefix keep the user's spelling; resolving them against a
// Vocabulary (case-insensitive, QMC names such as Stream → space) is the
// checker's job.
type FilterTerm struct {
	Kind   TermKind
	Type   string // TermType, TermID
	ID     string // TermID
	Prefix string // TermPrefix
	Text   string // the term as written, trimmed
	Pos    Pos
}

// ParseFilter parses a resource filter: comma-separated terms "Type_*",
// "Type_<id>", "Prefix*" and "*". The type is everything before the first
// underscore (type names contain none); ids are case-sensitive and may
// contain underscores but no wildcards. Blank text is an error: a rule
// always names what it applies to ("*" for everything).
func ParseFilter(filter string) ([]FilterTerm, []Diagnostic) {
	var terms []FilterTerm
	var diags []Diagnostic
	errAt := func(p Pos, msg, hint string) {
		diags = append(diags, Diagnostic{Field: FieldResourceFilter, Line: p.Line, Column: p.Column,
			Message: msg, Hint: hint, Severity: SeverityError})
	}
	if strings.TrimSpace(filter) == "" {
		errAt(Pos{Line: 1, Column: 1}, "the resource filter is empty", `name the resources, e.g. App_* (or * for every resource)`)
		return nil, diags
	}
	pos := Pos{Line: 1, Column: 1}
	advance := func(s string) {
		for _, r := range s {
			pos.Offset += len(string(r))
			if r == '\n' {
				pos.Line++
				pos.Column = 1
			} else {
				pos.Column++
			}
		}
	}
	parts := strings.Split(filter, ",")
	for i, part := range parts {
		lead := part[:len(part)-len(strings.TrimLeft(part, " \t\r\n"))]
		advance(lead)
		start := pos
		text := strings.TrimSpace(part)
		advance(part[len(lead):])
		if i < len(parts)-1 {
			advance(",")
		}
		if text == "" {
			errAt(start, "empty term in the resource filter", "remove the extra comma")
			continue
		}
		t, msg, hint := parseTerm(text)
		if msg != "" {
			errAt(start, msg, hint)
			continue
		}
		t.Text, t.Pos = text, start
		terms = append(terms, t)
	}
	return terms, diags
}

func validTypeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func parseTerm(text string) (FilterTerm, string, string) {
	if strings.ContainsAny(text, " \t\r\n") {
		return FilterTerm{}, fmt.Sprintf("bad filter term %q: terms contain no spaces", text), "separate terms with commas"
	}
	if text == "*" {
		return FilterTerm{Kind: TermAll}, "", ""
	}
	if typ, id, ok := strings.Cut(text, "_"); ok {
		if !validTypeName(typ) {
			return FilterTerm{}, fmt.Sprintf("bad filter term %q: %q is not a resource type name", text, typ), "write Type_* or Type_<id>, e.g. App_*"
		}
		switch {
		case id == "*":
			return FilterTerm{Kind: TermType, Type: typ}, "", ""
		case id == "":
			return FilterTerm{}, fmt.Sprintf("bad filter term %q: the id is missing", text), fmt.Sprintf("write %s_* for every %s or %s_<id> for one", typ, typ, typ)
		case strings.ContainsAny(id, "*?"):
			return FilterTerm{}, fmt.Sprintf("bad filter term %q: wildcards are not allowed in an id", text), fmt.Sprintf("write %s_* and test resource.id in the condition", typ)
		}
		return FilterTerm{Kind: TermID, Type: typ, ID: id}, "", ""
	}
	if prefix, ok := strings.CutSuffix(text, "*"); ok {
		if !validTypeName(prefix) {
			return FilterTerm{}, fmt.Sprintf("bad filter term %q", text), "write Type_*, Type_<id>, Prefix* or *"
		}
		return FilterTerm{Kind: TermPrefix, Prefix: prefix}, "", ""
	}
	if validTypeName(text) {
		return FilterTerm{}, fmt.Sprintf("bad filter term %q", text), fmt.Sprintf("did you mean %s_*?", text)
	}
	return FilterTerm{}, fmt.Sprintf("bad filter term %q", text), "write Type_*, Type_<id>, Prefix* or *"
}
