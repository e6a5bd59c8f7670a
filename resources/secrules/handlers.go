package secrules

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// Handlers serve /rules.
type Handlers struct {
	Store   *store.Store
	Guard   *guard.Guard
	Manager *Manager
	// Impact, when set, gives dry-run imports their impact.
	Impact ImpactFunc

	listCache listCache // the rule set for GET /rules searches
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/rules", h.list)
	r.Post("/rules", h.create)
	r.Post("/rules/validate", h.validate)
	r.Get("/rules/templates", h.templates)
	r.Get("/rules/vocabulary", h.vocabulary)
	r.Post("/rules/import", h.importRules)
	r.Get("/rules/export", h.export)
	r.Get("/rules/schema", h.schema)
	r.Get("/rules/:id", h.get)
	r.Put("/rules/:id", h.replace)
	r.Delete("/rules/:id", h.delete)
}

func ruleResource(r *store.Rule) authz.Resource {
	return authz.Resource{Type: "rule", ID: r.ID, Name: r.Name}
}

// body is a rule as clients send it.
type body struct {
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	ResourceFilter string   `json:"resourceFilter"`
	Condition      string   `json:"condition"`
	Actions        []string `json:"actions"`
	Context        string   `json:"context"`
	Disabled       bool     `json:"disabled"`
	Type           string   `json:"type"`
}

func (b *body) rule() *store.Rule {
	ctx := b.Context
	if ctx == "" {
		ctx = rules.ContextBoth
	}
	return &store.Rule{Name: b.Name, Description: b.Description, ResourceFilter: b.ResourceFilter,
		Condition: b.Condition, Actions: b.Actions, Context: ctx, Disabled: b.Disabled, Type: b.Type}
}

// invalid is the 400 for a rule with errors: the first error's position
// in details.line/column/field, every diagnostic in details.diagnostics.
func invalid(diags []rules.Diagnostic) error {
	first := diags[0]
	for _, d := range diags {
		if d.Severity != rules.SeverityWarning {
			first = d
			break
		}
	}
	return apierror.New(http.StatusBadRequest, "invalid_rule", first.Message, map[string]any{
		"field": first.Field, "line": first.Line, "column": first.Column, "hint": first.Hint, "diagnostics": diags,
	})
}

// checkOne checks a single rule's fields.
func (h *Handlers) checkOne(r *store.Rule) error {
	if strings.TrimSpace(r.Name) == "" {
		return apierror.Field("missing_name", "name", "a rule needs a name")
	}
	if diags := h.Manager.Checker().Check(toRule(r)); rules.HasErrors(diags) {
		return invalid(diags)
	}
	return nil
}

// checkSet proves that the rule set with r replacing (or added as) rule
// r.ID still compiles; del drops r.ID instead (Manager.CheckRule: only
// r's part is compiled).
func (h *Handlers) checkSet(c fiber.Ctx, r *store.Rule, del bool) error {
	err := h.Manager.CheckRule(c.Context(), r, del)
	var er *errRules
	if errors.As(err, &er) {
		return invalid(er.diags)
	}
	if err != nil {
		return apierror.New(http.StatusBadRequest, "rules_do_not_compile", err.Error(), nil)
	}
	return nil
}

func (h *Handlers) list(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	q := c.Queries()
	if q["q"] != "" || q["sort"] != "" || q["order"] != "" || q["offset"] != "" {
		return h.search(c)
	}
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	all, _, err := h.listCache.rules(c.Context(), h.Store)
	if err != nil {
		return err
	}
	items, next, err := idPage(all, p)
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

// idPage is the page p of rules in _id order (all is), as
// store.Rules.List would answer it: the embedded database does not push a
// sort down and would decode the whole collection for every page.
func idPage(all []store.Rule, p store.Page) ([]store.Rule, string, error) {
	start := 0
	if p.Cursor != "" {
		after, err := store.DecodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		start = sort.Search(len(all), func(i int) bool { return all[i].ID > after })
	}
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	limit = min(limit, store.MaxPageSize)
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = store.EncodeCursor(all[end-1].ID)
	}
	return all[start:end], next, nil
}

