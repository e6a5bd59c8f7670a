// Package spaces serves shared and managed spaces and their members (seed
// 000 §1.3, §6.1–6.4, §6.7, §6.8): creation (shared by professional users,
// managed by tenant admins), rename, deletion with the space's apps, owner
// change by tenant admins, members with roles checked per space type, and
// the console's overview. Personal spaces are implicit, one per user, with
// the id "".
//
// The REST API serves both the hub and the management console: a request
// is allowed when the policy allows it in the hub (space roles, licenses)
// or in the console (admin roles); a refusal explains the hub's decision.
package spaces

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// EventSource is the source of space events.
const EventSource = "com.rulekeeper/spaces"

// Roles are the member roles of each space type (API.md Vocabulary; the
// owner is the space's ownerId, not a member role).
var Roles = map[string][]string{
	store.SpaceShared:  {"admin", "canedit", "canview"},
	store.SpaceManaged: {"canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canconsumedata", "canoperate"},
}

// Limits of names and descriptions.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
)

// maxAttempts bounds the compare-and-swap retries of one write.
const maxAttempts = 50

// Handlers serve /spaces.
type Handlers struct {
	Store *store.Store
	Guard *guard.Guard
	// Invalidate drops the engine's cached entities (subjects' space roles,
	// spaces copied into apps) after a write; Engine.InvalidateAll.
	Invalidate func()
	// SharedSpaceQuota, when set, refuses a shared space beyond the license
	// key's shared-spaces quota (licenses.Service.SharedSpaceAllowed).
	SharedSpaceQuota func(ctx context.Context) error
	// Lists counts planned lists (nil: not counted).
	Lists *pushdown.Metrics
	// MaxDecisions bounds the items a list page decides one by one
	// (pushdown.Query.MaxDecisions; 0: pushdown.DefaultMaxDecisions).
	MaxDecisions int
	// Overview, when set, answers the Overview tab from memory
	// (entities.SpaceIndex.Overview) instead of counting in the store.
	Overview func(ctx context.Context) (*store.SpaceOverview, error)
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/spaces/overview", h.overview)
	r.Get("/spaces", h.list)
	r.Post("/spaces", h.create)
	r.Get("/spaces/:id", h.get)
	r.Patch("/spaces/:id", h.patch)
	r.Delete("/spaces/:id", h.delete)
	r.Post("/spaces/:id/owner", h.changeOwner)
	r.Get("/spaces/:id/members", h.listMembers)
	r.Post("/spaces/:id/members", h.addMember)
	r.Patch("/spaces/:id/members/:memberId", h.patchMember)
	r.Delete("/spaces/:id/members/:memberId", h.removeMember)
}

// Require asks the policy in the hub and, when the hub refuses, in the
// management console; it answers the hub's refusal when both refuse.
func Require(c fiber.Ctx, g *guard.Guard, action string, res authz.Resource) error {
	return g.RequireHubOrConsole(c, action, res)
}

// Allowed is Require as a boolean, for filtering lists.
func Allowed(c fiber.Ctx, g *guard.Guard, action string, res authz.Resource) (bool, error) {
	return g.AllowedHubOrConsole(c, action, res)
}

// Resource is the policy's view of a stored space (hydrated by id).
func Resource(sp *store.Space) authz.Resource {
	return authz.Resource{Type: "space", ID: sp.ID, Name: sp.Name, Owner: sp.OwnerID, SpaceID: sp.ID, SpaceType: sp.Type}
}

func (h *Handlers) event(c fiber.Ctx, typ string, data map[string]any) error {
	return h.Store.Events.Add(c.Context(), EventSource, typ, identity.CallerOf(c).User.ID, data)
}

func (h *Handlers) invalidate() {
	if h.Invalidate != nil {
		h.Invalidate()
	}
}

// load reads the space of the path and asks for action on it.
func (h *Handlers) load(c fiber.Ctx, action string) (*store.Space, error) {
	sp, err := h.Store.Spaces.Get(c.Context(), c.Params("id"))
	if err != nil {
		return nil, guard.Missing("space", c.Params("id"), err)
	}
	if err := Require(c, h.Guard, action, Resource(sp)); err != nil {
		return nil, err
	}
	return sp, nil
}

