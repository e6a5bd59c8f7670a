package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// App is an analytics app, in a shared or managed space or (SpaceID "") in
// its owner's personal space.
type App struct {
	ID            string              `bson:"_id" json:"id"`
	Name          string              `bson:"name" json:"name"`
	Description   string              `bson:"description" json:"description"`
	Tags          []string            `bson:"tags" json:"tags"`
	SpaceID       string              `bson:"spaceId" json:"spaceId"`
	OwnerID       string              `bson:"ownerId" json:"ownerId"`
	SectionAccess bool                `bson:"sectionAccess" json:"sectionAccess"`
	Attributes    map[string][]string `bson:"attributes,omitempty" json:"attributes,omitempty"`
	CreatedAt     time.Time           `bson:"createdAt" json:"createdAt"`
	UpdatedAt     time.Time           `bson:"updatedAt" json:"updatedAt"`
	Version       int64               `bson:"version" json:"version"`
}

// Apps is the repository of apps.
type Apps struct {
	c       collection[App]
	catalog catalogRef // set by EnableAppCatalog (embedded server only)
}

// AppFilter narrows an app list.
type AppFilter struct {
	SpaceID *string // "" selects personal apps
	OwnerID string
}

// Create stores a new app.
func (r *Apps) Create(ctx context.Context, a *App) error {
	now := time.Now().UTC()
	if a.ID == "" {
		a.ID = NewID()
	}
	a.Tags = nonNil(a.Tags)
	a.CreatedAt, a.UpdatedAt, a.Version = now, now, 1
	if err := r.c.insert(ctx, a); err != nil {
		return fmt.Errorf("create app %q: %w", a.Name, err)
	}
	_ = r.refresh(ctx, a.ID) // a failed refresh drops the catalog: lists then ask the database
	return nil
}

// Get returns the app with id: from the app catalog when there is one
// (the embedded server: this process sees every write and the catalog holds
// what the database holds once a write returns, catalog.go), a copy the
// caller may change; otherwise, or when the catalog does not hold it, from
// the database. Hydrating a decision's app is then a map read, not a
// FerretDB query (each of which decodes the document through SQLite).
func (r *Apps) Get(ctx context.Context, id string) (*App, error) {
	if a, ok := r.cached(id); ok {
		return a, nil
	}
	a, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", id, err)
	}
	return a, nil
}

// List returns one page of apps matching f.
func (r *Apps) List(ctx context.Context, f AppFilter, p Page) ([]App, string, error) {
	filter := bson.D{}
	if f.SpaceID != nil {
		filter = append(filter, bson.E{Key: "spaceId", Value: *f.SpaceID})
	}
	if f.OwnerID != "" {
		filter = append(filter, bson.E{Key: "ownerId", Value: f.OwnerID})
	}
	return r.c.page(ctx, filter, p)
}

// CountInSpace returns how many apps a space holds.
func (r *Apps) CountInSpace(ctx context.Context, spaceID string) (int64, error) {
	return r.c.count(ctx, bson.D{{Key: "spaceId", Value: spaceID}})
}

// AppChange is a compare-and-swap update of an app at Version.
type AppChange struct {
	Version     int64
	Name        *string
	Description *string
	Tags        []string
	SpaceID     *string
	OwnerID     *string
}

// Update applies ch; ErrConflict when the version moved on.
func (r *Apps) Update(ctx context.Context, id string, ch AppChange) (*App, error) {
	set := bson.D{}
	if ch.Name != nil {
		set = append(set, bson.E{Key: "name", Value: *ch.Name})
	}
	if ch.Description != nil {
		set = append(set, bson.E{Key: "description", Value: *ch.Description})
	}
	if ch.Tags != nil {
		set = append(set, bson.E{Key: "tags", Value: ch.Tags})
	}
	if ch.SpaceID != nil {
		set = append(set, bson.E{Key: "spaceId", Value: *ch.SpaceID})
	}
	if ch.OwnerID != nil {
		set = append(set, bson.E{Key: "ownerId", Value: *ch.OwnerID})
	}
	a, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update app %q: %w", id, err)
	}
	_ = r.refresh(ctx, id)
	return a, nil
}

// Delete removes the app with id, its objects and its reload history
// (content first, so a crash half-way leaves no orphans behind an app that
// is still there to delete again).
func (r *Apps) Delete(ctx context.Context, id string) error {
	if err := deleteAppContent(ctx, r.c.c.Database(), []string{id}); err != nil {
		return fmt.Errorf("delete app %q: %w", id, err)
	}
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete app %q: %w", id, err)
	}
	_ = r.refresh(ctx, id)
	return nil
}

// deleteInSpace removes the apps of a space with their content.
func (r *Apps) deleteInSpace(ctx context.Context, spaceID string) error {
	inSpace := bson.D{{Key: "spaceId", Value: spaceID}}
	ids, err := r.ids(ctx, inSpace)
	if err != nil {
		return err
	}
	if err := deleteAppContent(ctx, r.c.c.Database(), ids); err != nil {
		return err
	}
	_, err = r.c.c.DeleteMany(ctx, inSpace)
	for _, id := range ids {
		_ = r.refresh(ctx, id)
	}
	return err
}

func (r *Apps) ids(ctx context.Context, filter bson.D) ([]string, error) {
	cur, err := r.c.c.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}
