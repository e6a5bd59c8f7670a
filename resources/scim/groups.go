package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// scimGroup is the part of a SCIM Group this service reads.
type scimGroup struct {
	DisplayName string   `json:"displayName"`
	Members     []member `json:"members"`
}

type member struct {
	Value string `json:"value"`
}

func (h *Handlers) groupResource(c fiber.Ctx, g *store.Group) (map[string]any, error) {
	us, err := h.Store.Users.InGroup(c.Context(), g.ID)
	if err != nil {
		return nil, err
	}
	ms := make([]map[string]any, 0, len(us))
	for _, u := range us {
		ms = append(ms, map[string]any{"value": u.ID, "display": u.Name, "type": "User", "$ref": base(c) + "/Users/" + u.ID})
	}
	return map[string]any{
		"schemas":     []string{GroupSchema},
		"id":          g.ID,
		"displayName": g.Name,
		"members":     ms,
		"meta":        meta(c, "Group", "/Groups/"+g.ID, g.CreatedAt, g.CreatedAt, 0),
	}, nil
}

func (h *Handlers) answerGroup(c fiber.Ctx, g *store.Group) error {
	return sendResource(c)(h.groupResource(c, g))
}

func (h *Handlers) group(c fiber.Ctx, action string) (*store.Group, error) {
	return load(h, c, action, "Group", h.Store.Groups.Get)
}

func memberIDs(ms []member) ([]string, error) {
	ids := make([]string, 0, len(ms))
	for i, m := range ms {
		if m.Value == "" {
			return nil, bad("invalidValue", "members[%d].value is required", i)
		}
		ids = append(ids, m.Value)
	}
	return ids, nil
}

func groupName(name string) (string, error) {
	n, err := apierror.Name("a group name", name, 200)
	if err != nil {
		return "", bad("invalidValue", "displayName: %s", apierror.From(err).Message)
	}
	return n, nil
}

func (h *Handlers) createGroup(c fiber.Ctx) error {
	if err := h.require(c, "create", "group"); err != nil {
		return err
	}
	var sg scimGroup
	if err := decode(c.Body(), &sg); err != nil {
		return err
	}
	name, err := groupName(sg.DisplayName)
	if err != nil {
		return err
	}
	ids, err := memberIDs(sg.Members)
	if err != nil {
		return err
	}
	g := &store.Group{Name: name, Source: "scim"}
	if err := h.Store.Groups.Create(c.Context(), g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return groupExists(name)
		}
		return err
	}
	if err := h.setMembers(c, g.ID, ids, nil, nil); err != nil {
		return err
	}
	if err := h.Store.Events.Add(c.Context(), "com.rulekeeper/users", "group.created", by(c), map[string]any{"groupId": g.ID, "name": g.Name, "source": "scim"}); err != nil {
		return err
	}
	c.Location(base(c) + "/Groups/" + g.ID)
	c.Status(http.StatusCreated)
	return h.answerGroup(c, g)
}

func groupExists(name string) *Error {
	return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("a Group named %q exists", name)}
}

// setMembers changes the group's members (users.Provisioner.SetMembers).
func (h *Handlers) setMembers(c fiber.Ctx, groupID string, set, add, remove []string) error {
	if err := h.Provision.SetMembers(c.Context(), groupID, set, add, remove); err != nil {
		return err
	}
	h.changed(groupID)
	return nil
}

func (h *Handlers) changed(groupID string) {
	if h.Invalidate != nil {
		h.Invalidate("group", groupID)
	}
}

func (h *Handlers) getGroup(c fiber.Ctx) error {
	g, err := h.group(c, "read")
	if err != nil {
		return err
	}
	return h.answerGroup(c, g)
}

func (h *Handlers) replaceGroup(c fiber.Ctx) error {
	g, err := h.group(c, "update")
	if err != nil {
		return err
	}
	var sg scimGroup
	if err := decode(c.Body(), &sg); err != nil {
		return err
	}
	ids, err := memberIDs(sg.Members)
	if err != nil {
		return err
	}
	if g, err = h.rename(c, g, sg.DisplayName); err != nil {
		return err
	}
	if err := h.setMembers(c, g.ID, ids, nil, nil); err != nil {
		return err
	}
	return h.answerGroup(c, g)
}

