package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MaxPageSize is the largest page a list call returns.
const MaxPageSize = 1000

// DefaultPageSize is the page size when the caller names none.
const DefaultPageSize = 50

// ErrBadCursor means a pagination cursor was not one this store issued.
var ErrBadCursor = errors.New("bad cursor")

// Page asks for one page of a list: at most Limit items after Cursor.
type Page struct {
	Limit  int
	Cursor string
}

// collection is the typed CRUD shared by every repository. Documents are
// addressed by a string _id.
type collection[T any] struct {
	c     *mongo.Collection
	locks *Locks
}

// lock takes the database lock of the document id of this collection
// (Locks): every read-check-write of one document holds it, so two
// replicas never both apply a change meant for the same version.
func (c collection[T]) lock(ctx context.Context, id string) (func(), error) {
	return c.locks.Acquire(ctx, c.c.Name()+"/"+id)
}

func (c collection[T]) get(ctx context.Context, filter any) (*T, error) {
	var v T
	if err := c.c.FindOne(ctx, filter).Decode(&v); err != nil {
		return nil, MapErr(err)
	}
	return &v, nil
}

func (c collection[T]) byID(ctx context.Context, id string) (*T, error) {
	return c.get(ctx, bson.D{{Key: "_id", Value: id}})
}

// insert stores v; the retry of an applied create answers the stored
// document (see WithSeededID).
func (c collection[T]) insert(ctx context.Context, v *T) error {
	_, err := c.c.InsertOne(ctx, v)
	if err = MapErr(err); alreadyCreated(ctx, c, v, err) {
		return nil
	}
	return err
}

func (c collection[T]) find(ctx context.Context, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// update applies update to the document matching filter, whose first
// element is its _id, under the document's lock; ErrNotFound when none.
func (c collection[T]) update(ctx context.Context, filter bson.D, update any) (*T, error) {
	if len(filter) == 0 || filter[0].Key != "_id" {
		return nil, errors.New("store: update needs a filter that starts with _id")
	}
	if id, ok := filter[0].Value.(string); ok {
		unlock, err := c.lock(ctx, id)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	var v T
	err := c.c.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&v)
	if err != nil {
		return nil, MapErr(err)
	}
	return &v, nil
}

// updateVersion is a compare-and-swap: it applies set (and bumps version)
// only when the document id, live by live (nil: any), still has version.
// It answers ErrConflict when the document exists at another version and
// ErrNotFound when it does not exist (or is not live). The check and the
// write run under the document's database lock and address the document
// by _id alone: the embedded FerretDB pushes nothing but {_id: x} down to
// SQLite, so a filter with the version in it would decode the collection.
func (c collection[T]) updateVersion(ctx context.Context, id string, version int64, live func(*T) bool, set bson.D) (*T, error) {
	unlock, err := c.lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return c.updateVersionHeld(ctx, id, version, live, set)
}

// updateVersionHeld is updateVersion for a caller that holds a database
// lock every writer of the document takes (two round trips fewer).
func (c collection[T]) updateVersionHeld(ctx context.Context, id string, version int64, live func(*T) bool, set bson.D) (*T, error) {
	set = append(set, bson.E{Key: "updatedAt", Value: time.Now().UTC()})
	var cur struct {
		Version int64 `bson:"version"`
	}
	raw, err := c.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		return nil, MapErr(err)
	}
	if live != nil {
		var v T
		if err := bson.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if !live(&v) {
			return nil, ErrNotFound
		}
	}
	if err := bson.Unmarshal(raw, &cur); err != nil {
		return nil, err
	}
	if cur.Version != version {
		return nil, ErrConflict
	}
	var v T
	err = c.c.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&v)
	if err != nil {
		return nil, MapErr(err)
	}
	return &v, nil
}

func (c collection[T]) deleteByID(ctx context.Context, id string) error {
	res, err := c.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return ErrNotFound
	}
	return nil
}

func (c collection[T]) count(ctx context.Context, filter any) (int64, error) {
	return c.c.CountDocuments(ctx, filter)
}

// page lists the documents matching filter in _id order, one page at a time.
// next is "" on the last page.
func (c collection[T]) page(ctx context.Context, filter bson.D, p Page) (items []T, next string, err error) {
	return c.pageOrdered(ctx, filter, p, 1)
}

// pageDesc is page in descending _id order.
func (c collection[T]) pageDesc(ctx context.Context, filter bson.D, p Page) (items []T, next string, err error) {
	return c.pageOrdered(ctx, filter, p, -1)
}

func (c collection[T]) pageOrdered(ctx context.Context, filter bson.D, p Page, dir int) (items []T, next string, err error) {
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	if p.Cursor != "" {
		after, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		op := "$gt"
		if dir < 0 {
			op = "$lt"
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: op, Value: after}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: dir}}).SetLimit(int64(limit + 1))
	cur, err := c.c.Find(ctx, filter, opts)
	if err != nil {
		return nil, "", err
	}
	var raw []bson.Raw
	if err := cur.All(ctx, &raw); err != nil {
		return nil, "", err
	}
	if len(raw) > limit {
		raw = raw[:limit]
		id, ok := raw[limit-1].Lookup("_id").StringValueOK()
		if !ok {
			return nil, "", errors.New("store: document without a string _id")
		}
		next = encodeCursor(id)
	}
	items = make([]T, len(raw))
	for i, r := range raw {
		if err := bson.Unmarshal(r, &items[i]); err != nil {
			return nil, "", err
		}
	}
	return items, next, nil
}

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + lastID))
}

func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 4 || string(b[:3]) != "id:" {
		return "", fmt.Errorf("%w: %q", ErrBadCursor, cursor)
	}
	return string(b[3:]), nil
}
