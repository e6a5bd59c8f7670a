// Package apps serves apps and their content (seed 000 §6.5–6.7): apps in
// personal, shared and managed spaces, their attributes, moves between
// spaces, duplicates, exports (never with private content), manual reloads
// and their history, and app objects — sheets, stories, bookmarks and
// snapshots private to their creator until made public, and app-wide
// master items, variables and media.
//
// Every handler decides through the policy (spaces.Require: the hub, then
// the management console); deleting an app deletes its objects and its
// reload history.
package apps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/spaces"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// EventSource is the source of app and app object events.
const EventSource = "com.rulekeeper/apps"

// Limits of app attributes.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxTags           = 30
	MaxTagLen         = 50
)

// maxAttempts bounds the compare-and-swap retries of one write.
const maxAttempts = 20

// Handlers serve /apps and /apps/{id}/objects.
type Handlers struct {
	Store *store.Store
	Guard *guard.Guard
	// Invalidate drops the engine's cached entities after a write (an app's
	// space and attributes are copied into its objects); Engine.InvalidateAll.
	Invalidate func()
	// Lists counts planned lists (nil: not counted).
	Lists *pushdown.Metrics
	// MaxDecisions bounds the items a list page decides one by one
	// (pushdown.Query.MaxDecisions; 0: pushdown.DefaultMaxDecisions).
	MaxDecisions int
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/apps", h.list)
	r.Post("/apps", h.create)
	r.Get("/apps/:id", h.get)
	r.Patch("/apps/:id", h.patch)
	r.Delete("/apps/:id", h.delete)
	r.Post("/apps/:id/move", h.move)
	r.Post("/apps/:id/duplicate", h.duplicate)
	r.Post("/apps/:id/export", h.export)
	r.Post("/apps/:id/reload", h.reload)
	r.Get("/apps/:id/reloads", h.reloads)
	r.Get("/apps/:id/objects", h.listObjects)
	r.Post("/apps/:id/objects", h.createObject)
	r.Get("/apps/:id/objects/:objectId", h.getObject)
	r.Patch("/apps/:id/objects/:objectId", h.patchObject)
	r.Delete("/apps/:id/objects/:objectId", h.deleteObject)
}

// Resource is the policy's view of a stored app (hydrated by id).
func Resource(a *store.App) authz.Resource {
	return authz.Resource{Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID, SectionAccess: a.SectionAccess}
}

func (h *Handlers) event(c fiber.Ctx, typ string, data map[string]any) error {
	return h.Store.Events.Add(c.Context(), EventSource, typ, identity.CallerOf(c).User.ID, data)
}

func (h *Handlers) invalidate() {
	if h.Invalidate != nil {
		h.Invalidate()
	}
}

// load reads the app of the path and asks for action on it.
func (h *Handlers) load(c fiber.Ctx, action string) (*store.App, error) {
	a, err := h.Store.Apps.Get(c.Context(), c.Params("id"))
	if err != nil {
		return nil, guard.Missing("app", c.Params("id"), err)
	}
	if err := spaces.Require(c, h.Guard, action, Resource(a)); err != nil {
		return nil, err
	}
	return a, nil
}

// update applies change to the app at its current version, reading it
// again and retrying when somebody else changed it in between.
func (h *Handlers) update(ctx context.Context, id string, change func(a *store.App) store.AppChange) (*store.App, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		a, err := h.Store.Apps.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		ch := change(a)
		ch.Version = a.Version
		na, err := h.Store.Apps.Update(ctx, id, ch)
		if !errors.Is(err, store.ErrConflict) {
			return na, err
		}
		time.Sleep(time.Duration(rand.IntN(2+attempt)) * time.Millisecond)
	}
	return nil, apierror.New(http.StatusConflict, "concurrent_update",
		"the app kept changing while this change was applied; try again", map[string]any{"appId": id})
}

