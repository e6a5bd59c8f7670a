// Package users serves the users and groups of the tenant: the caller's own
// profile, user lists, status and role changes by tenant admins (with the
// seed's protections: nobody removes TenantAdmin from themselves, the last
// tenant admin stays), and groups.
package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of user and group events.
const EventSource = "com.rulekeeper/users"

// SubjectFunc describes a user as the policy sees them (groups, license,
// space roles).
type SubjectFunc func(ctx context.Context, u *store.User) (*authz.Subject, error)

// Handlers serve /users and /groups.
type Handlers struct {
	Store      *store.Store
	Guard      *guard.Guard
	Subject    SubjectFunc
	Invalidate func(kind, id string)
	// Provision creates users before their first login (nil: POST /users
	// and the provisioning fields of PATCH are not served).
	Provision *Provisioner
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/users/me", h.me)
	r.Get("/users", h.list)
	r.Post("/users", h.create)
	r.Post("/users/import", h.importUsers)
	r.Get("/users/:id", h.get)
	r.Patch("/users/:id", h.patch)
	r.Get("/groups", h.listGroups)
	r.Post("/groups", h.createGroup)
	r.Get("/groups/:id", h.getGroup)
	r.Delete("/groups/:id", h.deleteGroup)
}

// profile is a user with what the policy knows about them.
type profile struct {
	*store.User
	Groups  []string            `json:"groups"`
	License authz.License       `json:"license"`
	Spaces  map[string][]string `json:"spaces"`
	// RoleSources: "idp" or "rulekeeper" for each role (store.User.RoleSources).
	RoleSources map[string]string `json:"roleSources"`
}

func (h *Handlers) profile(ctx context.Context, u *store.User) (*profile, error) {
	s, err := h.Subject(ctx, u)
	if err != nil {
		return nil, err
	}
	groups := s.Groups
	if groups == nil {
		groups = []string{}
	}
	spaces := s.Spaces
	if spaces == nil {
		spaces = map[string][]string{}
	}
	return &profile{User: u, Groups: groups, License: s.License, Spaces: spaces, RoleSources: u.RoleSources()}, nil
}