func (h *Handlers) get(c fiber.Ctx) error {
	r, err := h.Store.Rules.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("rule", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "read", ruleResource(r)); err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.JSON(r)
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func (h *Handlers) create(c fiber.Ctx) error {
	var b body
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	r := b.rule()
	if r.Type == "" {
		r.Type = store.RuleCustom
	}
	if r.Type != store.RuleCustom {
		return apierror.Field("bad_type", "type", "rules created through the API are custom")
	}
	if err := h.Guard.Require(c, guard.Console, "create", ruleResource(r)); err != nil {
		return err
	}
	if err := h.checkOne(r); err != nil {
		return err
	}
	r.ID = store.NewIDFor(c.Context())
	r.UpdatedBy = identity.CallerOf(c).User.ID
	if err := h.checkSet(c, r, false); err != nil {
		return err
	}
	if err := h.Store.Rules.Create(c.Context(), r); err != nil {
		return err
	}
	return h.changed(c, http.StatusCreated, "rule.created", r, false)
}

// changed bumps the revision, puts the write of r (del: its deletion) in
// force here, records the event and answers.
func (h *Handlers) changed(c fiber.Ctx, status int, event string, r *store.Rule, del bool) error {
	rev, err := h.Manager.ChangedRule(c.Context(), r, del)
	if err != nil {
		return err
	}
	if err := h.Store.Events.Add(c.Context(), EventSource, event, identity.CallerOf(c).User.ID,
		map[string]any{"ruleId": r.ID, "name": r.Name, "revision": rev}); err != nil {
		return err
	}
	if status == http.StatusNoContent {
		return c.SendStatus(status)
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	c.Set("X-Rules-Revision", strconv.FormatInt(rev, 10))
	return c.Status(status).JSON(r)
}

// ifMatch reads If-Match: the version the client last saw; 0 when absent.
func ifMatch(c fiber.Ctx) (int64, error) {
	v := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil {
		return 0, apierror.Field("bad_if_match", "If-Match", "If-Match is the ETag of the rule (its version)")
	}
	return n, nil
}

func (h *Handlers) replace(c fiber.Ctx) error {
	var b body
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	want, err := ifMatch(c)
	if err != nil {
		return err
	}
	cur, err := h.Store.Rules.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("rule", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "update", ruleResource(cur)); err != nil {
		return err
	}
	if cur.Type == store.RuleReadOnly {
		return apierror.New(http.StatusConflict, "rule_readonly", fmt.Sprintf("rule %q is read only", cur.Name), nil)
	}
	if want != 0 && want != cur.Version {
		return apierror.New(http.StatusPreconditionFailed, "stale_version",
			fmt.Sprintf("the rule is at version %d, not %d", cur.Version, want), map[string]any{"version": cur.Version})
	}
	r := b.rule()
	r.ID = cur.ID
	// A default rule becomes custom when edited (seed 004).
	r.Type = store.RuleCustom
	r.UpdatedBy = identity.CallerOf(c).User.ID
	if err := h.checkOne(r); err != nil {
		return err
	}
	if err := h.checkSet(c, r, false); err != nil {
		return err
	}
	out, err := h.Store.Rules.Replace(c.Context(), cur.ID, cur.Version, r)
	if errors.Is(err, store.ErrConflict) {
		return apierror.New(http.StatusPreconditionFailed, "stale_version", "the rule changed meanwhile", nil)
	}
	if err != nil {
		return err
	}
	return h.changed(c, http.StatusOK, "rule.updated", out, false)
}

func (h *Handlers) delete(c fiber.Ctx) error {
	cur, err := h.Store.Rules.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("rule", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "delete", ruleResource(cur)); err != nil {
		return err
	}
	if cur.Type == store.RuleReadOnly {
		return apierror.New(http.StatusConflict, "rule_readonly", fmt.Sprintf("rule %q is read only", cur.Name), nil)
	}
	if err := h.Store.Rules.Delete(c.Context(), cur.ID); err != nil {
		return err
	}
	return h.changed(c, http.StatusNoContent, "rule.deleted", cur, true)
}

// validate answers {valid, diagnostics, rego} for an unsaved rule.
func (h *Handlers) validate(c fiber.Ctx) error {
	var b body
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	r := b.rule()
	r.ID = "preview"
	if r.Name == "" {
		r.Name = "unsaved rule"
	}
	rego, diags := rules.CompileRule(toRule(r), h.Manager.Vocabulary())
	if diags == nil {
		diags = []rules.Diagnostic{}
	}
	valid := !rules.HasErrors(diags)
	if !valid {
		rego = ""
	}
	return c.JSON(fiber.Map{"valid": valid, "diagnostics": diags, "rego": rego})
}

// vocabulary answers the resource types, attributes and actions the
// condition language knows: the console's suggestions.
func (h *Handlers) vocabulary(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	return c.JSON(h.Manager.Vocabulary())
}

func (h *Handlers) templates(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"}); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": Templates()})
}
