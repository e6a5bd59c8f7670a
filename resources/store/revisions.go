package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Areas of data whose in-memory snapshots (the user and space indexes, the
// license state) follow a revision counter. Every repository method that
// writes to an area bumps its counter after the write succeeded, so no
// caller can forget; a replica reads the counter (one point lookup by _id,
// which the embedded FerretDB answers without scanning) and rebuilds its
// snapshot only when the counter moved.
const (
	AreaUsers    = "users"    // users and groups
	AreaSpaces   = "spaces"   // spaces and their members
	AreaLicenses = "licenses" // license keys and assignments
	AreaCapacity = "capacity" // analyzer capacity minutes
)

// Revisions is the repository of the per-area change counters: one
// document {_id: area, n: counter} per area in the collection "revisions".
type Revisions struct {
	c     *mongo.Collection
	locks *Locks
}

// Bump increments the counter of area. It is called after a write
// succeeded: a reader that sees the new counter and then reads the area
// sees the write.
func (r *Revisions) Bump(ctx context.Context, area string) error {
	// The embedded FerretDB applies an upsert as read, change, write: the
	// database lock makes the increment one step across replicas.
	unlock, err := r.locks.Acquire(ctx, "revisions/"+area)
	if err != nil {
		return fmt.Errorf("bump the %s revision: %w", area, err)
	}
	defer unlock()
	for range 2 {
		_, err = r.c.UpdateOne(ctx, bson.D{{Key: "_id", Value: area}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}},
			options.UpdateOne().SetUpsert(true))
		if !errors.Is(MapErr(err), ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("bump the %s revision: %w", area, err)
	}
	return nil
}

// Get returns the counter of area (0 before its first write).
func (r *Revisions) Get(ctx context.Context, area string) (int64, error) {
	var doc struct {
		N int64 `bson:"n"`
	}
	err := r.c.FindOne(ctx, bson.D{{Key: "_id", Value: area}}).Decode(&doc)
	if err != nil {
		if err := MapErr(err); errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("the %s revision: %w", area, err)
	}
	return doc.N, nil
}

// changed is what a repository calls after a successful write to area.
// Its error reaches the caller: the write happened, but other replicas
// would not notice it before their periodic full rebuild (FullEvery).
func (r *Revisions) changed(ctx context.Context, area string) error {
	if r == nil {
		return nil
	}
	return r.Bump(context.WithoutCancel(ctx), area)
}
