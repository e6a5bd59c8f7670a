package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestUsersCreateGetAndUniqueSubject(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	u := &store.User{Subject: "dev|alice", Name: "Alice", Email: "alice@example.com"}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.Users.BySubject(ctx, "dev|alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Status != store.UserActive || got.Version != 1 {
		t.Fatalf("got %+v, want id %s, active, version 1", got, u.ID)
	}
	err = s.Users.Create(ctx, &store.User{Subject: "dev|alice", Name: "Other"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second user with the same subject: err = %v, want ErrConflict", err)
	}
	if _, err := s.Users.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing user: err = %v, want ErrNotFound", err)
	}
}

func TestUsersUpdateIsCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	u := &store.User{Subject: "s1", Name: "bob"}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	disabled := store.UserDisabled
	got, err := s.Users.Update(ctx, u.ID, store.UserChange{Version: 1, Status: &disabled, Roles: []string{"Developer"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.UserDisabled || got.Version != 2 || !got.HasRole("Developer") {
		t.Fatalf("after update: %+v", got)
	}
	if _, err := s.Users.Update(ctx, u.ID, store.UserChange{Version: 1, Status: &disabled}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale version: err = %v, want ErrConflict", err)
	}
	if _, err := s.Users.Update(ctx, "missing", store.UserChange{Version: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing user: err = %v, want ErrNotFound", err)
	}
}

func TestUsersListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	for i := range 7 {
		u := &store.User{Subject: fmt.Sprint("s", i), Name: fmt.Sprint("User", i), Email: fmt.Sprintf("u%d@example.com", i)}
		if i%2 == 0 {
			u.Roles = []string{"TenantAdmin"}
		}
		if err := s.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		filter store.UserFilter
		want   int
	}{
		{"all", store.UserFilter{}, 7},
		{"by name, any case", store.UserFilter{Query: "user3"}, 1},
		{"by email", store.UserFilter{Query: "U5@EXAMPLE"}, 1},
		{"regex characters are literal", store.UserFilter{Query: "user.*"}, 0},
		{"by role", store.UserFilter{Role: "TenantAdmin"}, 4},
		{"by status", store.UserFilter{Status: store.UserDisabled}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []store.User
			cursor := ""
			for {
				page, next, err := s.Users.List(ctx, tt.filter, store.Page{Limit: 2, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 2 {
					t.Fatalf("page of %d items, limit 2", len(page))
				}
				all = append(all, page...)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(all) != tt.want {
				t.Fatalf("got %d users, want %d", len(all), tt.want)
			}
			ids := map[string]bool{}
			for _, u := range all {
				if ids[u.ID] {
					t.Fatalf("user %s listed twice across pages", u.ID)
				}
				ids[u.ID] = true
			}
		})
	}
	if _, _, err := s.Users.List(ctx, store.UserFilter{}, store.Page{Cursor: "garbage!"}); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: err = %v, want ErrBadCursor", err)
	}
}

func TestGroupNamesAreUniqueInAnyCase(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	if err := s.Groups.Create(ctx, &store.Group{Name: "Sales", Source: "idp"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Groups.Create(ctx, &store.Group{Name: "SALES"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	g, err := s.Groups.ByName(ctx, "sales")
	if err != nil || g.Name != "Sales" {
		t.Fatalf("ByName: %+v, %v", g, err)
	}
}

func TestSpaceNamesAreUnique(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	if err := s.Spaces.Create(ctx, &store.Space{Name: "Finance", Type: store.SpaceShared, OwnerID: "u1"}); err != nil {
		t.Fatal(err)
	}
	err := s.Spaces.Create(ctx, &store.Space{Name: "finance", Type: store.SpaceManaged, OwnerID: "u2"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	other := &store.Space{Name: "Sales", Type: store.SpaceShared, OwnerID: "u1"}
	if err := s.Spaces.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	taken := "FINANCE"
	if _, err := s.Spaces.Update(ctx, other.ID, store.SpaceChange{Version: 1, Name: &taken}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rename to a taken name: err = %v, want ErrConflict", err)
	}
}

func TestSpaceMembershipAndRoles(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sp := &store.Space{Name: "Data", Type: store.SpaceShared, OwnerID: "owner", Members: []store.Member{
		{Type: "user", ID: "alice", Roles: []string{"canview"}},
		{Type: "group", ID: "g-sales", Roles: []string{"canedit"}},
	}}
	if err := s.Spaces.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := s.Spaces.Create(ctx, &store.Space{Name: "Unrelated", Type: store.SpaceShared, OwnerID: "x"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user   string
		groups []string
		roles  []string
		found  int
	}{
		{"alice", nil, []string{"canview"}, 1},
		{"alice", []string{"g-sales"}, []string{"canview", "canedit"}, 1},
		{"bob", []string{"g-sales"}, []string{"canedit"}, 1},
		{"owner", nil, []string{"owner"}, 1},
		{"carol", []string{"g-other"}, nil, 0},
	}
	for _, tt := range tests {
		spaces, err := s.Spaces.ForMember(ctx, tt.user, tt.groups)
		if err != nil {
			t.Fatal(err)
		}
		if len(spaces) != tt.found {
			t.Fatalf("%s %v: %d spaces, want %d", tt.user, tt.groups, len(spaces), tt.found)
		}
		if got := sp.RolesOf(tt.user, tt.groups); !slices.Equal(got, tt.roles) {
			t.Fatalf("%s %v: roles %v, want %v", tt.user, tt.groups, got, tt.roles)
		}
	}
}

func TestConcurrentSpaceEditsLoseNoUpdate(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sp := &store.Space{Name: "Busy", Type: store.SpaceShared, OwnerID: "o"}
	if err := s.Spaces.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	// Each worker adds one member with a read-modify-write loop; the
	// version check must make every add survive.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cur, err := s.Spaces.Get(ctx, sp.ID)
				if err != nil {
					t.Error(err)
					return
				}
				members := append(slices.Clone(cur.Members), store.Member{Type: "user", ID: fmt.Sprint("u", i), Roles: []string{"canview"}})
				_, err = s.Spaces.Update(ctx, sp.ID, store.SpaceChange{Version: cur.Version, Members: members})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		}()
	}
	wg.Wait()
	got, err := s.Spaces.Get(ctx, sp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 8 || got.Version != 9 {
		t.Fatalf("%d members at version %d, want 8 at 9", len(got.Members), got.Version)
	}
}

func TestDeletingASpaceDeletesItsApps(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sp := &store.Space{Name: "Doomed", Type: store.SpaceShared, OwnerID: "o"}
	keep := &store.Space{Name: "Kept", Type: store.SpaceShared, OwnerID: "o"}
	for _, x := range []*store.Space{sp, keep} {
		if err := s.Spaces.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		for _, id := range []string{sp.ID, keep.ID} {
			if err := s.Apps.Create(ctx, &store.App{Name: fmt.Sprint("app", i), SpaceID: id, OwnerID: "o"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Spaces.Delete(ctx, s.Apps, sp.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Apps.CountInSpace(ctx, sp.ID); n != 0 {
		t.Fatalf("%d apps survive their space", n)
	}
	if n, _ := s.Apps.CountInSpace(ctx, keep.ID); n != 3 {
		t.Fatalf("other space has %d apps, want 3", n)
	}
	if _, err := s.Spaces.Get(ctx, sp.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted space: err = %v", err)
	}
	if err := s.Spaces.Delete(ctx, s.Apps, sp.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestSweepFinishesAnInterruptedSpaceDeletion(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	sp := &store.Space{Name: "Half", Type: store.SpaceShared, OwnerID: "o"}
	if err := s.Spaces.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := s.Apps.Create(ctx, &store.App{Name: "a", SpaceID: sp.ID, OwnerID: "o"}); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash right after the mark: set the flag by hand.
	if _, err := s.Database().Collection("spaces").UpdateByID(ctx, sp.ID,
		map[string]any{"$set": map[string]any{"deleting": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Spaces.Get(ctx, sp.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("marked space still readable: %v", err)
	}
	n, err := s.Spaces.SweepDeleted(ctx, s.Apps)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if c, _ := s.Apps.CountInSpace(ctx, sp.ID); c != 0 {
		t.Fatalf("%d orphan apps after sweep", c)
	}
}

func TestAppsUpdateAndList(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	a := &store.App{Name: "Q4", OwnerID: "alice"}
	if err := s.Apps.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	target := "sp1"
	moved, err := s.Apps.Update(ctx, a.ID, store.AppChange{Version: 1, SpaceID: &target})
	if err != nil || moved.SpaceID != "sp1" {
		t.Fatalf("move: %+v, %v", moved, err)
	}
	personal := ""
	list, _, err := s.Apps.List(ctx, store.AppFilter{SpaceID: &personal}, store.Page{})
	if err != nil || len(list) != 0 {
		t.Fatalf("personal apps after move: %d, %v", len(list), err)
	}
	list, _, err = s.Apps.List(ctx, store.AppFilter{SpaceID: &target}, store.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("apps in sp1: %d, %v", len(list), err)
	}
	if err := s.Apps.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Apps.Delete(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// PutMany writes rules as given (insert or overwrite by id), in batches of
// the insert command, and refuses a batch whose ids collide.
func TestRulesPutMany(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	mk := func(n int, cond string) []store.Rule {
		rs := make([]store.Rule, n)
		for i := range rs {
			rs[i] = store.Rule{ID: fmt.Sprintf("pm-%04d", i), Name: fmt.Sprintf("rule %d", i), ResourceFilter: "App_*",
				Condition: cond, Actions: []string{"read"}, Context: "hub", Type: store.RuleCustom, Version: 1}
		}
		return rs
	}
	for _, cond := range []string{`user.name = "a"`, `user.name = "b"`} { // the second overwrites
		if err := s.Rules.PutMany(ctx, mk(1203, cond)); err != nil {
			t.Fatal(err)
		}
		all, err := s.Rules.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1203 || all[0].ID != "pm-0000" || all[1202].Condition != cond || all[5].Actions[0] != "read" {
			t.Fatalf("%d rules stored, first %+v", len(all), all[0])
		}
	}
	dup := mk(2, `user.name = "c"`)
	dup[1].ID = "pm-new"
	dup = append(dup, dup[1])
	if err := s.Rules.PutMany(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ids colliding in one batch: %v", err)
	}
}
