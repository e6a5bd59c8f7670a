// Package rulefile reads and writes rule files: security rules as YAML (or
// JSON, which is YAML too) that `rulekeeper rules export` writes and
// `rules import`, `validate`, `preview` and `impact` read, and that
// POST /api/v1/rules/import accepts.
//
// A file holds one rule (a mapping), a list of rules, or a mapping
// `rules: [...]`. Ids are optional: a rule without one is matched by its
// name. Every problem is reported in the file's own terms — the rule, the
// field, the line and the column of the file — never in terms of Go types.
// Schema returns the same format as a JSON Schema (draft 2020-12).
package rulefile

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

//go:embed schema.json
var schema []byte

// Schema is the JSON Schema of a rule file (served at GET /api/v1/rules/schema).
func Schema() []byte { return slices.Clone(schema) }

// Rule types a file may name.
var ruleTypes = []string{store.RuleCustom, store.RuleDefault, store.RuleReadOnly}

// Entry is one rule of a file and where it sits in it.
type Entry struct {
	Rule store.Rule
	// Index is the rule's 1-based position in the file.
	Index int
	// Line and Column locate the rule's mapping.
	Line, Column int
	values       map[string]*yaml.Node // field → its value node (nil: read as JSON)
	source       []string              // the file's lines, for block scalars
	given        uint16                // read as JSON: the fields given, by their bit (fieldBit)
}

// Has tells whether the file gives the field (rather than its default).
func (e *Entry) Has(field string) bool {
	if e.values == nil {
		return e.given&fieldBit(field) != 0
	}
	_, ok := e.values[field]
	return ok
}

// Label names the rule in messages: its name, else its id, else its position.
func (e *Entry) Label() string {
	switch {
	case strings.TrimSpace(e.Rule.Name) != "":
		return strconv.Quote(e.Rule.Name)
	case e.Rule.ID != "":
		return strconv.Quote(e.Rule.ID)
	}
	return fmt.Sprintf("#%d", e.Index)
}

// File is a parsed rule file.
type File struct {
	Entries []Entry
	// src is the text of a file read as JSON (nil: read as YAML), read
	// again as YAML when a problem needs the position of a field.
	src []byte
}

// located is f with the positions of its fields: a file read as JSON is
// read again by the YAML parser, which keeps them (f when that fails).
func (f *File) located() *File {
	if f.src == nil {
		return f
	}
	g, err := parseYAML(f.src)
	if err != nil || len(g.Entries) != len(f.Entries) {
		return f
	}
	return g
}

// Rules returns the file's rules in file order.
func (f *File) Rules() []store.Rule {
	out := make([]store.Rule, 0, len(f.Entries))
	for _, e := range f.Entries {
		out = append(out, e.Rule)
	}
	return out
}

