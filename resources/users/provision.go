package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Provisioning: users and groups created by an admin (POST /users, bulk
// import, SCIM 2.0) before their first login. A provisioned user is named
// by its external id (the identity provider's subject, `sub`), its
// userName, its email and its aliases; the first login whose subject is
// the external id, or, for a user provisioned without one, whose email is
// the user's (and no other user's), binds to it instead of creating a
// second user (identity.Authenticator.Login).

// UserSpec is a user to provision, or the new state of one (Replace).
type UserSpec struct {
	ExternalID string              `json:"externalId"` // the IdP subject (sub)
	UserName   string              `json:"userName"`
	Name       string              `json:"name"`
	Email      string              `json:"email"`
	Groups     []string            `json:"groups"` // names; missing groups are created
	Attributes map[string][]string `json:"attributes"`
	Aliases    []string            `json:"aliases"`
	License    string              `json:"license"` // professional, analyzer or "" (none)
	Active     *bool               `json:"active"`  // nil: active
}

// Provisioner creates, changes and deletes provisioned users and groups.
// It is shared by the admin API and SCIM; it checks nothing about the
// caller (the handlers do).
type Provisioner struct {
	Store *store.Store
	// Assign gives a user a license type ("" removes it); nil: licenses
	// cannot be provisioned.
	Assign     func(ctx context.Context, userID, typ, by string) error
	Invalidate func(kind, id string)
}

// MaxImport is the most users one bulk import holds.
const MaxImport = 1000

// check validates spec; prefix names the field in errors.
func (s *UserSpec) check(prefix string) error {
	s.ExternalID = strings.TrimSpace(s.ExternalID)
	s.UserName = strings.TrimSpace(s.UserName)
	s.Email = strings.TrimSpace(s.Email)
	s.Name = strings.TrimSpace(s.Name)
	if s.ExternalID == "" && s.Email == "" && s.UserName == "" {
		return apierror.Field("missing_id", prefix+"externalId", "a provisioned user needs an externalId (the IdP subject), a userName or an email")
	}
	if strings.HasPrefix(s.ExternalID, store.PendingSubject) {
		return apierror.Field("bad_external_id", prefix+"externalId", "an externalId may not start with "+store.PendingSubject)
	}
	if s.Email != "" {
		if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
			return apierror.Field("bad_email", prefix+"email", fmt.Sprintf("%q is not an email address", s.Email))
		}
	}
	if s.Name == "" {
		s.Name = cmpOr(s.UserName, s.Email, s.ExternalID)
	}
	if len(s.Name) > 200 || len(s.UserName) > 200 || len(s.ExternalID) > 500 {
		return apierror.Field("too_long", prefix+"name", "names are at most 200 characters, externalId 500")
	}
	switch s.License {
	case "", "professional", "analyzer":
	default:
		return apierror.Field("bad_license", prefix+"license", "license is professional, analyzer or empty")
	}
	for i, a := range s.Aliases {
		if strings.TrimSpace(a) == "" {
			return apierror.Field("bad_alias", fmt.Sprintf("%saliases[%d]", prefix, i), "an alias is a non-empty string")
		}
		s.Aliases[i] = strings.ToLower(strings.TrimSpace(a))
	}
	for k := range s.Attributes {
		if k == "" {
			return apierror.Field("bad_attribute", prefix+"attributes", "attribute names are non-empty")
		}
	}
	return nil
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ErrUserExists is a provisioned user whose externalId or userName another
// user holds.
var ErrUserExists = errors.New("user exists")

func exists(field, value string) error {
	return &apierror.Error{Status: http.StatusConflict, Code: "user_exists",
		Message: fmt.Sprintf("a user with %s %q exists", field, value), Details: map[string]any{"field": field}}
}

// claimNames takes the locks that make externalId and userName unique
// among users (the store's unique index covers subject; userName has the
// lock) and checks that no other user than self holds them.
func (p *Provisioner) claimNames(ctx context.Context, spec *UserSpec, self string) (func(), error) {
	var unlocks []func()
	release := func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
	for _, k := range []struct{ field, value string }{{"userName", strings.ToLower(spec.UserName)}, {"externalId", spec.ExternalID}} {
		if k.value == "" {
			continue
		}
		unlock, err := p.Store.Locks.Acquire(ctx, "users/"+k.field+"/"+k.value)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, unlock)
		var other *store.User
		if k.field == "userName" {
			other, err = p.Store.Users.ByUserName(ctx, k.value)
		} else {
			other, err = p.Store.Users.BySubject(ctx, k.value)
		}
		switch {
		case err == nil && other.ID != self:
			release()
			return nil, exists(k.field, k.value)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			release()
			return nil, err
		}
	}
	return release, nil
}

