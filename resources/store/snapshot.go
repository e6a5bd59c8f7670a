package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rulekeeper/rulekeeper/resources/dbcalls"
)

// DefaultStaleness is the default staleness bound of a replica: a
// decision never uses data older than that behind the last write any
// replica acknowledged (serve --staleness-bound).
const DefaultStaleness = 2 * time.Second

// DefaultPoll is how often the Follower tails the change log in the
// background (Run) and the longest a reader goes without a background
// check being started.
const DefaultPoll = 250 * time.Millisecond

// DefaultMaxAge is the oldest catch-up a snapshot is served from: past it,
// a reader waits for a fresh one. Half the staleness bound: the entity
// cache in front of the snapshots may keep what it read for the other half.
const DefaultMaxAge = DefaultStaleness / 2

// refreshTimeout bounds one catch-up, whatever the caller's context:
// readers that joined it give up at their own deadline, and a catch-up
// stuck on a paused database must not hold later readers.
const refreshTimeout = 5 * time.Second

// buildTimeout bounds one build of a snapshot (100,000 users on a loaded
// machine take minutes). A build runs detached from the reader that
// started it: readers give up at their own deadline (503), the build goes
// on, and the next reader is served from it.
const buildTimeout = 10 * time.Minute

// longGap is how long without a completed catch-up makes the next one ask
// for the log's head (a scan of the kept entries on the embedded server):
// entries this replica missed may have been trimmed meanwhile.
const longGap = 30 * time.Second

// Follower tails the change log for one process and hands each new entry
// to the snapshots that follow its area, which apply it by id (re-read the
// one document) instead of rebuilding. Its applied sequence is the
// staleness clock: a reader whose last completed catch-up began less than
// MaxAge ago is served at once (a background catch-up starts past Poll);
// an older one waits for a catch-up, which costs one point read of the
// entry after the applied one when nothing changed. Dirty (a write in this
// process) makes the next reader wait for a catch-up that began after it.
type Follower struct {
	log *Changes
	// Poll is the background interval (DefaultPoll); MaxAge the oldest
	// catch-up readers are served from (DefaultMaxAge).
	Poll, MaxAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time

	mu      sync.Mutex // one catch-up (and one build) at a time
	subs    []subscriber
	applied atomic.Int64
	started bool // the head was read once
	// checked is the start (unix ns) of the last completed catch-up: every
	// write acknowledged before it is applied.
	checked atomic.Int64
	gen     atomic.Int64 // bumped by Dirty
	clean   atomic.Int64 // the gen the last completed catch-up began at
	flight  singleflight.Group
	reads   atomic.Int64
}

type subscriber struct {
	areas []string
	apply func(context.Context, []Change) error
}

func newFollower(l *Changes) *Follower {
	return &Follower{log: l, Poll: DefaultPoll, MaxAge: DefaultMaxAge, Now: time.Now}
}

// Subscribe registers apply for the changes of areas (NewSnapshot does it
// for a snapshot; the rules in force follow AreaRules). apply runs under
// the follower's lock, one batch at a time, in sequence order; its error
// fails the catch-up, which the next one tries again.
func (f *Follower) Subscribe(apply func(context.Context, []Change) error, areas ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, subscriber{areas: areas, apply: apply})
}

// Applied is the highest sequence applied to the snapshots.
func (f *Follower) Applied() int64 { return f.applied.Load() }

// Reads is how many log entries were read (tests, metrics).
func (f *Follower) Reads() int64 { return f.reads.Load() }

// Dirty makes the next Sync wait for a catch-up that begins after this
// call: this process's writes are seen by its next read.
func (f *Follower) Dirty() { f.gen.Add(1) }

