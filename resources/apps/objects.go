package apps

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/spaces"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// appRelated is an app as the related resource of its objects.
func appRelated(a *store.App) *authz.Related {
	return &authz.Related{ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID}
}

// objectResource is the policy's view of an object of app a, complete so
// that lists decide without loading every object again; space is a's space
// (nil for the personal space).
func objectResource(o *store.AppObject, a *store.App, space *store.Space) authz.Resource {
	r := authz.Resource{
		Type: "app.object", Name: o.Name, Owner: o.OwnerID, ObjectType: o.Type, Public: o.Public,
		SpaceID: a.SpaceID, SpaceType: store.SpacePersonal, App: appRelated(a),
	}
	if space != nil {
		r.SpaceType = space.Type
		r.Space = &authz.Related{ID: space.ID, Name: space.Name, Type: space.Type, Owner: space.OwnerID}
	}
	return r
}

// storedObject is the policy's view of a stored object, hydrated by id.
func storedObject(o *store.AppObject, a *store.App) authz.Resource {
	return authz.Resource{Type: "app.object", ID: o.ID, Name: o.Name, Owner: o.OwnerID, ObjectType: o.Type,
		Public: o.Public, SpaceID: a.SpaceID, App: appRelated(a)}
}

// loadObject reads the app and the object of the path (an object of
// another app is not found) and asks for action on the object.
func (h *Handlers) loadObject(c fiber.Ctx, action string) (*store.App, *store.AppObject, error) {
	ctx := c.Context()
	// A missing app, a missing object and an object of another app all
	// answer as a hidden object does.
	missing := authz.Resource{Type: "app.object", ID: c.Params("objectId")}
	a, err := h.Store.Apps.Get(ctx, c.Params("id"))
	if err != nil {
		return nil, nil, guard.Missing(missing.Type, missing.ID, err)
	}
	o, err := h.Store.Objects.Get(ctx, missing.ID)
	if err != nil {
		return nil, nil, guard.Missing(missing.Type, missing.ID, err)
	}
	if o.AppID != a.ID {
		return nil, nil, guard.NotFound(missing)
	}
	if err := spaces.Require(c, h.Guard, action, storedObject(o, a)); err != nil {
		return nil, nil, err
	}
	return a, o, nil
}

