package entities

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// UserIndex keeps every user and the names of their groups in memory, so
// hydrating a subject costs no query. Like SpaceIndex it is rebuilt in the
// background at most every MaxAge (other replicas' changes show up that
// fast) and at once after Invalidate (this replica's writes to users and
// groups, logins included).
type UserIndex struct {
	store  *store.Store
	MaxAge time.Duration

	snap     atomic.Pointer[userSnap]
	gen      atomic.Int64
	rebuilds singleflight.Group
}

type userSnap struct {
	at     time.Time
	users  map[string]*store.User
	groups map[string]string // group id → name
}

// NewUserIndex builds an index over s.
func NewUserIndex(s *store.Store) *UserIndex {
	return &UserIndex{store: s, MaxAge: time.Second}
}

// Invalidate makes the next read rebuild the index.
func (x *UserIndex) Invalidate() {
	x.gen.Add(1)
	x.snap.Store(nil)
}

// User returns the user with id and the names of their groups; ok is false
// when the index does not hold the user (the caller asks the store).
func (x *UserIndex) User(ctx context.Context, id string) (u *store.User, groups []string, ok bool, err error) {
	sn, err := x.state(ctx)
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

func (x *UserIndex) state(ctx context.Context) (*userSnap, error) {
	if sn := x.snap.Load(); sn != nil {
		if time.Since(sn.at) >= x.MaxAge {
			x.rebuilds.DoChan("users", func() (any, error) { return x.rebuild(context.WithoutCancel(ctx)) })
		}
		return sn, nil
	}
	v, err, _ := x.rebuilds.Do("users", func() (any, error) { return x.rebuild(context.WithoutCancel(ctx)) })
	if err != nil {
		return nil, err
	}
	return v.(*userSnap), nil
}

func (x *UserIndex) rebuild(ctx context.Context) (*userSnap, error) {
	gen := x.gen.Load()
	at := time.Now()
	users, err := x.store.Users.All(ctx)
	if err != nil {
		return nil, err
	}
	sn := &userSnap{at: at, users: make(map[string]*store.User, len(users)), groups: map[string]string{}}
	var ids []string
	for i := range users {
		sn.users[users[i].ID] = &users[i]
		ids = append(ids, users[i].GroupIDs...)
	}
	slices.Sort(ids)
	groups, err := x.store.Groups.ByIDs(ctx, slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		sn.groups[g.ID] = g.Name
	}
	if x.gen.Load() == gen {
		x.snap.Store(sn)
	}
	return sn, nil
}
