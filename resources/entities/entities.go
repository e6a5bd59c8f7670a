// Package entities hydrates the decision engine's input from the store: it
// implements authz.Entities over the MongoDB repositories, computing a
// user's group names, license and effective space roles in Go (the embedded
// database has no $elemMatch, and the policy stays pure over its input).
package entities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// LicenseFunc returns the license state of a user.
type LicenseFunc func(ctx context.Context, userID string) (authz.License, error)

// Source implements authz.Entities.
type Source struct {
	Store   *store.Store
	License LicenseFunc // nil: every user is unlicensed
	// Spaces, when set, answers space memberships and spaces by id from
	// memory instead of a query per subject or resource.
	Spaces *SpaceIndex
	// Users, when set, answers users and their group names from memory.
	Users *UserIndex
	// Types, when set, is the resource type registry: resources of its
	// external types are read from the stored external resources (one
	// lookup by _id); one not stored is authz.ErrNotStored, so that the
	// caller's inline properties decide alone.
	Types *authz.Types
}

var (
	_ authz.Entities      = (*Source)(nil)
	_ authz.BatchEntities = (*Source)(nil)
)

// Subject loads the user, their groups, license and space roles.
func (s *Source) Subject(ctx context.Context, id string) (*authz.Subject, error) {
	if s.Users != nil {
		u, names, ok, err := s.Users.User(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.subjectOf(ctx, u, names)
		}
	}
	u, err := s.Store.Users.Get(ctx, id)
	if err != nil {
		return nil, mapErr(err)
	}
	return s.SubjectOf(ctx, u)
}

// ResolveSubject answers the rulekeeper id of the user that ref names: a
// rulekeeper id, the identity provider subject (sub), a userName or alias,
// or an email that only one user has (and that the identity provider did
// not call unverified: store.User.EmailUnverified). authz.ErrNotFound when
// none does.
// With a UserIndex every lookup is a map read (and a miss costs nothing);
// without one, each is an indexed query (subject, userNameKey, aliases,
// emailKey).
func (s *Source) ResolveSubject(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("subject: %w: no id", authz.ErrNotFound)
	}
	if s.Users != nil {
		// The index follows the users' revision (within the staleness
		// bound): a miss is a miss, and costs no query — an unknown or
		// inline subject is asked about at full speed. Hydration still
		// reads a rulekeeper id it misses from the store.
		id, ok, err := s.Users.Resolve(ctx, ref)
		if err != nil || ok {
			return id, err
		}
		return "", fmt.Errorf("subject %q: %w", ref, authz.ErrNotFound)
	}
	lookups := []func() (*store.User, error){
		func() (*store.User, error) { return s.Store.Users.Get(ctx, ref) },
		func() (*store.User, error) { return s.Store.Users.BySubject(ctx, ref) },
		func() (*store.User, error) { return s.Store.Users.ByUserName(ctx, ref) },
		func() (*store.User, error) { return s.Store.Users.ByAlias(ctx, strings.ToLower(ref)) },
		func() (*store.User, error) {
			us, err := s.Store.Users.ByEmail(ctx, ref)
			// An unverified email names nobody.
			us = slices.DeleteFunc(us, func(u store.User) bool { return u.EmailUnverified })
			if err != nil || len(us) != 1 {
				return nil, cmpOr(err, store.ErrNotFound)
			}
			return &us[0], nil
		},
	}
	for _, look := range lookups {
		u, err := look()
		if err == nil {
			return u.ID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", fmt.Errorf("subject %q: %w", ref, authz.ErrNotFound)
}

func cmpOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// SubjectOf builds the policy's view of a user already loaded.
func (s *Source) SubjectOf(ctx context.Context, u *store.User) (*authz.Subject, error) {
	if s.Users != nil {
		names, ok, err := s.Users.GroupNames(ctx, u.GroupIDs)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.subjectOf(ctx, u, names)
		}
	}
	groups, err := s.Store.Groups.ByIDs(ctx, u.GroupIDs)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return s.subjectOf(ctx, u, names)
}

