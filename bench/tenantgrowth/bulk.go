package main

import (
	"context"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// bulkLoad inserts the documents straight into the store (store.BulkLoad:
// with the lookups kept beside them, and one whole-area change per area,
// which the running service's snapshots apply with one rebuild).
func bulkLoad(ctx context.Context, st *store.Store, us []store.User, as []store.Assignment, ss []store.Space, aps []store.App) error {
	return st.BulkLoad(ctx, store.Bulk{Users: us, Assignments: as, Spaces: ss, Apps: aps})
}
