package entities_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// counting is the real Source, with each store lookup it is asked for
// counted: one by id (Subject, Resource, Space) or many at once (Subjects,
// Resources).
type counting struct {
	*entities.Source
	byID, batched atomic.Int64
}

func (c *counting) Subject(ctx context.Context, id string) (*authz.Subject, error) {
	c.byID.Add(1)
	return c.Source.Subject(ctx, id)
}

func (c *counting) Resource(ctx context.Context, typ, id string) (*authz.Resource, error) {
	c.byID.Add(1)
	return c.Source.Resource(ctx, typ, id)
}

func (c *counting) Space(ctx context.Context, id string) (*authz.Related, error) {
	c.byID.Add(1)
	return c.Source.Space(ctx, id)
}

func (c *counting) Subjects(ctx context.Context, ids []string) (map[string]*authz.Subject, error) {
	c.batched.Add(1)
	return c.Source.Subjects(ctx, ids)
}

func (c *counting) Resources(ctx context.Context, typ string, ids []string) (map[string]*authz.Resource, error) {
	c.batched.Add(1)
	return c.Source.Resources(ctx, typ, ids)
}

// batchTenant is a user, apps in their personal space and in a space they
// belong to, and a batch of reads of those apps mixed with unknown ids.
type batchTenant struct {
	s     *store.Store
	user  string
	known []string
}

func newBatchTenant(t testing.TB, apps int) *batchTenant {
	t.Helper()
	ctx := context.Background()
	s := storetest.New(t)
	u := &store.User{Subject: "s1", Name: "Ann", Roles: []string{"Developer"}}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	sp := &store.Space{Name: "Team", Type: store.SpaceShared, OwnerID: u.ID}
	if err := s.Spaces.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	bt := &batchTenant{s: s, user: u.ID}
	for i := range apps {
		a := &store.App{Name: fmt.Sprintf("app %d", i), OwnerID: u.ID}
		if i%2 == 1 {
			a.SpaceID = sp.ID
		}
		if err := s.Apps.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		bt.known = append(bt.known, a.ID)
	}
	return bt
}

// source reads the tenant's store; every user has a professional license.
func (bt *batchTenant) source() *entities.Source {
	return &entities.Source{Store: bt.s, License: func(context.Context, string) (authz.License, error) {
		return authz.License{Type: "professional"}, nil
	}}
}

// requests is n reads by the tenant's user: every tenth a known app, the
// others unknown ids.
func (bt *batchTenant) requests(n int) []authz.Request {
	reqs := make([]authz.Request, n)
	for i := range reqs {
		id := store.NewID()
		if i%10 == 0 {
			id = bt.known[(i/10)%len(bt.known)]
		}
		reqs[i] = authz.Request{Subject: authz.Subject{ID: bt.user}, Action: "read",
			Resource: authz.Resource{Type: "app", ID: id}, Environment: "hub"}
	}
	return reqs
}

func engineOver(t testing.TB, src authz.Entities) *authz.Engine {
	t.Helper()
	mods, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	e, err := authz.New(context.Background(), authz.Options{Modules: mods, Data: data, Entities: src})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBatchLooksIdsUpOnce: a batch of 1,000 reads, nine in ten of unknown
// apps, costs one lookup of the subject and one of the apps — not one per
// evaluation as deciding them one by one does — and decides every item as
// Engine.Decide decides it alone.
func TestBatchLooksIdsUpOnce(t *testing.T) {
	ctx := context.Background()
	bt := newBatchTenant(t, 20)
	reqs := bt.requests(1000)

	batch := &counting{Source: bt.source()}
	b := engineOver(t, batch).Prefetch(ctx, reqs)
	got := make([]authz.Decision, len(reqs))
	gotErr := make([]error, len(reqs))
	for i := range reqs {
		got[i], gotErr[i] = b.Decide(ctx, reqs[i])
	}
	// The known apps' spaces are read by id once each (the entity cache
	// keeps them); nothing else is.
	if n, m := batch.batched.Load(), batch.byID.Load(); n != 2 || m > 1 {
		t.Fatalf("the batch asked the store %d times for many ids and %d times for one, want 2 and at most 1 (the space)", n, m)
	}

	one := &counting{Source: bt.source()}
	e := engineOver(t, one)
	allows := 0
	for i := range reqs {
		want, err := e.Decide(ctx, reqs[i])
		if errors.Is(err, authz.ErrNotFound) != errors.Is(gotErr[i], authz.ErrNotFound) || (err == nil) != (gotErr[i] == nil) {
			t.Fatalf("item %d: batch error %v, alone %v", i, gotErr[i], err)
		}
		if want.Allow != got[i].Allow {
			t.Fatalf("item %d (%s): batch allow %v, alone %v", i, reqs[i].Resource.ID, got[i].Allow, want.Allow)
		}
		if want.Allow {
			allows++
		}
	}
	if allows != 100 {
		t.Fatalf("%d allows, want the 100 reads of known apps", allows)
	}
	// The baseline: one by one, every unknown id is a lookup of its own.
	if m := one.byID.Load(); m < 900 {
		t.Fatalf("one by one asked the store only %d times", m)
	}
	t.Logf("store lookups for 1,000 evaluations: %d in the batch, %d one by one", batch.batched.Load()+batch.byID.Load(), one.byID.Load())
}
