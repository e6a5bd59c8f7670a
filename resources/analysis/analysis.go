// Package analysis serves the rule tools that show what a change would do
// before it is made (issue 8): POST /rules/preview (what one unsaved rule
// would grant), POST /rules/impact (access gained and lost by a proposed
// change set; nothing is applied) and POST /audit (the effective access
// matrix, as JSON or CSV). Handlers parse and validate, load the scope from
// the store once (Loader), and hand the work to authz.Preview, authz.Impact
// and authz.Audit, which evaluate without touching the store again.
package analysis

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Limits of one answer.
const (
	// MaxImpactItems bounds each of the gained and lost lists (the summary
	// still counts everything).
	MaxImpactItems = 10_000
	// MaxCSVCells bounds one CSV export; X-Next-Cursor continues it.
	MaxCSVCells = 100_000
)

// Handlers serve the rule tools.
type Handlers struct {
	Store      *store.Store
	Guard      *guard.Guard
	Engine     *authz.Engine
	Loader     *Loader
	Vocabulary *rules.Vocabulary // nil: rules.DefaultVocabulary()
	// Types, when set, is the resource type registry: its vocabulary in
	// force wins over Vocabulary.
	Types *authz.Types
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Post("/rules/preview", h.preview)
	r.Post("/rules/impact", h.impact)
	r.Post("/audit", h.audit)
}

func (h *Handlers) vocab() *rules.Vocabulary {
	if h.Types != nil {
		return h.Types.RulesVocabulary()
	}
	if h.Vocabulary == nil {
		h.Vocabulary = rules.DefaultVocabulary()
	}
	return h.Vocabulary
}

// ruleBody is a rule as clients send it (the fields of POST /rules).
type ruleBody struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	ResourceFilter string   `json:"resourceFilter"`
	Condition      string   `json:"condition"`
	Actions        []string `json:"actions"`
	Context        string   `json:"context"`
	Disabled       bool     `json:"disabled"`
	Type           string   `json:"type"`
}

func (b *ruleBody) rule(id string) rules.Rule {
	ctx := b.Context
	if ctx == "" {
		ctx = rules.ContextBoth
	}
	name := b.Name
	if strings.TrimSpace(name) == "" {
		name = "unsaved rule"
	}
	return rules.Rule{ID: id, Name: name, Description: b.Description, ResourceFilter: b.ResourceFilter,
		Condition: b.Condition, Actions: b.Actions, Context: ctx, Disabled: b.Disabled, Type: b.Type}
}

func toRule(r *store.Rule) rules.Rule {
	return rules.Rule{ID: r.ID, Name: r.Name, Description: r.Description, ResourceFilter: r.ResourceFilter,
		Condition: r.Condition, Actions: r.Actions, Context: r.Context, Disabled: r.Disabled, Type: r.Type}
}

// storedTypes are the types an analysis can load: the platform's stored
// types and the external types of the registry (their stored resources).
func (h *Handlers) storedTypes() []string {
	out := StoredTypes()
	if h.Types != nil {
		for _, e := range h.Types.Externals() {
			out = append(out, e.Name)
		}
	}
	return out
}

// knownActions are the platform's actions and the external types'.
func (h *Handlers) knownActions() []string {
	known := slices.Clone(h.vocab().Actions)
	if h.Types != nil {
		for _, e := range h.Types.Externals() {
			for _, a := range e.Actions {
				known = append(known, a.Name)
			}
		}
	}
	return known
}

// scopeBody narrows the population of a preview, an impact or an audit.
type scopeBody struct {
	Users          []string `json:"users"`
	Groups         []string `json:"groups"`
	ResourceType   string   `json:"resourceType"`
	ResourceFilter string   `json:"resourceFilter"`
	Actions        []string `json:"actions"`
	Environment    string   `json:"environment"`
}