// Problem is something wrong with a rule file, at a line and column of the
// file. Rule names the rule (empty for the file as a whole), Field the
// field of the rule.
type Problem struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Rule     string `json:"rule,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
	Severity string `json:"severity"`
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d, column %d: ", p.Line, p.Column)
	if p.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", p.Rule)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, "%s: ", p.Field)
	}
	b.WriteString(p.Message)
	if p.Severity == rules.SeverityWarning {
		b.WriteString(" (warning)")
	}
	if p.Hint != "" {
		b.WriteString(" — " + p.Hint)
	}
	return b.String()
}

// Problems is the error of a file that cannot be read or does not check.
type Problems []Problem

func (ps Problems) Error() string {
	if len(ps) == 0 {
		return "the rule file has problems"
	}
	s := ps[0].String()
	if len(ps) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(ps)-1)
	}
	return s
}

// HasErrors tells whether some problem is not a warning.
func (ps Problems) HasErrors() bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return p.Severity != rules.SeverityWarning })
}

// fields are the keys a rule may have, in the order files are written.
var fields = []string{"id", "name", "description", "resourceFilter", "condition", "actions", "context", "disabled", "type"}

// readOnlyFields are answered by the API and accepted (and ignored) in a
// file, so that a rule or a list copied from the API imports as it is.
var readOnlyFields = []string{"version", "createdAt", "updatedAt", "updatedBy"}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// Parse reads a rule file. Its error is Problems.
func Parse(data []byte) (*File, error) {
	if isJSON(data) {
		if f, err := jsonFile(data); err == nil {
			return f, nil
		}
	}
	return parseYAML(data)
}

// parseYAML is Parse by the YAML parser (JSON included).
func parseYAML(data []byte) (*File, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{}, nil // an empty file holds no rules
		}
		return nil, syntaxProblem(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Problems{{Line: extra.Line, Column: extra.Column, Message: "a rule file is one YAML document; this is a second one", Severity: rules.SeverityError}}
	}
	p := &parser{source: strings.Split(string(data), "\n")}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var list *yaml.Node
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return &File{}, nil
	case root.Kind == yaml.SequenceNode:
		list = root
	case root.Kind == yaml.MappingNode && hasKey(root, "rules"):
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch k.Value {
			case "rules":
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					continue
				}
				if v.Kind != yaml.SequenceNode {
					p.fail(v, "", "rules", "rules is a list of rules", "")
					continue
				}
				list = v
			case "$schema":
			default:
				p.fail(k, "", k.Value, fmt.Sprintf("unknown key %q at the top of the file", k.Value), "a file holds `rules:` (a list), one rule, or a list of rules")
			}
		}
	case root.Kind == yaml.MappingNode:
		p.entry(root, 1)
	default:
		p.fail(root, "", "", "a rule file holds one rule (a mapping), a list of rules, or `rules:` with a list", "")
	}
	if list != nil {
		for i, n := range list.Content {
			p.entry(n, i+1)
		}
	}
	if len(p.problems) > 0 {
		return nil, p.problems
	}
	return &File{Entries: p.entries}, nil
}

func syntaxProblem(err error) Problems {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = msg[len(m[0]):]
	}
	return Problems{{Line: line, Column: 1, Message: "not valid YAML: " + msg, Severity: rules.SeverityError}}
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

type parser struct {
	source   []string
	entries  []Entry
	problems Problems
}

func (p *parser) fail(n *yaml.Node, rule, field, msg, hint string) {
	p.problems = append(p.problems, Problem{Line: n.Line, Column: n.Column, Rule: rule, Field: field,
		Message: msg, Hint: hint, Severity: rules.SeverityError})
}

// entry reads one rule mapping.
func (p *parser) entry(n *yaml.Node, index int) {
	e := Entry{Index: index, Line: n.Line, Column: n.Column, values: map[string]*yaml.Node{}, source: p.source}
	label := fmt.Sprintf("#%d", index)
	if n.Kind != yaml.MappingNode {
		p.fail(n, label, "", "a rule is a mapping of fields (name, resourceFilter, condition, actions, …)", "")
		return
	}
	// The name labels the other problems, so read it first.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode && n.Content[i+1].Value != "" {
			label = strconv.Quote(n.Content[i+1].Value)
		}
	}
	r := &e.Rule
	before := len(p.problems)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias // an anchor's value: the field reads it
		}
		if _, dup := e.values[k.Value]; dup {
			p.fail(k, label, k.Value, fmt.Sprintf("%s is given twice", k.Value), "")
			continue
		}
		e.values[k.Value] = v
		switch k.Value {
		case "id", "name", "description", "resourceFilter", "condition", "context", "type":
			s, ok := p.str(v, label, k.Value)
			if !ok {
				continue
			}
			if !setString(r, k.Value, s) {
				p.fail(v, label, "type", fmt.Sprintf("unknown type %q", s), "type is custom, default or readonly")
			}
		case "actions":
			r.Actions = p.actions(v, label)
		case "disabled":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				p.fail(v, label, "disabled", "disabled is true or false", "")
				continue
			}
			r.Disabled = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		default:
			if slices.Contains(readOnlyFields, k.Value) {
				continue
			}
			hint := "a rule's fields are " + strings.Join(fields, ", ")
			if near := nearest(k.Value); near != "" {
				hint = fmt.Sprintf("did you mean %q?", near)
			}
			p.fail(k, label, k.Value, fmt.Sprintf("unknown field %q", k.Value), hint)
		}
	}
	if len(p.problems) > before {
		return
	}
	withDefaults(r)
	p.entries = append(p.entries, e)
}

// setString sets r's string field named field to s; false when the field
// is the type and s is not a rule type.
func setString(r *store.Rule, field, s string) bool {
	switch field {
	case "id":
		r.ID = strings.TrimSpace(s)
	case "name":
		r.Name = s
	case "description":
		r.Description = s
	case "resourceFilter":
		r.ResourceFilter = s
	case "condition":
		r.Condition = s
	case "context":
		r.Context = s
	case "type":
		r.Type = s
		return s == "" || slices.Contains(ruleTypes, s)
	}
	return true
}

// withDefaults gives r the values of the fields a file leaves out.
func withDefaults(r *store.Rule) {
	if r.Context == "" {
		r.Context = rules.ContextBoth
	}
	if r.Type == "" {
		r.Type = store.RuleCustom
	}
	if r.Actions == nil {
		r.Actions = []string{}
	}
}

func (p *parser) str(v *yaml.Node, label, field string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.fail(v, label, field, field+" is a string", "")
		return "", false
	}
	if v.Tag == "!!null" {
		return "", true
	}
	return v.Value, true
}

func (p *parser) actions(v *yaml.Node, label string) []string {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return []string{}
	}
	if v.Kind != yaml.SequenceNode {
		p.fail(v, label, "actions", "actions is a list of action names, e.g. [read, update]", "")
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for _, a := range v.Content {
		if a.Kind != yaml.ScalarNode || a.Tag == "!!null" {
			p.fail(a, label, "actions", "each action is a name, e.g. read", "")
			continue
		}
		out = append(out, a.Value)
	}
	return out
}

// nearest is the field a mistyped key most likely meant ("" when none is
// within two edits).
func nearest(key string) string {
	best, bestD := "", 3
	for _, f := range fields {
		if d := distance(strings.ToLower(key), strings.ToLower(f)); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Validate checks every rule and the file as a whole: names present, ids
// and id-less names unique, every rule valid in the rule language, the set
// compiling together. Positions are the file's.
func (f *File) Validate(v *rules.Vocabulary) Problems {
	out := f.validate(v)
	if len(out) > 0 && f.src != nil {
		if g := f.located(); g != f {
			return g.validate(v)
		}
	}
	return out
}

func (f *File) validate(v *rules.Vocabulary) Problems {
	ck := rules.NewChecker(v)
	var out Problems
	ids, names := map[string]int{}, map[string]int{}
	for i := range f.Entries {
		e := &f.Entries[i]
		out = append(out, f.identity(i, ids, names)...)
		for _, d := range ck.Check(toRule(&e.Rule)) {
			out = append(out, e.problem(d))
		}
	}
	if !out.HasErrors() {
		rs := make([]rules.Rule, 0, len(f.Entries))
		for i := range f.Entries {
			r := toRule(&f.Entries[i].Rule)
			if r.ID == "" {
				r.ID = fmt.Sprintf("file-rule-%d", i+1)
			}
			rs = append(rs, r)
		}
		// The set is checked the way it is compiled: through the index.
		ix, err := rules.NewIndex(v)
		if err != nil {
			return append(out, Problem{Line: 1, Column: 1, Field: "vocabulary", Message: err.Error(), Severity: rules.SeverityError})
		}
		diags := ix.Build(rs)
		at := make(map[string]int, len(rs))
		for i, r := range rs {
			if _, dup := at[r.ID]; !dup {
				at[r.ID] = i
			}
		}
		out = append(out, f.diagnosed(diags, func(id string) int {
			if i, ok := at[id]; ok {
				return i
			}
			return -1
		})...)
	}
	return out
}

// identity checks the name and id of entry i: named, id and id-less
// name not taken by an earlier entry (ids and names: the earlier ones').
func (f *File) identity(i int, ids, names map[string]int) Problems {
	var out Problems
	e := &f.Entries[i]
	if strings.TrimSpace(e.Rule.Name) == "" {
		out = append(out, Problem{Line: e.Line, Column: e.Column, Rule: e.Label(), Field: "name", Message: "the rule has no name", Severity: rules.SeverityError})
	}
	if id := e.Rule.ID; id != "" {
		if j, dup := ids[id]; dup {
			l, c := e.pos("id", 1, 1)
			out = append(out, Problem{Line: l, Column: c, Rule: e.Label(), Field: "id",
				Message: fmt.Sprintf("id %q is used by rule %s too", id, f.Entries[j].Label()), Severity: rules.SeverityError})
		}
		ids[id] = i
	} else if name := strings.ToLower(strings.TrimSpace(e.Rule.Name)); name != "" {
		if j, dup := names[name]; dup {
			out = append(out, Problem{Line: e.Line, Column: e.Column, Rule: e.Label(), Field: "name",
				Message: fmt.Sprintf("two rules without an id are named %q (the other is rule #%d); a rule without an id is matched by its name", e.Rule.Name, f.Entries[j].Index), Severity: rules.SeverityError})
		}
		names[name] = i
	}
	return out
}

// ValidateFile is what Validate checks except the enabled rules' language
// and the set: names present, ids and id-less names unique, the disabled
// rules valid. It is for a caller that compiles the rules in a set of its
// own anyway (the API's import: the file's rules with the stored ones),
// whose diagnostics Diagnosed then says in the file's terms.
func (f *File) ValidateFile(v *rules.Vocabulary) Problems {
	validate := func(f *File) Problems {
		var out Problems
		var ck *rules.Checker
		ids, names := map[string]int{}, map[string]int{}
		for i := range f.Entries {
			out = append(out, f.identity(i, ids, names)...)
			if e := &f.Entries[i]; e.Rule.Disabled {
				if ck == nil {
					ck = rules.NewChecker(v)
				}
				for _, d := range ck.Check(toRule(&e.Rule)) {
					out = append(out, e.problem(d))
				}
			}
		}
		return out
	}
	out := validate(f)
	if len(out) > 0 && f.src != nil {
		if g := f.located(); g != f {
			return validate(g)
		}
	}
	return out
}

// Diagnosed says diagnostics of the rule language in the file's terms:
// entry gives the index in Entries of a diagnostic's rule (RuleID), or -1
// for a rule that is not the file's (said without a position). Problems
// are in the file's order.
func (f *File) Diagnosed(diags []rules.Diagnostic, entry func(ruleID string) int) Problems {
	if len(diags) == 0 {
		return nil
	}
	out := f.located().diagnosed(diags, entry)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return out
}

func (f *File) diagnosed(diags []rules.Diagnostic, entry func(ruleID string) int) Problems {
	out := make(Problems, 0, len(diags))
	for _, d := range diags {
		if i := entry(d.RuleID); i >= 0 && i < len(f.Entries) {
			out = append(out, f.Entries[i].problem(d))
			continue
		}
		p := Problem{Line: 1, Column: 1, Field: d.Field, Message: d.Message, Hint: d.Hint, Severity: d.Severity}
		if d.RuleID != "" {
			p.Rule = strconv.Quote(d.RuleID)
		}
		out = append(out, p)
	}
	return out
}

// problem turns a diagnostic of the rule language (positions within one
// field's text) into a problem of the file.
func (e *Entry) problem(d rules.Diagnostic) Problem {
	l, c := e.pos(d.Field, d.Line, d.Column)
	return Problem{Line: l, Column: c, Rule: e.Label(), Field: d.Field, Message: d.Message, Hint: d.Hint, Severity: d.Severity}
}

// pos maps a position within a field's value (line, column within the
// text; for actions, column is the element's index) to the file.
func (e *Entry) pos(field string, line, col int) (int, int) {
	v := e.values[field]
	if v == nil {
		return e.Line, e.Column
	}
	if field == rules.FieldActions && v.Kind == yaml.SequenceNode {
		if col >= 1 && col <= len(v.Content) {
			return v.Content[col-1].Line, v.Content[col-1].Column
		}
		return v.Line, v.Column
	}
	if v.Kind != yaml.ScalarNode || line < 1 || col < 1 {
		return v.Line, v.Column
	}
	switch v.Style {
	case 0, yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		if strings.Contains(v.Value, "\n") || line != 1 {
			return v.Line, v.Column
		}
		quote := 0
		if v.Style != 0 {
			quote = 1
		}
		return v.Line, v.Column + quote + col - 1
	case yaml.LiteralStyle:
		// The text starts on the line after the indicator, indented.
		at := v.Line + line // 1-based file line of the text's line `line`
		if at-1 < len(e.source) {
			src := e.source[at-1]
			indent := len(src) - len(strings.TrimLeft(src, " "))
			return at, indent + col
		}
	}
	return v.Line, v.Column
}

func toRule(r *store.Rule) rules.Rule {
	return rules.Rule{ID: r.ID, Name: r.Name, Description: r.Description, ResourceFilter: r.ResourceFilter,
		Condition: r.Condition, Actions: r.Actions, Context: r.Context, Disabled: r.Disabled, Type: r.Type}
}

// fileRule is a rule as files hold it, fields in the documented order.
type fileRule struct {
	ID             string   `yaml:"id,omitempty"`
	Name           string   `yaml:"name"`
	Description    string   `yaml:"description,omitempty"`
	ResourceFilter string   `yaml:"resourceFilter"`
	Condition      string   `yaml:"condition"`
	Actions        []string `yaml:"actions,flow"`
	Context        string   `yaml:"context"`
	Disabled       bool     `yaml:"disabled,omitempty"`
	Type           string   `yaml:"type"`
}

// Header is the comment Marshal starts a file with.
const Header = "# rulekeeper rule file: https://github.com/rulekeeper/rulekeeper#rule-files\n" +
	"# schema: GET /api/v1/rules/schema; check with `rulekeeper validate FILE` (add --token for rules on types registered on the server)\n"

// Marshal writes rules as a rule file (`rules:` with a list), the form
// `rulekeeper rules export` prints; Parse reads it back to the same rules.
func Marshal(rs []store.Rule) ([]byte, error) {
	out := struct {
		Rules []fileRule `yaml:"rules"`
	}{Rules: make([]fileRule, 0, len(rs))}
	for _, r := range rs {
		actions := r.Actions
		if actions == nil {
			actions = []string{}
		}
		out.Rules = append(out.Rules, fileRule{ID: r.ID, Name: r.Name, Description: r.Description,
			ResourceFilter: r.ResourceFilter, Condition: r.Condition, Actions: actions,
			Context: r.Context, Disabled: r.Disabled, Type: r.Type})
	}
	var b bytes.Buffer
	b.WriteString(Header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