// Sync brings the snapshots within the staleness bound: at once when the
// last catch-up is recent enough (starting one in the background past
// Poll), else it waits for one (up to ctx's deadline).
func (f *Follower) Sync(ctx context.Context) error {
	gen := f.gen.Load()
	if f.clean.Load() >= gen {
		age := f.Now().Sub(time.Unix(0, f.checked.Load()))
		if age < f.MaxAge {
			if age >= f.Poll {
				// Not waited for: not this request's round trips.
				bg := dbcalls.Without(ctx)
				f.flight.DoChan(strconv.FormatInt(gen, 10), func() (any, error) { return nil, f.catchUp(bg, gen) })
			}
			return nil
		}
	}
	return f.wait(ctx, gen)
}

// CatchUp applies every entry written before it began (the license seats
// ask it under their lock: the state must hold every earlier assignment).
func (f *Follower) CatchUp(ctx context.Context) error {
	return f.wait(ctx, f.gen.Add(1))
}

func (f *Follower) wait(ctx context.Context, gen int64) error {
	select {
	case r := <-f.flight.DoChan(strconv.FormatInt(gen, 10), func() (any, error) { return nil, f.catchUp(ctx, gen) }):
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("catch up with the change log: %w", ctx.Err())
	}
}

// Run catches up every Poll until ctx ends, so an idle replica stays
// current and a reader seldom waits.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(f.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.Sync(ctx)
		}
	}
}

