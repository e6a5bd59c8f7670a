package main

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// bulkLoad inserts the documents in batches straight into the collections
// and tells the running service's snapshots that the areas changed.
func bulkLoad(ctx context.Context, st *store.Store, us []store.User, as []store.Assignment, ss []store.Space, aps []store.App) error {
	db := st.Database()
	for _, part := range []struct {
		coll string
		docs []any
	}{{"users", anys(us)}, {"assignments", anys(as)}, {"spaces", anys(ss)}, {"apps", anys(aps)}} {
		for i := 0; i < len(part.docs); i += batch {
			end := min(i+batch, len(part.docs))
			if _, err := db.Collection(part.coll).InsertMany(ctx, part.docs[i:end], options.InsertMany().SetOrdered(false)); err != nil {
				return fmt.Errorf("insert %s: %w", part.coll, err)
			}
		}
	}
	for _, area := range []string{store.AreaUsers, store.AreaLicenses, store.AreaSpaces} {
		if err := st.Revisions.Bump(ctx, area); err != nil {
			return err
		}
	}
	return st.EnableAppCatalog(ctx)
}

func anys[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}