func (h *Handlers) me(c fiber.Ctx) error {
	p, err := h.profile(c.Context(), identity.CallerOf(c).User)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func userResource(u *store.User) authz.Resource {
	return authz.Resource{Type: "user", ID: u.ID, Name: u.Name, Owner: u.ID}
}

func (h *Handlers) get(c fiber.Ctx) error {
	u, err := h.Store.Users.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("user", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "read", userResource(u)); err != nil {
		return err
	}
	p, err := h.profile(c.Context(), u)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// Page reads ?limit= and ?cursor=. Every list answers {items, next}, so
// ?next= is taken as the cursor too (giving both, differently, is a 400).
func Page(c fiber.Ctx) (store.Page, error) {
	p := store.Page{Cursor: c.Query("cursor")}
	if n := c.Query("next"); n != "" {
		if p.Cursor != "" && p.Cursor != n {
			return p, apierror.Field("bad_cursor", "next", "give the cursor once: ?cursor= or ?next=")
		}
		p.Cursor = n
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return p, apierror.Field("bad_limit", "limit", fmt.Sprintf("limit is a number from 1 to %d", store.MaxPageSize))
		}
		p.Limit = n
	}
	return p, nil
}

func (h *Handlers) list(c fiber.Ctx) error {
	p, err := Page(c)
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != store.UserActive && status != store.UserDisabled {
		return apierror.Field("bad_status", "status", "status is active or disabled")
	}
	users, next, err := h.Store.Users.List(c.Context(), store.UserFilter{Query: c.Query("q"), Status: status, Role: c.Query("role")}, p)
	if err != nil {
		return err
	}
	items, err := guard.Readable(h.Guard, c, guard.Console, users, userResource)
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

type patchUser struct {
	Status *string   `json:"status"`
	Roles  *[]string `json:"roles"`
	// Provisioning fields (Provisioner.Update): attributes are merged (a
	// null value removes one), the others replaced.
	ExternalID *string             `json:"externalId"`
	UserName   *string             `json:"userName"`
	Name       *string             `json:"name"`
	Email      *string             `json:"email"`
	Groups     *[]string           `json:"groups"`
	Aliases    *[]string           `json:"aliases"`
	Attributes map[string][]string `json:"attributes"`
	License    *string             `json:"license"`
}

func (b *patchUser) provisioning() bool {
	return b.ExternalID != nil || b.UserName != nil || b.Name != nil || b.Email != nil || b.Groups != nil ||
		b.Aliases != nil || b.Attributes != nil || b.License != nil
}

func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchUser
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.provisioning() {
		if h.Provision == nil {
			return apierror.New(http.StatusNotImplemented, "provisioning_unavailable", "provisioning is not configured", nil)
		}
		u, err := h.Store.Users.Get(c.Context(), c.Params("id"))
		if err != nil {
			return err
		}
		if err := h.Guard.Require(c, guard.Console, "update", userResource(u)); err != nil {
			return err
		}
		nu, err := h.Provision.Update(c.Context(), u.ID, Change{ExternalID: body.ExternalID, UserName: body.UserName,
			Name: body.Name, Email: body.Email, Groups: body.Groups, Aliases: body.Aliases, Attributes: body.Attributes,
			License: body.License}, identity.CallerOf(c).User.ID)
		if err != nil {
			return err
		}
		if body.Status == nil && body.Roles == nil {
			return h.respond(c, nu)
		}
	}
	if body.Status != nil && *body.Status != store.UserActive && *body.Status != store.UserDisabled {
		return apierror.Field("bad_status", "status", "status is active or disabled")
	}
	if body.Roles != nil {
		for i, r := range *body.Roles {
			if !slices.Contains(identity.AssignableRoles, r) {
				return apierror.Field("unknown_role", fmt.Sprintf("roles[%d]", i),
					fmt.Sprintf("unknown role %q; roles are %v", r, identity.AssignableRoles))
			}
		}
	}
	ctx := c.Context()
	// The "last tenant admin" check and the write are one step across
	// replicas: every role and status change holds the tenant's admins
	// lock in the database.
	unlock, err := h.Store.Locks.Acquire(ctx, "tenant/admins")
	if err != nil {
		return err
	}
	defer unlock()
	u, err := h.Store.Users.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("user", c.Params("id"), err)
	}
	res := userResource(u)
	if body.Status != nil {
		if err := h.Guard.Require(c, guard.Console, "update", res); err != nil {
			return err
		}
	}
	if body.Roles != nil {
		if err := h.Guard.Require(c, guard.Console, "change_role", res); err != nil {
			return err
		}
	}
	caller := identity.CallerOf(c).User
	wasAdmin := u.HasRole(identity.RoleTenantAdmin) && u.Status == store.UserActive
	staysAdmin := wasAdmin
	if body.Roles != nil && !slices.Contains(*body.Roles, identity.RoleTenantAdmin) {
		if u.ID == caller.ID && u.HasRole(identity.RoleTenantAdmin) {
			return apierror.New(http.StatusConflict, "cannot_remove_own_admin",
				"nobody removes the TenantAdmin role from themselves", map[string]any{"field": "roles"})
		}
		staysAdmin = false
	}
	if body.Status != nil && *body.Status == store.UserDisabled {
		staysAdmin = false
	}
	if wasAdmin && !staysAdmin {
		n, err := h.Store.Users.Count(ctx, store.UserFilter{Role: identity.RoleTenantAdmin, Status: store.UserActive})
		if err != nil {
			return err
		}
		if n <= 1 {
			return apierror.New(http.StatusConflict, "last_tenant_admin",
				"the tenant needs at least one active tenant admin", map[string]any{"userId": u.ID})
		}
	}
	ch := store.UserChange{Version: u.Version, Status: body.Status}
	if body.Roles != nil {
		ch.Roles = dedupe(*body.Roles)
	}
	nu, err := h.Store.Users.Update(ctx, u.ID, ch)
	if err != nil {
		return err
	}
	h.Invalidate("subject", u.ID)
	h.Invalidate("user", u.ID)
	data := map[string]any{"userId": u.ID}
	typ := "user.updated"
	if body.Roles != nil {
		data["roles"] = nu.Roles
		typ = "user.roles.changed"
	}
	if body.Status != nil {
		data["status"] = nu.Status
	}
	if err := h.Store.Events.Add(ctx, EventSource, typ, caller.ID, data); err != nil {
		return err
	}
	return c.JSON(nu)
}

// create provisions one user before their first login (POST /users).
func (h *Handlers) create(c fiber.Ctx) error {
	if h.Provision == nil {
		return apierror.New(http.StatusNotImplemented, "provisioning_unavailable", "provisioning is not configured", nil)
	}
	var spec UserSpec
	if err := apierror.DecodeJSON(c.Body(), &spec); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "create", authz.Resource{Type: "user"}); err != nil {
		return err
	}
	u, err := h.Provision.Create(c.Context(), spec, identity.CallerOf(c).User.ID)
	if err != nil {
		return err
	}
	c.Location("/api/v1/users/" + u.ID)
	c.Status(http.StatusCreated)
	return h.respond(c, u)
}

