package secrules

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/rulefile"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// ImpactFunc answers the access gained and lost when the current rule set
// is replaced by proposed (package analysis provides it).
type ImpactFunc func(ctx context.Context, current, proposed []rules.Rule) (*authz.ImpactResult, error)

// Change is one step of an import: op is create, update or delete.
type Change struct {
	Op   string `json:"op"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// Fields lists what an update changes.
	Fields []string `json:"fields,omitempty"`
}

// ImportResult answers POST /rules/import.
type ImportResult struct {
	DryRun    bool     `json:"dryRun"`
	Mode      string   `json:"mode"` // upsert or replace
	Created   int      `json:"created"`
	Updated   int      `json:"updated"`
	Deleted   int      `json:"deleted"`
	Unchanged int      `json:"unchanged"`
	Changes   []Change `json:"changes"`
	// Impact is the access the import gains and loses (dry runs only).
	Impact *authz.ImpactResult `json:"impact,omitempty"`
	// Revision is the rules revision after the import (0 for a dry run).
	Revision int64 `json:"revision"`
}

// schema serves the rule file format as JSON Schema.
func (h *Handlers) schema(c fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/schema+json")
	return c.Send(rulefile.Schema())
}

// export answers the whole rule set as a rule file (YAML).
func (h *Handlers) export(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	all, err := h.Store.Rules.All(c.Context())
	if err != nil {
		return err
	}
	out, err := rulefile.Marshal(all)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/yaml; charset=utf-8")
	return c.Send(out)
}

// fileError is the 400 of a rule file that cannot be read or does not
// check: the first problem's position in details, all of them in
// details.problems.
func fileError(code string, ps rulefile.Problems) error {
	first := ps[0]
	for _, p := range ps {
		if p.Severity != rules.SeverityWarning {
			first = p
			break
		}
	}
	return apierror.New(http.StatusBadRequest, code, first.String(), map[string]any{
		"line": first.Line, "column": first.Column, "rule": first.Rule, "field": first.Field, "problems": ps,
	})
}

// importQuery reads ?mode=upsert|replace and ?dryRun=true; anything else is refused.
func importQuery(c fiber.Ctx) (mode string, dryRun bool, err error) {
	mode = "upsert"
	for k, v := range c.Queries() {
		switch k {
		case "mode":
			if v != "upsert" && v != "replace" {
				return "", false, apierror.Field("bad_mode", "mode", "mode is upsert (the default) or replace")
			}
			mode = v
		case "dryRun":
			b, perr := strconv.ParseBool(v)
			if perr != nil {
				return "", false, apierror.Field("bad_dry_run", "dryRun", "dryRun is true or false")
			}
			dryRun = b
		default:
			return "", false, apierror.Field("unknown_parameter", k, fmt.Sprintf("unknown query parameter %q: import takes mode and dryRun", k))
		}
	}
	return mode, dryRun, nil
}

// changedFields lists the fields in which a file's rule differs from the stored one.
func changedFields(old, r *store.Rule) []string {
	var out []string
	add := func(name string, differs bool) {
		if differs {
			out = append(out, name)
		}
	}
	add("name", old.Name != r.Name)
	add("description", old.Description != r.Description)
	add("resourceFilter", old.ResourceFilter != r.ResourceFilter)
	add("condition", old.Condition != r.Condition)
	add("actions", !slices.Equal(old.Actions, r.Actions))
	add("context", !strings.EqualFold(old.Context, r.Context))
	add("disabled", old.Disabled != r.Disabled)
	add("type", old.Type != r.Type)
	return out
}

// plan is what an import would do.
type plan struct {
	result   ImportResult
	proposed []store.Rule          // the whole set after the import
	writes   []store.Rule          // creates and updates, in file order
	deletes  []store.Rule          // rules the import removes (replace mode)
	before   map[string]store.Rule // the stored set by id
	entry    map[string]int        // the file's rules: id → index in the file's entries
}

// planImport matches the file's rules to the stored ones (by id, else by
// name), and works out creates, updates, deletes (replace mode) and what
// stays unchanged. Read-only rules may appear unchanged, never changed.
func planImport(f *rulefile.File, current []store.Rule, mode string) (*plan, error) {
	p := &plan{before: make(map[string]store.Rule, len(current)), entry: make(map[string]int, len(f.Entries)),
		writes: make([]store.Rule, 0, len(f.Entries)), result: ImportResult{Mode: mode, Changes: make([]Change, 0, len(f.Entries))}}
	byName := make(map[string][]string, len(current))
	for _, r := range current {
		p.before[r.ID] = r
		k := strings.ToLower(strings.TrimSpace(r.Name))
		byName[k] = append(byName[k], r.ID)
	}
	next := make(map[string]store.Rule, len(current)+len(f.Entries))
	if mode == "upsert" {
		for _, r := range current {
			next[r.ID] = r
		}
	}
	matched := make(map[string]bool, len(f.Entries))
	for i := range f.Entries {
		e := &f.Entries[i]
		r := e.Rule
		label := e.Label()
		if r.ID == "" {
			switch ids := byName[strings.ToLower(strings.TrimSpace(r.Name))]; len(ids) {
			case 0:
				r.ID = store.NewID()
			case 1:
				r.ID = ids[0]
			default:
				return nil, apierror.New(http.StatusConflict, "ambiguous_name",
					fmt.Sprintf("line %d: rule %s has no id and %d stored rules have that name; give its id", e.Line, label, len(ids)),
					map[string]any{"line": e.Line, "column": e.Column, "rule": label, "field": "id", "candidates": ids})
			}
		}
		if matched[r.ID] {
			return nil, apierror.New(http.StatusBadRequest, "duplicate_rule",
				fmt.Sprintf("line %d: rule %s is the stored rule %q, which an earlier rule of the file already is", e.Line, label, r.ID),
				map[string]any{"line": e.Line, "column": e.Column, "rule": label, "field": "id"})
		}
		matched[r.ID] = true
		p.entry[r.ID] = i
		old, exists := p.before[r.ID]
		if !exists {
			if r.Type == store.RuleReadOnly {
				return nil, apierror.New(http.StatusBadRequest, "bad_type",
					fmt.Sprintf("line %d: rule %s: read-only rules are shipped with rulekeeper; a file cannot create one", e.Line, label),
					map[string]any{"line": e.Line, "column": e.Column, "rule": label, "field": "type"})
			}
			next[r.ID] = r
			p.writes = append(p.writes, r)
			p.result.Created++
			p.result.Changes = append(p.result.Changes, Change{Op: "create", ID: r.ID, Name: r.Name})
			continue
		}
		if !e.Has("type") {
			r.Type = old.Type // a file without types keeps the stored ones
		}
		fields := changedFields(&old, &r)
		if len(fields) == 0 {
			next[r.ID] = old
			p.result.Unchanged++
			continue
		}
		if old.Type == store.RuleReadOnly {
			return nil, apierror.New(http.StatusConflict, "rule_readonly",
				fmt.Sprintf("line %d: rule %s is read only and the file changes its %s", e.Line, label, strings.Join(fields, ", ")),
				map[string]any{"line": e.Line, "column": e.Column, "rule": label, "id": r.ID, "fields": fields})
		}
		if r.Type == store.RuleReadOnly {
			return nil, apierror.New(http.StatusBadRequest, "bad_type",
				fmt.Sprintf("line %d: rule %s: a file cannot make a rule read only", e.Line, label),
				map[string]any{"line": e.Line, "column": e.Column, "rule": label, "field": "type"})
		}
		// A default rule becomes custom when edited (seed 004).
		if old.Type == store.RuleDefault && !slices.Equal(fields, []string{"type"}) {
			r.Type = store.RuleCustom
		}
		r.Version, r.CreatedAt = old.Version, old.CreatedAt
		next[r.ID] = r
		p.writes = append(p.writes, r)
		p.result.Updated++
		p.result.Changes = append(p.result.Changes, Change{Op: "update", ID: r.ID, Name: r.Name, Fields: fields})
	}
	if mode == "replace" {
		for _, r := range current {
			if matched[r.ID] {
				continue
			}
			if r.Type == store.RuleReadOnly {
				return nil, apierror.New(http.StatusConflict, "rule_readonly",
					fmt.Sprintf("rule %q is read only and cannot be deleted: keep it in the file (rules export writes it)", r.Name),
					map[string]any{"id": r.ID, "rule": strconv.Quote(r.Name)})
			}
			p.deletes = append(p.deletes, r)
			p.result.Deleted++
			p.result.Changes = append(p.result.Changes, Change{Op: "delete", ID: r.ID, Name: r.Name})
		}
	}
	p.proposed = make([]store.Rule, 0, len(next))
	for _, r := range next {
		p.proposed = append(p.proposed, r)
	}
	slices.SortFunc(p.proposed, func(a, b store.Rule) int { return strings.Compare(a.ID, b.ID) })
	return p, nil
}

// importRules applies a rule file: an upsert by default (rules matched by
// id, else by name, are updated when they differ, new ones created, the
// others left alone), or with ?mode=replace the stored set becomes the
// file's. ?dryRun=true answers the change set and its impact and writes
// nothing. Everything is checked, and the resulting set compiled, before
// the first write; if a write fails, what was written is put back.
func (h *Handlers) importRules(c fiber.Ctx) error {
	mode, dryRun, err := importQuery(c)
	if err != nil {
		return err
	}
	f, err := rulefile.Parse(c.Body())
	if err != nil {
		var ps rulefile.Problems
		if errors.As(err, &ps) {
			return fileError("bad_rule_file", ps)
		}
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "create", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	// The rules' language is checked below, with the set they make with
	// the stored rules (one index, the one put in force).
	if ps := f.ValidateFile(h.Manager.Vocabulary()); ps.HasErrors() {
		return fileError("invalid_rule", ps)
	}
	ctx := c.Context()
	prep, err := h.Manager.Prepare(ctx)
	if err != nil {
		return err
	}
	current, err := h.Store.Rules.All(ctx)
	if err != nil {
		return err
	}
	p, err := planImport(f, current, mode)
	if err != nil {
		return err
	}
	if err := h.Manager.CheckPrepared(ctx, prep, p.proposed); err != nil {
		var er *errRules
		if errors.As(err, &er) {
			return fileError("invalid_rule", f.Diagnosed(er.diags, func(id string) int {
				if i, ok := p.entry[id]; ok {
					return i
				}
				return -1
			}))
		}
		return apierror.New(http.StatusBadRequest, "rules_do_not_compile", err.Error(), nil)
	}
	res := p.result
	if dryRun {
		res.DryRun = true
		if h.Impact != nil {
			res.Impact, err = h.Impact(ctx, toRules(current), toRules(p.proposed))
			if err != nil {
				return err
			}
		}
		return c.JSON(res)
	}
	if len(res.Changes) == 0 {
		rev, err := h.Store.Rules.Revision(ctx)
		if err != nil {
			return err
		}
		res.Revision = rev
		return c.JSON(res)
	}
	by := identity.CallerOf(c).User.ID
	if err := h.apply(ctx, p, by); err != nil {
		return err
	}
	rev, err := h.Manager.ChangedSet(ctx, prep)
	if err != nil {
		return err
	}
	res.Revision = rev
	if err := h.Store.Events.Add(ctx, EventSource, "rules.imported", by, map[string]any{
		"mode": mode, "created": res.Created, "updated": res.Updated, "deleted": res.Deleted, "revision": rev,
	}); err != nil {
		return err
	}
	if len(res.Changes) >= collectAfter {
		// The import's transient memory (the file, the plan, the bulk
		// insert, the index and module it replaced) is collected and
		// returned now, in the request that made it, not by the
		// collector in the middle of the next rule writes.
		debug.FreeOSMemory()
	}
	return c.JSON(res)
}

// collectAfter is the number of changes from which an import collects its
// garbage before it answers (about 0.1 s of CPU at 10,000 rules).
const collectAfter = 1000

// apply writes a plan: creates and updates in bulk (Rules.PutMany: an
// import of thousands of rules is a few round trips) — new rules at version
// 1, updated ones at the next version with createdAt kept — then deletes;
// on a failure the rules already touched are put back as they were.
func (h *Handlers) apply(ctx context.Context, p *plan, by string) error {
	touched := make([]string, 0, len(p.writes)+len(p.deletes))
	undo := func(cause error) error {
		for _, id := range touched {
			if old, ok := p.before[id]; ok {
				_ = h.Store.Rules.Put(ctx, &old)
			} else {
				_ = h.Store.Rules.Delete(ctx, id)
			}
		}
		return fmt.Errorf("import stopped and was undone: %w", cause)
	}
	now := time.Now().UTC()
	batch := make([]store.Rule, 0, len(p.writes))
	for _, r := range p.writes {
		r.UpdatedBy, r.UpdatedAt = by, now
		if old, ok := p.before[r.ID]; ok {
			r.Version, r.CreatedAt = old.Version+1, old.CreatedAt
		} else {
			r.Version, r.CreatedAt = 1, now
		}
		if r.Actions == nil {
			r.Actions = []string{}
		}
		batch = append(batch, r)
		touched = append(touched, r.ID)
	}
	if len(batch) > 0 {
		if err := h.Store.Rules.PutMany(ctx, batch); err != nil {
			return undo(err)
		}
	}
	for _, r := range p.deletes {
		if err := h.Store.Rules.Delete(ctx, r.ID); err != nil {
			return undo(err)
		}
		touched = append(touched, r.ID)
	}
	return nil
}
