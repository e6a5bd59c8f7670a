package entities

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rulekeeper/rulekeeper/authz"
)

// MemoSize bounds the subjects a Memo keeps: past it, it starts over.
const MemoSize = 50_000

// Memo is the Source the decision engine hydrates from: a subject it built
// from the user and space indexes is kept, and handed out again, for as
// long as neither index has changed (store.Snapshot.Version) and the
// subject's license is the same. The engine's entity cache still expires
// its entries after its TTL, for every kind of entity; a subject it then
// reloads costs a map read here instead of a new hydration (the group
// names, the roles in every space), as long as nothing it was built from
// changed.
//
// It serves nothing older than the Source would: every Subject first
// brings the snapshots within the staleness bound (the follower's Sync,
// through the user index's Get), then compares the versions the memo was
// built at with the current ones — any change to users, groups or spaces,
// applied from this replica's writes or from another replica's through the
// change log, moves them and drops every kept subject — and the license,
// read afresh for every call, with the kept one. A subject the user index
// does not hold (read from the store) is not kept.
//
// Kept subjects are shared, as the engine's entity cache shares them: the
// engine does not change them. Other callers use the Source.
type Memo struct {
	*Source
	table atomic.Pointer[memoTable]
	hits  atomic.Int64 // for tests
}

// memoTable is the subjects built at one pair of index versions.
type memoTable struct {
	users, spaces uint64
	mu            sync.RWMutex
	subjects      map[string]*authz.Subject
}

// NewMemo memoises src's subjects; src needs Users and Spaces (without
// them Subject is src's).
func NewMemo(src *Source) *Memo { return &Memo{Source: src} }

var _ authz.BatchEntities = (*Memo)(nil)

// Subject answers the user with id as Source.Subject does, from the memo
// when nothing it was built from changed.
func (m *Memo) Subject(ctx context.Context, id string) (*authz.Subject, error) {
	src := m.Source
	if src.Users == nil || src.Spaces == nil {
		return src.Subject(ctx, id)
	}
	// Within the staleness bound first (Get syncs with the change log),
	// then the versions: what is built from here on is at least as new.
	if _, err := src.Users.Get(ctx); err != nil {
		return nil, err
	}
	if _, err := src.Spaces.Get(ctx); err != nil {
		return nil, err
	}
	users, spaces := src.Users.Version(), src.Spaces.Version()
	var lic authz.License
	if src.License != nil {
		var err error
		if lic, err = src.License(ctx, id); err != nil {
			return nil, err
		}
	}
	t := m.table.Load()
	if t != nil && t.users == users && t.spaces == spaces {
		t.mu.RLock()
		s, ok := t.subjects[id]
		t.mu.RUnlock()
		if ok && s.License == lic {
			m.hits.Add(1)
			return s, nil
		}
	}
	u, names, ok, err := src.Users.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return src.Subject(ctx, id) // from the store: not kept
	}
	s, err := src.subjectOf(ctx, u, names)
	if err != nil {
		return nil, err
	}
	m.keep(t, users, spaces, id, s)
	return s, nil
}

// keep adds s, built at versions users and spaces, to the table of those
// versions (a new one when t is of others, or full).
func (m *Memo) keep(t *memoTable, users, spaces uint64, id string, s *authz.Subject) {
	for {
		if t != nil && (t.users > users || t.spaces > spaces) {
			return // built before a change the memo has seen: not kept
		}
		if t == nil || t.users != users || t.spaces != spaces {
			fresh := &memoTable{users: users, spaces: spaces, subjects: map[string]*authz.Subject{}}
			if !m.table.CompareAndSwap(t, fresh) {
				t = m.table.Load()
				continue
			}
			t = fresh
		}
		t.mu.Lock()
		if len(t.subjects) >= MemoSize {
			clear(t.subjects)
		}
		// Its own copy of the id: the caller's may alias request memory.
		t.subjects[strings.Clone(id)] = s
		t.mu.Unlock()
		return
	}
}
