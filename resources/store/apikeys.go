package store

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// API key statuses (seed 000 §1.8). Expired is computed from ExpiresAt.
const (
	KeyActive  = "active"
	KeyExpired = "expired"
	KeyRevoked = "revoked"
)

// APIKey is a credential for an external service; only the hash of its
// secret is stored.
type APIKey struct {
	ID          string    `bson:"_id" json:"id"`
	Description string    `bson:"description" json:"description"`
	OwnerID     string    `bson:"ownerId" json:"ownerId"`
	Hash        string    `bson:"hash" json:"-"`
	Revoked     bool      `bson:"revoked" json:"-"`
	RevokedAt   time.Time `bson:"revokedAt,omitempty" json:"revokedAt,omitzero"`
	RevokedBy   string    `bson:"revokedBy,omitempty" json:"revokedBy,omitempty"`
	CreatedAt   time.Time `bson:"createdAt" json:"createdAt"`
	ExpiresAt   time.Time `bson:"expiresAt" json:"expiresAt"`
	UpdatedAt   time.Time `bson:"updatedAt" json:"updatedAt"`
	Version     int64     `bson:"version" json:"version"`
}

// Status is active, expired or revoked at time now.
func (k *APIKey) Status(now time.Time) string {
	switch {
	case k.Revoked:
		return KeyRevoked
	case !now.Before(k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// APIKeys is the repository of API keys.
type APIKeys struct{ c collection[APIKey] }

// Create stores k if its owner has fewer than max keys that are neither
// revoked nor expired; ErrConflict otherwise. The count and the insert are
// one critical section per owner across replicas (a database lock).
func (r *APIKeys) Create(ctx context.Context, k *APIKey, max int) error {
	unlock, err := r.c.locks.Acquire(ctx, "apikeys-of/"+k.OwnerID)
	if err != nil {
		return err
	}
	defer unlock()
	now := time.Now().UTC()
	n, err := r.c.count(ctx, bson.D{
		{Key: "ownerId", Value: k.OwnerID}, {Key: "revoked", Value: false},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
	})
	if err != nil {
		return err
	}
	if int(n) >= max {
		return fmt.Errorf("user %q already has %d active API keys (the maximum is %d): %w", k.OwnerID, n, max, ErrConflict)
	}
	if k.ID == "" {
		k.ID = NewID()
	}
	k.CreatedAt, k.UpdatedAt, k.Version = now, now, 1
	// The lookup first: one left behind by a failed insert names no key.
	if err := r.hashes().put(ctx, k.Hash, k.ID); err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	if err := r.c.insert(ctx, k); err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	return nil
}

// Get returns the key with id.
func (r *APIKeys) Get(ctx context.Context, id string) (*APIKey, error) {
	k, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("API key %q: %w", id, err)
	}
	return k, nil
}

// The hash lookup: the collection "apikey_hashes" holds {_id: hash, keyId}
// per key, written before it, so that ByHash (every API key request the
// key cache does not answer, including every unknown key) is two reads by
// _id, not a filter that decodes every key on the embedded FerretDB.
func (r *APIKeys) hashes() lookup {
	return lookup{c: r.c.c.Database().Collection("apikey_hashes"), field: "keyId"}
}

// ByHash returns the key whose secret hashes to hash.
func (r *APIKeys) ByHash(ctx context.Context, hash string) (*APIKey, error) {
	id, err := r.hashes().get(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("API key: %w", err)
	}
	k, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("API key: %w", err)
	}
	if k.Hash != hash {
		return nil, fmt.Errorf("API key: %w", ErrNotFound)
	}
	return k, nil
}

// IndexHashes writes the hash lookup of every key, once per database: for
// databases written before the lookup existed.
func (r *APIKeys) IndexHashes(ctx context.Context) error {
	return once(ctx, r.c.c.Database(), "apikey-hashes", func() error {
		keys, err := r.c.find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "hash", Value: 1}}))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := r.hashes().put(ctx, k.Hash, k.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// KeyFilter narrows a key list.
type KeyFilter struct {
	OwnerID string // "" lists every owner's keys
	Query   string // substring of description, id or owner id
}

// List returns one page of keys.
func (r *APIKeys) List(ctx context.Context, f KeyFilter, p Page) ([]APIKey, string, error) {
	filter := bson.D{}
	if f.OwnerID != "" {
		filter = append(filter, bson.E{Key: "ownerId", Value: f.OwnerID})
	}
	if f.Query != "" {
		re := bson.Regex{Pattern: regexp.QuoteMeta(f.Query), Options: "i"}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "description", Value: re}}, bson.D{{Key: "_id", Value: re}}, bson.D{{Key: "ownerId", Value: re}},
		}})
	}
	return r.c.page(ctx, filter, p)
}

// Describe changes the description.
func (r *APIKeys) Describe(ctx context.Context, id string, version int64, description string) (*APIKey, error) {
	k, err := r.c.updateVersion(ctx, id, version, nil, bson.D{{Key: "description", Value: description}})
	if err != nil {
		return nil, fmt.Errorf("update API key %q: %w", id, err)
	}
	return k, nil
}

// Revoke marks the key revoked for good; revoking twice is a no-op that
// returns the key as it is.
func (r *APIKeys) Revoke(ctx context.Context, id, by string) (*APIKey, error) {
	now := time.Now().UTC()
	k, err := r.c.update(ctx, bson.D{{Key: "_id", Value: id}, {Key: "revoked", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked", Value: true}, {Key: "revokedAt", Value: now}, {Key: "revokedBy", Value: by}, {Key: "updatedAt", Value: now}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}})
	if err == nil {
		return k, nil
	}
	existing, gerr := r.Get(ctx, id)
	if gerr != nil {
		return nil, gerr
	}
	return existing, nil
}

// Delete removes the key and its hash lookup.
func (r *APIKeys) Delete(ctx context.Context, id string) error {
	k, err := r.c.byID(ctx, id)
	if err != nil {
		return fmt.Errorf("delete API key %q: %w", id, err)
	}
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete API key %q: %w", id, err)
	}
	// A lookup left behind would name no key: harmless, but not kept.
	if _, err := r.hashes().c.DeleteOne(ctx, bson.D{{Key: "_id", Value: k.Hash}}); err != nil {
		return fmt.Errorf("delete API key %q: its hash lookup: %w", id, err)
	}
	return nil
}
