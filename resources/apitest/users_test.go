package apitest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type user struct {
	ID      string              `json:"id"`
	Name    string              `json:"name"`
	Status  string              `json:"status"`
	Roles   []string            `json:"roles"`
	Groups  []string            `json:"groups"`
	License map[string]any      `json:"license"`
	Spaces  map[string][]string `json:"spaces"`
}

type usersPage[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

func usersNames(us []user) string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	return strings.Join(out, ",")
}

// TestProfile: /users/me is the caller with what the policy knows of them.
func TestProfile(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var me user
	if s := d.Call("carol", "GET", "/api/v1/users/me", nil, &me); s != 200 {
		t.Fatalf("%d", s)
	}
	if me.Name != "carol" || me.License["type"] != "professional" || fmt.Sprint(me.Groups) != "[Finance]" ||
		fmt.Sprint(me.Spaces[d.Spaces["Sales"].ID]) != "[admin]" || fmt.Sprint(me.Spaces[d.Spaces["Finance"].ID]) != "[owner canview]" {
		t.Fatalf("carol's profile: %+v", me)
	}
	var grace user
	d.Call("grace", "GET", "/api/v1/users/me", nil, &grace)
	if grace.Groups == nil || grace.Spaces == nil {
		t.Fatalf("empty groups or spaces are null: %+v", grace)
	}
}

// TestListAndGetUsers: tenant admins list, filter and page users in the
// console; other users see only themselves.
func TestListAndGetUsers(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name, as, query string
		status          int
		want            string // names, in the store's order; "" for none
	}{
		{"everybody", "admin", "", 200, "admin,alice,bob,carol,dave,erin,frank,grace"},
		{"by name", "admin", "?q=car", 200, "carol"},
		{"disabled", "admin", "?status=disabled", 200, "frank"},
		{"tenant admins", "admin", "?role=TenantAdmin", 200, "admin"},
		{"nobody", "admin", "?q=zzz", 200, ""},
		{"a user sees only themselves", "bob", "", 200, "bob"},
		{"bad status", "admin", "?status=asleep", 400, ""},
		{"bad limit", "admin", "?limit=0", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p usersPage[user]
			var e servicetest.Error
			s := d.Call(tt.as, "GET", "/api/v1/users"+tt.query, nil, &p)
			if s != tt.status {
				d.Call(tt.as, "GET", "/api/v1/users"+tt.query, nil, &e)
				t.Fatalf("%d %+v, want %d", s, e, tt.status)
			}
			if s == 200 && usersNames(p.Items) != tt.want {
				t.Fatalf("got %s, want %s", usersNames(p.Items), tt.want)
			}
		})
	}
	// Pages of three cover everybody once.
	var all []user
	cursor := ""
	for range 10 {
		var p usersPage[user]
		d.Call("admin", "GET", "/api/v1/users?limit=3&cursor="+cursor, nil, &p)
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		if len(p.Items) != 3 {
			t.Fatalf("a page with a next page holds %d users", len(p.Items))
		}
		cursor = p.Next
	}
	if usersNames(all) != "admin,alice,bob,carol,dave,erin,frank,grace" {
		t.Fatalf("pages: %s", usersNames(all))
	}
	bob := d.Users["bob"].ID
	var got user
	if s := d.Call("admin", "GET", "/api/v1/users/"+bob, nil, &got); s != 200 || got.Name != "bob" || got.License["type"] != "analyzer" {
		t.Fatalf("admin gets bob: %d %+v", s, got)
	}
	if s := d.Call("carol", "GET", "/api/v1/users/"+bob, nil, nil); s != 404 {
		t.Fatalf("carol gets bob: %d, want the 404 of an unknown user", s)
	}
	if s := d.Call("admin", "GET", "/api/v1/users/nobody", nil, nil); s != 404 {
		t.Fatalf("unknown user: %d", s)
	}
}

