package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rulekeeper/rulekeeper/authz"
)

// ResourceType is an external resource type of the registry (authz.Types),
// stored with its version. Its _id is its name.
type ResourceType struct {
	authz.ExternalType `bson:",inline"`
	Version            int64     `bson:"version" json:"version"`
	CreatedAt          time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt          time.Time `bson:"updatedAt" json:"updatedAt"`
	UpdatedBy          string    `bson:"updatedBy" json:"updatedBy"`
}

// ResourceTypes is the repository of external resource types. A write
// changes what rules mean: its caller bumps the rules revision, which
// every replica follows (secrules.Manager reloads the types with the
// rules).
type ResourceTypes struct{ c collection[ResourceType] }

// Create stores a new type at version 1; ErrConflict when the name is taken.
func (r *ResourceTypes) Create(ctx context.Context, t *ResourceType) error {
	now := time.Now().UTC()
	t.CreatedAt, t.UpdatedAt, t.Version = now, now, 1
	if err := r.c.insert(ctx, t); err != nil {
		return fmt.Errorf("create resource type %q: %w", t.Name, err)
	}
	return nil
}

// Get returns the type name.
func (r *ResourceTypes) Get(ctx context.Context, name string) (*ResourceType, error) {
	t, err := r.c.byID(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("resource type %q: %w", name, err)
	}
	return t, nil
}

// All returns every external type by name (a tenant has a few dozen).
func (r *ResourceTypes) All(ctx context.Context) ([]ResourceType, error) {
	out, err := r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list resource types: %w", err)
	}
	return out, nil
}

// Replace overwrites the type's definition if it is still at version;
// ErrConflict when somebody changed it first.
func (r *ResourceTypes) Replace(ctx context.Context, version int64, t *ResourceType) (*ResourceType, error) {
	set := bson.D{
		{Key: "description", Value: t.Description}, {Key: "actions", Value: t.Actions},
		{Key: "attributes", Value: t.Attributes}, {Key: "licenseGates", Value: t.LicenseGates},
		{Key: "updatedBy", Value: t.UpdatedBy},
	}
	out, err := r.c.updateVersion(ctx, t.Name, version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("replace resource type %q: %w", t.Name, err)
	}
	return out, nil
}

// Delete removes the type name (its stored resources stay until deleted).
func (r *ResourceTypes) Delete(ctx context.Context, name string) error {
	if err := r.c.deleteByID(ctx, name); err != nil {
		return fmt.Errorf("delete resource type %q: %w", name, err)
	}
	return nil
}

// ExternalResource is a resource of an external type stored in rulekeeper
// (PUT /api/v1/resources/{type}/{id}). Its _id is "<type>/<id>", so a
// decision's hydration is a lookup by _id. Attributes keep the JSON values
// as sent; Values is the policy's view of them (every value as a list of
// strings, authz.AttributeValues), which list filters query.
type ExternalResource struct {
	Key        string              `bson:"_id" json:"-"`
	Type       string              `bson:"type" json:"type"`
	ID         string              `bson:"id" json:"id"`
	Name       string              `bson:"name" json:"name"`
	Owner      string              `bson:"owner" json:"owner"`
	SpaceID    string              `bson:"spaceId" json:"spaceId"`
	Attributes map[string]any      `bson:"attributes" json:"attributes"`
	Values     map[string][]string `bson:"values" json:"-"`
	Version    int64               `bson:"version" json:"version"`
	UpdatedAt  time.Time           `bson:"updatedAt" json:"updatedAt"`
	UpdatedBy  string              `bson:"updatedBy" json:"updatedBy"`
}

// ResourceKey is the _id of the stored resource id of type typ.
func ResourceKey(typ, id string) string { return typ + "/" + id }

// ExternalResources is the repository of stored external resources.
type ExternalResources struct{ c collection[ExternalResource] }

func typeIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{"extresources": {
		plain(bson.D{{Key: "type", Value: 1}, {Key: "id", Value: 1}}),
		plain(bson.D{{Key: "type", Value: 1}, {Key: "owner", Value: 1}}),
	}}
}

