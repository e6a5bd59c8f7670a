package store

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// DefaultLockTTL is how long a lock may be held before another process may
// take it over: longer than any request's database deadline, so only a
// holder that died (or lost the database for that long) loses its lock.
const DefaultLockTTL = 10 * time.Second

// Locks are named mutual-exclusion claims held in the database, so that a
// read-check-write (a compare-and-swap, the last tenant admin, a license
// seat) is one step across every replica and every backend. A lock is a
// document {_id: name} in the collection "locks": inserting it is atomic on
// every backend because _id is unique (the embedded FerretDB does not make
// a filtered findOneAndUpdate atomic, but it does refuse a duplicate _id).
// Release deletes it. A lock older than TTL belongs to a holder that died:
// exactly one waiter takes it over, by inserting the unique key
// "<name>/takeover/<holder>" first. Inside one process a striped mutex
// queues the waiters, so only one of them polls the database.
type Locks struct {
	c     *mongo.Collection
	local stripes
	// TTL is how old a lock must be before it is taken over (DefaultLockTTL).
	TTL time.Duration
	// process tells this process's holders from others' in the database.
	process string
}

// stripes is one mutex per name, for the names in use: locks nest (the
// admins lock, then a user's), so two names must never share a mutex.
type stripes struct {
	mu    sync.Mutex
	names map[string]*named
}

type named struct {
	sync.Mutex
	refs int
}

func (s *stripes) lock(name string) func() {
	s.mu.Lock()
	if s.names == nil {
		s.names = map[string]*named{}
	}
	m := s.names[name]
	if m == nil {
		m = &named{}
		s.names[name] = m
	}
	m.refs++
	s.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		s.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(s.names, name)
		}
		s.mu.Unlock()
	}
}

type lockDoc struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"owner"`
	At    time.Time `bson:"at"`
}

func newLocks(db *mongo.Database) *Locks {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return &Locks{c: db.Collection("locks"), TTL: DefaultLockTTL, process: hex.EncodeToString(b)}
}

// ErrLockTimeout means a lock was still held by another request when the
// caller's context ended.
var ErrLockTimeout = errors.New("the document is being changed by another request")

// Acquire takes the lock name, waiting (until ctx ends) while another
// request holds it. release gives it back; call it once the write is done.
func (l *Locks) Acquire(ctx context.Context, name string) (release func(), err error) {
	unlockLocal := l.local.lock(name)
	defer func() {
		if err != nil {
			unlockLocal()
		}
	}()
	token := fmt.Sprintf("%s-%x", l.process, rand.Uint64())
	wait := time.Millisecond
	for {
		_, err := l.c.InsertOne(ctx, lockDoc{ID: name, Owner: token, At: time.Now().UTC()})
		if err != nil && outOfTime(ctx, err) {
			// The insert may still be applied once the server answers:
			// take it back then, or the document stays locked for TTL.
			go l.releaseWithin(context.WithoutCancel(ctx), name, token, l.TTL)
			return nil, fmt.Errorf("%w (%s): %w", ErrLockTimeout, name, err)
		}
		if err == nil {
			return func() {
				l.release(ctx, name, token)
				unlockLocal()
			}, nil
		}
		if !errors.Is(MapErr(err), ErrConflict) {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		var cur lockDoc
		ferr := l.c.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&cur)
		switch {
		case errors.Is(MapErr(ferr), ErrNotFound):
			continue // released meanwhile
		case ferr != nil && outOfTime(ctx, ferr):
			return nil, fmt.Errorf("%w (%s): %w", ErrLockTimeout, name, ferr)
		case ferr != nil:
			return nil, fmt.Errorf("lock %s: %w", name, ferr)
		case time.Since(cur.At) > l.TTL:
			if l.takeOver(ctx, name, cur.Owner) {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%s): %w", ErrLockTimeout, name, ctx.Err())
		case <-time.After(wait + time.Duration(rand.Int64N(int64(wait)))):
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// outOfTime reports whether err ended a lock call because ctx's time ran
// out. The driver refuses a command whose deadline is closer than its
// round-trip estimate ("calculated server-side timeout … is less than or
// equal to 0", wrapping context.DeadlineExceeded) before ctx itself is done.
func outOfTime(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
}

// takeOver removes a lock whose holder died; only the waiter that inserts
// the takeover key for that holder may.
func (l *Locks) takeOver(ctx context.Context, name, holder string) bool {
	if _, err := l.c.InsertOne(ctx, lockDoc{ID: name + "/takeover/" + holder, Owner: l.process, At: time.Now().UTC()}); err != nil {
		return false
	}
	_, err := l.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: name}, {Key: "owner", Value: holder}})
	return err == nil
}

// release deletes the lock: a lock left behind blocks the document for
// TTL, so a release that fails (the database is away) is retried in the
// background until then.
func (l *Locks) release(ctx context.Context, name, token string) {
	ctx = context.WithoutCancel(ctx)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := l.c.DeleteOne(rctx, bson.D{{Key: "_id", Value: name}, {Key: "owner", Value: token}})
	cancel()
	if err != nil {
		go l.releaseWithin(ctx, name, token, l.TTL)
	}
}

// releaseWithin deletes the lock name of token, retrying for up to d. The
// token is unique to one Acquire, so this never removes another holder's
// lock.
func (l *Locks) releaseWithin(ctx context.Context, name, token string, d time.Duration) {
	until := time.Now().Add(d)
	for wait := 50 * time.Millisecond; time.Now().Before(until); wait = min(wait*2, time.Second) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := l.c.DeleteOne(rctx, bson.D{{Key: "_id", Value: name}, {Key: "owner", Value: token}})
		cancel()
		if err == nil {
			return
		}
		time.Sleep(wait)
	}
}

// Do runs fn while holding the lock name.
func (l *Locks) Do(ctx context.Context, name string, fn func() error) error {
	release, err := l.Acquire(ctx, name)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}
