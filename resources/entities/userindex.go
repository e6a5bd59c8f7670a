package entities

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// UserIndex keeps every user and the names of their groups in memory, so
// hydrating a subject costs no query. Like SpaceIndex it follows the
// change log (store.AreaUsers and store.AreaGroups; every write to users
// and groups, logins included, appends to it): each change re-reads the one
// user or group by id, so a write costs the same at 100 users as at
// 100,000; another replica's change shows up within the staleness bound,
// and Invalidate (this replica's writes) makes the next read catch up first.
type UserIndex struct {
	*store.Snapshot[*userSnap]
	store *store.Store
}

type userSnap struct {
	mu     sync.RWMutex // changes are applied in place
	users  map[string]*store.User
	groups map[string]string // group id → name
	// refs maps the other ids of a user (IdP subject, userName, alias,
	// lower-case email) to the rulekeeper ids that have them; an id two
	// users share names nobody. Kept up to date change by change.
	refs map[string][]string
}

// refKeys are the keys of refs that name u.
func refKeys(u *store.User) []string {
	var ks []string
	if u.Bound() {
		ks = append(ks, "sub:"+u.Subject)
	}
	if u.UserName != "" {
		ks = append(ks, "name:"+strings.ToLower(u.UserName))
	}
	for _, a := range u.Aliases {
		ks = append(ks, "name:"+strings.ToLower(a))
	}
	if u.Email != "" && !u.EmailUnverified { // an unverified email names nobody
		ks = append(ks, "email:"+strings.ToLower(u.Email))
	}
	return ks
}

func (sn *userSnap) addRefs(u *store.User) {
	for _, k := range refKeys(u) {
		if !slices.Contains(sn.refs[k], u.ID) {
			sn.refs[k] = append(sn.refs[k], u.ID)
		}
	}
}

func (sn *userSnap) dropRefs(u *store.User) {
	for _, k := range refKeys(u) {
		ids := slices.DeleteFunc(slices.Clone(sn.refs[k]), func(id string) bool { return id == u.ID })
		if len(ids) == 0 {
			delete(sn.refs, k)
		} else {
			sn.refs[k] = ids
		}
	}
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
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if _, ok := sn.users[ref]; ok {
		return ref, true, nil
	}
	for _, k := range []string{"sub:" + ref, "name:" + strings.ToLower(ref), "email:" + strings.ToLower(ref)} {
		if ids, ok := sn.refs[k]; ok {
			if len(ids) != 1 {
				return "", false, nil // ambiguous: names nobody
			}
			return ids[0], true, nil
		}
	}
	return "", false, nil
}

// ByEmail returns the ids of the users whose email is email (any case),
// from memory: the store would decode every user on the embedded server.
func (x *UserIndex) ByEmail(ctx context.Context, email string) ([]string, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	return slices.Clone(sn.refs["email:"+strings.ToLower(email)]), nil
}

// GroupNames returns the names of the groups with ids that the index
// holds, in the order of ids; known is false when one of them is missing
// (the caller asks the store).
func (x *UserIndex) GroupNames(ctx context.Context, ids []string) (names []string, known bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, false, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	names = make([]string, 0, len(ids))
	for _, id := range ids {
		name, ok := sn.groups[id]
		if !ok {
			return nil, false, nil
		}
		names = append(names, name)
	}
	return names, true, nil
}

// NewUserIndex builds an index over s.
func NewUserIndex(s *store.Store) *UserIndex {
	x := &UserIndex{store: s}
	x.Snapshot = store.NewSnapshot(s, x.build, x.apply, store.AreaUsers, store.AreaGroups)
	return x
}

// User returns the user with id and the names of their groups; ok is false
// when the index does not hold the user (the caller asks the store).
func (x *UserIndex) User(ctx context.Context, id string) (u *store.User, groups []string, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
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

// ByID returns the user with id as the index holds it, shared: the caller
// must not change it. ok is false when the index does not hold the user
// (the caller asks the store: it may be newer than the index).
func (x *UserIndex) ByID(ctx context.Context, id string) (u *store.User, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, false, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	u, ok = sn.users[id]
	return u, ok, nil
}

func (x *UserIndex) build(ctx context.Context) (*userSnap, error) {
	users, err := x.store.Users.All(ctx)
	if err != nil {
		return nil, err
	}
	sn := &userSnap{users: make(map[string]*store.User, len(users)), groups: map[string]string{},
		refs: make(map[string][]string, 3*len(users))}
	var ids []string
	for i := range users {
		u := &users[i]
		sn.users[u.ID] = u
		ids = append(ids, u.GroupIDs...)
		sn.addRefs(u)
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

// apply re-reads each changed user or group by id.
func (x *UserIndex) apply(ctx context.Context, sn *userSnap, cs []store.Change) (*userSnap, error) {
	for _, c := range cs {
		switch c.Area {
		case store.AreaUsers:
			u, err := x.store.Users.Get(ctx, c.DocID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			var missing []string
			sn.mu.Lock()
			if old, ok := sn.users[c.DocID]; ok {
				sn.dropRefs(old)
			}
			if u == nil {
				delete(sn.users, c.DocID)
			} else {
				sn.users[u.ID] = u
				sn.addRefs(u)
				for _, g := range u.GroupIDs {
					if _, ok := sn.groups[g]; !ok {
						missing = append(missing, g)
					}
				}
			}
			sn.mu.Unlock()
			for _, g := range missing {
				if err := x.group(ctx, sn, g); err != nil {
					return nil, err
				}
			}
		case store.AreaGroups:
			if err := x.group(ctx, sn, c.DocID); err != nil {
				return nil, err
			}
		}
	}
	return sn, nil
}

func (x *UserIndex) group(ctx context.Context, sn *userSnap, id string) error {
	g, err := x.store.Groups.Get(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if g == nil {
		delete(sn.groups, id)
	} else {
		sn.groups[id] = g.Name
	}
	return nil
}
