package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultStaleness is the default staleness bound of a replica: a
// decision never uses data older than that behind the last write any
// replica acknowledged (serve --staleness-bound).
const DefaultStaleness = 2 * time.Second

// DefaultPoll is how often a Snapshot in use reads its areas' revisions in
// the background, so that readers seldom wait for a check.
const DefaultPoll = 250 * time.Millisecond

// DefaultMaxAge is the oldest revision check a Snapshot answers from: past
// it, a reader waits for a fresh check (and a rebuild when a revision
// moved) instead of being served the old value. Half the staleness bound:
// the entity cache in front of it may keep what it read for the other half.
const DefaultMaxAge = DefaultStaleness / 2

// refreshTimeout bounds one revision check and rebuild, whatever the
// caller's context: readers that joined it give up at their own deadline,
// and a refresh stuck on a paused database must not hold later readers.
const refreshTimeout = 5 * time.Second

// DefaultFullEvery bounds the life of a snapshot whatever the revisions
// say: a safety net for writes that bypass the repositories (an operator's
// shell) or whose bump was lost (a crash between the write and the bump).
const DefaultFullEvery = time.Minute

// Snapshot is an in-memory value built from the store (an index, the
// license state), kept up to date cheaply: at most every Poll, in the
// background, it reads the revision counters of its areas (point lookups)
// and rebuilds only when one moved or the value is older than FullEvery.
// Invalidate (a write through this process) makes the next read rebuild at
// once and wait for it. A value checked less than MaxAge ago is served
// while one background refresh runs; an older one never is: the reader
// waits for the refresh (up to its context's deadline), so an idle replica
// does not answer from what it knew before it went quiet.
type Snapshot[T any] struct {
	revs  *Revisions
	areas []string
	build func(context.Context) (T, error)
	// Poll is the interval between revision checks (DefaultPoll).
	Poll time.Duration
	// MaxAge is the oldest check a value is served from (DefaultMaxAge).
	MaxAge time.Duration
	// FullEvery is the longest a value is kept without a rebuild
	// (DefaultFullEvery).
	FullEvery time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time

	cur    atomic.Pointer[snapState[T]]
	gen    atomic.Int64
	flight singleflight.Group
	builds atomic.Int64
	checks atomic.Int64
}

type snapState[T any] struct {
	v       T
	revs    []int64
	built   time.Time
	checked time.Time
}

// NewSnapshot returns a snapshot of build's value that follows the
// revisions of areas in s.
func NewSnapshot[T any](s *Store, build func(context.Context) (T, error), areas ...string) *Snapshot[T] {
	maxAge := DefaultMaxAge
	if s.Staleness > 0 {
		maxAge = s.Staleness / 2
	}
	return &Snapshot[T]{revs: s.Revisions, areas: areas, build: build, Poll: min(DefaultPoll, maxAge/2), MaxAge: maxAge, FullEvery: DefaultFullEvery, Now: time.Now}
}

// Get returns the current value, building it first when there is none.
func (s *Snapshot[T]) Get(ctx context.Context) (T, error) {
	// The flight is keyed by the invalidation generation: a read after
	// Invalidate never joins a refresh that began before it.
	gen := s.gen.Load()
	st := s.cur.Load()
	if st != nil {
		if age := s.Now().Sub(st.checked); age < s.MaxAge {
			if age >= s.Poll {
				s.flight.DoChan(strconv.FormatInt(gen, 10), func() (any, error) { return s.refresh(ctx, gen) })
			}
			return st.v, nil
		}
	}
	var zero T
	select {
	case r := <-s.flight.DoChan(strconv.FormatInt(gen, 10), func() (any, error) { return s.refresh(ctx, gen) }):
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(*snapState[T]).v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("refresh the in-memory snapshot: %w", ctx.Err())
	}
}

// Invalidate drops the value: the next Get rebuilds it (this process's
// writes are seen at once).
func (s *Snapshot[T]) Invalidate() {
	s.gen.Add(1)
	s.cur.Store(nil)
}

// Builds is how many times the value was built (for tests and metrics).
func (s *Snapshot[T]) Builds() int64 { return s.builds.Load() }

// Checks is how many times the revisions were read.
func (s *Snapshot[T]) Checks() int64 { return s.checks.Load() }

// refresh reads the revisions and rebuilds when they moved. The revisions
// are read before the build: a write whose bump is counted is in what the
// build reads, and a later one bumps again and is caught by the next check.
// A value is kept only if no Invalidate happened meanwhile.
func (s *Snapshot[T]) refresh(ctx context.Context, gen int64) (*snapState[T], error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	now := s.Now()
	revs := make([]int64, len(s.areas))
	for i, a := range s.areas {
		n, err := s.revs.Get(ctx, a)
		if err != nil {
			return nil, err
		}
		revs[i] = n
	}
	s.checks.Add(1)
	old := s.cur.Load()
	if old != nil && slices.Equal(old.revs, revs) && now.Sub(old.built) < s.FullEvery {
		st := &snapState[T]{v: old.v, revs: revs, built: old.built, checked: now}
		if s.gen.Load() == gen {
			s.cur.CompareAndSwap(old, st)
		}
		return st, nil
	}
	v, err := s.build(ctx)
	if err != nil {
		return nil, err
	}
	s.builds.Add(1)
	st := &snapState[T]{v: v, revs: revs, built: now, checked: now}
	if s.gen.Load() == gen {
		s.cur.Store(st)
	}
	return st, nil
}