// TestPatchUsers: status and roles by tenant admins, validated field by
// field; a disabled user is locked out and enabled again; every change is
// an event.
func TestPatchUsers(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bob, carol := d.Users["bob"].ID, d.Users["carol"].ID
	tests := []struct {
		name, as, id string
		body         any
		status       int
		field        string
	}{
		{"bad status", "admin", bob, map[string]any{"status": "asleep"}, 400, "status"},
		{"unknown role", "admin", bob, map[string]any{"roles": []string{"Developer", "Wizard"}}, 400, "roles[1]"},
		{"unknown field", "admin", bob, map[string]any{"nickname": "robert"}, 400, "nickname"},
		{"not an admin: not found", "carol", bob, map[string]any{"status": "disabled"}, 404, ""},
		{"unknown user", "admin", "nobody", map[string]any{"status": "disabled"}, 404, ""},
		{"roles, deduplicated", "admin", carol, map[string]any{"roles": []string{"Developer", "Developer"}}, 200, ""},
		{"disable", "admin", bob, map[string]any{"status": "disabled"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if s := d.Call(tt.as, "PATCH", "/api/v1/users/"+tt.id, tt.body, &e); s != tt.status || (tt.field != "" && e.Details["field"] != tt.field) {
				t.Fatalf("%d %+v, want %d naming %q", s, e, tt.status, tt.field)
			}
		})
	}
	var c user
	d.Call("admin", "GET", "/api/v1/users/"+carol, nil, &c)
	if fmt.Sprint(c.Roles) != "[Developer]" {
		t.Fatalf("carol's roles: %v", c.Roles)
	}
	if s := d.Call("bob", "GET", "/api/v1/apps", nil, nil); s != 403 && s != 401 {
		t.Fatalf("a disabled user still works: %d", s)
	}
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+bob, map[string]any{"status": "active"}, nil); s != 200 {
		t.Fatalf("enable: %d", s)
	}
	if s := d.Call("bob", "GET", "/api/v1/apps", nil, nil); s != 200 {
		t.Fatalf("an enabled user is still refused: %d", s)
	}
	var ev usersPage[struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}]
	d.Call("admin", "GET", "/api/v1/events?source=com.rulekeeper/users", nil, &ev)
	got := map[string]int{}
	for _, e := range ev.Items {
		got[e.Type]++
	}
	if got["user.updated"] != 2 || got["user.roles.changed"] != 1 {
		t.Fatalf("events: %v", got)
	}
}

// TestGroups: tenant admins create (unique names), read and delete groups.
func TestGroups(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	type group struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Source string `json:"source"`
	}
	var g group
	if s := d.Call("admin", "POST", "/api/v1/groups", map[string]any{"name": "Auditors"}, &g); s != 201 || g.Source != "manual" || g.ID == "" {
		t.Fatalf("create: %d %+v", s, g)
	}
	tests := []struct {
		name, as string
		body     any
		status   int
		code     string
	}{
		{"same name", "admin", map[string]any{"name": "Auditors"}, 409, "group_exists"},
		{"empty name", "admin", map[string]any{"name": ""}, 400, "bad_name"},
		{"too long", "admin", map[string]any{"name": strings.Repeat("g", 201)}, 400, "bad_name"},
		{"not an admin", "alice", map[string]any{"name": "Mine"}, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if s := d.Call(tt.as, "POST", "/api/v1/groups", tt.body, &e); s != tt.status || e.Code != tt.code {
				t.Fatalf("%d %+v, want %d %s", s, e, tt.status, tt.code)
			}
		})
	}
	var p usersPage[group]
	d.Call("admin", "GET", "/api/v1/groups", nil, &p)
	found := false
	for _, x := range p.Items {
		found = found || x.ID == g.ID
	}
	if !found || len(p.Items) != 5 {
		t.Fatalf("groups: %+v", p.Items)
	}
	var got group
	if s := d.Call("admin", "GET", "/api/v1/groups/"+g.ID, nil, &got); s != 200 || got.Name != "Auditors" {
		t.Fatalf("get: %d %+v", s, got)
	}
	if s := d.Call("alice", "DELETE", "/api/v1/groups/"+g.ID, nil, nil); s != 404 {
		t.Fatalf("alice deletes: %d", s)
	}
	if s := d.Call("admin", "DELETE", "/api/v1/groups/"+g.ID, nil, nil); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if s := d.Call("admin", "GET", "/api/v1/groups/"+g.ID, nil, nil); s != 404 {
		t.Fatalf("deleted group: %d", s)
	}
}
