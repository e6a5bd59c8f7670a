package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// WebIntegration is a named whitelist of browser origins (seed 000 §1.9,
// §10). Origins are normalised scheme://host[:port] strings.
type WebIntegration struct {
	ID        string    `bson:"_id" json:"id"`
	Name      string    `bson:"name" json:"name"`
	Origins   []string  `bson:"origins" json:"origins"`
	CreatedBy string    `bson:"createdBy" json:"createdBy"`
	UpdatedBy string    `bson:"updatedBy" json:"updatedBy"`
	CreatedAt time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt" json:"updatedAt"`
	Version   int64     `bson:"version" json:"version"`
}

// WebIntegrations is the repository of web integrations.
type WebIntegrations struct{ c collection[WebIntegration] }

// Web integrations are looked up by _id only (the CORS check keeps them
// all in memory), so they need no index of their own.
func webIntegrationIndexes() map[string][]mongo.IndexModel { return nil }

// Create stores a new web integration with a generated id.
func (r *WebIntegrations) Create(ctx context.Context, w *WebIntegration) error {
	now := time.Now().UTC()
	if w.ID == "" {
		w.ID = NewID()
	}
	w.Origins = nonNil(w.Origins)
	w.CreatedAt, w.UpdatedAt, w.Version = now, now, 1
	if w.UpdatedBy == "" {
		w.UpdatedBy = w.CreatedBy
	}
	if err := r.c.insert(ctx, w); err != nil {
		return fmt.Errorf("create web integration %q: %w", w.Name, err)
	}
	return nil
}

// Get returns the web integration with id.
func (r *WebIntegrations) Get(ctx context.Context, id string) (*WebIntegration, error) {
	w, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("web integration %q: %w", id, err)
	}
	return w, nil
}

// List returns one page of web integrations in creation order.
func (r *WebIntegrations) List(ctx context.Context, p Page) ([]WebIntegration, string, error) {
	return r.c.page(ctx, bson.D{}, p)
}

// All returns every web integration (a tenant has a handful).
func (r *WebIntegrations) All(ctx context.Context) ([]WebIntegration, error) {
	out, err := r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list web integrations: %w", err)
	}
	return out, nil
}

// WebIntegrationChange is a compare-and-swap update at Version.
type WebIntegrationChange struct {
	Version   int64
	Name      *string
	Origins   []string // nil keeps them
	UpdatedBy string
}

// Update applies ch if the integration is still at ch.Version.
func (r *WebIntegrations) Update(ctx context.Context, id string, ch WebIntegrationChange) (*WebIntegration, error) {
	set := bson.D{{Key: "updatedBy", Value: ch.UpdatedBy}}
	if ch.Name != nil {
		set = append(set, bson.E{Key: "name", Value: *ch.Name})
	}
	if ch.Origins != nil {
		set = append(set, bson.E{Key: "origins", Value: ch.Origins})
	}
	w, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update web integration %q: %w", id, err)
	}
	return w, nil
}

// Delete removes the web integration with id.
func (r *WebIntegrations) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete web integration %q: %w", id, err)
	}
	return nil
}
