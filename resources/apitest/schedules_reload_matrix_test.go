package apitest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// TestReloadAndSchedulesByRoleLicenseAndSpaceType asks the HTTP API, for
// members of every role with every license in a shared space (on an app
// they own and on one they do not), in a managed space and in personal
// spaces, to reload the app and to create, edit and delete its reload
// schedules. The expectation is written out from the seed, not read from
// the policy:
//
//   - shared: §6.7 table row "Reload the app" (Owner, Is admin, Can edit)
//     and "Reloading apps in a shared space" — the role decides, whoever
//     owns the app; a professional license (the row is only in the
//     professional table).
//   - personal: §5.2 "You can only reload apps you own" (professional).
//   - managed: Owner, Can manage and Can operate (managed_spaces.json).
func TestReloadAndSchedulesByRoleLicenseAndSpaceType(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	s := d.Svc.Store
	id := func(name string) string { return d.Users[name].ID }

	// Three shared spaces, so that each professional holds each role once
	// (and has none in one):
	// licenses in the demo tenant are alice, carol, admin professional;
	// bob, dave analyzer; erin analyzer capacity; grace none.
	type member struct {
		user, role string
	}
	spaces := []struct {
		name, owner string
		members     []member
	}{
		{"Reload A", "carol", []member{{"alice", "admin"}, {"bob", "admin"}, {"dave", "canedit"}, {"erin", "canview"}, {"grace", "canedit"}}},
		{"Reload B", "alice", []member{{"carol", "canedit"}, {"dave", "admin"}, {"bob", "canview"}, {"erin", "canedit"}}},
		{"Reload C", "admin", []member{{"alice", "canview"}, {"dave", "canview"}}}, // carol: a professional with no role there
	}
	license := map[string]string{"alice": "professional", "carol": "professional", "bob": "analyzer", "dave": "analyzer",
		"erin": "analyzer_capacity", "grace": ""}
	type target struct {
		space, app, owner string
		roles             map[string]string // user → role ("" none)
		typ               string
	}
	var targets []target
	for _, sp := range spaces {
		var got struct {
			ID string `json:"id"`
		}
		if st := d.Call(sp.owner, "POST", "/api/v1/spaces", map[string]any{"name": sp.name, "type": "shared"}, &got); st != 201 {
			t.Fatalf("create %s: %d", sp.name, st)
		}
		roles := map[string]string{sp.owner: "owner"}
		for _, m := range sp.members {
			if st := d.Call(sp.owner, "POST", "/api/v1/spaces/"+got.ID+"/members",
				map[string]any{"type": "user", "id": id(m.user), "roles": []string{m.role}}, nil); st != 201 {
				t.Fatalf("add %s to %s: %d", m.user, sp.name, st)
			}
			roles[m.user] = m.role
		}
		// An app of the space owner, and one of every member (stored
		// directly: analyzers may not create apps).
		for user := range roles {
			a := &store.App{Name: sp.name + " by " + user, SpaceID: got.ID, OwnerID: id(user)}
			if err := s.Apps.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
			targets = append(targets, target{space: sp.name, app: a.ID, owner: user, roles: roles, typ: "shared"})
		}
	}
	managed := map[string]string{"admin": "owner", "alice": "canmanage", "carol": "canpublish", "dave": "cancontribute",
		"erin": "hasrestrictedview", "grace": "canoperate"}
	targets = append(targets, target{space: "Company Reports", app: d.Apps["Company KPIs"].ID, owner: "alice", roles: managed, typ: "managed"})
	for _, app := range []string{"Alice's sandbox", "Bob's notes", "Q2 draft"} {
		a := d.Apps[app]
		owner := ""
		for name, u := range d.Users {
			if u.ID == a.OwnerID {
				owner = name
			}
		}
		targets = append(targets, target{space: "personal", app: a.ID, owner: owner, roles: map[string]string{}, typ: "personal"})
	}

	reloaders := map[string][]string{"shared": {"owner", "admin", "canedit"}, "managed": {"owner", "canmanage", "canoperate"}}
	expect := func(tg target, user string) bool {
		if license[user] != "professional" {
			return false
		}
		if tg.typ == "personal" {
			return user == tg.owner
		}
		return slices.Contains(reloaders[tg.typ], tg.roles[user])
	}

	start := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	allowed := 0
	for _, tg := range targets {
		for _, user := range []string{"alice", "carol", "bob", "dave", "erin", "grace"} {
			want := expect(tg, user)
			if want {
				allowed++
			}
			role := tg.roles[user]
			if role == "" {
				role = "none"
			}
			name := fmt.Sprintf("%s app of %s: %s (%s, %q)", tg.space, tg.owner, user, role, license[user])
			t.Run(name, func(t *testing.T) {
				// A schedule of the app, for editing and deleting.
				sch := &store.Schedule{AppID: tg.app, Interval: "daily", Start: time.Now().Add(time.Hour), Timezone: "UTC", CreatedBy: id(tg.owner)}
				if err := s.Schedules.Create(ctx, sch); err != nil {
					t.Fatal(err)
				}
				calls := []struct {
					what, method, path string
					body               any
					ok                 int
				}{
					{"reload", "POST", "/api/v1/apps/" + tg.app + "/reload", nil, 201},
					{"create a schedule", "POST", "/api/v1/schedules", map[string]any{"appId": tg.app, "interval": "weekly", "start": start}, 201},
					{"edit the schedule", "PATCH", "/api/v1/schedules/" + sch.ID, map[string]any{"interval": "hourly"}, 200},
					{"delete the schedule", "DELETE", "/api/v1/schedules/" + sch.ID, nil, 204},
				}
				for _, c := range calls {
					var e servicetest.Error
					st := d.Call(user, c.method, c.path, c.body, &e)
					switch {
					case want && st != c.ok:
						t.Errorf("%s: %d %+v, want %d", c.what, st, e, c.ok)
					case !want && st != 403 && st != 404:
						// 404: a schedule (or app) the user may not read
						// is not found to them.
						t.Errorf("%s: %d, want 403 or 404", c.what, st)
					}
				}
			})
		}
	}
	if allowed == 0 {
		t.Fatal("no case allows anything: the matrix proves nothing")
	}
}
