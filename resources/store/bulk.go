package store

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// bulkBatch is how many documents one insert carries.
const bulkBatch = 1000

// Bulk holds documents to insert at once (an import, a benchmark's tenant):
// they are stored as given (ids, timestamps and versions set by the
// caller), with the lookups the repositories keep beside them.
type Bulk struct {
	Users       []User
	Assignments []Assignment
	Spaces      []Space
	Apps        []App
}

// BulkLoad inserts b in batches, then logs one whole-area change per area
// it touched, so every replica rebuilds its snapshots of those areas once
// (instead of applying one change per document), and adds the apps to this
// process's app catalog.
func (s *Store) BulkLoad(ctx context.Context, b Bulk) error {
	subjects := make([]subjectDoc, len(b.Users))
	for i, u := range b.Users {
		subjects[i] = subjectDoc{Subject: u.Subject, UserID: u.ID}
	}
	var areas []string
	for _, part := range []struct {
		coll string
		docs []any
		area string
	}{
		{"users", anys(b.Users), AreaUsers},
		{"user_subjects", anys(subjects), ""},
		{"assignments", anys(b.Assignments), AreaLicenses},
		{"spaces", anys(b.Spaces), AreaSpaces},
		{"apps", anys(b.Apps), ""},
	} {
		if err := insertMany(ctx, s.db.Collection(part.coll), part.docs); err != nil {
			return err
		}
		if part.area != "" && len(part.docs) > 0 {
			areas = append(areas, part.area)
		}
	}
	// Logged once everything is in: replicas rebuild once, not during.
	for _, area := range areas {
		if _, err := s.Changes.Append(ctx, area, ""); err != nil {
			return err
		}
	}
	if c := s.Apps.catalog.Load(); c != nil && len(b.Apps) > 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i := range b.Apps {
			a := b.Apps[i]
			if _, ok := c.byID[a.ID]; !ok {
				c.ids = append(c.ids, a.ID)
			}
			c.byID[a.ID] = &a
		}
		slices.Sort(c.ids)
	}
	return nil
}

func insertMany(ctx context.Context, c *mongo.Collection, docs []any) error {
	for i := 0; i < len(docs); i += bulkBatch {
		end := min(i+bulkBatch, len(docs))
		if _, err := c.InsertMany(ctx, docs[i:end], options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("insert into %s: %w", c.Name(), err)
		}
	}
	return nil
}

func anys[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}
