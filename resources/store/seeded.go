package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
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
//
// What the request makes besides that document is named the same way, so
// a retry does not make it twice either: its events get ids derived from
// the seed and their order in the request (Events.Add), and the copies of
// a duplicate ids derived from the seed and what they copy (DerivedIDFor).

type seededKey struct{}

type seed struct {
	id     string
	taken  atomic.Bool
	events atomic.Int64
	mu     sync.Mutex
	made   map[string]bool // the ids derived from this seed so far
}

// WithSeededID is ctx in which the first NewIDFor answers id.
func WithSeededID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, seededKey{}, &seed{id: id, made: map[string]bool{id: true}})
}

// NewIDFor is the id of a new document created for the request of ctx:
// the request's seeded id the first time (WithSeededID), a new id after.
func NewIDFor(ctx context.Context) string {
	if s, ok := ctx.Value(seededKey{}).(*seed); ok && s.taken.CompareAndSwap(false, true) {
		return s.id
	}
	return NewID()
}

// DerivedIDFor is the id of a further document the request of ctx makes,
// named by parts (e.g. "object" and the id of the object it copies): the
// same for every attempt of one Idempotency-Key, so an insert under it that
// finds it stored answers the stored document; a new id without a key.
func DerivedIDFor(ctx context.Context, parts ...string) string {
	s, ok := ctx.Value(seededKey{}).(*seed)
	if !ok {
		return NewID()
	}
	return s.derive(parts...)
}

// derive is the id of parts under the seed: the seed's time (ids still
// sort by creation time), then bytes of a hash of the seed and parts.
func (s *seed) derive(parts ...string) string {
	seeded, err := bson.ObjectIDFromHex(s.id)
	if err != nil {
		return NewID()
	}
	h := sha256.New()
	h.Write([]byte(s.id))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var oid bson.ObjectID
	copy(oid[:4], seeded[:4])
	copy(oid[4:], h.Sum(nil)[:8])
	id := oid.Hex()
	s.mu.Lock()
	s.made[id] = true
	s.mu.Unlock()
	return id
}

// eventIDFor is the id of the request's next event: derived from the seed
// and the event's rank in the request (a retry records its events in the
// same order), a new id without a key.
func eventIDFor(ctx context.Context, typ string) string {
	s, ok := ctx.Value(seededKey{}).(*seed)
	if !ok {
		return NewID()
	}
	return s.derive("event", strconv.FormatInt(s.events.Add(1), 10), typ)
}

// alreadyCreated answers whether a refused insert of v is the retry of a
// create that was applied: v carries the request's seeded id (or an id
// derived from it) and a document with that id is stored (then v becomes
// it).
func alreadyCreated[T any](ctx context.Context, c collection[T], v *T, err error) bool {
	s, ok := ctx.Value(seededKey{}).(*seed)
	if !ok || !errors.Is(err, ErrConflict) {
		return false
	}
	raw, merr := bson.Marshal(v)
	if merr != nil {
		return false
	}
	vid, ok := bson.Raw(raw).Lookup("_id").StringValueOK()
	if !ok {
		return false
	}
	s.mu.Lock()
	mine := s.made[vid]
	s.mu.Unlock()
	if !mine {
		return false
	}
	stored, gerr := c.byID(ctx, vid)
	if gerr != nil {
		return false
	}
	*v = *stored
	return true
}