// GroupIDs resolves group names to ids, creating the missing ones.
func (p *Provisioner) GroupIDs(ctx context.Context, names []string) ([]string, error) {
	ids := []string{}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		g, err := p.Store.Groups.ByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			g = &store.Group{Name: name, Source: "provisioned"}
			if err = p.Store.Groups.Create(ctx, g); errors.Is(err, store.ErrConflict) {
				g, err = p.Store.Groups.ByName(ctx, name)
			}
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Create provisions a new user; by is the admin's id (events, license).
func (p *Provisioner) Create(ctx context.Context, spec UserSpec, by string) (*store.User, error) {
	if err := spec.check(""); err != nil {
		return nil, err
	}
	release, err := p.claimNames(ctx, &spec, "")
	if err != nil {
		return nil, err
	}
	defer release()
	groupIDs, err := p.GroupIDs(ctx, spec.Groups)
	if err != nil {
		return nil, err
	}
	u := &store.User{Subject: spec.ExternalID, Name: spec.Name, Email: spec.Email, UserName: spec.UserName,
		Aliases: spec.Aliases, Provisioned: true, GroupIDs: groupIDs, Attributes: spec.Attributes}
	if spec.Active != nil && !*spec.Active {
		u.Status = store.UserDisabled
	}
	if err := p.Store.Users.Create(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, exists("externalId", spec.ExternalID)
		}
		return nil, err
	}
	if spec.License != "" {
		if p.Assign == nil {
			return nil, apierror.Field("license_unavailable", "license", "licenses cannot be assigned here")
		}
		if err := p.Assign(ctx, u.ID, spec.License, by); err != nil {
			return nil, err
		}
	}
	p.changed(u.ID)
	if err := p.Store.Events.Add(ctx, EventSource, "user.provisioned", by, map[string]any{"userId": u.ID, "externalId": spec.ExternalID, "userName": spec.UserName}); err != nil {
		return nil, err
	}
	return u, nil
}