// personalSpace is the caller's implicit personal space.
func personalSpace(u *store.User) map[string]any {
	return map[string]any{
		"id": "", "name": "Personal", "type": store.SpacePersonal, "description": "",
		"ownerId": u.ID, "members": []store.Member{}, "createdAt": u.CreatedAt,
	}
}

func (h *Handlers) list(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	typ := c.Query("type")
	switch typ {
	case "", store.SpaceShared, store.SpaceManaged:
	case store.SpacePersonal:
		// Personal spaces are implicit: the caller's own, whose id is "".
		return c.JSON(fiber.Map{"items": []any{personalSpace(identity.CallerOf(c).User)}, "next": ""})
	default:
		return apierror.Field("bad_type", "type", "type is personal, shared or managed")
	}
	plan, err := h.Guard.Plan(c, "read", authz.Resource{Type: "space"}, nil, guard.Hub, guard.Console)
	if err != nil {
		return err
	}
	if typ != "" {
		plan = authz.And(plan, authz.Eq("spaceType", typ))
	}
	items, next, err := pushdown.List(c.Context(), pushdown.Query[store.Space]{
		Resource: "space", Filter: plan, Fields: pushdown.SpaceFields(),
		Fetch: h.Store.Spaces.Scan, ID: func(sp *store.Space) string { return sp.ID },
		Allowed: func(_ context.Context, sp *store.Space) (bool, error) {
			return Allowed(c, h.Guard, "read", Resource(sp))
		},
		Limit: p.Limit, Cursor: p.Cursor, Metrics: h.Lists, MaxDecisions: h.MaxDecisions,
	})
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

// overview answers the console's Overview tab (seed §1.3, §6.8), for
// tenant admins: reading spaces in the console.
func (h *Handlers) overview(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "space"}); err != nil {
		return err
	}
	overview := h.Store.Spaces.Overview
	if h.Overview != nil {
		overview = h.Overview
	}
	o, err := overview(c.Context())
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func (h *Handlers) get(c fiber.Ctx) error {
	sp, err := h.load(c, "read")
	if err != nil {
		return err
	}
	return c.JSON(sp)
}

// checkName trims and checks a space name.
func checkName(name string) (string, error) {
	return apierror.Name("a space name", name, MaxNameLen)
}

func checkDescription(d string) error { return apierror.Description(d, MaxDescriptionLen) }

func nameTaken(name string) error {
	return apierror.New(http.StatusConflict, "space_name_taken",
		fmt.Sprintf("a space named %q exists (space names are unique, whatever the case)", name),
		map[string]any{"field": "name"})
}

type createBody struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
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
	if body.Type != store.SpaceShared && body.Type != store.SpaceManaged {
		return apierror.Field("bad_type", "type", "type is shared or managed (personal spaces exist for every user)")
	}
	if err := checkDescription(body.Description); err != nil {
		return err
	}
	caller := identity.CallerOf(c).User
	res := authz.Resource{Type: "space", Name: name, Owner: caller.ID, SpaceType: body.Type}
	if err := Require(c, h.Guard, "create", res); err != nil {
		return err
	}
	if body.Type == store.SpaceShared && h.SharedSpaceQuota != nil {
		if err := h.SharedSpaceQuota(c.Context()); err != nil {
			return err
		}
	}
	sp := &store.Space{ID: store.NewIDFor(c.Context()), Name: name, Type: body.Type, Description: body.Description, OwnerID: caller.ID}
	if err := h.Store.Spaces.Create(c.Context(), sp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nameTaken(name)
		}
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.created", map[string]any{"spaceId": sp.ID, "name": sp.Name, "type": sp.Type}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(sp)
}

// errRetry asks mutate to read the space again and retry.
var errRetry = errors.New("retry")

