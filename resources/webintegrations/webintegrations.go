// Package webintegrations serves web integrations (seed 000 §1.9, §10):
// named whitelists of browser origins, each with a generated id that a
// mashup sends with its requests, managed by tenant admins in the console.
// Its CORS middleware admits a browser origin only through an integration
// that lists it.
package webintegrations

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// EventSource is the source of web integration events.
const EventSource = "com.rulekeeper/web-integrations"

// Limits of an integration.
const (
	MaxNameLen = 200
	MaxOrigins = 100
)

// Handlers serve /web-integrations.
type Handlers struct {
	Store      *store.Store
	Guard      *guard.Guard
	Cache      *Cache // invalidated on every write; may be nil
	Invalidate func(kind, id string)
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/web-integrations", h.list)
	r.Post("/web-integrations", h.create)
	r.Get("/web-integrations/:id", h.get)
	r.Patch("/web-integrations/:id", h.patch)
	r.Delete("/web-integrations/:id", h.delete)
}

func resource(w *store.WebIntegration) authz.Resource {
	return authz.Resource{Type: "webintegration", ID: w.ID, Name: w.Name}
}

// changed drops cached copies after a write.
func (h *Handlers) changed(id string) {
	if h.Cache != nil {
		h.Cache.Invalidate()
	}
	if h.Invalidate != nil {
		h.Invalidate("webintegration", id)
	}
}

func (h *Handlers) list(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	list, next, err := h.Store.WebIntegrations.List(c.Context(), p)
	if err != nil {
		return err
	}
	items, err := guard.Readable(h.Guard, c, guard.Console, list, resource)
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) load(c fiber.Ctx, action string) (*store.WebIntegration, error) {
	w, err := h.Store.WebIntegrations.Get(c.Context(), c.Params("id"))
	if err != nil {
		return nil, guard.Missing("webintegration", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, action, resource(w)); err != nil {
		return nil, err
	}
	return w, nil
}

func (h *Handlers) get(c fiber.Ctx) error {
	w, err := h.load(c, "read")
	if err != nil {
		return err
	}
	return c.JSON(w)
}

type createBody struct {
	Name    string   `json:"name"`
	Origins []string `json:"origins"`
}

func (h *Handlers) create(c fiber.Ctx) error {
	var body createBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	name, err := checkName(body.Name)
	if err != nil {
		return err
	}
	origins, err := checkOrigins(body.Origins)
	if err != nil {
		return err
	}
	w := &store.WebIntegration{Name: name, Origins: origins, CreatedBy: identity.CallerOf(c).User.ID}
	if err := h.Guard.Require(c, guard.Console, "create", resource(w)); err != nil {
		return err
	}
	ctx := c.Context()
	w.ID = store.NewIDFor(ctx)
	if err := h.Store.WebIntegrations.Create(ctx, w); err != nil {
		return err
	}
	h.changed(w.ID)
	if err := h.Store.Events.Add(ctx, EventSource, "web-integration.created", w.CreatedBy,
		map[string]any{"webIntegrationId": w.ID, "name": w.Name, "origins": w.Origins}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(w)
}

type patchBody struct {
	Name    *string  `json:"name"`
	Origins []string `json:"origins"`
	// Version, when given, must be the integration's current version.
	Version *int64 `json:"version"`
}

func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil && body.Origins == nil {
		return apierror.Field("empty_patch", "body", "name at least one of name, origins")
	}
	ch := store.WebIntegrationChange{}
	if body.Name != nil {
		name, err := checkName(*body.Name)
		if err != nil {
			return err
		}
		ch.Name = &name
	}
	if body.Origins != nil {
		origins, err := checkOrigins(body.Origins)
		if err != nil {
			return err
		}
		ch.Origins = origins
	}
	w, err := h.load(c, "update")
	if err != nil {
		return err
	}
	if body.Version != nil && *body.Version != w.Version {
		return conflict(w.Version)
	}
	ch.Version, ch.UpdatedBy = w.Version, identity.CallerOf(c).User.ID
	ctx := c.Context()
	nw, err := h.Store.WebIntegrations.Update(ctx, w.ID, ch)
	if errors.Is(err, store.ErrConflict) {
		return conflict(w.Version)
	}
	if err != nil {
		return err
	}
	h.changed(w.ID)
	if err := h.Store.Events.Add(ctx, EventSource, "web-integration.updated", ch.UpdatedBy,
		map[string]any{"webIntegrationId": nw.ID, "name": nw.Name, "origins": nw.Origins}); err != nil {
		return err
	}
	return c.JSON(nw)
}

func (h *Handlers) delete(c fiber.Ctx) error {
	w, err := h.load(c, "delete")
	if err != nil {
		return err
	}
	ctx := c.Context()
	if err := h.Store.WebIntegrations.Delete(ctx, w.ID); err != nil {
		return err
	}
	h.changed(w.ID)
	if err := h.Store.Events.Add(ctx, EventSource, "web-integration.deleted", identity.CallerOf(c).User.ID,
		map[string]any{"webIntegrationId": w.ID, "name": w.Name}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func checkName(name string) (string, error) {
	return apierror.Name("a web integration's name", name, MaxNameLen)
}

// checkOrigins normalises every origin, drops duplicates and names the
// first bad one (origins[i]).
func checkOrigins(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, apierror.Field("missing_origins", "origins", "list at least one origin, e.g. https://example.com")
	}
	if len(in) > MaxOrigins {
		return nil, apierror.Field("too_many_origins", "origins", fmt.Sprintf("a web integration lists at most %d origins", MaxOrigins))
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, o := range in {
		n, err := NormalizeOrigin(strings.TrimSpace(o))
		if err != nil {
			return nil, apierror.Field("bad_origin", fmt.Sprintf("origins[%d]", i), err.Error())
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func conflict(current int64) error {
	return apierror.New(http.StatusConflict, "version_conflict",
		"the web integration changed since you read it; read it again and retry", map[string]any{"field": "version", "version": current})
}