// listObjects lists the objects of the app the caller may read: public
// and app-wide content, and their own private content.
func (h *Handlers) listObjects(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	typ := c.Query("type")
	if typ != "" && !slices.Contains(store.ObjectTypes, typ) {
		return apierror.Field("bad_type", "type", fmt.Sprintf("type is one of %v", store.ObjectTypes))
	}
	a, err := h.load(c, "read")
	if err != nil {
		return err
	}
	ctx := c.Context()
	var space *store.Space
	if a.SpaceID != "" {
		if space, err = h.Store.Spaces.Get(ctx, a.SpaceID); err != nil {
			return err
		}
	}
	// Every object of the list shares its app and space: the plan knows
	// them and splits on what differs (type, creator, public).
	template := objectResource(&store.AppObject{}, a, space)
	template.Name, template.Owner, template.ObjectType = "", "", ""
	plan, err := h.Guard.Plan(c, "read", template, store.ObjectTypes, guard.Hub, guard.Console)
	if err != nil {
		return err
	}
	narrow := []*authz.Filter{plan, authz.Eq("app.id", a.ID)}
	if typ != "" {
		narrow = append(narrow, authz.Eq("objectType", typ))
	}
	items, next, err := pushdown.List(ctx, pushdown.Query[store.AppObject]{
		Resource: "app.object", Filter: authz.And(narrow...), Fields: pushdown.ObjectFields(),
		Fetch: h.Store.Objects.Scan, ID: func(o *store.AppObject) string { return o.ID },
		Allowed: func(_ context.Context, o *store.AppObject) (bool, error) {
			return spaces.Allowed(c, h.Guard, "read", objectResource(o, a, space))
		},
		Limit: p.Limit, Cursor: p.Cursor, Metrics: h.Lists, MaxDecisions: h.MaxDecisions,
	})
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) getObject(c fiber.Ctx) error {
	_, o, err := h.loadObject(c, "read")
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func checkObjectName(name string) (string, error) {
	return apierror.Name("an object name", name, MaxNameLen)
}

// createObject adds content to the app, owned by the caller. Sheets,
// stories, bookmarks and snapshots start private (seed §6.5); master
// items, variables and media are app-wide content.
func (h *Handlers) createObject(c fiber.Ctx) error {
	var body struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if !slices.Contains(store.ObjectTypes, body.Type) {
		return apierror.Field("bad_type", "type", fmt.Sprintf("type is one of %v", store.ObjectTypes))
	}
	name, err := checkObjectName(body.Name)
	if err != nil {
		return err
	}
	ctx := c.Context()
	a, err := h.Store.Apps.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("app", c.Params("id"), err)
	}
	if err := spaces.Require(c, h.Guard, "read", Resource(a)); err != nil {
		return err // an app the caller may not read is not found
	}
	caller := identity.CallerOf(c).User
	o := &store.AppObject{ID: store.NewIDFor(ctx), AppID: a.ID, Type: body.Type, Name: name, OwnerID: caller.ID, Public: store.IsAppWide(body.Type)}
	res := authz.Resource{Type: "app.object", Name: name, Owner: caller.ID, ObjectType: o.Type, Public: o.Public,
		SpaceID: a.SpaceID, App: appRelated(a)}
	if err := spaces.Require(c, h.Guard, "create", res); err != nil {
		return err
	}
	if err := h.Store.Objects.Create(ctx, o); err != nil {
		return err
	}
	if err := h.event(c, "app.object.created", map[string]any{"appId": a.ID, "objectId": o.ID, "objectType": o.Type, "name": o.Name}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(o)
}

// patchObject renames an object (update) and makes it public or private
// again (make_public, make_private: its creator, seed §6.5).
func (h *Handlers) patchObject(c fiber.Ctx) error {
	var body struct {
		Name   *string `json:"name"`
		Public *bool   `json:"public"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil && body.Public == nil {
		return apierror.Field("nothing_to_change", "body", "name or public is required")
	}
	if body.Name != nil {
		name, err := checkObjectName(*body.Name)
		if err != nil {
			return err
		}
		body.Name = &name
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		a, o, err := h.loadObject(c, "read")
		if err != nil {
			return err
		}
		ch := store.ObjectChange{Version: o.Version}
		if body.Name != nil && *body.Name != o.Name {
			if err := spaces.Require(c, h.Guard, "update", storedObject(o, a)); err != nil {
				return err
			}
			ch.Name = body.Name
		}
		if body.Public != nil && *body.Public != o.Public {
			action := "make_private"
			if *body.Public {
				action = "make_public"
			}
			if err := spaces.Require(c, h.Guard, action, storedObject(o, a)); err != nil {
				return err
			}
			ch.Public = body.Public
		}
		if ch.Name == nil && ch.Public == nil {
			return c.JSON(o)
		}
		no, err := h.Store.Objects.Update(c.Context(), o.ID, ch)
		if errors.Is(err, store.ErrConflict) {
			time.Sleep(time.Duration(rand.IntN(2+attempt)) * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		h.invalidate()
		data := map[string]any{"appId": a.ID, "objectId": o.ID, "objectType": o.Type, "name": no.Name, "public": no.Public}
		if err := h.event(c, "app.object.updated", data); err != nil {
			return err
		}
		return c.JSON(no)
	}
	return apierror.New(http.StatusConflict, "concurrent_update",
		"the object kept changing while this change was applied; try again", map[string]any{"objectId": c.Params("objectId")})
}

func (h *Handlers) deleteObject(c fiber.Ctx) error {
	a, o, err := h.loadObject(c, "delete")
	if err != nil {
		return err
	}
	if err := h.Store.Objects.Delete(c.Context(), o.ID); err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "app.object.deleted", map[string]any{"appId": a.ID, "objectId": o.ID, "objectType": o.Type, "name": o.Name}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
