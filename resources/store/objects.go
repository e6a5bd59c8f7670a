package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// App object types (seed 000 §6.5, §6.6).
const (
	ObjectSheet      = "sheet"
	ObjectStory      = "story"
	ObjectBookmark   = "bookmark"
	ObjectSnapshot   = "snapshot"
	ObjectMasterItem = "masteritem"
	ObjectVariable   = "variable"
	ObjectMedia      = "media"
)

// ObjectTypes lists every app object type.
var ObjectTypes = []string{ObjectSheet, ObjectStory, ObjectBookmark, ObjectSnapshot, ObjectMasterItem, ObjectVariable, ObjectMedia}

// IsAppWide reports whether objects of type typ are app-wide content
// (master items, variables, media library): visible to whoever opens the
// app, never private.
func IsAppWide(typ string) bool {
	return typ == ObjectMasterItem || typ == ObjectVariable || typ == ObjectMedia
}

// AppObject is content of an app: sheet, story, bookmark, snapshot,
// masteritem, variable or media (seed 000 §6.6). Sheets, stories, bookmarks
// and snapshots are private to their creator (OwnerID) until made public.
type AppObject struct {
	ID        string    `bson:"_id" json:"id"`
	AppID     string    `bson:"appId" json:"appId"`
	Type      string    `bson:"type" json:"type"`
	Name      string    `bson:"name" json:"name"`
	OwnerID   string    `bson:"ownerId" json:"ownerId"`
	Public    bool      `bson:"public" json:"public"`
	CreatedAt time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt" json:"updatedAt"`
	Version   int64     `bson:"version" json:"version"`
}

// AppObjects is the repository of app objects.
type AppObjects struct{ c collection[AppObject] }

// ObjectFilter narrows an object list.
type ObjectFilter struct {
	AppID string
	Type  string
}

func (f ObjectFilter) bson() bson.D {
	filter := bson.D{{Key: "appId", Value: f.AppID}}
	if f.Type != "" {
		filter = append(filter, bson.E{Key: "type", Value: f.Type})
	}
	return filter
}

// Create stores a new object.
func (r *AppObjects) Create(ctx context.Context, o *AppObject) error {
	now := time.Now().UTC()
	if o.ID == "" {
		o.ID = NewID()
	}
	o.CreatedAt, o.UpdatedAt, o.Version = now, now, 1
	if err := r.c.insert(ctx, o); err != nil {
		return fmt.Errorf("create %s %q: %w", o.Type, o.Name, err)
	}
	return nil
}

// Get returns the object with id.
func (r *AppObjects) Get(ctx context.Context, id string) (*AppObject, error) {
	o, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("app object %q: %w", id, err)
	}
	return o, nil
}

// List returns one page of the objects matching f.
func (r *AppObjects) List(ctx context.Context, f ObjectFilter, p Page) ([]AppObject, string, error) {
	return r.c.page(ctx, f.bson(), p)
}

// All returns every object of an app, oldest first.
func (r *AppObjects) All(ctx context.Context, appID string) ([]AppObject, error) {
	objs, err := r.c.find(ctx, ObjectFilter{AppID: appID}.bson(), options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("objects of app %q: %w", appID, err)
	}
	return objs, nil
}

// ObjectChange is a compare-and-swap update of an object at Version.
type ObjectChange struct {
	Version int64
	Name    *string
	Public  *bool
}

// Update applies ch; ErrConflict when the version moved on, ErrNotFound
// when there is no such object.
func (r *AppObjects) Update(ctx context.Context, id string, ch ObjectChange) (*AppObject, error) {
	set := bson.D{}
	if ch.Name != nil {
		set = append(set, bson.E{Key: "name", Value: *ch.Name})
	}
	if ch.Public != nil {
		set = append(set, bson.E{Key: "public", Value: *ch.Public})
	}
	o, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update app object %q: %w", id, err)
	}
	return o, nil
}

// Delete removes the object with id.
func (r *AppObjects) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete app object %q: %w", id, err)
	}
	return nil
}

// deleteAppContent removes the objects and reload history of the apps ids
// (idempotent: run before the apps themselves are deleted).
func deleteAppContent(ctx context.Context, db *mongo.Database, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	filter := bson.D{{Key: "appId", Value: bson.D{{Key: "$in", Value: ids}}}}
	for _, coll := range []string{"objects", "reloads"} {
		if _, err := db.Collection(coll).DeleteMany(ctx, filter); err != nil {
			return fmt.Errorf("delete %s of %d apps: %w", coll, len(ids), err)
		}
	}
	return nil
}

func objectIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"objects": {
			plain(bson.D{{Key: "appId", Value: 1}}),
			plain(bson.D{{Key: "ownerId", Value: 1}}),
		},
	}
}
