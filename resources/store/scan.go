package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Scans walk a whole collection in _id order, a batch at a time, for the
// analyses (preview, impact, audit) and the AuthZEN searches: filter
// narrows the documents (nil: all; the place where a filter computed from
// the policy plugs in), after is the last _id already seen ("" to start)
// and limit bounds the batch (≤ 0 or > MaxPageSize: MaxPageSize).

func scan[T any](ctx context.Context, c collection[T], filter bson.D, after string, limit int) ([]T, error) {
	if limit <= 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	f := append(bson.D{}, filter...)
	if after != "" {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	out, err := c.find(ctx, f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", c.c.Name(), err)
	}
	return out, nil
}

// Scan returns the next batch of apps.
func (r *Apps) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]App, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of spaces (spaces being deleted are left out).
func (r *Spaces) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]Space, error) {
	return scan(ctx, r.c, append(notDeleting(), filter...), after, limit)
}

// Scan returns the next batch of app objects of every app.
func (r *AppObjects) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]AppObject, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of reload schedules.
func (r *Schedules) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]Schedule, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of bundles.
func (r *Bundles) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]Bundle, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of users.
func (r *Users) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]User, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of groups.
func (r *Groups) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]Group, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Scan returns the next batch of web integrations.
func (r *WebIntegrations) Scan(ctx context.Context, filter bson.D, after string, limit int) ([]WebIntegration, error) {
	return scan(ctx, r.c, filter, after, limit)
}

// Offset returns up to limit users after skipping skip of them, in _id
// order, and how many there are (SCIM's startIndex paging).
func (r *Users) Offset(ctx context.Context, skip, limit int) ([]User, int64, error) {
	total, err := r.c.count(ctx, bson.D{})
	if err != nil {
		return nil, 0, err
	}
	out, err := r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(int64(skip)).SetLimit(int64(limit)))
	return out, total, err
}

// Offset returns up to limit groups after skipping skip, in _id order, and
// how many there are.
func (r *Groups) Offset(ctx context.Context, skip, limit int) ([]Group, int64, error) {
	total, err := r.c.count(ctx, bson.D{})
	if err != nil {
		return nil, 0, err
	}
	out, err := r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(int64(skip)).SetLimit(int64(limit)))
	return out, total, err
}