// Get returns the stored resource id of type typ.
func (r *ExternalResources) Get(ctx context.Context, typ, id string) (*ExternalResource, error) {
	x, err := r.c.byID(ctx, ResourceKey(typ, id))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", typ, id, err)
	}
	return x, nil
}

// ByIDs returns the stored resources of type typ among ids, in one query
// (as the other repositories' ByIDs); ids with none are absent.
func (r *ExternalResources) ByIDs(ctx context.Context, typ string, ids []string) ([]ExternalResource, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = ResourceKey(typ, id)
	}
	return r.c.byIDs(ctx, keys)
}

// Put writes x (insert or overwrite) and returns it at its new version.
// With ifVersion > 0 it writes only over that version (ErrConflict
// otherwise; ErrNotFound when there is none).
func (r *ExternalResources) Put(ctx context.Context, x *ExternalResource, ifVersion int64) (*ExternalResource, error) {
	x.Key = ResourceKey(x.Type, x.ID)
	unlock, err := r.c.lock(ctx, x.Key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := r.c.byID(ctx, x.Key)
	switch {
	case err == nil:
		if ifVersion > 0 && cur.Version != ifVersion {
			return nil, ErrConflict
		}
		x.Version = cur.Version + 1
	case err == ErrNotFound:
		if ifVersion > 0 {
			return nil, ErrNotFound
		}
		x.Version = 1
	default:
		return nil, err
	}
	x.UpdatedAt = time.Now().UTC()
	if x.Attributes == nil {
		x.Attributes = map[string]any{}
	}
	if _, err := r.c.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: x.Key}}, x, options.Replace().SetUpsert(true)); err != nil {
		return nil, MapErr(err)
	}
	return x, nil
}

// PutMany writes xs (insert or overwrite by key) in a few round trips:
// the stored ones are read and deleted in one command each and all
// inserted in one batch, each at its next version. Not atomic: on error
// some may be written.
func (r *ExternalResources) PutMany(ctx context.Context, xs []ExternalResource) error {
	keys := make([]string, len(xs))
	for i := range xs {
		xs[i].Key = ResourceKey(xs[i].Type, xs[i].ID)
		keys[i] = xs[i].Key
	}
	in := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}}
	cur, err := r.c.find(ctx, in, options.Find().SetProjection(bson.D{{Key: "version", Value: 1}}))
	if err != nil {
		return MapErr(err)
	}
	versions := make(map[string]int64, len(cur))
	for _, c := range cur {
		versions[c.Key] = c.Version
	}
	now := time.Now().UTC()
	docs := make([]any, len(xs))
	for i := range xs {
		xs[i].Version, xs[i].UpdatedAt = versions[xs[i].Key]+1, now
		if xs[i].Attributes == nil {
			xs[i].Attributes = map[string]any{}
		}
		docs[i] = &xs[i]
	}
	if _, err := r.c.c.DeleteMany(ctx, in); err != nil {
		return MapErr(err)
	}
	if len(docs) > 0 {
		if _, err := r.c.c.InsertMany(ctx, docs); err != nil {
			return MapErr(err)
		}
	}
	return nil
}

// Scan returns the next batch of stored resources of type typ after the
// id after, in id order (their _id is "<typ>/<id>"), matching filter.
func (r *ExternalResources) Scan(ctx context.Context, typ string, filter bson.D, after string, limit int) ([]ExternalResource, error) {
	prefix := typ + "/"
	f := append(bson.D{{Key: "type", Value: typ}}, filter...)
	if after == "" {
		// Every _id of the type sorts after the bare prefix.
		return scan(ctx, r.c, f, prefix, limit)
	}
	return scan(ctx, r.c, f, prefix+after, limit)
}

// Delete removes the stored resource id of type typ.
func (r *ExternalResources) Delete(ctx context.Context, typ, id string) error {
	if err := r.c.deleteByID(ctx, ResourceKey(typ, id)); err != nil {
		return fmt.Errorf("delete %s %q: %w", typ, id, err)
	}
	return nil
}

// Collection is the collection of stored external resources, for list
// queries built by package pushdown.
func (r *ExternalResources) Collection() *mongo.Collection { return r.c.c }
