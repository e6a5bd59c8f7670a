package store

import (
	"context"
	"errors"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A create retried under one Idempotency-Key must not make a second
// document, even when its first attempt was applied but its answer lost
// (the database went away, the replica stopped). The key's record
// (resources/idempotency) gives the request a document id that depends
// only on the key (WithSeededID); the handler names its new document with
// it (NewIDFor); and an insert whose _id is that seeded id and that finds
// it already stored answers the stored document instead of a conflict:
// the retry returns what the first attempt created.

type seededKey struct{}

type seed struct {
	id    string
	taken atomic.Bool
}

// WithSeededID is ctx in which the first NewIDFor answers id.
func WithSeededID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, seededKey{}, &seed{id: id})
}

// NewIDFor is the id of a new document created for the request of ctx:
// the request's seeded id the first time (WithSeededID), a new id after.
func NewIDFor(ctx context.Context) string {
	if s, ok := ctx.Value(seededKey{}).(*seed); ok && s.taken.CompareAndSwap(false, true) {
		return s.id
	}
	return NewID()
}

func seededID(ctx context.Context) string {
	if s, ok := ctx.Value(seededKey{}).(*seed); ok {
		return s.id
	}
	return ""
}

// alreadyCreated answers whether a refused insert of v is the retry of a
// create that was applied: v carries the request's seeded id and a
// document with that id is stored (then v becomes it).
func alreadyCreated[T any](ctx context.Context, c collection[T], v *T, err error) bool {
	id := seededID(ctx)
	if id == "" || !errors.Is(err, ErrConflict) {
		return false
	}
	raw, merr := bson.Marshal(v)
	if merr != nil {
		return false
	}
	if vid, ok := bson.Raw(raw).Lookup("_id").StringValueOK(); !ok || vid != id {
		return false
	}
	stored, gerr := c.byID(ctx, id)
	if gerr != nil {
		return false
	}
	*v = *stored
	return true
}