// invalidRule is the 400 for a rule with errors; prefix names where the
// rule sits in the body.
func invalidRule(prefix string, diags []rules.Diagnostic) error {
	first := diags[0]
	for _, d := range diags {
		if d.Severity != rules.SeverityWarning {
			first = d
			break
		}
	}
	return apierror.New(http.StatusBadRequest, "invalid_rule", first.Message, map[string]any{
		"field": prefix + first.Field, "line": first.Line, "column": first.Column, "hint": first.Hint, "diagnostics": diags,
	})
}

// validate checks the scope fields and answers the normalised actions and
// a matcher for resourceFilter (nil when absent).
func (h *Handlers) validate(b *scopeBody) ([]string, *authz.RuleMatcher, error) {
	known := h.knownActions()
	var actions []string
	for i, a := range b.Actions {
		n := authz.NormalizeAction(a)
		if !slices.Contains(known, n) {
			return nil, nil, apierror.Field("unknown_action", fmt.Sprintf("actions[%d]", i), fmt.Sprintf("unknown action %q", a))
		}
		actions = append(actions, n)
	}
	switch b.Environment {
	case "", guard.Hub, guard.Console:
	default:
		return nil, nil, apierror.Field("bad_environment", "environment", "the environment is hub or console")
	}
	if stored := h.storedTypes(); b.ResourceType != "" && !slices.Contains(stored, b.ResourceType) {
		return nil, nil, apierror.New(http.StatusBadRequest, "unknown_resource_type",
			fmt.Sprintf("resourceType %q is not a stored resource type", b.ResourceType),
			map[string]any{"field": "resourceType", "allowed": stored})
	}
	var filter *authz.RuleMatcher
	if strings.TrimSpace(b.ResourceFilter) != "" {
		if _, diags := rules.ParseFilter(b.ResourceFilter); rules.HasErrors(diags) {
			return nil, nil, invalidRule("", diags)
		}
		filter = authz.NewRuleMatcher(rules.Rule{ID: "filter", Name: "filter", ResourceFilter: b.ResourceFilter,
			Actions: []string{"read"}, Context: rules.ContextBoth}, h.vocab())
	}
	return actions, filter, nil
}

// scope loads the users and the resources of the types some matcher may
// select, narrowed by the body.
func (h *Handlers) scope(ctx context.Context, b *scopeBody, filter *authz.RuleMatcher, ms ...*authz.RuleMatcher) (*authz.Scope, error) {
	us, err := h.Loader.Users(ctx, b.Users, b.Groups)
	var unknown *UnknownError
	if errors.As(err, &unknown) {
		return nil, apierror.Field("unknown_"+strings.TrimSuffix(unknown.Kind, "s"),
			fmt.Sprintf("%s[%d]", unknown.Kind, unknown.Index), unknown.Error())
	}
	if err != nil {
		return nil, err
	}
	subjects, err := h.Loader.Subjects(ctx, us)
	if err != nil {
		return nil, err
	}
	var types []string
	for _, t := range h.storedTypes() {
		if b.ResourceType != "" && t != b.ResourceType {
			continue
		}
		if filter != nil && filter.Selects(t, "") == authz.False {
			continue
		}
		if ms == nil || slices.ContainsFunc(ms, func(m *authz.RuleMatcher) bool { return m.Selects(t, "") != authz.False }) {
			types = append(types, t)
		}
	}
	var keep func(typ, id string) bool
	if filter != nil {
		keep = func(typ, id string) bool { return filter.Selects(typ, id) != authz.False }
	}
	resources, err := h.Loader.Resources(ctx, types, keep)
	if err != nil {
		return nil, err
	}
	return authz.NewScope(subjects, resources), nil
}

