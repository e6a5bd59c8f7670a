package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// populator grows the tenant with bulk inserts straight into the store's
// collections (seconds instead of the hours a login per user would take).
type populator struct {
	st    *store.Store
	keyID string
	rng   *rand.Rand

	groupIDs            []string
	userIDs             []string
	users, apps, spaces int
	unassigned          []string // bulk users left without a license, for the assign samples
	seq                 int64
	spaceIDs            []string
}

func (p *populator) userID(i int) string { return p.userIDs[i] }

func (p *populator) groups(ctx context.Context) error {
	for i := range groups {
		g := &store.Group{Name: fmt.Sprintf("G%02d", i), Source: "idp"}
		if err := p.st.Groups.Create(ctx, g); err != nil {
			return err
		}
		p.groupIDs = append(p.groupIDs, g.ID)
	}
	return nil
}

const batch = 1000

// grow inserts users, apps and spaces until the tenant has the given
// numbers of each.
func (p *populator) grow(ctx context.Context, users, apps, spaces int) error {
	now := time.Now().UTC()
	var us []store.User
	var as []store.Assignment
	for i := p.users; i < users; i++ {
		u := store.User{ID: store.NewID(), Subject: fmt.Sprintf("bulk-%07d", i), Name: fmt.Sprintf("Bulk user %07d", i),
			Email: fmt.Sprintf("bulk%07d@example.com", i), Status: store.UserActive, Roles: []string{},
			GroupIDs: []string{p.groupIDs[i%groups]}, CreatedAt: now, UpdatedAt: now, Version: 1}
		if i%3 == 0 {
			u.GroupIDs = append(u.GroupIDs, p.groupIDs[(i/3)%groups])
		}
		u.NameKey = strings.ToLower(u.Name)
		us = append(us, u)
		p.userIDs = append(p.userIDs, u.ID)
		// The last 64 users of every step keep no license: the assign samples.
		if i >= users-64 {
			p.unassigned = append(p.unassigned, u.ID)
			continue
		}
		p.seq++
		typ := []string{store.LicenseProfessional, store.LicenseAnalyzer, store.LicenseAnalyzerCapacity}[i%3]
		as = append(as, store.Assignment{ID: p.keyID + "/" + u.ID, KeyID: p.keyID, UserID: u.ID, Type: typ, AssignedAt: now, Seq: p.seq})
	}
	var ss []store.Space
	for i := p.spaces; i < spaces; i++ {
		sp := store.Space{ID: store.NewID(), Name: fmt.Sprintf("Bulk space %06d", i), Type: store.SpaceShared,
			OwnerID: p.userIDs[p.rng.IntN(len(p.userIDs))], CreatedAt: now, UpdatedAt: now, Version: 1}
		if i%4 == 0 {
			sp.Type = store.SpaceManaged
		}
		sp.NameKey = strings.ToLower(sp.Name)
		roles := []string{"canview", "canedit", "canconsume", "facilitator", "admin"}
		for k := range 5 {
			sp.Members = append(sp.Members, store.Member{Type: "user", ID: p.userIDs[p.rng.IntN(len(p.userIDs))], Roles: []string{roles[k]}})
		}
		sp.Members = append(sp.Members, store.Member{Type: "group", ID: p.groupIDs[i%groups], Roles: []string{"canview"}})
		for _, m := range sp.Members {
			sp.MemberIDs = append(sp.MemberIDs, m.ID)
		}
		ss = append(ss, sp)
		p.spaceIDs = append(p.spaceIDs, sp.ID)
	}
	var aps []store.App
	for i := p.apps; i < apps; i++ {
		a := store.App{ID: store.NewID(), Name: fmt.Sprintf("Bulk app %07d", i), Tags: []string{},
			OwnerID: p.userIDs[p.rng.IntN(len(p.userIDs))], CreatedAt: now, UpdatedAt: now, Version: 1}
		if i%5 != 0 && len(p.spaceIDs) > 0 {
			a.SpaceID = p.spaceIDs[p.rng.IntN(len(p.spaceIDs))]
		}
		aps = append(aps, a)
	}
	if err := bulkLoad(ctx, p.st, us, as, ss, aps); err != nil {
		return err
	}
	p.users, p.apps, p.spaces = users, apps, spaces
	return nil
}
