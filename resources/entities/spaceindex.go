package entities

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// SpaceIndex keeps every live space in memory, indexed by member and owner
// id, so hydrating a subject's space roles costs no query. It is rebuilt in
// the background at most every MaxAge (other replicas' membership changes
// show up that fast) and at once after Invalidate (this replica's writes).
type SpaceIndex struct {
	store  *store.Store
	MaxAge time.Duration

	snap     atomic.Pointer[spaceSnap]
	gen      atomic.Int64
	rebuilds singleflight.Group
}

type spaceSnap struct {
	at       time.Time
	byMember map[string][]*store.Space // user, group or owner id → spaces
}

// NewSpaceIndex builds an index over s.
func NewSpaceIndex(s *store.Store) *SpaceIndex {
	return &SpaceIndex{store: s, MaxAge: time.Second}
}

// Invalidate makes the next read rebuild the index.
func (x *SpaceIndex) Invalidate() {
	x.gen.Add(1)
	x.snap.Store(nil)
}

// ForMember returns the spaces that userID or any of groupIDs owns or
// belongs to.
func (x *SpaceIndex) ForMember(ctx context.Context, userID string, groupIDs []string) ([]store.Space, error) {
	sn, err := x.state(ctx)
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

func (x *SpaceIndex) state(ctx context.Context) (*spaceSnap, error) {
	if sn := x.snap.Load(); sn != nil {
		if time.Since(sn.at) >= x.MaxAge {
			x.rebuilds.DoChan("spaces", func() (any, error) { return x.rebuild(context.WithoutCancel(ctx)) })
		}
		return sn, nil
	}
	v, err, _ := x.rebuilds.Do("spaces", func() (any, error) { return x.rebuild(context.WithoutCancel(ctx)) })
	if err != nil {
		return nil, err
	}
	return v.(*spaceSnap), nil
}

func (x *SpaceIndex) rebuild(ctx context.Context) (*spaceSnap, error) {
	gen := x.gen.Load()
	spaces, err := x.store.Spaces.Live(ctx)
	if err != nil {
		return nil, err
	}
	sn := &spaceSnap{at: time.Now(), byMember: map[string][]*store.Space{}}
	for i := range spaces {
		sp := &spaces[i]
		sn.byMember[sp.OwnerID] = append(sn.byMember[sp.OwnerID], sp)
		for _, id := range sp.MemberIDs {
			if id != sp.OwnerID {
				sn.byMember[id] = append(sn.byMember[id], sp)
			}
		}
	}
	if x.gen.Load() == gen {
		x.snap.Store(sn)
	}
	return sn, nil
}