// list answers a page of the apps the caller may read: the policy's plan
// filters them in the database, so pages are full and cursors exact.
func (h *Handlers) list(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	plan, err := h.Guard.Plan(c, "read", authz.Resource{Type: "app"}, nil, guard.Hub, guard.Console)
	if err != nil {
		return err
	}
	narrow := []*authz.Filter{plan}
	if owner := c.Query("ownerId"); owner != "" {
		narrow = append(narrow, authz.Eq("owner", owner))
	}
	if c.Request().URI().QueryArgs().Has("spaceId") {
		// ?spaceId= (empty) selects personal apps.
		narrow = append(narrow, authz.Eq("spaceId", c.Query("spaceId")))
	}
	items, next, err := pushdown.List(c.Context(), pushdown.Query[store.App]{
		Resource: "app", Filter: authz.And(narrow...), Fields: pushdown.AppFields(),
		Fetch: h.Store.Apps.Scan, ID: func(a *store.App) string { return a.ID },
		Allowed: func(_ context.Context, a *store.App) (bool, error) {
			return spaces.Allowed(c, h.Guard, "read", Resource(a))
		},
		Limit: p.Limit, Cursor: p.Cursor, Metrics: h.Lists, MaxDecisions: h.MaxDecisions,
		Local: h.Store.Apps.Match, View: entities.AppView,
	})
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) get(c fiber.Ctx) error {
	a, err := h.load(c, "read")
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func checkName(name string) (string, error) {
	return apierror.Name("an app name", name, MaxNameLen)
}

func checkDescription(d string) error { return apierror.Description(d, MaxDescriptionLen) }

// checkTags trims tags, drops duplicates and checks their number and length.
func checkTags(tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, apierror.Field("bad_tags", "tags", fmt.Sprintf("an app has at most %d tags", MaxTags))
	}
	out := make([]string, 0, len(tags))
	for i, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > MaxTagLen {
			return nil, apierror.Field("bad_tag", fmt.Sprintf("tags[%d]", i), fmt.Sprintf("a tag has 1 to %d characters", MaxTagLen))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// space returns the space with id, "" being the personal space (nil); an
// unknown id, or a space the caller may not read, is a 400 naming field.
func (h *Handlers) space(c fiber.Ctx, id, field string) (*store.Space, error) {
	if id == "" {
		return nil, nil
	}
	unknown := apierror.Field("unknown_space", field, fmt.Sprintf("there is no space %q", id))
	sp, err := h.Store.Spaces.Get(c.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unknown
	}
	if err != nil {
		return nil, err
	}
	if ok, err := spaces.Allowed(c, h.Guard, "read", spaces.Resource(sp)); err != nil || !ok {
		return nil, cmp.Or(err, error(unknown))
	}
	return sp, nil
}

func spaceType(sp *store.Space) string {
	if sp == nil {
		return store.SpacePersonal
	}
	return sp.Type
}

type createBody struct {
	Name        string   `json:"name"`
	SpaceID     string   `json:"spaceId"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
}

// create makes an app owned by the caller in a space or (no spaceId) in
// the caller's personal space: `create` on {type: app, spaceId}.
func (h *Handlers) create(c fiber.Ctx) error {
	var body createBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	name, err := checkName(body.Name)
	if err != nil {
		return err
	}
	if err := checkDescription(body.Description); err != nil {
		return err
	}
	tags, err := checkTags(body.Tags)
	if err != nil {
		return err
	}
	ctx := c.Context()
	sp, err := h.space(c, body.SpaceID, "spaceId")
	if err != nil {
		return err
	}
	caller := identity.CallerOf(c).User
	res := authz.Resource{Type: "app", Name: name, Owner: caller.ID, SpaceID: body.SpaceID, SpaceType: spaceType(sp)}
	if err := spaces.Require(c, h.Guard, "create", res); err != nil {
		return err
	}
	a := &store.App{ID: store.NewIDFor(ctx), Name: name, Description: body.Description, Tags: tags, SpaceID: body.SpaceID, OwnerID: caller.ID}
	if err := h.Store.Apps.Create(ctx, a); err != nil {
		return err
	}
	if err := h.event(c, "app.created", map[string]any{"appId": a.ID, "name": a.Name, "spaceId": a.SpaceID}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(a)
}

type patchBody struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Tags        *[]string `json:"tags"`
}

// patch edits the app's attributes: name, description and tags (§6.7
// "Edit app attributes"), the policy's update.
func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil && body.Description == nil && body.Tags == nil {
		return apierror.Field("nothing_to_change", "body", "name, description or tags is required")
	}
	ch := store.AppChange{Description: body.Description}
	if body.Name != nil {
		name, err := checkName(*body.Name)
		if err != nil {
			return err
		}
		ch.Name = &name
	}
	if body.Description != nil {
		if err := checkDescription(*body.Description); err != nil {
			return err
		}
	}
	if body.Tags != nil {
		tags, err := checkTags(*body.Tags)
		if err != nil {
			return err
		}
		ch.Tags = tags
	}
	a, err := h.load(c, "update")
	if err != nil {
		return err
	}
	na, err := h.update(c.Context(), a.ID, func(*store.App) store.AppChange { return ch })
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "app.updated", map[string]any{"appId": na.ID, "name": na.Name, "previousName": a.Name}); err != nil {
		return err
	}
	return c.JSON(na)
}

// delete deletes the app with its objects and reload history.
func (h *Handlers) delete(c fiber.Ctx) error {
	a, err := h.load(c, "delete")
	if err != nil {
		return err
	}
	if err := h.Store.Apps.Delete(c.Context(), a.ID); err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "app.deleted", map[string]any{"appId": a.ID, "name": a.Name, "spaceId": a.SpaceID}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// move moves the app to another space, "" being its owner's personal space
// (§6.6 "Moving apps between spaces"): the policy's move with the target
// space, which needs the move rows on both spaces.
func (h *Handlers) move(c fiber.Ctx) error {
	var body struct {
		SpaceID *string `json:"spaceId"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.SpaceID == nil {
		return apierror.Field("missing_space", "spaceId", `spaceId names the target space ("" for the personal space)`)
	}
	// Whoever may not open the app learns nothing about it.
	a, err := h.load(c, "read")
	if err != nil {
		return err
	}
	ctx := c.Context()
	target, err := h.space(c, *body.SpaceID, "spaceId")
	if err != nil {
		return err
	}
	if *body.SpaceID == a.SpaceID {
		return apierror.Field("same_space", "spaceId", "the app is already in that space")
	}
	res := Resource(a)
	res.TargetSpaceID, res.TargetSpaceType = *body.SpaceID, spaceType(target)
	if err := spaces.Require(c, h.Guard, "move", res); err != nil {
		return err
	}
	na, err := h.update(ctx, a.ID, func(*store.App) store.AppChange { return store.AppChange{SpaceID: body.SpaceID} })
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "app.moved", map[string]any{"appId": a.ID, "name": a.Name, "fromSpaceId": a.SpaceID, "toSpaceId": na.SpaceID}); err != nil {
		return err
	}
	return c.JSON(na)
}

// optionalJSON decodes body strictly into v unless it is empty.
func optionalJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return apierror.DecodeJSON(body, v)
}

