package entities

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// SpaceIndex keeps every live space in memory, indexed by member and owner
// id, so hydrating a subject's space roles costs no query. It follows the
// spaces revision (store.Snapshot): at most every second it reads the
// counter, one point lookup, and rebuilds only when a write moved it, so
// another replica's membership change shows up within about a second and a
// quiet tenant costs no rebuilds; Invalidate (this replica's writes) makes
// the next read rebuild at once.
type SpaceIndex struct {
	*store.Snapshot[*spaceSnap]
	store *store.Store
}

type spaceSnap struct {
	mu       sync.RWMutex              // changes are applied in place
	byMember map[string][]*store.Space // user, group or owner id → spaces
	byID     map[string]*store.Space
	at       map[string]memberAt // space id → where its members stand
	shared   int                 // how many shared spaces
}

// memberAt is where a space's members stand in its Members: the positions
// of each user id's entries and of each group id's, so that a subject's
// roles in the space are read without scanning every member (a shared
// space may list thousands).
type memberAt struct {
	users, groups map[string][]int32
}

func membersOf(sp *store.Space) memberAt {
	at := memberAt{users: map[string][]int32{}, groups: map[string][]int32{}}
	for i, m := range sp.Members {
		switch m.Type {
		case "user":
			at.users[m.ID] = append(at.users[m.ID], int32(i))
		case "group":
			at.groups[m.ID] = append(at.groups[m.ID], int32(i))
		}
	}
	return at
}

// NewSpaceIndex builds an index over s.
func NewSpaceIndex(s *store.Store) *SpaceIndex {
	x := &SpaceIndex{store: s}
	x.Snapshot = store.NewSnapshot(s, x.build, x.apply, store.AreaSpaces)
	return x
}

// ForMember returns the spaces that userID or any of groupIDs owns or
// belongs to.
func (x *SpaceIndex) ForMember(ctx context.Context, userID string, groupIDs []string) ([]store.Space, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	seen := map[string]bool{}
	var out []store.Space
	for _, id := range append([]string{userID}, groupIDs...) {
		for _, sp := range sn.byMember[id] {
			if !seen[sp.ID] {
				seen[sp.ID] = true
				out = append(out, *sp)
			}
		}
	}
	return out, nil
}

// Roles answers the roles userID holds, directly or through any of
// groupIDs, in every space where it holds one: for each space that userID
// or a group owns or belongs to, store.Space.RolesOf (the same roles, in
// the same order), without copying the spaces or scanning their members.
// The map is the caller's; the role slices are too.
func (x *SpaceIndex) Roles(ctx context.Context, userID string, groupIDs []string) (map[string][]string, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	out := make(map[string][]string, 4)
	visit := func(id string) {
		for _, sp := range sn.byMember[id] {
			if _, done := out[sp.ID]; done {
				continue // a space with no role is visited again: it answers none again
			}
			if r := sn.rolesIn(sp, userID, groupIDs); len(r) > 0 {
				out[sp.ID] = r
			}
		}
	}
	visit(userID)
	for _, g := range groupIDs {
		visit(g)
	}
	return out, nil
}

// rolesIn is sp.RolesOf(userID, groupIDs) from the member positions: the
// matching entries, in the order of Members.
func (sn *spaceSnap) rolesIn(sp *store.Space, userID string, groupIDs []string) []string {
	at := sn.at[sp.ID]
	var buf [16]int32
	idx := append(buf[:0], at.users[userID]...)
	for _, g := range groupIDs {
		idx = append(idx, at.groups[g]...)
	}
	if len(groupIDs) > 0 {
		slices.Sort(idx)
		idx = slices.Compact(idx) // a group listed twice in groupIDs
	}
	var roles []string
	if sp.OwnerID == userID {
		roles = append(roles, "owner")
	}
	for _, i := range idx {
		for _, r := range sp.Members[i].Roles {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	return roles
}

// Space returns the live space with id; ok is false when the index does
// not hold it (the caller asks the store: it may be newer than the index).
// The space is shared: the caller must not change it.
func (x *SpaceIndex) Space(ctx context.Context, id string) (sp *store.Space, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, false, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	sp, ok = sn.byID[id]
	return sp, ok, nil
}

func (x *SpaceIndex) build(ctx context.Context) (*spaceSnap, error) {
	spaces, err := x.store.Spaces.Live(ctx)
	if err != nil {
		return nil, err
	}
	sn := &spaceSnap{byMember: map[string][]*store.Space{}, byID: make(map[string]*store.Space, len(spaces)),
		at: make(map[string]memberAt, len(spaces))}
	for i := range spaces {
		sn.add(&spaces[i])
	}
	return sn, nil
}

// SharedCount is how many shared spaces there are (the license quota).
func (x *SpaceIndex) SharedCount(ctx context.Context) (int, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return 0, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	return sn.shared, nil
}

// Overview is the console's spaces Overview (store.Spaces.Overview) from
// memory: the store counts and sorts every space.
func (x *SpaceIndex) Overview(ctx context.Context) (*store.SpaceOverview, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	o := &store.SpaceOverview{}
	for _, sp := range sn.byID {
		switch sp.Type {
		case store.SpaceShared:
			o.Shared++
		case store.SpaceManaged:
			o.Managed++
		}
		if o.LatestCreatedAt == nil || sp.CreatedAt.After(*o.LatestCreatedAt) {
			t := sp.CreatedAt.UTC()
			o.LatestCreatedAt = &t
		}
	}
	return o, nil
}

// apply re-reads each changed space by id: its old entries go, the live
// space's new ones come in.
func (x *SpaceIndex) apply(ctx context.Context, sn *spaceSnap, cs []store.Change) (*spaceSnap, error) {
	for _, c := range cs {
		sp, err := x.store.Spaces.Get(ctx, c.DocID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		sn.mu.Lock()
		sn.remove(c.DocID)
		if sp != nil {
			sn.add(sp)
		}
		sn.mu.Unlock()
	}
	return sn, nil
}

func (sn *spaceSnap) add(sp *store.Space) {
	sn.byID[sp.ID] = sp
	sn.at[sp.ID] = membersOf(sp)
	if sp.Type == store.SpaceShared {
		sn.shared++
	}
	sn.byMember[sp.OwnerID] = append(sn.byMember[sp.OwnerID], sp)
	for i, id := range sp.MemberIDs {
		if id != sp.OwnerID && !slices.Contains(sp.MemberIDs[:i], id) {
			sn.byMember[id] = append(sn.byMember[id], sp)
		}
	}
}

func (sn *spaceSnap) remove(id string) {
	old, ok := sn.byID[id]
	if !ok {
		return
	}
	delete(sn.byID, id)
	delete(sn.at, id)
	if old.Type == store.SpaceShared {
		sn.shared--
	}
	for _, m := range append([]string{old.OwnerID}, old.MemberIDs...) {
		list := slices.DeleteFunc(sn.byMember[m], func(o *store.Space) bool { return o.ID == id })
		if len(list) == 0 {
			delete(sn.byMember, m)
		} else {
			sn.byMember[m] = list
		}
	}
}
