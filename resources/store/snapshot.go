package store

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultPoll is how often a Snapshot reads its areas' revisions: another
// replica's write is unseen for at most about that long.
const DefaultPoll = time.Second

// DefaultFullEvery bounds the life of a snapshot whatever the revisions
// say: a safety net for writes that bypass the repositories (an operator's
// shell) or whose bump was lost (a crash between the write and the bump).
const DefaultFullEvery = time.Minute

// Snapshot is an in-memory value built from the store (an index, the
// license state), kept up to date cheaply: at most every Poll, in the
// background, it reads the revision counters of its areas (point lookups)
// and rebuilds only when one moved or the value is older than FullEvery.
// Invalidate (a write through this process) makes the next read rebuild at
// once and wait for it. Readers never wait otherwise: a stale value is
// served while one background refresh runs.
type Snapshot[T any] struct {
	revs  *Revisions
	areas []string
	build func(context.Context) (T, error)
	// Poll is the interval between revision checks (DefaultPoll).
	Poll time.Duration
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
	return &Snapshot[T]{revs: s.Revisions, areas: areas, build: build, Poll: DefaultPoll, FullEvery: DefaultFullEvery, Now: time.Now}
}

// Get returns the current value, building it first when there is none.
func (s *Snapshot[T]) Get(ctx context.Context) (T, error) {
	// The flight is keyed by the invalidation generation: a read after
	// Invalidate never joins a refresh that began before it.
	gen := s.gen.Load()
	if st := s.cur.Load(); st != nil {
		if s.Now().Sub(st.checked) >= s.Poll {
			s.flight.DoChan(strconv.FormatInt(gen, 10), func() (any, error) { return s.refresh(context.WithoutCancel(ctx), gen) })
		}
		return st.v, nil
	}
	v, err, _ := s.flight.Do(strconv.FormatInt(gen, 10), func() (any, error) { return s.refresh(context.WithoutCancel(ctx), gen) })
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(*snapState[T]).v, nil
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