// page reads ?limit= (1 … max, default def) and ?cursor=.
func page(c fiber.Ctx, def, maxLimit int) (int, *authz.AccessKey, error) {
	limit := def
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return 0, nil, apierror.Field("bad_limit", "limit", fmt.Sprintf("limit is a number from 1 to %d", maxLimit))
		}
		limit = n
	}
	cur := c.Query("cursor")
	if cur == "" {
		return limit, nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	var k authz.AccessKey
	if err == nil {
		err = json.Unmarshal(raw, &k)
	}
	if err != nil || k.UserID == "" {
		return 0, nil, apierror.Field("bad_cursor", "cursor", "the cursor is not one this server issued")
	}
	return limit, &k, nil
}

func cursor(k authz.AccessKey) string {
	raw, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func (h *Handlers) allow(c fiber.Ctx) error {
	return h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "rule"})
}

func (h *Handlers) currentRules(c fiber.Ctx) ([]rules.Rule, map[string]*store.Rule, error) {
	all, err := h.Store.Rules.All(c.Context())
	if err != nil {
		return nil, nil, err
	}
	out := make([]rules.Rule, 0, len(all))
	byID := make(map[string]*store.Rule, len(all))
	for i := range all {
		out = append(out, toRule(&all[i]))
		byID[all[i].ID] = &all[i]
	}
	return out, byID, nil
}

// ---- preview ----

type previewBody struct {
	Rule *ruleBody `json:"rule"`
	scopeBody
}

func (h *Handlers) preview(c fiber.Ctx) error {
	var b previewBody
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	if err := h.allow(c); err != nil {
		return err
	}
	if b.Rule == nil {
		return apierror.Field("missing_rule", "rule", "the rule to preview is required")
	}
	limit, after, err := page(c, store.DefaultPageSize, store.MaxPageSize)
	if err != nil {
		return err
	}
	actions, filter, err := h.validate(&b.scopeBody)
	if err != nil {
		return err
	}
	rule := b.Rule.rule(authz.PreviewRuleID)
	rule.Disabled = false // disabled rules grant nothing but can be previewed (seed 004)
	if diags := rules.Check(rule, h.vocab()); rules.HasErrors(diags) {
		return invalidRule("rule.", diags)
	}
	current, _, err := h.currentRules(c)
	if err != nil {
		return err
	}
	sc, err := h.scope(c.Context(), &b.scopeBody, filter, authz.NewRuleMatcher(rule, h.vocab()))
	if err != nil {
		return err
	}
	res, err := authz.Preview(c.Context(), h.Engine, sc, authz.PreviewRequest{Rule: rule, Current: current,
		Vocabulary: h.vocab(), Actions: actions, Environment: b.Environment, After: after, Limit: limit})
	if err != nil {
		return analysisError(err, "rule.")
	}
	next := ""
	if res.More && len(res.Items) > 0 {
		next = cursor(res.Items[len(res.Items)-1].Key())
	}
	return c.JSON(fiber.Map{"items": listing.Array(res.Items), "counts": res.Counts, "next": next})
}

func analysisError(err error, prefix string) error {
	var inv *authz.InvalidRuleError
	if errors.As(err, &inv) {
		return invalidRule(prefix, inv.Diagnostics)
	}
	return err
}

// ---- impact ----

type change struct {
	Op   string    `json:"op"`
	ID   string    `json:"id"`
	Rule *ruleBody `json:"rule"`
}

type impactBody struct {
	Changes []change `json:"changes"`
	scopeBody
}

