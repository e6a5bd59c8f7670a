package secrules

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"
	"go.yaml.in/yaml/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// File is a rule set as YAML: `rulekeeper rules export` writes it,
// `rulekeeper rules import` and `rulekeeper validate` read it.
type File struct {
	Rules []store.Rule `yaml:"rules" json:"rules"`
}

// ParseFile reads a YAML (or JSON) rule file strictly.
func ParseFile(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	for i := range f.Rules {
		if f.Rules[i].Context == "" {
			f.Rules[i].Context = rules.ContextBoth
		}
		if f.Rules[i].Type == "" {
			f.Rules[i].Type = store.RuleCustom
		}
	}
	return &f, nil
}

// Marshal writes a rule file as YAML.
func (f *File) Marshal() ([]byte, error) { return yaml.Marshal(f) }

// Validate checks every rule of the file and the set as a whole (ids
// unique, every rule named) and returns the diagnostics, each naming its
// rule.
func (f *File) Validate(v *rules.Vocabulary) []rules.Diagnostic {
	var out []rules.Diagnostic
	seen := map[string]bool{}
	for i := range f.Rules {
		r := &f.Rules[i]
		id := r.ID
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
			out = append(out, rules.Diagnostic{RuleID: id, Field: "id", Line: 1, Column: 1, Message: "the rule has no id", Severity: "error"})
		} else if seen[id] {
			out = append(out, rules.Diagnostic{RuleID: id, Field: "id", Line: 1, Column: 1, Message: "the id is used twice", Severity: "error"})
		}
		seen[id] = true
		if strings.TrimSpace(r.Name) == "" {
			out = append(out, rules.Diagnostic{RuleID: id, Field: "name", Line: 1, Column: 1, Message: "the rule has no name", Severity: "error"})
		}
		for _, d := range rules.Check(toRule(r), v) {
			d.RuleID = id
			out = append(out, d)
		}
	}
	if !rules.HasErrors(out) {
		ix, err := rules.NewIndex(v)
		if err != nil {
			return append(out, rules.Diagnostic{Field: "vocabulary", Line: 1, Column: 1, Message: err.Error(), Severity: "error"})
		}
		out = append(out, ix.Build(toRules(f.Rules))...)
	}
	return out
}

// importRules writes a whole rule file or nothing: every rule is checked
// and the resulting set compiled before the first write; if a write fails,
// the rules already written are put back as they were.
func (h *Handlers) importRules(c fiber.Ctx) error {
	f, err := ParseFile(c.Body())
	if err != nil {
		return apierror.Field("bad_rule_file", "body", err.Error())
	}
	if err := h.Guard.Require(c, guard.Console, "create", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	if diags := f.Validate(h.Manager.vocab); rules.HasErrors(diags) {
		return invalid(diags)
	}
	ctx := c.Context()
	current, err := h.Store.Rules.All(ctx)
	if err != nil {
		return err
	}
	byID := map[string]store.Rule{}
	for _, r := range current {
		byID[r.ID] = r
	}
	next := map[string]store.Rule{}
	for k, v := range byID {
		next[k] = v
	}
	for _, r := range f.Rules {
		if old, ok := byID[r.ID]; ok && old.Type == store.RuleReadOnly {
			return apierror.New(http.StatusConflict, "rule_readonly", fmt.Sprintf("rule %q is read only", old.Name), map[string]any{"rule": r.ID})
		}
		next[r.ID] = r
	}
	set := make([]store.Rule, 0, len(next))
	for _, r := range next {
		set = append(set, r)
	}
	if err := h.Manager.Check(ctx, set); err != nil {
		var er *errRules
		if errors.As(err, &er) {
			return invalid(er.diags)
		}
		return apierror.New(http.StatusBadRequest, "rules_do_not_compile", err.Error(), nil)
	}
	by := identity.CallerOf(c).User.ID
	batch := make([]store.Rule, len(f.Rules))
	ids := make([]string, len(f.Rules))
	for i := range f.Rules {
		r := f.Rules[i]
		r.UpdatedBy = by
		r.Version = byID[r.ID].Version + 1
		if r.CreatedAt.IsZero() {
			r.CreatedAt = byID[r.ID].CreatedAt
		}
		batch[i], ids[i] = r, r.ID
	}
	if err := h.Store.Rules.PutMany(ctx, batch); err != nil {
		h.restore(c, ids, byID)
		return fmt.Errorf("import stopped and was undone: %w", err)
	}
	rev, err := h.Manager.Changed(ctx)
	if err != nil {
		return err
	}
	if err := h.Store.Events.Add(ctx, EventSource, "rules.imported", by, map[string]any{"rules": len(f.Rules), "revision": rev}); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"imported": len(f.Rules), "revision": rev})
}

// restore puts back the rules an interrupted import had written.
func (h *Handlers) restore(c fiber.Ctx, written []string, before map[string]store.Rule) {
	for _, id := range written {
		if old, ok := before[id]; ok {
			_ = h.Store.Rules.Put(c.Context(), &old)
		} else {
			_ = h.Store.Rules.Delete(c.Context(), id)
		}
	}
}
