// Package registry serves the resource type registry (/api/v1/types):
// the platform's built-in types, listed read-only, and the external types
// other services define — their actions, their attributes and whether the
// platform's license gates apply to them. A write is checked against the
// stored security rules (a type a rule still uses cannot lose what the
// rule reads), stored, and put in force through the rules revision, which
// every replica follows (secrules.Manager).
package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/secrules"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of resource type events.
const EventSource = "com.rulekeeper/types"

// Handlers serve /types.
type Handlers struct {
	Store   *store.Store
	Guard   *guard.Guard
	Types   *authz.Types
	Manager *secrules.Manager
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/types", h.list)
	r.Post("/types", h.create)
	r.Get("/types/:name", h.get)
	r.Put("/types/:name", h.replace)
	r.Delete("/types/:name", h.delete)
}

func typeResource(name string) authz.Resource {
	return authz.Resource{Type: "resourcetype", ID: name, Name: name}
}

// Item is one type as GET /types lists it: a built-in type (read-only,
// the platform's actions) or an external one.
type Item struct {
	Name         string                `json:"name"`
	Description  string                `json:"description"`
	Builtin      bool                  `json:"builtin"`
	Actions      []authz.TypeAction    `json:"actions"`
	Attributes   []authz.TypeAttribute `json:"attributes"`
	LicenseGates bool                  `json:"licenseGates"`
	Version      int64                 `json:"version,omitempty"`
	UpdatedBy    string                `json:"updatedBy,omitempty"`
}

func builtinItem(b authz.BuiltinType) Item {
	it := Item{Name: b.Name, Description: b.Description, Builtin: true, LicenseGates: true,
		Attributes: []authz.TypeAttribute{}}
	for _, a := range b.Actions {
		it.Actions = append(it.Actions, authz.TypeAction{Name: a})
	}
	return it
}

func externalItem(t *store.ResourceType) Item {
	return Item{Name: t.Name, Description: t.Description, Actions: t.Actions, Attributes: t.Attributes,
		LicenseGates: t.LicenseGates, Version: t.Version, UpdatedBy: t.UpdatedBy}
}

// list answers every type: ?builtin=false leaves the built-in ones out.
func (h *Handlers) list(c fiber.Ctx) error {
	if err := h.Guard.RequireHubOrConsole(c, "read", authz.Resource{Type: "resourcetype"}); err != nil {
		return err
	}
	withBuiltin := true
	switch c.Query("builtin") {
	case "", "true":
	case "false":
		withBuiltin = false
	default:
		return apierror.Field("bad_builtin", "builtin", "builtin is true or false")
	}
	stored, err := h.Store.ResourceTypes.All(c.Context())
	if err != nil {
		return err
	}
	items := []Item{}
	if withBuiltin {
		for _, b := range h.Types.Builtins() {
			items = append(items, builtinItem(b))
		}
	}
	for i := range stored {
		items = append(items, externalItem(&stored[i]))
	}
	return c.JSON(fiber.Map{"items": items, "next": ""})
}

func (h *Handlers) get(c fiber.Ctx) error {
	name := c.Params("name")
	if err := h.Guard.RequireHubOrConsole(c, "read", typeResource(name)); err != nil {
		return err
	}
	for _, b := range h.Types.Builtins() {
		if b.Name == name {
			return c.JSON(builtinItem(b))
		}
	}
	t, err := h.Store.ResourceTypes.Get(c.Context(), name)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(t.Version))
	return c.JSON(externalItem(t))
}

// body is an external type as clients send it.
type body struct {
	Name         string                `json:"name"`
	Description  string                `json:"description"`
	Actions      []authz.TypeAction    `json:"actions"`
	Attributes   []authz.TypeAttribute `json:"attributes"`
	LicenseGates bool                  `json:"licenseGates"`
	// Accepted and ignored, so that a GET answer can be sent back.
	Builtin   bool   `json:"builtin"`
	Version   int64  `json:"version"`
	UpdatedBy string `json:"updatedBy"`
}

func (b *body) external() authz.ExternalType {
	return authz.ExternalType{Name: b.Name, Description: b.Description, Actions: b.Actions,
		Attributes: b.Attributes, LicenseGates: b.LicenseGates}
}

// typeError maps a definition problem to a 400 naming the field.
func typeError(err error) error {
	var te *authz.TypeError
	if errors.As(err, &te) {
		details := map[string]any{"field": te.Field}
		if te.Field == "" {
			details["field"] = "body"
		}
		return apierror.New(http.StatusBadRequest, te.Code, te.Message, details)
	}
	return err
}

// checkWith proves that the stored rules still compile when the external
// types are exts: 409 type_in_use with the rules' diagnostics otherwise.
func (h *Handlers) checkWith(c fiber.Ctx, exts []authz.ExternalType, what string) error {
	v, err := h.Types.Vocabulary(exts)
	if err != nil {
		return typeError(err)
	}
	err = h.Manager.CheckVocabulary(c.Context(), v)
	if diags := secrules.RuleDiagnostics(err); diags != nil {
		first := diags[0]
		return apierror.New(http.StatusConflict, "type_in_use",
			fmt.Sprintf("%s would break a security rule: %s", what, first.String()),
			map[string]any{"field": "rules", "diagnostics": diags})
	}
	return err
}

// others are the external types in force but name (for a proposed set).
func (h *Handlers) others(name string) []authz.ExternalType {
	out := []authz.ExternalType{}
	for _, e := range h.Types.Externals() {
		if e.Name != name {
			out = append(out, e)
		}
	}
	return out
}