func (s *Source) subjectOf(ctx context.Context, u *store.User, names []string) (*authz.Subject, error) {
	var roles map[string][]string
	if s.Spaces != nil {
		var err error
		if roles, err = s.Spaces.Roles(ctx, u.ID, u.GroupIDs); err != nil {
			return nil, err
		}
	} else {
		spaces, err := s.Store.Spaces.ForMember(ctx, u.ID, u.GroupIDs)
		if err != nil {
			return nil, err
		}
		roles = make(map[string][]string, len(spaces))
		for i := range spaces {
			if r := spaces[i].RolesOf(u.ID, u.GroupIDs); len(r) > 0 {
				roles[spaces[i].ID] = r
			}
		}
	}
	var err error
	var lic authz.License
	if s.License != nil {
		if lic, err = s.License(ctx, u.ID); err != nil {
			return nil, fmt.Errorf("license of %q: %w", u.ID, err)
		}
	}
	return &authz.Subject{
		ID: u.ID, Name: u.Name, Email: u.Email, Status: u.Status,
		Roles: u.Roles, Groups: names, GroupIDs: u.GroupIDs,
		License: lic, Attributes: u.Attributes, Spaces: roles,
	}, nil
}

// Resource loads a stored resource by type and id.
func (s *Source) Resource(ctx context.Context, typ, id string) (*authz.Resource, error) {
	switch typ {
	case "app":
		a, err := s.Store.Apps.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return s.App(ctx, a)
	case "space":
		sp, err := s.space(ctx, id)
		if err != nil {
			return nil, err
		}
		return SpaceResource(sp), nil
	case "user":
		u, err := s.Store.Users.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return userResource(u), nil
	case "app.object":
		o, err := s.Store.Objects.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return s.AppObject(ctx, o)
	case "group":
		g, err := s.Store.Groups.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return groupResource(g), nil
	case "schedule":
		sch, err := s.Store.Schedules.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return s.schedule(ctx, sch)
	case "webintegration":
		w, err := s.Store.WebIntegrations.Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return webIntegrationResource(w), nil
	case "extension", "theme":
		b, err := s.bundles(typ).Get(ctx, id)
		if err != nil {
			return nil, mapErr(err)
		}
		return bundleResource(typ, b), nil
	}
	if s.Types != nil {
		if _, ok := s.Types.External(typ); ok {
			x, err := s.Store.ExternalResources.Get(ctx, typ, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, authz.ErrNotStored
			}
			if err != nil {
				return nil, err
			}
			return s.externalResource(ctx, x)
		}
	}
	return nil, authz.ErrNotStored
}

// externalResource is the policy's view of a stored external resource,
// its owner resolved: an owner stored by another id than rulekeeper's
// (written before the user was provisioned) is resolved now.
func (s *Source) externalResource(ctx context.Context, x *store.ExternalResource) (*authz.Resource, error) {
	r := ExternalResource(x)
	var err error
	if r.Owner, err = s.Owner(ctx, r.Owner); err != nil {
		return nil, err
	}
	return r, nil
}

// Owner answers the rulekeeper id of the user that owner names by any id
// ResolveSubject knows (IdP subject, userName, alias, email), so that
// `resource.owner = user` holds for the owner of an external resource
// however the calling service names them; an owner that names no user (or
// "") is answered as it is.
func (s *Source) Owner(ctx context.Context, owner string) (string, error) {
	if owner == "" {
		return "", nil
	}
	id, err := s.ResolveSubject(ctx, owner)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, authz.ErrNotFound):
		return owner, nil
	}
	return "", err
}

// ExternalResource is the policy's view of a stored resource of an
// external type: its attributes as lists of strings (the stored Values);
// the engine adds its space when it has one.
func ExternalResource(x *store.ExternalResource) *authz.Resource {
	return &authz.Resource{Type: x.Type, ID: x.ID, Name: x.Name, Owner: x.Owner, SpaceID: x.SpaceID, Attributes: x.Values}
}

func (s *Source) bundles(typ string) *store.Bundles {
	if typ == "theme" {
		return s.Store.Themes
	}
	return s.Store.Extensions
}

func userResource(u *store.User) *authz.Resource {
	return &authz.Resource{Type: "user", ID: u.ID, Name: u.Name, Owner: u.ID, Attributes: u.Attributes}
}

func groupResource(g *store.Group) *authz.Resource {
	return &authz.Resource{Type: "group", ID: g.ID, Name: g.Name}
}

func webIntegrationResource(w *store.WebIntegration) *authz.Resource {
	return &authz.Resource{Type: "webintegration", ID: w.ID, Name: w.Name}
}

