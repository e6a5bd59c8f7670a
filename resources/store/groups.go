package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Group is a named set of users, discovered from the identity provider at
// login (seed 000 §12) or created by a tenant admin.
type Group struct {
	ID        string    `bson:"_id" json:"id"`
	Name      string    `bson:"name" json:"name"`
	NameKey   string    `bson:"nameKey" json:"-"`
	Source    string    `bson:"source" json:"source"` // "idp" or "manual"
	CreatedAt time.Time `bson:"createdAt" json:"createdAt"`
}

// Groups is the repository of groups.
type Groups struct {
	c   collection[Group]
	rev *Changes
}

// Create stores g; ErrConflict when a group of that name (any case) exists.
func (r *Groups) Create(ctx context.Context, g *Group) error {
	if g.ID == "" {
		g.ID = NewID()
	}
	g.NameKey = strings.ToLower(g.Name)
	g.CreatedAt = time.Now().UTC()
	if err := r.c.insert(ctx, g); err != nil {
		if errors.Is(err, ErrConflict) {
			// The name exists: make sure its lookup does too (a crash
			// between the two writes leaves a group without one).
			if old, rerr := r.c.get(ctx, bson.D{{Key: "nameKey", Value: g.NameKey}}); rerr == nil {
				_ = r.putName(ctx, old.NameKey, old.ID)
			}
		}
		return fmt.Errorf("create group %q: %w", g.Name, err)
	}
	if err := r.putName(ctx, g.NameKey, g.ID); err != nil {
		return fmt.Errorf("create group %q: %w", g.Name, err)
	}
	return r.rev.changed(ctx, AreaGroups, g.ID)
}

// Get returns the group with id.
func (r *Groups) Get(ctx context.Context, id string) (*Group, error) {
	g, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", id, err)
	}
	return g, nil
}

// ByName returns the group called name (any case).
func (r *Groups) ByName(ctx context.Context, name string) (*Group, error) {
	id, err := r.names().get(ctx, strings.ToLower(name))
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", name, err)
	}
	g, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", name, err)
	}
	return g, nil
}

// ByIDs returns the groups with the given ids, in no particular order.
func (r *Groups) ByIDs(ctx context.Context, ids []string) ([]Group, error) {
	if len(ids) == 0 {
		return []Group{}, nil
	}
	return r.c.byIDs(ctx, ids)
}

// List returns one page of groups.
func (r *Groups) List(ctx context.Context, p Page) ([]Group, string, error) {
	return r.c.page(ctx, bson.D{}, p)
}

// Delete removes the group with id.
func (r *Groups) Delete(ctx context.Context, id string) error {
	g, err := r.c.byID(ctx, id)
	if err != nil {
		return fmt.Errorf("delete group %q: %w", id, err)
	}
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete group %q: %w", id, err)
	}
	if _, err := r.names().c.DeleteOne(ctx, bson.D{{Key: "_id", Value: g.NameKey}}); err != nil {
		return fmt.Errorf("delete group %q: %w", id, err)
	}
	return r.rev.changed(ctx, AreaGroups, id)
}

// The name lookup: the collection "group_names" holds {_id: nameKey,
// groupId} per group, written with it, so ByName (every login, once per
// group in the token) reads by _id instead of decoding every group.
func (r *Groups) names() lookup {
	return lookup{c: r.c.c.Database().Collection("group_names"), field: "groupId"}
}

func (r *Groups) putName(ctx context.Context, nameKey, id string) error {
	return r.names().put(ctx, nameKey, id)
}

// IndexNames writes the name lookup of every group, once per database
// (IndexSubjects does the same for users).
func (r *Groups) IndexNames(ctx context.Context) error {
	return once(ctx, r.c.c.Database(), "group-names", func() error {
		groups, err := r.c.find(ctx, bson.D{})
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := r.putName(ctx, g.NameKey, g.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Rename gives the group id a new name; ErrConflict when another group
// has it (any case).
func (r *Groups) Rename(ctx context.Context, id, name string) (*Group, error) {
	old, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rename group %q: %w", id, err)
	}
	key := strings.ToLower(name)
	g, err := r.c.update(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "name", Value: name}, {Key: "nameKey", Value: key}}}})
	if err != nil {
		return nil, fmt.Errorf("rename group %q: %w", id, err)
	}
	// The name lookup follows: the new name first, then the old one goes.
	if err := r.putName(ctx, key, id); err != nil {
		return nil, fmt.Errorf("rename group %q: %w", id, err)
	}
	if old.NameKey != key {
		if _, err := r.names().c.DeleteOne(ctx, bson.D{{Key: "_id", Value: old.NameKey}}); err != nil {
			return nil, fmt.Errorf("rename group %q: %w", id, err)
		}
	}
	return g, r.rev.changed(ctx, AreaGroups, id)
}