// catchUp reads the entries after the applied one until there is none and
// applies them. An entry that is missing although later ones exist was
// trimmed: only a replica that fell more than Keep entries behind sees
// that, and then every snapshot rebuilds.
func (f *Follower) catchUp(parent context.Context, gen int64) error {
	// Each step gets refreshTimeout of its own: a rebuild before it (which
	// has its own bound) must not leave the next read without time.
	base := context.WithoutCancel(parent)
	ctx, cancel := context.WithTimeout(base, refreshTimeout)
	defer func() { cancel() }()
	renew := func() {
		cancel()
		ctx, cancel = context.WithTimeout(base, refreshTimeout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.Now()
	// head: the log's head when this catch-up asked for it (after a long
	// gap), else 0.
	var head int64
	if !f.started || start.Sub(time.Unix(0, f.checked.Load())) > longGap {
		var err error
		if head, err = f.log.Head(ctx); err != nil {
			return err
		}
		if !f.started {
			// Nothing is built yet: snapshots built from now on read
			// everything up to head.
			f.applied.Store(head)
			f.started = true
		} else if head > f.applied.Load() {
			// The next entry is read, not inferred from the oldest kept
			// one: a trim that failed leaves an older entry behind.
			_, err := f.log.Get(ctx, f.applied.Load()+1)
			switch {
			case errors.Is(err, ErrNotFound):
				if err := f.rebuildAll(ctx, head); err != nil {
					return err
				}
				renew()
			case err != nil:
				return fmt.Errorf("read the change log: %w", err)
			}
		}
	}
	for {
		var batch []Change
		next := f.applied.Load() + 1
		for len(batch) < 512 {
			c, err := f.log.Get(ctx, next)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("read the change log: %w", err)
			}
			f.reads.Add(1)
			batch = append(batch, *c)
			next++
		}
		if len(batch) == 0 {
			break
		}
		dctx, dcancel := context.WithTimeout(base, buildTimeout)
		err := f.deliver(dctx, batch, false)
		dcancel()
		if err != nil {
			return err
		}
		f.applied.Store(batch[len(batch)-1].Seq)
		renew()
	}
	if f.applied.Load() < head {
		// Entries before head are missing: the ones read were left
		// behind by a failed trim.
		if err := f.rebuildAll(ctx, head); err != nil {
			return err
		}
	}
	f.checked.Store(start.UnixNano())
	for {
		c := f.clean.Load()
		if gen <= c || f.clean.CompareAndSwap(c, gen) {
			break
		}
	}
	return nil
}

// rebuildAll rebuilds every snapshot from data at least as new as head:
// entries this replica missed were trimmed.
func (f *Follower) rebuildAll(ctx context.Context, head int64) error {
	if err := f.deliver(ctx, []Change{{Seq: head}}, true); err != nil {
		return err
	}
	f.applied.Store(head)
	return nil
}

// deliver hands each subscriber the entries of its areas (all: a rebuild).
func (f *Follower) deliver(ctx context.Context, batch []Change, all bool) error {
	for _, s := range f.subs {
		var mine []Change
		for _, c := range batch {
			if all {
				mine = append(mine, Change{Area: s.areas[0]})
				break
			}
			for _, a := range s.areas {
				if c.Area == a {
					mine = append(mine, c)
					break
				}
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := s.apply(ctx, mine); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot is an in-memory value built once from the store (an index, the
// license state) and then kept current by applying the change log's
// entries of its areas (Follower): apply re-reads the changed documents by
// id. An entry whose DocID is "" (a bulk load), or a snapshot without an
// apply function, rebuilds. Get never answers from a value whose last
// catch-up is older than the follower's MaxAge.
type Snapshot[T any] struct {
	f     *Follower
	build func(context.Context) (T, error)
	apply func(context.Context, T, []Change) (T, error)

	cur    atomic.Pointer[T]
	builds atomic.Int64
	flight singleflight.Group
}

// NewSnapshot returns a snapshot of build's value that follows the change
// log's entries of areas in s. apply (nil: rebuild on every change) gets
// the current value and the new entries and returns the value to serve;
// it may change the value in place when its readers lock it.
func NewSnapshot[T any](s *Store, build func(context.Context) (T, error), apply func(context.Context, T, []Change) (T, error), areas ...string) *Snapshot[T] {
	if s.Staleness > 0 {
		s.Follower.MaxAge = s.Staleness / 2
		s.Follower.Poll = min(DefaultPoll, s.Follower.MaxAge/2)
	}
	sn := &Snapshot[T]{f: s.Follower, build: build, apply: apply}
	s.Follower.Subscribe(sn.onChanges, areas...)
	return sn
}

// Get returns the current value, building it first when there is none.
func (s *Snapshot[T]) Get(ctx context.Context) (T, error) {
	var zero T
	if err := s.f.Sync(ctx); err != nil {
		return zero, err
	}
	if v := s.cur.Load(); v != nil {
		return *v, nil
	}
	select {
	case r := <-s.flight.DoChan("build", func() (any, error) {
		if s.cur.Load() != nil {
			return nil, nil
		}
		return nil, s.Rebuild(context.WithoutCancel(ctx))
	}):
		if r.Err != nil {
			return zero, r.Err
		}
	case <-ctx.Done():
		return zero, fmt.Errorf("build the in-memory snapshot: %w", ctx.Err())
	}
	return *s.cur.Load(), nil
}

// Rebuild builds the value afresh (at start, or when time changed it).
func (s *Snapshot[T]) Rebuild(ctx context.Context) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.rebuild(ctx)
}

func (s *Snapshot[T]) rebuild(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
	defer cancel()
	v, err := s.build(ctx)
	if err != nil {
		return err
	}
	s.builds.Add(1)
	s.cur.Store(&v)
	return nil
}

// onChanges runs under the follower's lock.
func (s *Snapshot[T]) onChanges(ctx context.Context, cs []Change) error {
	cur := s.cur.Load()
	if cur == nil {
		return nil // built on first use, from data newer than these entries
	}
	whole := s.apply == nil
	for _, c := range cs {
		whole = whole || c.DocID == ""
	}
	if whole {
		return s.rebuild(ctx)
	}
	v, err := s.apply(ctx, *cur, cs)
	if err != nil {
		return err
	}
	s.cur.Store(&v)
	return nil
}

// Invalidate makes the next Get catch up with the change log first (this
// process's writes are seen at once).
func (s *Snapshot[T]) Invalidate() { s.f.Dirty() }

// Builds is how many times the value was built (for tests and metrics).
func (s *Snapshot[T]) Builds() int64 { return s.builds.Load() }