func (h *Handlers) rename(c fiber.Ctx, g *store.Group, to string) (*store.Group, error) {
	name, err := groupName(to)
	if err != nil || name == g.Name {
		return g, err
	}
	ng, err := h.Store.Groups.Rename(c.Context(), g.ID, name)
	if errors.Is(err, store.ErrConflict) {
		return nil, groupExists(name)
	}
	return ng, err
}

// patchGroup applies a PatchOp to displayName and members: add members,
// remove members (all, or those a `members[value eq "id"]` path names),
// replace members or displayName.
func (h *Handlers) patchGroup(c fiber.Ctx) error {
	g, err := h.group(c, "update")
	if err != nil {
		return err
	}
	ops, err := patchOps(c.Body())
	if err != nil {
		return err
	}
	var set, add, remove []string
	name := g.Name
	for i, op := range ops {
		attr, sel, sub, err := parsePath(op.Path)
		if err != nil {
			return bad("invalidPath", "Operations[%d].path: %v", i, err)
		}
		switch {
		case op.Path == "" && op.Op != "remove":
			// value is a partial Group.
			var sg struct {
				DisplayName *string  `json:"displayName"`
				Members     []member `json:"members"`
			}
			if err := decode(op.Value, &sg); err != nil {
				return err
			}
			if sg.DisplayName != nil {
				name = *sg.DisplayName
			}
			if sg.Members != nil {
				ids, err := memberIDs(sg.Members)
				if err != nil {
					return err
				}
				if op.Op == "replace" {
					set, add, remove = ids, nil, nil
				} else {
					add = append(add, ids...)
				}
			}
		case strings.EqualFold(attr, "displayName") && op.Op != "remove":
			var v string
			if err := decode(op.Value, &v); err != nil {
				return err
			}
			name = v
		case strings.EqualFold(attr, "members") && sub == "":
			switch op.Op {
			case "remove":
				if sel == nil {
					set, add, remove = []string{}, nil, nil
					continue
				}
				if !strings.EqualFold(sel.attr, "value") {
					return bad("invalidFilter", "Operations[%d]: members are selected by value", i)
				}
				remove = append(remove, sel.value)
			default:
				var ms []member
				if err := decode(op.Value, &ms); err != nil {
					return err
				}
				ids, err := memberIDs(ms)
				if err != nil {
					return err
				}
				if op.Op == "replace" {
					set, add, remove = ids, nil, nil
				} else {
					add = append(add, ids...)
				}
			}
		default:
			return bad("invalidPath", "Operations[%d]: %s on %q is not supported on a Group", i, op.Op, op.Path)
		}
	}
	if g, err = h.rename(c, g, name); err != nil {
		return err
	}
	if err := h.setMembers(c, g.ID, set, add, remove); err != nil {
		return err
	}
	return h.answerGroup(c, g)
}

func (h *Handlers) deleteGroup(c fiber.Ctx) error {
	g, err := h.group(c, "delete")
	if err != nil {
		return err
	}
	if err := h.Provision.SetMembers(c.Context(), g.ID, []string{}, nil, nil); err != nil {
		return err
	}
	if err := h.Store.Groups.Delete(c.Context(), g.ID); err != nil {
		return err
	}
	h.changed(g.ID)
	if err := h.Store.Events.Add(c.Context(), "com.rulekeeper/users", "group.deleted", by(c), map[string]any{"groupId": g.ID, "name": g.Name, "source": "scim"}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *Handlers) listGroups(c fiber.Ctx) error {
	// excludedAttributes=members is what Entra ID asks for; the answer
	// then leaves members out.
	noMembers := strings.Contains(strings.ToLower(c.Query("excludedAttributes")), "members")
	return list(c, h, "group", []string{"displayName", "id"}, h.Store.Groups.Offset,
		func(ctx context.Context, f *filter) ([]store.Group, error) {
			if f.attr == "id" {
				return listOf(h.Store.Groups.Get(ctx, f.value))
			}
			return listOf(h.Store.Groups.ByName(ctx, f.value))
		},
		func(g *store.Group) (map[string]any, error) {
			r, err := h.groupResource(c, g)
			if err == nil && noMembers {
				delete(r, "members")
			}
			return r, err
		})
}