func (h *Handlers) create(c fiber.Ctx) error {
	var b body
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	ext := b.external()
	if err := h.Guard.Require(c, guard.Console, "create", typeResource(ext.Name)); err != nil {
		return err
	}
	if err := h.Types.CheckType(&ext); err != nil {
		return typeError(err)
	}
	if len(h.Types.Externals()) >= authz.MaxExternalTypes {
		return apierror.New(http.StatusConflict, "too_many_types",
			fmt.Sprintf("a tenant has at most %d external resource types", authz.MaxExternalTypes), nil)
	}
	if err := h.checkWith(c, append(h.others(ext.Name), ext), fmt.Sprintf("adding type %q", ext.Name)); err != nil {
		return err
	}
	t := &store.ResourceType{ExternalType: ext, UpdatedBy: identity.CallerOf(c).User.ID}
	err := h.Store.ResourceTypes.Create(c.Context(), t)
	if errors.Is(err, store.ErrConflict) {
		return apierror.New(http.StatusConflict, "type_exists", fmt.Sprintf("resource type %q exists; PUT /api/v1/types/%s replaces it", ext.Name, ext.Name),
			map[string]any{"field": "name"})
	}
	if err != nil {
		return err
	}
	return h.changed(c, http.StatusCreated, "type.created", t)
}

// changed puts the write in force here (and, through the rules revision,
// on every replica), records the event and answers.
func (h *Handlers) changed(c fiber.Ctx, status int, event string, t *store.ResourceType) error {
	rev, err := h.Manager.Changed(c.Context())
	if err != nil {
		return err
	}
	data := map[string]any{"type": t.Name, "revision": rev}
	if status != http.StatusNoContent {
		data["actions"], data["attributes"], data["licenseGates"] = len(t.Actions), len(t.Attributes), t.LicenseGates
	}
	if err := h.Store.Events.Add(c.Context(), EventSource, event, identity.CallerOf(c).User.ID, data); err != nil {
		return err
	}
	c.Set("X-Rules-Revision", strconv.FormatInt(rev, 10))
	if status == http.StatusNoContent {
		return c.SendStatus(status)
	}
	c.Set(fiber.HeaderETag, etag(t.Version))
	return c.Status(status).JSON(externalItem(t))
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// ifMatch reads If-Match: the version the client last saw; 0 when absent.
func ifMatch(c fiber.Ctx) (int64, error) {
	v := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n <= 0 {
		return 0, apierror.Field("bad_if_match", "If-Match", "If-Match is the ETag of the type (its version)")
	}
	return n, nil
}

func stale(cur, want int64) error {
	return apierror.New(http.StatusPreconditionFailed, "stale_version",
		fmt.Sprintf("the type is at version %d, not %d", cur, want), map[string]any{"field": "If-Match", "version": cur})
}

// current loads the external type name for action, refusing built-in
// types (read-only) and a stale If-Match.
func (h *Handlers) current(c fiber.Ctx, action string) (*store.ResourceType, int64, error) {
	name := c.Params("name")
	if err := h.Guard.Require(c, guard.Console, action, typeResource(name)); err != nil {
		return nil, 0, err
	}
	if h.Types.Builtin(name) {
		return nil, 0, apierror.New(http.StatusConflict, "builtin_type",
			fmt.Sprintf("%q is a built-in resource type: it is read-only", name), map[string]any{"field": "name"})
	}
	want, err := ifMatch(c)
	if err != nil {
		return nil, 0, err
	}
	cur, err := h.Store.ResourceTypes.Get(c.Context(), name)
	if err != nil {
		return nil, 0, err
	}
	if want != 0 && want != cur.Version {
		return nil, 0, stale(cur.Version, want)
	}
	return cur, cur.Version, nil
}

func (h *Handlers) replace(c fiber.Ctx) error {
	var b body
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	cur, version, err := h.current(c, "update")
	if err != nil {
		return err
	}
	if b.Name != "" && b.Name != cur.Name {
		return apierror.Field("name_mismatch", "name", fmt.Sprintf("the body names %q, the path %q: a type is not renamed", b.Name, cur.Name))
	}
	b.Name = cur.Name
	ext := b.external()
	if err := h.Types.CheckType(&ext); err != nil {
		return typeError(err)
	}
	if err := h.checkWith(c, append(h.others(ext.Name), ext), fmt.Sprintf("changing type %q", ext.Name)); err != nil {
		return err
	}
	t := &store.ResourceType{ExternalType: ext, UpdatedBy: identity.CallerOf(c).User.ID}
	out, err := h.Store.ResourceTypes.Replace(c.Context(), version, t)
	if errors.Is(err, store.ErrConflict) {
		return stale(version+1, version)
	}
	if err != nil {
		return err
	}
	return h.changed(c, http.StatusOK, "type.updated", out)
}

func (h *Handlers) delete(c fiber.Ctx) error {
	cur, _, err := h.current(c, "delete")
	if err != nil {
		return err
	}
	if err := h.checkWith(c, h.others(cur.Name), fmt.Sprintf("deleting type %q", cur.Name)); err != nil {
		return err
	}
	if err := h.Store.ResourceTypes.Delete(c.Context(), cur.Name); err != nil {
		return err
	}
	return h.changed(c, http.StatusNoContent, "type.deleted", cur)
}
