package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// IdempotencyTTL is how long the first answer to an Idempotency-Key is
// replayed.
const IdempotencyTTL = 24 * time.Hour

// Idempotent is the record of one Idempotency-Key: the request's body hash
// and, once answered, the answer. Its _id is unique, so two replicas never
// both run a request with one key at once. A request that runs holds the
// key until LeaseUntil; one that ended without an answer worth replaying
// (a 5xx, a replica that stopped) leaves it to the next attempt, which
// runs again under the same CreatedAt — and so with the same seeded
// document id (SeededID): a create applied by an earlier attempt is found,
// not made twice.
type Idempotent struct {
	ID          string    `bson:"_id"`
	BodyHash    string    `bson:"bodyHash"`
	Done        bool      `bson:"done"`
	Status      int       `bson:"status"`
	ContentType string    `bson:"contentType"`
	Body        []byte    `bson:"body"`
	CreatedAt   time.Time `bson:"createdAt"`
	LeaseUntil  time.Time `bson:"leaseUntil"`
	Attempt     int       `bson:"attempt"`
}

// SeededID is the id of the document a create under this key makes: its
// first attempt's time, then bytes of the key's hash, as an ObjectID (ids
// still sort by creation time).
func (r *Idempotent) SeededID() string {
	var oid bson.ObjectID
	binary.BigEndian.PutUint32(oid[:4], uint32(r.CreatedAt.Unix()))
	sum := sha256.Sum256([]byte(r.ID))
	copy(oid[4:], sum[:8])
	return oid.Hex()
}

// Idempotency is the repository of Idempotency-Key records.
type Idempotency struct{ c *mongo.Collection }

// Idempotency returns the repository of Idempotency-Key records.
func (s *Store) Idempotency() *Idempotency { return &Idempotency{c: s.db.Collection("idempotency")} }

// Begin claims id for a request with bodyHash, for lease. It answers the
// record and whether the caller owns it now (run the request, then Finish
// or Release); a record it does not own is an earlier request's, answered
// (Done), with another body, or still running.
func (r *Idempotency) Begin(ctx context.Context, id, bodyHash string, now time.Time, lease time.Duration) (*Idempotent, bool, error) {
	now = now.UTC().Truncate(time.Millisecond)
	for range 3 {
		rec := Idempotent{ID: id, BodyHash: bodyHash, CreatedAt: now, LeaseUntil: now.Add(lease), Attempt: 1, Body: []byte{}}
		_, err := r.c.InsertOne(ctx, rec)
		if err == nil {
			return &rec, true, nil
		}
		if !errors.Is(MapErr(err), ErrConflict) {
			return nil, false, fmt.Errorf("idempotency key: %w", err)
		}
		var old Idempotent
		if err := r.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&old); err != nil {
			if errors.Is(MapErr(err), ErrNotFound) {
				continue // removed meanwhile
			}
			return nil, false, fmt.Errorf("idempotency key: %w", err)
		}
		switch {
		case now.Sub(old.CreatedAt) >= IdempotencyTTL:
			// Expired: the key may be used again.
			if _, err := r.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "createdAt", Value: old.CreatedAt}}); err != nil {
				return nil, false, fmt.Errorf("idempotency key: %w", err)
			}
			continue
		case old.Done || old.BodyHash != bodyHash || old.LeaseUntil.After(now):
			return &old, false, nil
		}
		// The last attempt ended without an answer: exactly one retry
		// takes the key over, the one that inserts the claim of the next
		// attempt (a unique _id, atomic on every backend).
		next := old.Attempt + 1
		if _, err := r.c.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s#%d", id, next)}, {Key: "createdAt", Value: now}}); err != nil {
			if errors.Is(MapErr(err), ErrConflict) {
				old.LeaseUntil = now.Add(lease) // another retry runs it
				return &old, false, nil
			}
			return nil, false, fmt.Errorf("idempotency key: %w", err)
		}
		old.Attempt, old.LeaseUntil = next, now.Add(lease)
		if _, err := r.c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
			{Key: "attempt", Value: old.Attempt}, {Key: "leaseUntil", Value: old.LeaseUntil},
		}}}); err != nil {
			return nil, false, fmt.Errorf("idempotency key: %w", err)
		}
		return &old, true, nil
	}
	return nil, false, fmt.Errorf("idempotency key %q: %w", id, ErrConflict)
}

// Finish records the answer of the request that owns id.
func (r *Idempotency) Finish(ctx context.Context, id string, status int, contentType string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	_, err := r.c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "done", Value: true}, {Key: "status", Value: status}, {Key: "contentType", Value: contentType}, {Key: "body", Value: body},
	}}})
	if err != nil {
		return fmt.Errorf("record the answer of idempotency key: %w", err)
	}
	return nil
}

// Release gives the key up without an answer (the request failed with a
// 5xx: it may or may not have been applied): the next attempt runs again,
// with the same seeded id. When the database is away the lease runs out
// by itself.
func (r *Idempotency) Release(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	_, _ = r.c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "done", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: time.Time{}}}}})
}

// appendTimeout bounds the bookkeeping that runs after a request's own
// deadline (its answer must still be recorded).
const appendTimeout = 5 * time.Second
