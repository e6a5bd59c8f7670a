// Package demo seeds the dev-mode demo tenant on first start (API.md "Dev
// mode"): the tenant admin `admin` (professional, TenantAdmin and
// Developer), professional and analyzer users, a disabled user, groups,
// personal, shared and managed spaces with members of every role, and apps.
// Seeding runs once: a marker document records that it happened.
package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// SubjectFunc maps a demo user name to the subject the dev issuer puts in
// that user's tokens, so a seeded user's first token logs in as them.
type SubjectFunc func(user string) string

// User describes a seeded user.
type User struct {
	Name    string
	Roles   []string
	Groups  []string
	License string
	Status  string
}

// Users are the demo users.
var Users = []User{
	{Name: "admin", Roles: []string{"TenantAdmin", "Developer"}, Groups: []string{"Admins"}, License: store.LicenseProfessional},
	{Name: "alice", Roles: []string{"Developer"}, Groups: []string{"Sales"}, License: store.LicenseProfessional},
	{Name: "bob", Groups: []string{"Marketing"}, License: store.LicenseAnalyzer},
	{Name: "carol", Groups: []string{"Finance"}, License: store.LicenseProfessional},
	{Name: "dave", Groups: []string{"Finance"}, License: store.LicenseAnalyzer},
	{Name: "erin", Groups: []string{"Sales", "Finance"}, License: store.LicenseAnalyzerCapacity},
	{Name: "frank", Groups: []string{"Sales"}, License: store.LicenseProfessional, Status: store.UserDisabled},
	{Name: "grace", Groups: []string{"Marketing"}},
}

// Seed creates the demo tenant unless it exists. keyID is the license key
// the demo assignments belong to; without one the users have none.
func Seed(ctx context.Context, s *store.Store, subject SubjectFunc, keyID string) (bool, error) {
	marker := s.Database().Collection("tenant")
	_, err := marker.InsertOne(ctx, map[string]any{"_id": "demo-seeded", "at": time.Now().UTC()})
	if errors.Is(store.MapErr(err), store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The seeded admin is the first admin: nobody else may claim it.
	if _, err := marker.InsertOne(ctx, map[string]any{"_id": "first-admin", "userId": "admin"}); err != nil && !errors.Is(store.MapErr(err), store.ErrConflict) {
		return false, err
	}
	groups := map[string]string{}
	for _, name := range []string{"Admins", "Sales", "Finance", "Marketing"} {
		g := &store.Group{Name: name, Source: "idp"}
		if err := s.Groups.Create(ctx, g); err != nil {
			return false, err
		}
		groups[name] = g.ID
	}
	ids := map[string]string{}
	for _, du := range Users {
		u := &store.User{Subject: subject(du.Name), Name: du.Name, Email: du.Name + "@example.com",
			Roles: du.Roles, Status: du.Status}
		for _, g := range du.Groups {
			u.GroupIDs = append(u.GroupIDs, groups[g])
		}
		if err := s.Users.Create(ctx, u); err != nil {
			return false, err
		}
		ids[du.Name] = u.ID
		if du.License != "" && keyID != "" {
			if _, err := s.Assignments.Add(ctx, keyID, u.ID, du.License); err != nil {
				return false, err
			}
		}
	}
	spaces := []*store.Space{
		{Name: "Sales", Type: store.SpaceShared, Description: "Shared space of the sales team", OwnerID: ids["alice"],
			Members: []store.Member{
				{Type: "user", ID: ids["carol"], Roles: []string{"admin"}},
				{Type: "user", ID: ids["bob"], Roles: []string{"canview"}},
				{Type: "group", ID: groups["Sales"], Roles: []string{"canedit"}},
				{Type: "user", ID: ids["dave"], Roles: []string{"canedit"}},
			}},
		{Name: "Finance", Type: store.SpaceShared, Description: "Shared space of finance", OwnerID: ids["carol"],
			Members: []store.Member{
				{Type: "group", ID: groups["Finance"], Roles: []string{"canview"}},
				{Type: "user", ID: ids["alice"], Roles: []string{"canedit"}},
			}},
		{Name: "Company Reports", Type: store.SpaceManaged, Description: "Managed space for published apps", OwnerID: ids["admin"],
			Members: []store.Member{
				{Type: "user", ID: ids["alice"], Roles: []string{"canmanage"}},
				{Type: "user", ID: ids["carol"], Roles: []string{"canpublish"}},
				{Type: "user", ID: ids["dave"], Roles: []string{"cancontribute"}},
				{Type: "group", ID: groups["Sales"], Roles: []string{"canview"}},
				{Type: "user", ID: ids["erin"], Roles: []string{"hasrestrictedview"}},
				{Type: "group", ID: groups["Finance"], Roles: []string{"canconsumedata"}},
				{Type: "user", ID: ids["grace"], Roles: []string{"canoperate"}},
			}},
	}
	for _, sp := range spaces {
		if err := s.Spaces.Create(ctx, sp); err != nil {
			return false, fmt.Errorf("seed space %s: %w", sp.Name, err)
		}
	}
	apps := []*store.App{
		{Name: "Q4 report", SpaceID: spaces[0].ID, OwnerID: ids["alice"], Tags: []string{"sales"}},
		{Name: "Pipeline", SpaceID: spaces[0].ID, OwnerID: ids["dave"]},
		{Name: "Budget 2027", SpaceID: spaces[1].ID, OwnerID: ids["carol"], SectionAccess: true},
		{Name: "Company KPIs", SpaceID: spaces[2].ID, OwnerID: ids["alice"]},
		{Name: "Alice's sandbox", OwnerID: ids["alice"]},
		{Name: "Bob's notes", OwnerID: ids["bob"]},
		{Name: "Q2 draft", OwnerID: ids["carol"], Tags: []string{"draft"}},
	}
	for _, a := range apps {
		if err := s.Apps.Create(ctx, a); err != nil {
			return false, err
		}
	}
	return true, nil
}
