// Package listbench measures issue 8's list target: one page of 50
// readable apps out of 100,000 across 1,000 spaces, for a member of 20
// spaces, with the read filter pushed down into the database
// (resources/pushdown) and with a decision per app. Run it with
//
//	go test -bench . -benchtime 5x ./bench/listbench
//
// Set RULEKEEPER_MONGO_URI to measure against a MongoDB instead of the
// embedded FerretDB.
package listbench

import (
	"context"
	"fmt"
	"math/rand/v2"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Size is the generated tenant's size.
type Size struct{ Apps, Spaces, MemberOf int }

// Issue8 is the issue's target size.
var Issue8 = Size{Apps: 100_000, Spaces: 1_000, MemberOf: 20}

// Tenant is the generated data and the subject who lists it.
type Tenant struct {
	Size    Size
	Subject authz.Subject
	// Spaces are the policy's view of every space by id; Member the ids of
	// the subject's spaces (shared, where they can view).
	Spaces map[string]*authz.Related
	Member []string
}

// NewTenant makes the tenant of size: spaces "s0000"…, one in four
// managed; the subject, a licensed user, can view every
// (Spaces/MemberOf)-th space, all shared.
func NewTenant(size Size) *Tenant {
	t := &Tenant{Size: size, Spaces: map[string]*authz.Related{},
		Subject: authz.Subject{ID: "bench-user", Name: "bench", Status: "active",
			License: authz.License{Type: "professional"}, Spaces: map[string][]string{}}}
	step := size.Spaces / size.MemberOf
	for i := range size.Spaces {
		id := fmt.Sprintf("s%04d", i)
		typ := store.SpaceShared
		if i%4 == 3 {
			typ = store.SpaceManaged
		}
		if i%step == 0 && len(t.Member) < size.MemberOf {
			typ = store.SpaceShared
			t.Member = append(t.Member, id)
			t.Subject.Spaces[id] = []string{"canview"}
		}
		t.Spaces[id] = &authz.Related{ID: id, Name: fmt.Sprintf("Space %d", i), Type: typ, Owner: "u0000"}
	}
	return t
}

// App is the i-th app: in a random space (one in twenty personal), owned
// by one of 997 users (never the subject).
func (t *Tenant) App(i int) store.App {
	r := rand.New(rand.NewPCG(uint64(i), 8))
	a := store.App{
		ID: fmt.Sprintf("a%06d", i), Name: fmt.Sprintf("%c%d report %d", 'A'+rune(r.IntN(26)), r.IntN(100), i),
		OwnerID: fmt.Sprintf("u%04d", r.IntN(997)), SectionAccess: r.IntN(10) == 0, Tags: []string{},
	}
	if r.IntN(20) > 0 {
		a.SpaceID = fmt.Sprintf("s%04d", r.IntN(t.Size.Spaces))
	}
	return a
}

// Insert writes every app into c, a thousand documents a request.
func (t *Tenant) Insert(ctx context.Context, c *mongo.Collection) error {
	docs := make([]any, 0, 1000)
	for i := range t.Size.Apps {
		a := t.App(i)
		docs = append(docs, bson.D{
			{Key: "_id", Value: a.ID}, {Key: "name", Value: a.Name}, {Key: "description", Value: ""},
			{Key: "tags", Value: a.Tags}, {Key: "spaceId", Value: a.SpaceID}, {Key: "ownerId", Value: a.OwnerID},
			{Key: "sectionAccess", Value: a.SectionAccess}, {Key: "version", Value: int64(1)},
		})
		if len(docs) == cap(docs) || i == t.Size.Apps-1 {
			if _, err := c.InsertMany(ctx, docs); err != nil {
				return fmt.Errorf("insert apps: %w", err)
			}
			docs = docs[:0]
		}
	}
	return nil
}

// View is the policy's view of an app, as resources/entities builds it
// (the space from memory, as its entity cache would hold it).
func (t *Tenant) View(a *store.App) *authz.Resource {
	r := &authz.Resource{Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID,
		SectionAccess: a.SectionAccess}
	if len(a.Tags) > 0 {
		r.Attributes = map[string][]string{"tags": a.Tags}
	}
	if a.SpaceID == "" {
		r.SpaceType = store.SpacePersonal
		return r
	}
	r.Space = t.Spaces[a.SpaceID]
	r.SpaceType = r.Space.Type
	return r
}

// Entities serves a tenant to the engine as authz.Entities (the planner
// hydrates the subject and its spaces), from memory as the engine's entity
// cache would hold them.
type Entities struct{ T *Tenant }

// Subject is the tenant's subject.
func (e Entities) Subject(_ context.Context, id string) (*authz.Subject, error) {
	if id != e.T.Subject.ID {
		return nil, authz.ErrNotFound
	}
	s := e.T.Subject
	return &s, nil
}

// Resource: apps are read from the database by the benchmark, not hydrated.
func (e Entities) Resource(context.Context, string, string) (*authz.Resource, error) {
	return nil, authz.ErrNotStored
}

// Space is the space with id.
func (e Entities) Space(_ context.Context, id string) (*authz.Related, error) {
	if sp, ok := e.T.Spaces[id]; ok {
		return sp, nil
	}
	return nil, authz.ErrNotFound
}