// propose applies the changes to a copy of the current set.
func (h *Handlers) propose(current []rules.Rule, stored map[string]*store.Rule, changes []change) ([]rules.Rule, error) {
	if len(changes) == 0 {
		return nil, apierror.Field("missing_changes", "changes", "name at least one change: add, update, delete, disable or enable")
	}
	next := slices.Clone(current)
	find := func(id string) int { return slices.IndexFunc(next, func(r rules.Rule) bool { return r.ID == id }) }
	for i, ch := range changes {
		field := fmt.Sprintf("changes[%d]", i)
		if !slices.Contains([]string{"add", "update", "delete", "disable", "enable"}, ch.Op) {
			return nil, apierror.Field("bad_op", field+".op", "op is add, update, delete, disable or enable")
		}
		if ch.Op != "add" {
			if ch.ID == "" {
				return nil, apierror.Field("missing_id", field+".id", ch.Op+" needs the id of a rule")
			}
			if find(ch.ID) < 0 {
				return nil, apierror.Field("unknown_rule", field+".id", fmt.Sprintf("rule %q does not exist (or an earlier change deleted it)", ch.ID))
			}
			if s := stored[ch.ID]; s != nil && s.Type == store.RuleReadOnly {
				return nil, apierror.Field("rule_readonly", field+".id", fmt.Sprintf("rule %q is read only", s.Name))
			}
		}
		if ch.Op != "add" && ch.Op != "update" && ch.Rule != nil {
			return nil, apierror.Field("unexpected_rule", field+".rule", ch.Op+" takes no rule")
		}
		switch ch.Op {
		case "add", "update":
			if ch.Rule == nil {
				return nil, apierror.Field("missing_rule", field+".rule", ch.Op+" needs the rule")
			}
			id := ch.ID
			if ch.Op == "add" {
				if id == "" {
					id = fmt.Sprintf("proposed-%d", i+1)
				}
				if find(id) >= 0 {
					return nil, apierror.Field("duplicate_id", field+".id", fmt.Sprintf("rule %q exists already", id))
				}
			}
			r := ch.Rule.rule(id)
			if r.Type == "" || ch.Op == "update" {
				r.Type = store.RuleCustom
			}
			if diags := rules.Check(r, h.vocab()); rules.HasErrors(diags) {
				return nil, invalidRule(field+".rule.", diags)
			}
			if ch.Op == "add" {
				next = append(next, r)
			} else {
				next[find(id)] = r
			}
		case "delete":
			next = slices.Delete(next, find(ch.ID), find(ch.ID)+1)
		case "disable", "enable":
			next[find(ch.ID)].Disabled = ch.Op == "disable"
		default:
			return nil, apierror.Field("bad_op", field+".op", "op is add, update, delete, disable or enable")
		}
	}
	return next, nil
}

func (h *Handlers) impact(c fiber.Ctx) error {
	var b impactBody
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	if err := h.allow(c); err != nil {
		return err
	}
	limit, _, err := page(c, MaxImpactItems, MaxImpactItems)
	if err != nil {
		return err
	}
	if c.Query("cursor") != "" {
		return apierror.Field("bad_cursor", "cursor", "the impact answers in one piece; narrow it with users, groups, resourceType or actions")
	}
	actions, filter, err := h.validate(&b.scopeBody)
	if err != nil {
		return err
	}
	current, stored, err := h.currentRules(c)
	if err != nil {
		return err
	}
	proposed, err := h.propose(current, stored, b.Changes)
	if err != nil {
		return err
	}
	res, err := h.impactOf(c.Context(), current, proposed, &b.scopeBody, filter, actions, limit)
	if err != nil {
		return analysisError(err, "changes.")
	}
	res.Gained, res.Lost = listing.Array(res.Gained), listing.Array(res.Lost)
	return c.JSON(res)
}

// ImpactOf is the access gained and lost, over every user and stored
// resource, when the rule set current is replaced by proposed; nothing is
// applied. `rules import --dry-run` shows it.
func (h *Handlers) ImpactOf(ctx context.Context, current, proposed []rules.Rule) (*authz.ImpactResult, error) {
	return h.impactOf(ctx, current, proposed, &scopeBody{}, nil, nil, MaxImpactItems)
}

