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

// Areas of data whose in-memory snapshots (the user and space indexes, the
// license state, the rules in force) follow the change log. Every repository method that writes
// to an area appends one change naming the area and the document after the
// write succeeded, so no caller can forget.
const (
	AreaUsers    = "users"    // users (DocID: the user id)
	AreaGroups   = "groups"   // groups (DocID: the group id)
	AreaSpaces   = "spaces"   // spaces and their members (DocID: the space id)
	AreaLicenses = "licenses" // assignments (DocID: the assignment id) and keys (DocID: KeyDocID)
	AreaCapacity = "capacity" // analyzer capacity minutes (DocID: the month counter id)
	// AreaRules: security rules (DocID: the rule id; "": any number of
	// them, or the resource types they are checked with), with the rules
	// revision the change made in Rev.
	AreaRules = "rules"
)

// KeyDocID is the DocID of a change of the license key in force: the
// whole license state depends on it.
const KeyDocID = "license-key"

// Change is one entry of the change log: "the document DocID of Area
// changed" (DocID "" means the whole area, e.g. after a bulk load). A
// replica that reads it re-reads the document by id; the log never holds
// the data itself, so applying an entry twice is harmless.
type Change struct {
	ID    string    `bson:"_id"` // SeqKey(Seq)
	Seq   int64     `bson:"seq"`
	Area  string    `bson:"area"`
	DocID string    `bson:"docId"`
	At    time.Time `bson:"at"`
	// Rev is the rules revision a change of AreaRules made (0 otherwise).
	Rev int64 `bson:"rev,omitempty"`
}

// SeqKey is the _id of the change with sequence n: a fixed-width decimal
// string, because the embedded FerretDB pushes only string and ObjectID
// _id equality down to SQLite (and its index).
func SeqKey(n int64) string { return fmt.Sprintf("%019d", n) }

// DefaultKeepChanges is how many recent entries the log keeps: a replica
// that fell further behind (it was stopped, not idle: idle replicas tail
// in the background) rebuilds its snapshots.
const DefaultKeepChanges = 20000

// Changes is the append-only change log: the collection "changes" whose
// entries carry a monotonically increasing sequence without gaps. A writer
// claims sequence n by inserting the entry with _id SeqKey(n): the unique
// _id makes the claim atomic on every backend, the embedded FerretDB
// included (it has no change streams and no atomic filtered update). A
// writer tries n = the highest sequence it knows + 1, then n+1, ... so no
// entry is ever written past a gap. Replicas tail it with point reads of
// SeqKey(applied+1) (see Follower).
type Changes struct {
	c *mongo.Collection
	// known is the highest sequence this process saw in the log.
	known atomic.Int64
	// Keep is how many entries are kept (DefaultKeepChanges); each append
	// deletes the one Keep behind it.
	Keep int64
	// appended counts this process's appends (tests, metrics).
	appended atomic.Int64
}

// changeLogTimeout bounds an append that runs after its write succeeded,
// whatever the caller's deadline: the write happened and must be logged.
const changeLogTimeout = 5 * time.Second

// Append logs a change of docID in area and returns its sequence.
func (l *Changes) Append(ctx context.Context, area, docID string) (int64, error) {
	return l.appendRev(ctx, area, docID, 0)
}

func (l *Changes) appendRev(ctx context.Context, area, docID string, rev int64) (int64, error) {
	if l == nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), changeLogTimeout)
	defer cancel()
	n := l.known.Load() + 1
	for {
		_, err := l.c.InsertOne(ctx, Change{ID: SeqKey(n), Seq: n, Area: area, DocID: docID, At: time.Now().UTC(), Rev: rev})
		if err == nil {
			break
		}
		if !errors.Is(MapErr(err), ErrConflict) {
			return 0, fmt.Errorf("log the change of %s %q: %w", area, docID, err)
		}
		// Taken by another writer: the next one, or further if this
		// process learnt of later entries meanwhile.
		n = max(n+1, l.known.Load()+1)
	}
	l.saw(n)
	l.appended.Add(1)
	if keep := l.keep(); n > keep {
		// Off the request's path; a delete that fails leaves one more
		// entry, which costs nothing but space.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), changeLogTimeout)
			defer cancel()
			_, _ = l.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: SeqKey(n - keep)}})
		}()
	}
	return n, nil
}

func (l *Changes) keep() int64 {
	if l.Keep > 0 {
		return l.Keep
	}
	return DefaultKeepChanges
}

func (l *Changes) saw(n int64) {
	for {
		k := l.known.Load()
		if n <= k || l.known.CompareAndSwap(k, n) {
			return
		}
	}
}

// Get returns the entry with sequence n; ErrNotFound when it was not
// written yet (or was trimmed).
func (l *Changes) Get(ctx context.Context, n int64) (*Change, error) {
	var c Change
	if err := l.c.FindOne(ctx, bson.D{{Key: "_id", Value: SeqKey(n)}}).Decode(&c); err != nil {
		return nil, MapErr(err)
	}
	l.saw(n)
	return &c, nil
}

// Head returns the highest sequence in the log (0 when empty). On the
// embedded server this decodes the kept entries (at most Keep: it sorts
// them), so it is asked only at start and after a long gap; tailing uses
// Get. (The lowest kept entry is not asked: a trim that failed leaves an
// older entry behind, so it does not tell whether an entry was trimmed;
// Get of the entry wanted does.)
func (l *Changes) Head(ctx context.Context) (int64, error) {
	var last []Change
	cur, err := l.c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetLimit(1).SetProjection(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("the head of the change log: %w", err)
	}
	if err := cur.All(ctx, &last); err != nil {
		return 0, fmt.Errorf("the head of the change log: %w", err)
	}
	if len(last) == 0 {
		return 0, nil
	}
	l.saw(last[0].Seq)
	return last[0].Seq, nil
}

// Appended is how many changes this process logged.
func (l *Changes) Appended() int64 { return l.appended.Load() }

// changed is what a repository calls after a successful write of docID in
// area. Its error reaches the caller: the write happened, but other
// replicas would not learn of it.
func (l *Changes) changed(ctx context.Context, area, docID string) error {
	_, err := l.Append(ctx, area, docID)
	return err
}
