package store

import (
	"context"
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
// both run a request with one key.
type Idempotent struct {
	ID          string    `bson:"_id"`
	BodyHash    string    `bson:"bodyHash"`
	Done        bool      `bson:"done"`
	Status      int       `bson:"status"`
	ContentType string    `bson:"contentType"`
	Body        []byte    `bson:"body"`
	CreatedAt   time.Time `bson:"createdAt"`
}

// Idempotency is the repository of Idempotency-Key records.
type Idempotency struct{ c *mongo.Collection }

// Idempotency returns the repository of Idempotency-Key records.
func (s *Store) Idempotency() *Idempotency { return &Idempotency{c: s.db.Collection("idempotency")} }

// Begin claims id for a request with bodyHash. It returns nil when the
// caller owns the key now (run the request, then Finish or Abort), or the
// existing record (done or still running) of an earlier request.
func (r *Idempotency) Begin(ctx context.Context, id, bodyHash string, now time.Time) (*Idempotent, error) {
	for range 2 {
		_, err := r.c.InsertOne(ctx, Idempotent{ID: id, BodyHash: bodyHash, CreatedAt: now.UTC(), Body: []byte{}})
		if err == nil {
			return nil, nil
		}
		if !errors.Is(MapErr(err), ErrConflict) {
			return nil, fmt.Errorf("idempotency key: %w", err)
		}
		var old Idempotent
		if err := r.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&old); err != nil {
			if errors.Is(MapErr(err), ErrNotFound) {
				continue // aborted meanwhile
			}
			return nil, fmt.Errorf("idempotency key: %w", err)
		}
		if now.Sub(old.CreatedAt) < IdempotencyTTL {
			return &old, nil
		}
		// Expired: the key may be used again.
		if _, err := r.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "createdAt", Value: old.CreatedAt}}); err != nil {
			return nil, fmt.Errorf("idempotency key: %w", err)
		}
	}
	return nil, fmt.Errorf("idempotency key %q: %w", id, ErrConflict)
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

// Abort gives the key up (the request failed without an answer worth
// replaying): a retry runs the request again.
func (r *Idempotency) Abort(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	_, _ = r.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
}

// appendTimeout bounds the bookkeeping that runs after a request's own
// deadline (its answer must still be recorded).
const appendTimeout = 5 * time.Second
