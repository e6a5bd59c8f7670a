package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The app catalog: an in-process copy of the apps collection, for the
// embedded server only.
//
// The embedded FerretDB (v1.24, SQLite) pushes only `{_id: x}` down to
// SQLite; every other find — `spaceId $in`, a `$regex`, even `{}` sorted by
// _id with a limit — decodes the whole collection (measured: about 4 s per
// query at 100,000 apps, bench/listbench). A list filtered by the policy's
// plan would cost that on every page. The embedded server belongs to
// exactly one process (the same argument as the compare-and-swap stripes in
// collection.go), so that process sees every write and can keep a faithful
// copy: after each write of an app the catalog re-reads the app by _id (a
// point lookup, which FerretDB answers from its primary key) under a
// per-app lock and stores what the database holds, or forgets it when the
// database has none. Concurrent writes therefore converge on the database's
// last state. With a MongoDB server (RULEKEEPER_MONGO_URI), other replicas
// write too: there is no catalog and lists filter inside MongoDB.
type appCatalog struct {
	mu    sync.RWMutex
	byID  map[string]*App
	ids   []string // sorted
	locks stripes  // one refresh of an app at a time
}

// EnableAppCatalog loads every app into memory (one pass over the
// collection) and keeps the copy current from then on. Call it only when
// this process owns the database (the embedded server).
func (s *Store) EnableAppCatalog(ctx context.Context) error {
	cur, err := s.db.Collection("apps").Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("app catalog: %w", err)
	}
	var apps []App
	if err := cur.All(ctx, &apps); err != nil {
		return fmt.Errorf("app catalog: %w", err)
	}
	c := &appCatalog{byID: make(map[string]*App, len(apps)), ids: make([]string, 0, len(apps))}
	for i := range apps {
		c.byID[apps[i].ID] = &apps[i]
		c.ids = append(c.ids, apps[i].ID)
	}
	slices.Sort(c.ids)
	s.Apps.catalog.Store(c)
	return nil
}

// refresh sets the catalog's copy of app id to what the database holds.
func (r *Apps) refresh(ctx context.Context, id string) error {
	c := r.catalog.Load()
	if c == nil {
		return nil
	}
	unlock := c.locks.lock(id)
	defer unlock()
	a, err := r.c.byID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		a = nil
	case err != nil:
		// The copy can no longer be trusted: drop it, lists go to the
		// database.
		r.catalog.CompareAndSwap(c, nil)
		return fmt.Errorf("app catalog: refresh %q: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k, found := slices.BinarySearch(c.ids, id)
	switch {
	case a == nil && found:
		c.ids = slices.Delete(c.ids, k, k+1)
		delete(c.byID, id)
	case a != nil && !found:
		c.ids = slices.Insert(c.ids, k, id)
		c.byID[id] = a
	case a != nil:
		c.byID[id] = a
	}
	return nil
}

// cached is a copy of the catalog's app id; ok is false when there is no
// catalog or it does not hold the app (the caller asks the database).
func (r *Apps) cached(id string) (a *App, ok bool) {
	c := r.catalog.Load()
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	held, ok := c.byID[id]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	cp := *held
	cp.Tags = slices.Clone(held.Tags)
	if held.Attributes != nil {
		cp.Attributes = make(map[string][]string, len(held.Attributes))
		for k, v := range held.Attributes {
			cp.Attributes[k] = slices.Clone(v)
		}
	}
	return &cp, true
}

// Match answers, from the catalog, up to limit apps for which keep holds,
// with an _id greater than after, in _id order; served is false when there
// is no catalog (the caller then asks the database). keep must not call
// back into the store.
func (r *Apps) Match(_ context.Context, keep func(*App) (bool, error), after string, limit int) (apps []App, served bool, err error) {
	c := r.catalog.Load()
	if c == nil {
		return nil, false, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, _ := slices.BinarySearch(c.ids, after)
	for ; k < len(c.ids) && len(apps) < limit; k++ {
		id := c.ids[k]
		if id <= after {
			continue
		}
		a := c.byID[id]
		ok, err := keep(a)
		if err != nil {
			return nil, true, err
		}
		if ok {
			apps = append(apps, *a)
		}
	}
	return apps, true, nil
}

// catalogRef is the Apps repository's optional catalog.
type catalogRef = atomic.Pointer[appCatalog]