// respond answers the profile of u.
func (h *Handlers) respond(c fiber.Ctx, u *store.User) error {
	p, err := h.profile(c.Context(), u)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// importUsers provisions up to MaxImport users in one call: each is
// created, or, when a user with its externalId or userName exists,
// updated. The answer lists every item's outcome in order; one item's
// error does not stop the others.
func (h *Handlers) importUsers(c fiber.Ctx) error {
	if h.Provision == nil {
		return apierror.New(http.StatusNotImplemented, "provisioning_unavailable", "provisioning is not configured", nil)
	}
	var body struct {
		Users []UserSpec `json:"users"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if len(body.Users) == 0 || len(body.Users) > MaxImport {
		return apierror.New(http.StatusBadRequest, "bad_import", fmt.Sprintf("an import holds 1 to %d users", MaxImport),
			map[string]any{"field": "users", "max": MaxImport, "got": len(body.Users)})
	}
	if err := h.Guard.Require(c, guard.Console, "create", authz.Resource{Type: "user"}); err != nil {
		return err
	}
	ctx, by := c.Context(), identity.CallerOf(c).User.ID
	type outcome struct {
		Index  int             `json:"index"`
		Status string          `json:"status"` // created, updated, failed
		ID     string          `json:"id,omitempty"`
		Error  *apierror.Error `json:"error,omitempty"`
	}
	out := make([]outcome, 0, len(body.Users))
	counts := map[string]int{"created": 0, "updated": 0, "failed": 0}
	for i, spec := range body.Users {
		o := outcome{Index: i}
		existing, err := h.Provision.Find(ctx, spec)
		var u *store.User
		switch {
		case err != nil:
		case existing != nil:
			o.Status = "updated"
			u, err = h.Provision.Update(ctx, existing.ID, spec.Change(), by)
		default:
			o.Status = "created"
			u, err = h.Provision.Create(ctx, spec, by)
		}
		if err != nil {
			e := apierror.From(err)
			if e.Status >= 500 {
				return err
			}
			o.Status, o.Error = "failed", e
		} else {
			o.ID = u.ID
		}
		counts[o.Status]++
		out = append(out, o)
	}
	return c.JSON(fiber.Map{"counts": counts, "items": out})
}

func dedupe(s []string) []string {
	out := []string{}
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func groupResource(g *store.Group) authz.Resource {
	return authz.Resource{Type: "group", ID: g.ID, Name: g.Name}
}

func (h *Handlers) listGroups(c fiber.Ctx) error {
	p, err := Page(c)
	if err != nil {
		return err
	}
	groups, next, err := h.Store.Groups.List(c.Context(), p)
	if err != nil {
		return err
	}
	items, err := guard.Readable(h.Guard, c, guard.Console, groups, groupResource)
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) getGroup(c fiber.Ctx) error {
	g, err := h.Store.Groups.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("group", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "read", groupResource(g)); err != nil {
		return err
	}
	return c.JSON(g)
}

func (h *Handlers) createGroup(c fiber.Ctx) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	name, err := apierror.Name("a group name", body.Name, 200)
	if err != nil {
		return err
	}
	body.Name = name
	g := &store.Group{Name: body.Name, Source: "manual"}
	if err := h.Guard.Require(c, guard.Console, "create", groupResource(g)); err != nil {
		return err
	}
	g.ID = store.NewIDFor(c.Context())
	if err := h.Store.Groups.Create(c.Context(), g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return apierror.New(http.StatusConflict, "group_exists", fmt.Sprintf("a group named %q exists", body.Name), map[string]any{"field": "name"})
		}
		return err
	}
	if err := h.Store.Events.Add(c.Context(), EventSource, "group.created", identity.CallerOf(c).User.ID, map[string]any{"groupId": g.ID, "name": g.Name}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(g)
}

func (h *Handlers) deleteGroup(c fiber.Ctx) error {
	g, err := h.Store.Groups.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("group", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Console, "delete", groupResource(g)); err != nil {
		return err
	}
	if err := h.Store.Groups.Delete(c.Context(), g.ID); err != nil {
		return err
	}
	h.Invalidate("group", g.ID)
	if err := h.Store.Events.Add(c.Context(), EventSource, "group.deleted", identity.CallerOf(c).User.ID, map[string]any{"groupId": g.ID, "name": g.Name}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
