package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestAppCatalogFollowsEveryWrite: after creates, concurrent updates,
// moves, deletes and a space deletion through the repository, the
// catalog holds exactly what the database holds, version for version, and
// pages from it in _id order.
func TestAppCatalogFollowsEveryWrite(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	if apps, served, err := s.Apps.Match(ctx, nil, "", 10); served || err != nil || apps != nil {
		t.Fatal("no catalog before EnableAppCatalog")
	}
	for i := range 10 {
		if err := s.Apps.Create(ctx, &store.App{ID: fmt.Sprintf("pre%02d", i), Name: "before", SpaceID: "s1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnableAppCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for i := range 40 {
		a := &store.App{Name: fmt.Sprintf("app %d", i), SpaceID: []string{"", "s1", "s2"}[r.IntN(3)], OwnerID: "u1"}
		if err := s.Apps.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 10 {
				id := ids[(w*10+k)%len(ids)]
				for {
					a, err := s.Apps.Get(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					name, space := fmt.Sprintf("renamed %d-%d", w, k), "s2"
					if _, err := s.Apps.Update(ctx, id, store.AppChange{Version: a.Version, Name: &name, SpaceID: &space}); err == nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids[:5] {
		if err := s.Apps.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Spaces.Create(ctx, &store.Space{ID: "s1", Name: "S1", Type: store.SpaceShared, OwnerID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Spaces.Delete(ctx, s.Apps, "s1"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Apps.Scan(ctx, nil, "", store.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	all := func(*store.App) (bool, error) { return true, nil }
	local, served, err := s.Apps.Match(ctx, all, "", store.MaxPageSize)
	if err != nil || !served {
		t.Fatal(served, err)
	}
	key := func(as []store.App) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = fmt.Sprintf("%s/%s/%s/v%d", a.ID, a.Name, a.SpaceID, a.Version)
		}
		return out
	}
	if !slices.Equal(key(local), key(db)) {
		t.Fatalf("catalog %v\ndatabase %v", key(local), key(db))
	}
	if len(db) == 0 || slices.ContainsFunc(db, func(a store.App) bool { return a.SpaceID == "s1" }) {
		t.Fatalf("the space deletion should leave apps, none in s1: %v", key(db))
	}
	// Pages continue after the id given.
	page, _, _ := s.Apps.Match(ctx, all, db[2].ID, 3)
	if len(page) != 3 || page[0].ID != db[3].ID || page[2].ID != db[5].ID {
		t.Fatalf("page after %s: %v", db[2].ID, key(page))
	}
}

// TestAppGetFromTheCatalog: with the catalog, Get answers every write at
// once (what hydration of a decision reads), a deleted app is not found,
// and what Get returns is the caller's to change.
func TestAppGetFromTheCatalog(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	if err := s.EnableAppCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	a := &store.App{Name: "Q4", SpaceID: "s1", OwnerID: "u1", Tags: []string{"t1"}, Attributes: map[string][]string{"dept": {"x"}}}
	if err := s.Apps.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Apps.Get(ctx, a.ID)
	if err != nil || got.Name != "Q4" || got.Version != a.Version {
		t.Fatalf("Get after Create: %+v, %v", got, err)
	}
	got.Tags[0], got.Attributes["dept"][0], got.Name = "changed", "changed", "changed"
	name, owner := "Q5", "u2"
	if _, err := s.Apps.Update(ctx, a.ID, store.AppChange{Version: a.Version, Name: &name, OwnerID: &owner}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Apps.Get(ctx, a.ID)
	if err != nil || got.Name != "Q5" || got.OwnerID != "u2" || got.Tags[0] != "t1" || got.Attributes["dept"][0] != "x" {
		t.Fatalf("Get after Update: %+v, %v", got, err)
	}
	if err := s.Apps.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apps.Get(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
}
