package entities

import (
	"context"

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
	byMember map[string][]*store.Space // user, group or owner id → spaces
	byID     map[string]*store.Space
}

// NewSpaceIndex builds an index over s.
func NewSpaceIndex(s *store.Store) *SpaceIndex {
	x := &SpaceIndex{store: s}
	x.Snapshot = store.NewSnapshot(s, x.build, store.AreaSpaces)
	return x
}

// ForMember returns the spaces that userID or any of groupIDs owns or
// belongs to.
func (x *SpaceIndex) ForMember(ctx context.Context, userID string, groupIDs []string) ([]store.Space, error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, err
	}
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

// Space returns the live space with id; ok is false when the index does
// not hold it (the caller asks the store: it may be newer than the index).
// The space is shared: the caller must not change it.
func (x *SpaceIndex) Space(ctx context.Context, id string) (sp *store.Space, ok bool, err error) {
	sn, err := x.Get(ctx)
	if err != nil {
		return nil, false, err
	}
	sp, ok = sn.byID[id]
	return sp, ok, nil
}

func (x *SpaceIndex) build(ctx context.Context) (*spaceSnap, error) {
	spaces, err := x.store.Spaces.Live(ctx)
	if err != nil {
		return nil, err
	}
	sn := &spaceSnap{byMember: map[string][]*store.Space{}, byID: make(map[string]*store.Space, len(spaces))}
	for i := range spaces {
		sp := &spaces[i]
		sn.byID[sp.ID] = sp
		sn.byMember[sp.OwnerID] = append(sn.byMember[sp.OwnerID], sp)
		for _, id := range sp.MemberIDs {
			if id != sp.OwnerID {
				sn.byMember[id] = append(sn.byMember[id], sp)
			}
		}
	}
	return sn, nil
}
