package entities_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestUserIndexHydratesAsTheStore: a subject hydrated through the user
// index equals one hydrated from the store, a user the index does not hold
// yet comes from the store, and Invalidate shows a write at once.
func TestUserIndexHydratesAsTheStore(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	g := &store.Group{Name: "Sales", Source: "idp"}
	if err := s.Groups.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	u := &store.User{Subject: "s1", Name: "Ann", GroupIDs: []string{g.ID}, Roles: []string{"Developer"}}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Neither the poll nor the staleness bound may refresh the index
	// during the test (at load 35 a second passes between two lines).
	s.Staleness = 2 * time.Hour
	x := entities.NewUserIndex(s)
	x.Poll = time.Hour
	indexed := &entities.Source{Store: s, Users: x}
	plain := &entities.Source{Store: s}
	got, err := indexed.Subject(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Subject(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got.Groups) != 1 || got.Groups[0] != "Sales" {
		t.Fatalf("indexed %+v, store %+v", got, want)
	}
	// A user created after the index was built: from the store.
	v := &store.User{Subject: "s2", Name: "Bo", GroupIDs: []string{}, Roles: []string{}}
	if err := s.Users.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	if got, err := indexed.Subject(ctx, v.ID); err != nil || got.Name != "Bo" {
		t.Fatalf("new user: %+v %v", got, err)
	}
	// A write, then Invalidate: the next hydration sees it.
	disabled := store.UserDisabled
	if _, err := s.Users.Update(ctx, u.ID, store.UserChange{Version: u.Version, Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if got, _ := indexed.Subject(ctx, u.ID); got.Status == store.UserDisabled {
		t.Fatal("the index was rebuilt without Invalidate (poll and staleness bound are an hour)")
	}
	x.Invalidate()
	if got, _ := indexed.Subject(ctx, u.ID); got.Status != store.UserDisabled {
		t.Fatalf("after Invalidate: %+v", got)
	}
}