// mutate applies change to the space at its current version, reading it
// again and retrying when somebody else changed it in between (the
// compare-and-swap of Spaces.Update). change sees the space as stored and
// returns the change to make; its errors end the loop.
func (h *Handlers) mutate(ctx context.Context, read *store.Space, change func(sp *store.Space) (store.SpaceChange, error)) (before, after *store.Space, err error) {
	id := read.ID
	for attempt := 0; attempt < maxAttempts; attempt++ {
		// The first attempt starts from the space the handler read (the
		// version check under the lock catches a change since); a retry
		// reads it again.
		sp := read
		if attempt > 0 {
			if sp, err = h.Store.Spaces.Get(ctx, id); err != nil {
				return nil, nil, err
			}
		}
		ch, err := change(sp)
		if err != nil {
			return nil, nil, err
		}
		ch.Version = sp.Version
		nsp, err := h.Store.Spaces.Update(ctx, id, ch)
		if err == nil {
			return sp, nsp, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, nil, err
		}
		if ch.Name != nil {
			// A conflict at an unchanged version is the unique name index.
			cur, gerr := h.Store.Spaces.Get(ctx, id)
			if gerr != nil {
				return nil, nil, gerr
			}
			if cur.Version == sp.Version {
				return nil, nil, nameTaken(*ch.Name)
			}
		}
		time.Sleep(time.Duration(rand.IntN(2+attempt)) * time.Millisecond)
	}
	return nil, nil, apierror.New(http.StatusConflict, "concurrent_update",
		"the space kept changing while this change was applied; try again", map[string]any{"spaceId": id})
}

type patchBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil && body.Description == nil {
		return apierror.Field("nothing_to_change", "body", "name or description is required")
	}
	if body.Name != nil {
		name, err := checkName(*body.Name)
		if err != nil {
			return err
		}
		body.Name = &name
	}
	if body.Description != nil {
		if err := checkDescription(*body.Description); err != nil {
			return err
		}
	}
	sp, err := h.load(c, "update")
	if err != nil {
		return err
	}
	_, nsp, err := h.mutate(c.Context(), sp, func(*store.Space) (store.SpaceChange, error) {
		return store.SpaceChange{Name: body.Name, Description: body.Description}, nil
	})
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.updated", map[string]any{"spaceId": nsp.ID, "name": nsp.Name, "previousName": sp.Name, "description": nsp.Description}); err != nil {
		return err
	}
	return c.JSON(nsp)
}

// delete deletes the space and its apps (seed §6.4).
func (h *Handlers) delete(c fiber.Ctx) error {
	sp, err := h.load(c, "delete")
	if err != nil {
		return err
	}
	ctx := c.Context()
	n, err := h.Store.Apps.CountInSpace(ctx, sp.ID)
	if err != nil {
		return err
	}
	if err := h.Store.Spaces.Delete(ctx, h.Store.Apps, sp.ID); err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.deleted", map[string]any{"spaceId": sp.ID, "name": sp.Name, "type": sp.Type, "appsDeleted": n}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// changeOwner gives the space to another user (seed §6.1: only in the
// management console, by tenant admins; the policy's change_owner).
func (h *Handlers) changeOwner(c fiber.Ctx) error {
	var body struct {
		UserID string `json:"userId"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.UserID == "" {
		return apierror.Field("missing_user", "userId", "userId names the new owner")
	}
	sp, err := h.load(c, "change_owner")
	if err != nil {
		return err
	}
	ctx := c.Context()
	if _, err := h.Store.Users.Get(ctx, body.UserID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apierror.Field("unknown_user", "userId", fmt.Sprintf("there is no user %q", body.UserID))
		}
		return err
	}
	before, nsp, err := h.mutate(ctx, sp, func(*store.Space) (store.SpaceChange, error) {
		return store.SpaceChange{OwnerID: &body.UserID}, nil
	})
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.owner.changed", map[string]any{"spaceId": nsp.ID, "previousOwnerId": before.OwnerID, "ownerId": nsp.OwnerID}); err != nil {
		return err
	}
	return c.JSON(nsp)
}
