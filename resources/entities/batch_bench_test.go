package entities_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// BenchmarkBatchOf1000 decides a batch of 1,000 reads (nine in ten of
// unknown app ids, as in issue 13's probe) in a tenant of 2,000 apps: one
// by one (each id looked up alone: the baseline) and prefetched (one
// lookup per kind and type for the batch). Run with
//
//	go test -run '^$' -bench BatchOf1000 -benchtime 3x ./resources/entities/
func BenchmarkBatchOf1000(b *testing.B) {
	ctx := context.Background()
	bt := newBatchTenant(b, 2000)
	b.Run("one-by-one", func(b *testing.B) {
		e := engineOver(b, bt.source())
		for b.Loop() {
			for _, r := range bt.requests(1000) {
				_, _ = e.Decide(ctx, r)
			}
		}
	})
	b.Run("prefetched", func(b *testing.B) {
		e := engineOver(b, bt.source())
		for b.Loop() {
			reqs := bt.requests(1000)
			batch := e.Prefetch(ctx, reqs)
			for _, r := range reqs {
				_, _ = batch.Decide(ctx, r)
			}
		}
	})
}

// BenchmarkSubject is one subject hydrated from the snapshots (the user
// index and the space index), as the engine does on an entity cache miss,
// on every refresh, and on every decision with --no-entity-cache.
//
//	go test -run '^$' -bench 'Subject$' -benchmem ./resources/entities/
func BenchmarkSubject(b *testing.B) {
	ctx := context.Background()
	bt := newBatchTenant(b, 10)
	src := bt.source()
	src.Users, src.Spaces = entities.NewUserIndex(bt.s), entities.NewSpaceIndex(bt.s)
	if _, err := src.Subject(ctx, bt.user); err != nil { // the snapshots built
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Subject(ctx, bt.user); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpaceRoles is a subject's roles in three shared spaces of 300
// members each (bench/loadbench's tenant has spaces of that size), read
// as subjectOf read them before (the spaces copied out of the index, each
// one's members scanned: store.Space.RolesOf) and from the member
// positions of the index (SpaceIndex.Roles).
//
//	go test -run '^$' -bench SpaceRoles -benchmem ./resources/entities/
func BenchmarkSpaceRoles(b *testing.B) {
	ctx := context.Background()
	s := storetest.New(b)
	groups := []string{"g-sales", "g-all"}
	for i := range 3 {
		sp := &store.Space{Name: fmt.Sprintf("Big %d", i), Type: store.SpaceShared, OwnerID: "owner"}
		for m := range 300 {
			sp.Members = append(sp.Members, store.Member{Type: "user", ID: fmt.Sprintf("u-%03d", m), Roles: []string{"canview"}})
		}
		sp.Members = append(sp.Members, store.Member{Type: "group", ID: "g-sales", Roles: []string{"canedit"}})
		if err := s.Spaces.Create(ctx, sp); err != nil {
			b.Fatal(err)
		}
	}
	x := entities.NewSpaceIndex(s)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			spaces, err := x.ForMember(ctx, "u-150", groups)
			if err != nil {
				b.Fatal(err)
			}
			roles := make(map[string][]string, len(spaces))
			for i := range spaces {
				if r := spaces[i].RolesOf("u-150", groups); len(r) > 0 {
					roles[spaces[i].ID] = r
				}
			}
			if len(roles) != 3 {
				b.Fatal(roles)
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			roles, err := x.Roles(ctx, "u-150", groups)
			if err != nil {
				b.Fatal(err)
			}
			if len(roles) != 3 {
				b.Fatal(roles)
			}
		}
	})
}
