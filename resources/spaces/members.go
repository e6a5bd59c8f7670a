package spaces

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/idempotency"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Member types.
const (
	MemberUser  = "user"
	MemberGroup = "group"
)

// memberView is a member as the API shows it, with the user's or group's
// name.
type memberView struct {
	store.Member
	Name string `json:"name"`
}

func (h *Handlers) listMembers(c fiber.Ctx) error {
	sp, err := h.load(c, "read")
	if err != nil {
		return err
	}
	ctx := c.Context()
	var groupIDs []string
	for _, m := range sp.Members {
		if m.Type == MemberGroup {
			groupIDs = append(groupIDs, m.ID)
		}
	}
	groups, err := h.Store.Groups.ByIDs(ctx, groupIDs)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(sp.Members))
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	items := make([]memberView, 0, len(sp.Members))
	for _, m := range sp.Members {
		if m.Type == MemberUser {
			u, err := h.Store.Users.Get(ctx, m.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if u != nil {
				names[m.ID] = u.Name
			}
		}
		items = append(items, memberView{Member: m, Name: names[m.ID]})
	}
	return listing.JSON(c, items, "")
}

// checkRoles validates roles for a space of type typ and removes duplicates.
func checkRoles(typ string, roles []string) ([]string, error) {
	allowed := Roles[typ]
	if len(roles) == 0 {
		return nil, apierror.Field("missing_roles", "roles", fmt.Sprintf("roles lists at least one of %v", allowed))
	}
	out := make([]string, 0, len(roles))
	for i, r := range roles {
		if !slices.Contains(allowed, r) {
			return nil, apierror.Field("unknown_role", fmt.Sprintf("roles[%d]", i),
				fmt.Sprintf("%q is not a role of %s spaces; roles are %v", r, typ, allowed))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// memberExists checks that the user or group exists.
func (h *Handlers) memberExists(ctx context.Context, typ, id string) error {
	var err error
	if typ == MemberUser {
		_, err = h.Store.Users.Get(ctx, id)
	} else {
		_, err = h.Store.Groups.Get(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return apierror.Field("unknown_member", "id", fmt.Sprintf("there is no %s %q", typ, id))
	}
	return err
}

func memberIndex(sp *store.Space, id string) int {
	return slices.IndexFunc(sp.Members, func(m store.Member) bool { return m.ID == id })
}

func memberNotFound(spaceID, id string) error {
	return apierror.New(http.StatusNotFound, "member_not_found",
		fmt.Sprintf("%q is not a member of space %q", id, spaceID), map[string]any{"spaceId": spaceID, "memberId": id})
}

type addMemberBody struct {
	Type  string   `json:"type"`
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

// errAlreadyDone ends a mutation that finds its change already made.
var errAlreadyDone = errors.New("already done")

// addMember adds a user or group (seed §6.2; the policy's add_member).
func (h *Handlers) addMember(c fiber.Ctx) error {
	var body addMemberBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Type != MemberUser && body.Type != MemberGroup {
		return apierror.Field("bad_member_type", "type", "type is user or group")
	}
	if body.ID == "" {
		return apierror.Field("missing_member", "id", "id names the user or group to add")
	}
	ctx := c.Context()
	sp, err := h.Store.Spaces.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("space", c.Params("id"), err)
	}
	if err := Require(c, h.Guard, "add_member", Resource(sp)); err != nil {
		return err
	}
	roles, err := checkRoles(sp.Type, body.Roles)
	if err != nil {
		return err
	}
	if err := h.memberExists(ctx, body.Type, body.ID); err != nil {
		return err
	}
	m := store.Member{Type: body.Type, ID: body.ID, Roles: roles}
	done := false
	_, nsp, err := h.mutate(ctx, sp, func(cur *store.Space) (store.SpaceChange, error) {
		if i := memberIndex(cur, m.ID); i >= 0 && idempotency.Retried(c) &&
			cur.Members[i].Type == m.Type && slices.Equal(cur.Members[i].Roles, m.Roles) {
			// An earlier attempt under this Idempotency-Key added the
			// member and lost its answer: answer it now.
			done = true
			return store.SpaceChange{}, errAlreadyDone
		}
		if memberIndex(cur, m.ID) >= 0 {
			return store.SpaceChange{}, apierror.New(http.StatusConflict, "member_exists",
				fmt.Sprintf("%s %q is already a member; change their roles instead", m.Type, m.ID),
				map[string]any{"field": "id", "memberId": m.ID})
		}
		return store.SpaceChange{Members: append(slices.Clone(cur.Members), m)}, nil
	})
	if done {
		if nsp, err = h.Store.Spaces.Get(ctx, sp.ID); err != nil {
			return err
		}
		return c.Status(http.StatusCreated).JSON(fiber.Map{"space": nsp, "member": m})
	}
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.member.added", map[string]any{"spaceId": sp.ID, "memberType": m.Type, "memberId": m.ID, "roles": m.Roles}); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(fiber.Map{"space": nsp, "member": m})
}

// patchMember changes a member's roles (the policy's change_role).
func (h *Handlers) patchMember(c fiber.Ctx) error {
	var body struct {
		Roles []string `json:"roles"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	ctx := c.Context()
	sp, err := h.Store.Spaces.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("space", c.Params("id"), err)
	}
	if err := Require(c, h.Guard, "change_role", Resource(sp)); err != nil {
		return err
	}
	roles, err := checkRoles(sp.Type, body.Roles)
	if err != nil {
		return err
	}
	id := c.Params("memberId")
	var previous store.Member
	_, nsp, err := h.mutate(ctx, sp, func(cur *store.Space) (store.SpaceChange, error) {
		i := memberIndex(cur, id)
		if i < 0 {
			return store.SpaceChange{}, memberNotFound(sp.ID, id)
		}
		members := slices.Clone(cur.Members)
		previous = members[i]
		members[i] = store.Member{Type: previous.Type, ID: previous.ID, Roles: roles}
		return store.SpaceChange{Members: members}, nil
	})
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.member.updated", map[string]any{"spaceId": sp.ID, "memberType": previous.Type, "memberId": id,
		"roles": roles, "previousRoles": previous.Roles}); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"space": nsp, "member": store.Member{Type: previous.Type, ID: id, Roles: roles}})
}

// removeMember removes a member (the policy's remove_member).
func (h *Handlers) removeMember(c fiber.Ctx) error {
	sp, err := h.load(c, "remove_member")
	if err != nil {
		return err
	}
	id := c.Params("memberId")
	var removed store.Member
	_, _, err = h.mutate(c.Context(), sp, func(cur *store.Space) (store.SpaceChange, error) {
		i := memberIndex(cur, id)
		if i < 0 {
			return store.SpaceChange{}, memberNotFound(sp.ID, id)
		}
		removed = cur.Members[i]
		return store.SpaceChange{Members: slices.Delete(slices.Clone(cur.Members), i, i+1)}, nil
	})
	if err != nil {
		return err
	}
	h.invalidate()
	if err := h.event(c, "space.member.removed", map[string]any{"spaceId": sp.ID, "memberType": removed.Type, "memberId": id, "roles": removed.Roles}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