// Find answers the user that spec names by externalId or userName (nil
// when none does).
func (p *Provisioner) Find(ctx context.Context, spec UserSpec) (*store.User, error) {
	if spec.ExternalID != "" {
		u, err := p.Store.Users.BySubject(ctx, strings.TrimSpace(spec.ExternalID))
		if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	if spec.UserName != "" {
		u, err := p.Store.Users.ByUserName(ctx, strings.TrimSpace(spec.UserName))
		if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	return nil, nil
}

// Change is the update that makes a user what spec says (attributes and
// groups replaced, the license assigned when spec names one).
func (s UserSpec) Change() Change {
	ch := Change{ExternalID: &s.ExternalID, UserName: &s.UserName, Name: &s.Name, Email: &s.Email,
		Attributes: s.Attributes, ReplaceAttributes: true, Active: s.Active}
	if s.ExternalID == "" {
		ch.ExternalID = nil
	}
	groups := nonNil(s.Groups)
	ch.Groups = &groups
	aliases := nonNil(s.Aliases)
	ch.Aliases = &aliases
	if s.License != "" {
		ch.License = &s.License
	}
	if ch.Active == nil {
		yes := true
		ch.Active = &yes
	}
	return ch
}

// Change is a partial update of a user: nil fields stay as they are.
type Change struct {
	ExternalID *string
	UserName   *string
	Name       *string
	Email      *string
	Groups     *[]string
	Aliases    *[]string
	// Attributes replace the named attributes; a nil list removes one.
	Attributes map[string][]string
	// ReplaceAttributes replaces the whole set with Attributes.
	ReplaceAttributes bool
	Active            *bool
	License           *string
}

// Update applies ch to the user id (compare-and-swap, retried on a
// concurrent change).
func (p *Provisioner) Update(ctx context.Context, id string, ch Change, by string) (*store.User, error) {
	u, err := p.Store.Users.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	current := ""
	if u.Bound() {
		current = u.Subject
	}
	spec := UserSpec{ExternalID: deref(ch.ExternalID, current), UserName: deref(ch.UserName, u.UserName),
		Name: deref(ch.Name, u.Name), Email: deref(ch.Email, u.Email), License: deref(ch.License, ""),
		Aliases: slices.Clone(u.Aliases)}
	if ch.Aliases != nil {
		spec.Aliases = slices.Clone(*ch.Aliases)
	}
	if err := spec.check(""); err != nil {
		return nil, err
	}
	if spec.ExternalID != current && !u.LastLoginAt.IsZero() {
		return nil, apierror.Field("bound_user", "externalId", "the user has logged in: their identity provider subject stays")
	}
	release, err := p.claimNames(ctx, &spec, u.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	var groupIDs []string
	if ch.Groups != nil {
		if groupIDs, err = p.GroupIDs(ctx, *ch.Groups); err != nil {
			return nil, err
		}
	}
	for range 5 {
		uc := store.UserChange{Version: u.Version, GroupIDs: groupIDs}
		if ch.Name != nil {
			uc.Name = &spec.Name
		}
		if ch.Email != nil {
			uc.Email = &spec.Email
		}
		if ch.UserName != nil {
			uc.UserName = &spec.UserName
		}
		if ch.ExternalID != nil {
			sub := spec.ExternalID
			if sub == "" {
				sub = store.PendingSubject + u.ID
			}
			uc.Subject = &sub
		}
		if ch.Aliases != nil {
			uc.Aliases = nonNil(spec.Aliases)
		}
		if ch.Active != nil {
			st := store.UserActive
			if !*ch.Active {
				st = store.UserDisabled
			}
			uc.Status = &st
		}
		if ch.Attributes != nil || ch.ReplaceAttributes {
			attrs := map[string][]string{}
			if !ch.ReplaceAttributes {
				for k, v := range u.Attributes {
					attrs[k] = v
				}
			}
			for k, v := range ch.Attributes {
				if v == nil {
					delete(attrs, k)
				} else {
					attrs[k] = v
				}
			}
			uc.Attributes = attrs
		}
		nu, err := p.Store.Users.Update(ctx, u.ID, uc)
		if errors.Is(err, store.ErrConflict) {
			if u, err = p.Store.Users.Get(ctx, id); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if ch.License != nil {
			if p.Assign == nil {
				return nil, apierror.Field("license_unavailable", "license", "licenses cannot be assigned here")
			}
			if err := p.Assign(ctx, u.ID, *ch.License, by); err != nil {
				return nil, err
			}
		}
		p.changed(u.ID)
		if err := p.Store.Events.Add(ctx, EventSource, "user.updated", by, map[string]any{"userId": u.ID, "source": "provisioning"}); err != nil {
			return nil, err
		}
		return nu, nil
	}
	return nil, fmt.Errorf("user %q keeps changing: %w", id, store.ErrConflict)
}

func deref(p *string, otherwise string) string {
	if p == nil {
		return otherwise
	}
	return *p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Delete removes the user id and their license assignment.
func (p *Provisioner) Delete(ctx context.Context, id, by string) error {
	if p.Assign != nil {
		if err := p.Assign(ctx, id, "", by); err != nil {
			return err
		}
	}
	if err := p.Store.Users.Delete(ctx, id); err != nil {
		return err
	}
	p.changed(id)
	return p.Store.Events.Add(ctx, EventSource, "user.deleted", by, map[string]any{"userId": id})
}

// SetMembers makes the group's members exactly userIDs (nil: unchanged),
// adding add and removing remove besides.
func (p *Provisioner) SetMembers(ctx context.Context, groupID string, userIDs, add, remove []string) error {
	current, err := p.Store.Users.InGroup(ctx, groupID)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if userIDs == nil {
		for _, u := range current {
			want[u.ID] = true
		}
	} else {
		for _, id := range userIDs {
			want[id] = true
		}
	}
	for _, id := range add {
		want[id] = true
	}
	for _, id := range remove {
		delete(want, id)
	}
	have := map[string]bool{}
	for _, u := range current {
		have[u.ID] = true
	}
	for id := range have {
		if !want[id] {
			if err := p.membership(ctx, id, groupID, false); err != nil {
				return err
			}
		}
	}
	for id := range want {
		if !have[id] {
			if err := p.membership(ctx, id, groupID, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// membership adds the user to the group, or removes them.
func (p *Provisioner) membership(ctx context.Context, userID, groupID string, in bool) error {
	for range 5 {
		u, err := p.Store.Users.Get(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return apierror.Field("unknown_member", "members", fmt.Sprintf("no user has id %q", userID))
		}
		if err != nil {
			return err
		}
		ids := slices.DeleteFunc(slices.Clone(u.GroupIDs), func(g string) bool { return g == groupID })
		if in {
			ids = append(ids, groupID)
			slices.Sort(ids)
		}
		_, err = p.Store.Users.Update(ctx, u.ID, store.UserChange{Version: u.Version, GroupIDs: nonNil(ids)})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		p.changed(u.ID)
		return nil
	}
	return fmt.Errorf("user %q keeps changing: %w", userID, store.ErrConflict)
}

func (p *Provisioner) changed(userID string) {
	if p.Invalidate != nil {
		p.Invalidate("subject", userID)
		p.Invalidate("user", userID)
	}
}
