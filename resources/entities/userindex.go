package entities

import (
	"context"
	"slices"
	"strings"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// UserIndex keeps every user and the names of their groups in memory, so
// hydrating a subject costs no query. Like SpaceIndex it follows a revision
// (store.AreaUsers, bumped by every write to users and groups, logins
// included): another replica's change shows up within about a second,
// nothing is rebuilt while nothing changes, and Invalidate (this replica's
// writes) makes the next read rebuild at once.
type UserIndex struct {
	*store.Snapshot[*userSnap]
	store *store.Store
}

type userSnap struct {
	users  map[string]*store.User
	groups map[string]string // group id → name
	// refs maps the other ids of a user (IdP subject, userName, alias,
	// lower-case email) to rulekeeper ids; an id two users share maps to "".
	refs map[string]string
}

// Resolve answers the rulekeeper id of the user that ref names: a
// rulekeeper id, an identity provider subject, a userName or alias, or an
// email (any case), in that order. ok is false when no user, or more than
// one, has that id.
func (x *UserIndex) Resolve(ctx context.Context, ref string) (id string, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return "", false, err
	}
	if _, ok := sn.users[ref]; ok {
		return ref, true, nil
	}
	for _, k := range []string{"sub:" + ref, "name:" + strings.ToLower(ref), "email:" + strings.ToLower(ref)} {
		if id, ok := sn.refs[k]; ok {
			return id, id != "", nil
		}
	}
	return "", false, nil
}

// NewUserIndex builds an index over s.
func NewUserIndex(s *store.Store) *UserIndex {
	x := &UserIndex{store: s}
	x.Snapshot = store.NewSnapshot(s, x.build, store.AreaUsers)
	return x
}

// User returns the user with id and the names of their groups; ok is false
// when the index does not hold the user (the caller asks the store).
func (x *UserIndex) User(ctx context.Context, id string) (u *store.User, groups []string, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	u, ok = sn.users[id]
	if !ok {
		return nil, nil, false, nil
	}
	groups = make([]string, 0, len(u.GroupIDs))
	for _, g := range u.GroupIDs {
		if name, ok := sn.groups[g]; ok {
			groups = append(groups, name)
		}
	}
	return u, groups, true, nil
}

func (x *UserIndex) build(ctx context.Context) (*userSnap, error) {
	users, err := x.store.Users.All(ctx)
	if err != nil {
		return nil, err
	}
	sn := &userSnap{users: make(map[string]*store.User, len(users)), groups: map[string]string{},
		refs: make(map[string]string, 3*len(users))}
	var ids []string
	ref := func(k, id string) {
		if old, dup := sn.refs[k]; dup && old != id {
			id = "" // ambiguous: names nobody
		}
		sn.refs[k] = id
	}
	for i := range users {
		u := &users[i]
		sn.users[u.ID] = u
		ids = append(ids, u.GroupIDs...)
		if u.Bound() {
			ref("sub:"+u.Subject, u.ID)
		}
		if u.UserName != "" {
			ref("name:"+strings.ToLower(u.UserName), u.ID)
		}
		for _, a := range u.Aliases {
			ref("name:"+strings.ToLower(a), u.ID)
		}
		if u.Email != "" {
			ref("email:"+strings.ToLower(u.Email), u.ID)
		}
	}
	slices.Sort(ids)
	groups, err := x.store.Groups.ByIDs(ctx, slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		sn.groups[g.ID] = g.Name
	}
	return sn, nil
}
