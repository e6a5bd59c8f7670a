package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Change is one entry of the change log: document ID of collection Coll
// was written (ID is "" for a change to a whole area, e.g. a license key).
type Change struct {
	Seq  int64     `bson:"_id"`
	Coll string    `bson:"coll"`
	ID   string    `bson:"id"`
	At   time.Time `bson:"at"`
}

// Changes is the append-only change log (collection "changes"): every
// write that other replicas' derived state depends on appends an entry with
// the next sequence number, and every replica follows it (Follower).
//
// The sequence is the entry's _id, so allocating it is atomic on every
// backend: a writer inserts last+1 and, when that _id exists, the next
// one. A writer only tries n once it has seen n-1 exist, so the log has no
// gaps and an entry n being visible means every entry below n is: a reader
// that finds no entry after m has seen every change acknowledged before it
// asked. Readers use only point lookups by _id (the embedded FerretDB
// pushes nothing else down), so the cost does not grow with the log.
type Changes struct {
	c    *mongo.Collection
	last atomic.Int64 // the highest sequence known to exist
}

func newChanges(db *mongo.Database) *Changes { return &Changes{c: db.Collection("changes")} }

// appendTimeout bounds an append that runs after its write succeeded,
// whatever the request's context says: the write happened, so its entry
// must be written for the other replicas.
const appendTimeout = 5 * time.Second

// Append records that document id of coll changed and returns the entry's
// sequence number.
func (l *Changes) Append(ctx context.Context, coll, id string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	n := l.last.Load() + 1
	for tries := 0; ; tries++ {
		_, err := l.c.InsertOne(ctx, Change{Seq: n, Coll: coll, ID: id, At: time.Now().UTC()})
		if err == nil {
			l.seen(n)
			return n, nil
		}
		if !errors.Is(MapErr(err), ErrConflict) {
			return 0, fmt.Errorf("append to the change log: %w", err)
		}
		l.seen(n)
		if tries%8 == 7 {
			// Far behind (a replica that writes rarely): find the head.
			head, err := l.Head(ctx)
			if err != nil {
				return 0, err
			}
			n = head
		}
		n++
	}
}

func (l *Changes) seen(n int64) {
	for {
		cur := l.last.Load()
		if n <= cur || l.last.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Get returns entry seq; ErrNotFound when it does not exist (yet).
func (l *Changes) Get(ctx context.Context, seq int64) (*Change, error) {
	var ch Change
	if err := l.c.FindOne(ctx, bson.D{{Key: "_id", Value: seq}}).Decode(&ch); err != nil {
		return nil, MapErr(err)
	}
	l.seen(seq)
	return &ch, nil
}

func (l *Changes) exists(ctx context.Context, seq int64) (bool, error) {
	if seq <= 0 {
		return true, nil
	}
	err := l.c.FindOne(ctx, bson.D{{Key: "_id", Value: seq}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		l.seen(seq)
		return true, nil
	case errors.Is(MapErr(err), ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("read the change log: %w", err)
}

// Head returns the newest sequence number (0 for an empty log) with
// O(log n) point lookups: the log has no gaps, so existence is a prefix.
func (l *Changes) Head(ctx context.Context) (int64, error) {
	lo := l.last.Load() // exists
	step := int64(1)
	hi := lo + step
	for {
		ok, err := l.exists(ctx, hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, step = hi, step*2
		hi = lo + step
	}
	// lo exists, hi does not.
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := l.exists(ctx, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// After returns the entries after seq, oldest first, at most max of them.
func (l *Changes) After(ctx context.Context, seq int64, max int) ([]Change, error) {
	var out []Change
	for len(out) < max {
		ch, err := l.Get(ctx, seq+int64(len(out))+1)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the change log: %w", err)
		}
		out = append(out, *ch)
	}
	return out, nil
}
