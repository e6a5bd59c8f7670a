package entities_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestMemoKeepsASubjectWhileNothingChanged: the memo hands out the same
// subject again (the same pointer) while the user and space indexes and
// the license are unchanged, and a fresh one, equal to the Source's, after
// any of them changed — changes that arrive through the change log (as
// another replica's writes do, no Invalidate), a space membership, a
// group's name, the license. A user the index does not hold is not kept.
func TestMemoKeepsASubjectWhileNothingChanged(t *testing.T) {
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
	sp := &store.Space{Name: "A", Type: store.SpaceShared, OwnerID: "nobody",
		Members: []store.Member{{Type: "group", ID: g.ID, Roles: []string{"consumer"}}}}
	if err := s.Spaces.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	// Every read waits for a catch-up with the change log: a write is seen
	// by the next read without Invalidate, as another replica's would be
	// within the staleness bound.
	s.Staleness = 2 * time.Hour
	users, spaces := entities.NewUserIndex(s), entities.NewSpaceIndex(s)
	s.Follower.Poll, s.Follower.MaxAge = 0, time.Nanosecond
	lic := authz.License{Type: store.LicenseProfessional}
	src := &entities.Source{Store: s, Users: users, Spaces: spaces,
		License: func(context.Context, string) (authz.License, error) { return lic, nil }}
	m := entities.NewMemo(src)

	subject := func(step string) *authz.Subject {
		t.Helper()
		got, err := m.Subject(ctx, u.ID)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want, err := src.Subject(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the memo answers %+v, the source %+v", step, got, want)
		}
		return got
	}
	first := subject("first")
	if !reflect.DeepEqual(first.Spaces, map[string][]string{sp.ID: {"consumer"}}) || first.Groups[0] != "Sales" {
		t.Fatalf("first: %+v", first)
	}
	if again := subject("again"); again != first {
		t.Fatal("nothing changed, but the subject was built again")
	}

	steps := []struct {
		name   string
		change func() error
		check  func(*authz.Subject) bool
	}{
		{"a change to the user (through the change log)", func() error {
			cur, err := s.Users.Get(ctx, u.ID)
			if err != nil {
				return err
			}
			disabled := store.UserDisabled
			_, err = s.Users.Update(ctx, u.ID, store.UserChange{Version: cur.Version, Status: &disabled})
			return err
		}, func(x *authz.Subject) bool { return x.Status == store.UserDisabled }},
		{"a space membership", func() error {
			cur, err := s.Spaces.Get(ctx, sp.ID)
			if err != nil {
				return err
			}
			_, err = s.Spaces.Update(ctx, sp.ID, store.SpaceChange{Version: cur.Version,
				Members: []store.Member{{Type: "group", ID: g.ID, Roles: []string{"consumer"}}, {Type: "user", ID: u.ID, Roles: []string{"contributor"}}}})
			return err
		}, func(x *authz.Subject) bool {
			return reflect.DeepEqual(x.Spaces, map[string][]string{sp.ID: {"consumer", "contributor"}})
		}},
		{"a group's name", func() error {
			_, err := s.Groups.Rename(ctx, g.ID, "Sales EMEA")
			return err
		}, func(x *authz.Subject) bool { return x.Groups[0] == "Sales EMEA" }},
		{"the license", func() error {
			lic = authz.License{Type: store.LicenseAnalyzerCapacity}
			return nil
		}, func(x *authz.Subject) bool { return x.License.Type == store.LicenseAnalyzerCapacity }},
	}
	prev := first
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := subject(st.name)
		if got == prev || !st.check(got) {
			t.Fatalf("after %s the memo answers the subject from before: %+v", st.name, got)
		}
		if again := subject(st.name + ", again"); again != got {
			t.Fatalf("after %s: nothing changed since, but the subject was built again", st.name)
		}
		prev = got
	}

	// A user the index does not hold yet (the follower is an hour behind):
	// from the store, every time.
	s.Follower.Poll, s.Follower.MaxAge = time.Hour, time.Hour
	v := &store.User{Subject: "s2", Name: "Bo", GroupIDs: []string{}, Roles: []string{}}
	if err := s.Users.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	a, err := m.Subject(ctx, v.ID)
	if err != nil || a.Name != "Bo" {
		t.Fatalf("a user the index does not hold: %+v %v", a, err)
	}
	if b, _ := m.Subject(ctx, v.ID); b == a {
		t.Fatal("a subject read from the store was kept")
	}
}
