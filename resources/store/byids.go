package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Lookups of many documents by id in one query ({_id: {$in: ids}}), for
// callers that would otherwise read them one at a time (a batch of
// decisions names up to a thousand ids). Ids with no document are absent
// from the answer; an empty ids asks nothing. Up to pointReads ids are
// read one by one instead: the embedded server pushes only {_id: x} down
// to SQLite and decodes the whole collection for an $in, whatever its
// length (a user's groups on every login).

const pointReads = 8

func (c collection[T]) byIDs(ctx context.Context, ids []string, live ...bson.E) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) <= pointReads && len(live) == 0 {
		out := make([]T, 0, len(ids))
		for i, id := range ids {
			if slices.Contains(ids[:i], id) {
				continue
			}
			v, err := c.byID(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s by ids: %w", c.c.Name(), err)
			}
			out = append(out, *v)
		}
		return out, nil
	}
	filter := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, live...)
	out, err := c.find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("%s by ids: %w", c.c.Name(), MapErr(err))
	}
	return out, nil
}

// ByIDs returns the apps with the given ids.
func (r *Apps) ByIDs(ctx context.Context, ids []string) ([]App, error) { return r.c.byIDs(ctx, ids) }

// ByIDs returns the users with the given ids.
func (r *Users) ByIDs(ctx context.Context, ids []string) ([]User, error) { return r.c.byIDs(ctx, ids) }

// ByIDs returns the live spaces (not being deleted) with the given ids.
func (r *Spaces) ByIDs(ctx context.Context, ids []string) ([]Space, error) {
	if len(ids) <= pointReads {
		// By _id alone, then the mark (see byIDs).
		all, err := r.c.byIDs(ctx, ids)
		return slices.DeleteFunc(all, func(s Space) bool { return s.Deleting }), err
	}
	return r.c.byIDs(ctx, ids, notDeleting()...)
}

// ByIDs returns the app objects with the given ids.
func (r *AppObjects) ByIDs(ctx context.Context, ids []string) ([]AppObject, error) {
	return r.c.byIDs(ctx, ids)
}

// ByIDs returns the schedules with the given ids.
func (r *Schedules) ByIDs(ctx context.Context, ids []string) ([]Schedule, error) {
	return r.c.byIDs(ctx, ids)
}

// ByIDs returns the web integrations with the given ids.
func (r *WebIntegrations) ByIDs(ctx context.Context, ids []string) ([]WebIntegration, error) {
	return r.c.byIDs(ctx, ids)
}

// ByIDs returns the bundles (extensions or themes) with the given ids.
func (r *Bundles) ByIDs(ctx context.Context, ids []string) ([]Bundle, error) {
	return r.c.byIDs(ctx, ids)
}