// duplicate copies the app, owned by the caller (§6.6 "Duplicating apps in
// a shared space"; seed 004: Duplicate needs Read and Create). The copy
// stays in the app's space; a copy of an app in a managed space goes to
// the caller's personal space. It takes the app's public and app-wide
// content and the caller's own private content, never other users'
// private content. Apps with section access are not duplicated (a gate).
func (h *Handlers) duplicate(c fiber.Ctx) error {
	var body struct {
		Name *string `json:"name"`
	}
	if err := optionalJSON(c.Body(), &body); err != nil {
		return err
	}
	a, err := h.load(c, "read")
	if err != nil {
		return err
	}
	name := a.Name + " (copy)"
	if len(name) > MaxNameLen {
		name = a.Name
	}
	if body.Name != nil {
		if name, err = checkName(*body.Name); err != nil {
			return err
		}
	}
	if err := spaces.Require(c, h.Guard, "duplicate", Resource(a)); err != nil {
		return err
	}
	ctx := c.Context()
	targetID := a.SpaceID
	if targetID != "" {
		sp, err := h.Store.Spaces.Get(ctx, targetID)
		if err != nil {
			return err
		}
		if sp.Type == store.SpaceManaged {
			targetID = ""
		}
	}
	caller := identity.CallerOf(c).User
	if err := spaces.Require(c, h.Guard, "create", authz.Resource{Type: "app", Name: name, Owner: caller.ID, SpaceID: targetID}); err != nil {
		return err
	}
	cp := &store.App{ID: store.NewIDFor(c.Context()), Name: name, Description: a.Description, Tags: slices.Clone(a.Tags), SpaceID: targetID,
		OwnerID: caller.ID, SectionAccess: a.SectionAccess, Attributes: a.Attributes}
	if err := h.Store.Apps.Create(ctx, cp); err != nil {
		return err
	}
	objs, err := h.Store.Objects.All(ctx, a.ID)
	if err != nil {
		return err
	}
	copied := 0
	for _, o := range objs {
		if !o.Public && !store.IsAppWide(o.Type) && o.OwnerID != caller.ID {
			continue
		}
		// Named by the copy and its source: a retry under the request's
		// Idempotency-Key finds the copies its first attempt made.
		oc := &store.AppObject{ID: store.DerivedIDFor(ctx, "object", o.ID), AppID: cp.ID, Type: o.Type, Name: o.Name, OwnerID: o.OwnerID, Public: o.Public}
		if err := h.Store.Objects.Create(ctx, oc); err != nil {
			return err
		}
		copied++
	}
	if err := h.event(c, "app.duplicated", map[string]any{"appId": cp.ID, "sourceAppId": a.ID, "name": cp.Name, "spaceId": cp.SpaceID, "objects": copied}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(cp)
}

// exportView describes an export (§6.6 "Exporting apps from shared
// spaces"): the .qvf file's name and what it holds. Exported apps never
// include private content.
type exportView struct {
	App                    *store.App        `json:"app"`
	FileName               string            `json:"fileName"`
	Format                 string            `json:"format"`
	WithData               bool              `json:"withData"`
	Objects                []store.AppObject `json:"objects"`
	ExcludedPrivateObjects int               `json:"excludedPrivateObjects"`
	ExportedAt             time.Time         `json:"exportedAt"`
	ExportedBy             string            `json:"exportedBy"`
}

// export answers what an export of the app holds: `export` or, with
// {"data": true}, `export_data`. Apps with section access are not exported
// (a gate).
func (h *Handlers) export(c fiber.Ctx) error {
	var body struct {
		Data bool `json:"data"`
	}
	if err := optionalJSON(c.Body(), &body); err != nil {
		return err
	}
	action := "export"
	if body.Data {
		action = "export_data"
	}
	a, err := h.load(c, action)
	if err != nil {
		return err
	}
	objs, err := h.Store.Objects.All(c.Context(), a.ID)
	if err != nil {
		return err
	}
	v := exportView{App: a, FileName: a.Name + ".qvf", Format: "qvf", WithData: body.Data, Objects: []store.AppObject{},
		ExportedAt: time.Now().UTC(), ExportedBy: identity.CallerOf(c).User.ID}
	for _, o := range objs {
		if o.Public || store.IsAppWide(o.Type) {
			v.Objects = append(v.Objects, o)
		} else {
			v.ExcludedPrivateObjects++
		}
	}
	if err := h.event(c, "app.exported", map[string]any{"appId": a.ID, "name": a.Name, "withData": body.Data, "objects": len(v.Objects)}); err != nil {
		return err
	}
	return c.JSON(v)
}

// reload reloads the app's data now (the policy's reload) and records it
// in the app's reload history.
func (h *Handlers) reload(c fiber.Ctx) error {
	a, err := h.load(c, "reload")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	rl := &store.Reload{ID: store.NewIDFor(c.Context()), AppID: a.ID, UserID: identity.CallerOf(c).User.ID, Trigger: store.ReloadManual,
		Status: store.ReloadSucceeded, StartedAt: now, EndedAt: now}
	if err := h.Store.Reloads().Add(c.Context(), rl); err != nil {
		return err
	}
	if err := h.event(c, "app.reloaded", map[string]any{"appId": a.ID, "name": a.Name, "reloadId": rl.ID, "trigger": rl.Trigger}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(rl)
}

// reloads lists the app's reload history, newest first, to whoever opens
// the app.
func (h *Handlers) reloads(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	a, err := h.load(c, "read")
	if err != nil {
		return err
	}
	items, next, err := h.Store.Reloads().List(c.Context(), a.ID, p)
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}