func (h *Handlers) impactOf(ctx context.Context, current, proposed []rules.Rule, b *scopeBody, filter *authz.RuleMatcher, actions []string, limit int) (*authz.ImpactResult, error) {
	// The resource types to load: those any changed rule (as it is or will
	// be) selects, and those of rules whose HasPrivilege may follow them.
	changed := map[string]bool{}
	for _, id := range authz.ChangedRules(current, proposed) {
		changed[id] = true
	}
	var ms []*authz.RuleMatcher
	for _, set := range [][]rules.Rule{current, proposed} {
		for _, r := range set {
			m := authz.NewRuleMatcher(r, h.vocab())
			if m.Valid() && (changed[r.ID] || m.HasPrivilege) {
				ms = append(ms, m)
			}
		}
	}
	if ms == nil {
		ms = []*authz.RuleMatcher{} // nothing can change: load no resources
	}
	sc, err := h.scope(ctx, b, filter, ms...)
	if err != nil {
		return nil, err
	}
	return authz.Impact(ctx, h.Engine, sc, authz.ImpactRequest{Current: current, Proposed: proposed,
		Vocabulary: h.vocab(), Actions: actions, Environment: b.Environment, Limit: limit})
}

// ---- audit ----

func (h *Handlers) audit(c fiber.Ctx) error {
	var b scopeBody
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	if err := h.allow(c); err != nil {
		return err
	}
	asCSV := strings.Contains(c.Get(fiber.HeaderAccept), "text/csv")
	def, maxLimit := store.DefaultPageSize, store.MaxPageSize
	if asCSV {
		def, maxLimit = MaxCSVCells, MaxCSVCells
	}
	limit, after, err := page(c, def, maxLimit)
	if err != nil {
		return err
	}
	if b.ResourceType == "" && strings.TrimSpace(b.ResourceFilter) == "" {
		return apierror.Field("missing_resource_type", "resourceType", "name a resource type or a resource filter")
	}
	if len(b.Actions) == 0 {
		return apierror.Field("missing_actions", "actions", "name the actions of the matrix")
	}
	actions, filter, err := h.validate(&b)
	if err != nil {
		return err
	}
	env := b.Environment
	if env == "" {
		env = guard.Hub
	}
	sc, err := h.scope(c.Context(), &b, filter)
	if err != nil {
		return err
	}
	ev, err := h.Engine.InForce(c.Context())
	if err != nil {
		return err
	}
	res, err := authz.Audit(c.Context(), ev, sc, authz.AuditRequest{Actions: actions, Environment: env, After: after, Limit: limit})
	if err != nil {
		return err
	}
	next := ""
	if res.More && len(res.Cells) > 0 {
		next = cursor(res.Cells[len(res.Cells)-1].Key())
	}
	if asCSV {
		return writeCSV(c, res, env, next)
	}
	return c.JSON(fiber.Map{"cells": listing.Array(res.Cells), "next": next, "revision": res.Revision, "total": res.Total, "environment": env})
}

// writeCSV answers the cells as CSV, one row per cell, with names beside
// the ids; X-Next-Cursor continues a matrix larger than one export.
func writeCSV(c fiber.Ctx, res *authz.AuditResult, env, next string) error {
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write([]string{"userId", "userName", "resourceType", "resourceId", "resourceName", "action", "environment", "allow", "grants", "denies"})
	for _, cell := range res.Cells {
		grants := make([]string, 0, len(cell.Grants))
		for _, g := range cell.Grants {
			grants = append(grants, g.Kind+":"+g.ID)
		}
		denies := make([]string, 0, len(cell.Denies))
		for _, d := range cell.Denies {
			denies = append(denies, d.Reason)
		}
		_ = w.Write([]string{cell.UserID, cell.UserName, cell.ResourceType, cell.ResourceID,
			cell.ResourceName, cell.Action, env, strconv.FormatBool(cell.Allow),
			strings.Join(grants, ";"), strings.Join(denies, ";")})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if next != "" {
		c.Set("X-Next-Cursor", next)
	}
	c.Set("X-Rules-Revision", strconv.FormatInt(res.Revision, 10))
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	return c.SendString(sb.String())
}