func bundleResource(typ string, b *store.Bundle) *authz.Resource {
	r := &authz.Resource{Type: typ, ID: b.ID, Name: b.Name, Owner: b.CreatedBy}
	if len(b.Tags) > 0 {
		r.Attributes = map[string][]string{"tags": b.Tags}
	}
	return r
}

// schedule is the policy's view of a schedule: content of its app
// (policies/common.rego), with the app's owner, space and the app itself. A
// schedule whose app is gone belongs to nobody; tenant admins still see and
// delete it.
func (s *Source) schedule(ctx context.Context, sch *store.Schedule) (*authz.Resource, error) {
	a, err := s.Store.Apps.Get(ctx, sch.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return &authz.Resource{Type: "schedule", ID: sch.ID}, nil
	}
	if err != nil {
		return nil, err
	}
	ar, err := s.App(ctx, a)
	if err != nil {
		return nil, err
	}
	return &authz.Resource{
		Type: "schedule", ID: sch.ID, Name: a.Name, Owner: a.OwnerID,
		SpaceID: a.SpaceID, SpaceType: ar.SpaceType, Space: ar.Space,
		App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID},
	}, nil
}

// App is the policy's view of an app, with its space.
func (s *Source) App(ctx context.Context, a *store.App) (*authz.Resource, error) {
	r := &authz.Resource{
		Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID,
		SectionAccess: a.SectionAccess, Attributes: appAttributes(a),
	}
	if a.SpaceID == "" {
		r.SpaceType = store.SpacePersonal
		return r, nil
	}
	sp, err := s.Space(ctx, a.SpaceID)
	if err != nil {
		return nil, err
	}
	r.Space, r.SpaceType = sp, sp.Type
	return r, nil
}

// AppObject is the policy's view of an app object: its type, creator and
// visibility, placed in its app's space with the app beside it.
func (s *Source) AppObject(ctx context.Context, o *store.AppObject) (*authz.Resource, error) {
	a, err := s.Store.Apps.Get(ctx, o.AppID)
	if err != nil {
		return nil, mapErr(err)
	}
	app, err := s.App(ctx, a)
	if err != nil {
		return nil, err
	}
	return &authz.Resource{
		Type: "app.object", ID: o.ID, Name: o.Name, Owner: o.OwnerID,
		SpaceID: a.SpaceID, SpaceType: app.SpaceType, Space: app.Space,
		ObjectType: o.Type, Public: o.Public,
		App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID},
	}, nil
}

func appAttributes(a *store.App) map[string][]string {
	if len(a.Tags) == 0 {
		return a.Attributes
	}
	attrs := make(map[string][]string, len(a.Attributes)+1)
	for k, v := range a.Attributes {
		attrs[k] = v
	}
	attrs["tags"] = a.Tags
	return attrs
}

// Space loads a space as a related resource.
func (s *Source) Space(ctx context.Context, id string) (*authz.Related, error) {
	sp, err := s.space(ctx, id)
	if err != nil {
		return nil, err
	}
	return &authz.Related{ID: sp.ID, Name: sp.Name, Type: sp.Type, Owner: sp.OwnerID}, nil
}

// space reads a live space from the space index when there is one (a
// space document carries every member: decoding it from the store is the
// dearest part of hydrating an app), else, or when the index does not hold
// it yet, from the store.
func (s *Source) space(ctx context.Context, id string) (*store.Space, error) {
	if s.Spaces != nil {
		sp, ok, err := s.Spaces.Space(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return sp, nil
		}
	}
	sp, err := s.Store.Spaces.Get(ctx, id)
	if err != nil {
		return nil, mapErr(err)
	}
	return sp, nil
}

// SpaceResource is the policy's view of a space.
func SpaceResource(sp *store.Space) *authz.Resource {
	return &authz.Resource{
		Type: "space", ID: sp.ID, Name: sp.Name, Owner: sp.OwnerID, SpaceID: sp.ID, SpaceType: sp.Type,
		Space: &authz.Related{ID: sp.ID, Name: sp.Name, Type: sp.Type, Owner: sp.OwnerID},
	}
}

// mapErr turns the store's "not found" into authz's. The caller names
// the entity (`subject "bob": not found`); the store's own words would
// say it twice.
func mapErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return authz.ErrNotFound
	}
	return err
}
