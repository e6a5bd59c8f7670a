package entities_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func ids(spaces []store.Space) []string {
	out := []string{}
	for _, s := range spaces {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

func TestSpaceIndexAgreesWithTheStore(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	mk := func(name, owner string, members ...store.Member) *store.Space {
		sp := &store.Space{Name: name, Type: store.SpaceShared, OwnerID: owner, Members: members}
		if err := s.Spaces.Create(ctx, sp); err != nil {
			t.Fatal(err)
		}
		return sp
	}
	mk("A", "u1", store.Member{Type: "user", ID: "u2", Roles: []string{"canview"}})
	b := mk("B", "u2", store.Member{Type: "group", ID: "g1", Roles: []string{"canedit"}})
	mk("C", "u3")
	// Roles through the user and several groups, repeated, in an order
	// that is not the members' (the index answers them as RolesOf does).
	mk("D", "u4",
		store.Member{Type: "group", ID: "g2", Roles: []string{"canview", "canpublish"}},
		store.Member{Type: "user", ID: "u3", Roles: []string{"canedit"}},
		store.Member{Type: "group", ID: "g1", Roles: []string{"admin", "canview"}},
		store.Member{Type: "user", ID: "u4", Roles: []string{"canview"}},
		store.Member{Type: "group", ID: "u3", Roles: []string{"cancontribute"}}, // a group id equal to a user id
		store.Member{Type: "user", ID: "u3", Roles: []string{"canview", "canedit"}},
		store.Member{Type: "group", ID: "g3"})
	x := entities.NewSpaceIndex(s)
	s.Follower.Poll = 50 * time.Millisecond
	cases := []struct {
		user   string
		groups []string
	}{{"u1", nil}, {"u2", nil}, {"u9", []string{"g1"}}, {"u3", []string{"g1"}}, {"nobody", nil},
		{"u3", []string{"g2", "g1", "g2"}}, {"u4", []string{"g3"}}, {"u9", []string{"u3", "g3"}}, {"u4", []string{"g1", "g2"}}}
	check := func() {
		t.Helper()
		for _, c := range cases {
			want, err := s.Spaces.ForMember(ctx, c.user, c.groups)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.ForMember(ctx, c.user, c.groups)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := ids(got), ids(want); strings.Join(a, ",") != strings.Join(b, ",") {
				t.Fatalf("%s %v: index %v, store %v", c.user, c.groups, a, b)
			}
			// The roles, in RolesOf's order, per space with any.
			wantRoles := map[string][]string{}
			for i := range want {
				if r := want[i].RolesOf(c.user, c.groups); len(r) > 0 {
					wantRoles[want[i].ID] = r
				}
			}
			gotRoles, err := x.Roles(ctx, c.user, c.groups)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotRoles, wantRoles) {
				t.Fatalf("%s %v: index roles %v, store %v", c.user, c.groups, gotRoles, wantRoles)
			}
		}
	}
	check()
	// A write followed by Invalidate is seen at once.
	if _, err := s.Spaces.Update(ctx, b.ID, store.SpaceChange{Version: b.Version, Members: []store.Member{{Type: "user", ID: "u1", Roles: []string{"admin"}}}}); err != nil {
		t.Fatal(err)
	}
	x.Invalidate()
	check()
	// A write another replica made is seen after Poll (a background catch-up).
	if err := s.Spaces.Delete(ctx, s.Apps, b.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, _ := x.ForMember(ctx, "u1", nil)
		if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleted space still indexed: %v", ids(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
	check()
}

// TestSpacesByIDFromTheIndex: a space hydrated through the index equals one
// read from the store; a space the index does not hold yet comes from the
// store; a space deleted elsewhere is unknown once the index follows.
func TestSpacesByIDFromTheIndex(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	a := &store.Space{Name: "A", Type: store.SpaceManaged, OwnerID: "u1"}
	if err := s.Spaces.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	x := entities.NewSpaceIndex(s)
	s.Follower.Poll = 0
	indexed, plain := &entities.Source{Store: s, Spaces: x}, &entities.Source{Store: s}
	for _, src := range []*entities.Source{indexed, plain} {
		r, err := src.Resource(ctx, "space", a.ID)
		if err != nil || r.SpaceType != store.SpaceManaged || r.Owner != "u1" || r.Space.Name != "A" {
			t.Fatalf("space resource: %+v %v", r, err)
		}
		rel, err := src.Space(ctx, a.ID)
		if err != nil || rel.Type != store.SpaceManaged || rel.Name != "A" {
			t.Fatalf("related space: %+v %v", rel, err)
		}
	}
	if _, ok, _ := x.Space(ctx, a.ID); !ok {
		t.Fatal("the index does not hold the space")
	}
	b := &store.Space{Name: "B", Type: store.SpaceShared, OwnerID: "u2"}
	if err := s.Spaces.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	if rel, err := indexed.Space(ctx, b.ID); err != nil || rel.Name != "B" {
		t.Fatalf("a space newer than the index: %+v %v", rel, err)
	}
	if err := s.Spaces.Delete(ctx, s.Apps, a.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := indexed.Space(ctx, a.ID)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted space is still hydrated")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
