package apitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

type space struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Description string         `json:"description"`
	OwnerID     string         `json:"ownerId"`
	Members     []store.Member `json:"members"`
	CreatedAt   time.Time      `json:"createdAt"`
	Version     int64          `json:"version"`
}

type spacesList[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

type me struct {
	Spaces map[string][]string `json:"spaces"`
}

func rolesOf(t *testing.T, d *servicetest.Tenant, user, spaceID string) []string {
	t.Helper()
	var m me
	call(t, d, user, "GET", "/api/v1/users/me", nil, 200, &m)
	r := m.Spaces[spaceID]
	sort.Strings(r)
	return r
}

func TestCreateSpace(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	long := strings.Repeat("x", 2001)
	tests := []struct {
		name   string
		user   string
		body   any
		status int
		code   string // error code
		detail string // details.reason or details.field
	}{
		{"professional creates a shared space", "alice", map[string]any{"name": "Marketing hub", "type": "shared", "description": "for campaigns"}, 201, "", ""},
		{"tenant admin creates a managed space", "admin", map[string]any{"name": "Board", "type": "managed"}, 201, "", ""},
		{"analyzer may not create a shared space", "bob", map[string]any{"name": "Bob's", "type": "shared"}, 403, "forbidden", "analyzer_license"},
		{"analyzer capacity may not either", "erin", map[string]any{"name": "Erin's", "type": "shared"}, 403, "forbidden", "analyzer_license"},
		// grace has no license in the demo tenant, or analyzer capacity once
		// dynamic assignment gives her one at login.
		{"unlicensed user may not", "grace", map[string]any{"name": "Grace's", "type": "shared"}, 403, "forbidden", "no_license|analyzer_license"},
		{"only tenant admins create managed spaces", "alice", map[string]any{"name": "Governed", "type": "managed"}, 403, "forbidden", "no_grant"},
		{"names are unique whatever the case", "carol", map[string]any{"name": "sales", "type": "shared"}, 409, "space_name_taken", "name"},
		{"names are trimmed before the check", "carol", map[string]any{"name": "  MARKETING HUB ", "type": "shared"}, 409, "space_name_taken", "name"},
		{"a managed space may not take a shared space's name", "admin", map[string]any{"name": "FINANCE", "type": "managed"}, 409, "space_name_taken", "name"},
		{"missing name", "alice", map[string]any{"type": "shared"}, 400, "bad_name", "name"},
		{"blank name", "alice", map[string]any{"name": "   ", "type": "shared"}, 400, "bad_name", "name"},
		{"missing type", "alice", map[string]any{"name": "No type"}, 400, "bad_type", "type"},
		{"personal spaces are not created", "alice", map[string]any{"name": "Mine", "type": "personal"}, 400, "bad_type", "type"},
		{"unknown type", "alice", map[string]any{"name": "Odd", "type": "public"}, 400, "bad_type", "type"},
		{"unknown field", "alice", map[string]any{"name": "X", "type": "shared", "owner": "bob"}, 400, "unknown_field", "owner"},
		{"wrong type of name", "alice", `{"name": 5, "type": "shared"}`, 400, "wrong_type", "name"},
		{"description too long", "alice", map[string]any{"name": "Long", "type": "shared", "description": long}, 400, "bad_description", "description"},
		{"malformed JSON", "alice", `{"name": "x",`, 400, "malformed_json", "body"},
		{"empty body", "alice", "", 400, "empty_body", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp space
			e := call(t, d, tt.user, "POST", "/api/v1/spaces", tt.body, tt.status, &sp)
			if tt.status == 201 {
				body := tt.body.(map[string]any)
				if sp.ID == "" || sp.Name != body["name"] || sp.Type != body["type"] || sp.OwnerID != d.Users[tt.user].ID || len(sp.Members) != 0 {
					t.Fatalf("created %+v", sp)
				}
				// The creator owns it at once.
				if r := rolesOf(t, d, tt.user, sp.ID); fmt.Sprint(r) != "[owner]" {
					t.Fatalf("creator's roles in the new space: %v", r)
				}
				return
			}
			if e.Code != tt.code || (!oneOf(e.Details["reason"], tt.detail) && e.Details["field"] != tt.detail) {
				t.Fatalf("got %+v, want %s / %s", e, tt.code, tt.detail)
			}
		})
	}
	events, err := d.Svc.Store.Events.All(context.Background(), "space.created")
	if err != nil || len(events) != 2 || events[0].Source != "com.rulekeeper/spaces" {
		t.Fatalf("space.created events: %+v, %v", events, err)
	}
}

// oneOf reports whether v is one of the |-separated strings of alts.
func oneOf(v any, alts string) bool {
	s, ok := v.(string)
	return ok && slices.Contains(strings.Split(alts, "|"), s)
}

func spacesNames(spaces []space) []string {
	out := []string{}
	for _, s := range spaces {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

func TestListSpacesShowsOnlyReadableSpaces(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		user, query string
		want        string
	}{
		{"alice", "", "[Company Reports Finance Sales]"}, // owner, member, member through a group
		{"bob", "", "[Sales]"},                           // Can view in Sales only
		{"dave", "", "[Company Reports Finance Sales]"},  // member everywhere, Finance through a group
		{"erin", "", "[Company Reports Finance Sales]"},  // analyzer capacity, through groups
		{"admin", "", "[Company Reports Finance Sales]"}, // tenant admin: the console lists them all
		{"admin", "?type=shared", "[Finance Sales]"},
		{"admin", "?type=managed", "[Company Reports]"},
		{"bob", "?type=managed", "[]"},
		{"alice", "?type=personal", "[Personal]"},
		{"alice", "?limit=1", "[Sales]"}, // the first page, in creation order
	}
	for _, tt := range tests {
		t.Run(tt.user+tt.query, func(t *testing.T) {
			var got spacesList[space]
			call(t, d, tt.user, "GET", "/api/v1/spaces"+tt.query, nil, 200, &got)
			if (got.Next != "") != (tt.query == "?limit=1") {
				t.Fatalf("next %q", got.Next)
			}
			// The demo tenant may hold more spaces; these are the seeded ones.
			var known []space
			for _, sp := range got.Items {
				if tt.query != "?type=personal" && slices.Contains([]string{"Sales", "Finance", "Company Reports"}, sp.Name) {
					known = append(known, sp)
				} else if tt.query == "?type=personal" {
					known = append(known, sp)
				}
				if strings.HasPrefix(tt.query, "?type=") && sp.Type != strings.TrimPrefix(tt.query, "?type=") {
					t.Fatalf("%s is %s", sp.Name, sp.Type)
				}
			}
			if fmt.Sprint(spacesNames(known)) != tt.want {
				t.Fatalf("got %v, want %s", spacesNames(known), tt.want)
			}
			if tt.query == "?type=personal" && (got.Items[0].ID != "" || got.Items[0].OwnerID != d.Users[tt.user].ID) {
				t.Fatalf("personal space: %+v", got.Items[0])
			}
		})
	}
	for _, q := range []string{"?type=public", "?limit=0", "?limit=x", "?cursor=garbage"} {
		t.Run("bad "+q, func(t *testing.T) {
			e := call(t, d, "alice", "GET", "/api/v1/spaces"+q, nil, 400, nil)
			if e.Details["field"] == nil {
				t.Fatalf("no field in %+v", e)
			}
		})
	}
}

func TestGetSpace(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	sales, finance := d.Spaces["Sales"].ID, d.Spaces["Finance"].ID
	tests := []struct {
		user, id string
		status   int
		reason   string
	}{
		{"bob", sales, 200, ""},
		{"alice", finance, 200, ""},
		{"admin", finance, 200, ""}, // console
		// A space the caller may not read is not found (ids cannot be probed).
		{"bob", finance, 404, ""},
		{"grace", sales, 404, ""},
		{"alice", "nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.id, func(t *testing.T) {
			var sp space
			e := call(t, d, tt.user, "GET", "/api/v1/spaces/"+tt.id, nil, tt.status, &sp)
			if tt.status == 200 && sp.ID != tt.id {
				t.Fatalf("got %+v", sp)
			}
			if tt.status == 403 && (!oneOf(e.Details["reason"], tt.reason) || e.Message == "") {
				t.Fatalf("refusal %+v, want reason %s", e, tt.reason)
			}
		})
	}
}

func TestRenameSpace(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	sales := "/api/v1/spaces/" + d.Spaces["Sales"].ID
	tests := []struct {
		name   string
		user   string
		body   any
		status int
		code   string
		want   string // name after
	}{
		{"Is admin renames", "carol", map[string]any{"name": "Sales EMEA"}, 200, "", "Sales EMEA"},
		{"owner changes the description", "alice", map[string]any{"description": "EMEA sales"}, 200, "", "Sales EMEA"},
		{"same name in another case", "alice", map[string]any{"name": "SALES emea"}, 200, "", "SALES emea"},
		{"tenant admin renames in the console", "admin", map[string]any{"name": "Sales"}, 200, "", "Sales"},
		{"Can edit may not rename", "dave", map[string]any{"name": "Dave's"}, 403, "forbidden", ""},
		{"Can view may not rename", "bob", map[string]any{"name": "Bob's"}, 403, "forbidden", ""},
		{"non-member may not rename: not found", "grace", map[string]any{"name": "Grace's"}, 404, "not_found", ""},
		{"taken name", "alice", map[string]any{"name": "finance"}, 409, "space_name_taken", ""},
		{"nothing to change", "alice", map[string]any{}, 400, "nothing_to_change", ""},
		{"blank name", "alice", map[string]any{"name": ""}, 400, "bad_name", ""},
		{"unknown field", "alice", map[string]any{"type": "managed"}, 400, "unknown_field", ""},
		{"wrong type", "alice", `{"description": ["a"]}`, 400, "wrong_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp space
			e := call(t, d, tt.user, "PATCH", sales, tt.body, tt.status, &sp)
			if tt.status != 200 {
				if e.Code != tt.code {
					t.Fatalf("got %+v, want %s", e, tt.code)
				}
				return
			}
			if sp.Name != tt.want {
				t.Fatalf("name %q, want %q", sp.Name, tt.want)
			}
		})
	}
	var sp space
	call(t, d, "alice", "GET", sales, nil, 200, &sp)
	if sp.Description != "EMEA sales" || sp.Name != "Sales" {
		t.Fatalf("after the renames: %+v", sp)
	}
	if call(t, d, "alice", "PATCH", "/api/v1/spaces/nope", map[string]any{"name": "x"}, 404, nil).Code != "not_found" {
		t.Fatal("unknown space")
	}
}

func TestChangeOwnerIsForTenantAdmins(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	sales := d.Spaces["Sales"].ID
	path := "/api/v1/spaces/" + sales + "/owner"
	carol := d.Users["carol"].ID
	tests := []struct {
		name   string
		user   string
		body   any
		status int
		code   string
	}{
		{"the owner may not give the space away in the hub", "alice", map[string]any{"userId": carol}, 403, "forbidden"},
		{"Is admin may not either", "carol", map[string]any{"userId": carol}, 403, "forbidden"},
		{"unknown user", "admin", map[string]any{"userId": "nobody"}, 400, "unknown_user"},
		{"missing user", "admin", map[string]any{}, 400, "missing_user"},
		{"unknown field", "admin", map[string]any{"userId": carol, "force": true}, 400, "unknown_field"},
		{"tenant admin changes the owner", "admin", map[string]any{"userId": carol}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp space
			e := call(t, d, tt.user, "POST", path, tt.body, tt.status, &sp)
			if tt.status != 200 {
				if e.Code != tt.code {
					t.Fatalf("got %+v, want %s", e, tt.code)
				}
				return
			}
			if sp.OwnerID != carol {
				t.Fatalf("owner %q, want carol", sp.OwnerID)
			}
		})
	}
	// The policy sees the change at once: carol owns, alice keeps only her
	// group's Can edit.
	if r := rolesOf(t, d, "carol", sales); fmt.Sprint(r) != "[admin owner]" {
		t.Fatalf("carol's roles: %v", r)
	}
	if r := rolesOf(t, d, "alice", sales); fmt.Sprint(r) != "[canedit]" {
		t.Fatalf("alice's roles: %v", r)
	}
	call(t, d, "alice", "DELETE", "/api/v1/spaces/"+sales, nil, 403, nil)
	ev, err := d.Svc.Store.Events.All(context.Background(), "space.owner.changed")
	if err != nil || len(ev) != 1 || ev[0].Data["previousOwnerId"] != d.Users["alice"].ID {
		t.Fatalf("events: %+v, %v", ev, err)
	}
}

type member struct {
	Type  string   `json:"type"`
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func TestMembers(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	sales, reports := d.Spaces["Sales"].ID, d.Spaces["Company Reports"].ID
	members := func(id string) string { return "/api/v1/spaces/" + id + "/members" }
	u := func(name string) string { return d.Users[name].ID }

	var got spacesList[member]
	call(t, d, "bob", "GET", members(sales), nil, 200, &got)
	if len(got.Items) != 4 || got.Items[0].Name != "carol" || got.Items[2].Name != "Sales" || got.Items[2].Type != "group" {
		t.Fatalf("members of Sales: %+v", got.Items)
	}
	call(t, d, "bob", "GET", members(d.Spaces["Finance"].ID), nil, 404, nil)

	marketing := ""
	for _, m := range []string{"Marketing"} {
		g, err := d.Svc.Store.Groups.ByName(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		marketing = g.ID
	}
	tests := []struct {
		name    string
		user    string
		method  string
		path    string
		body    any
		status  int
		code    string
		field   string
		subject string   // whose roles to check afterwards
		roles   []string // their roles in the space afterwards
	}{
		{"owner adds a user", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("erin"), "roles": []string{"canedit"}}, 201, "", "", "erin", []string{"canedit"}},
		{"Is admin adds a group", "carol", "POST", members(sales), map[string]any{"type": "group", "id": marketing, "roles": []string{"canview"}}, 201, "", "", "grace", []string{"canview"}},
		{"a group grants its users", "bob", "GET", members(sales), nil, 200, "", "", "bob", []string{"canview"}},
		{"Can edit may not add", "dave", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canview"}}, 403, "forbidden", "", "admin", nil},
		{"Can view may not add", "bob", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canview"}}, 403, "forbidden", "", "", nil},
		{"a managed role in a shared space", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canmanage"}}, 400, "unknown_role", "roles[0]", "", nil},
		{"an unknown role", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canview", "god"}}, 400, "unknown_role", "roles[1]", "", nil},
		{"owner is not a member role", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"owner"}}, 400, "unknown_role", "roles[0]", "", nil},
		{"no roles", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{}}, 400, "missing_roles", "roles", "", nil},
		{"roles missing", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin")}, 400, "missing_roles", "roles", "", nil},
		{"roles of the wrong type", "alice", "POST", members(sales), `{"type": "user", "id": "x", "roles": "canview"}`, 400, "wrong_type", "roles", "", nil},
		{"unknown user", "alice", "POST", members(sales), map[string]any{"type": "user", "id": "nobody", "roles": []string{"canview"}}, 400, "unknown_member", "id", "", nil},
		{"a group id given as a user", "alice", "POST", members(sales), map[string]any{"type": "user", "id": marketing, "roles": []string{"canview"}}, 400, "unknown_member", "id", "", nil},
		{"bad member type", "alice", "POST", members(sales), map[string]any{"type": "robot", "id": u("admin"), "roles": []string{"canview"}}, 400, "bad_member_type", "type", "", nil},
		{"missing id", "alice", "POST", members(sales), map[string]any{"type": "user", "roles": []string{"canview"}}, 400, "missing_member", "id", "", nil},
		{"unknown field", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canview"}, "expires": "never"}, 400, "unknown_field", "expires", "", nil},
		{"already a member", "alice", "POST", members(sales), map[string]any{"type": "user", "id": u("bob"), "roles": []string{"canedit"}}, 409, "member_exists", "id", "bob", []string{"canview"}},
		{"unknown space", "alice", "POST", members("nope"), map[string]any{"type": "user", "id": u("admin"), "roles": []string{"canview"}}, 404, "not_found", "", "", nil},
		{"managed roles in a managed space", "admin", "POST", members(reports), map[string]any{"type": "user", "id": u("bob"), "roles": []string{"hasrestrictedview", "canoperate"}}, 201, "", "", "bob", []string{"canoperate", "hasrestrictedview"}},
		{"Can manage adds to a managed space", "alice", "POST", members(reports), map[string]any{"type": "group", "id": marketing, "roles": []string{"canview"}}, 201, "", "", "", nil},
		{"a shared role in a managed space", "admin", "POST", members(reports), map[string]any{"type": "user", "id": u("frank"), "roles": []string{"admin"}}, 400, "unknown_role", "roles[0]", "", nil},
		{"Can publish may not add to a managed space", "carol", "POST", members(reports), map[string]any{"type": "user", "id": u("frank"), "roles": []string{"canview"}}, 403, "forbidden", "", "", nil},
		{"owner changes a role", "alice", "PATCH", members(sales) + "/" + u("bob"), map[string]any{"roles": []string{"canedit", "canedit"}}, 200, "", "", "bob", []string{"canedit", "canview"}}, // canview through Marketing
		{"Is admin changes a role", "carol", "PATCH", members(sales) + "/" + u("dave"), map[string]any{"roles": []string{"canview"}}, 200, "", "", "dave", []string{"canview"}},
		{"Can edit may not change roles", "erin", "PATCH", members(sales) + "/" + u("bob"), map[string]any{"roles": []string{"admin"}}, 403, "forbidden", "", "bob", []string{"canedit", "canview"}},
		{"change to a bad role", "alice", "PATCH", members(sales) + "/" + u("bob"), map[string]any{"roles": []string{"canpublish"}}, 400, "unknown_role", "roles[0]", "", nil},
		{"change without roles", "alice", "PATCH", members(sales) + "/" + u("bob"), map[string]any{}, 400, "missing_roles", "roles", "", nil},
		{"change an unknown member", "alice", "PATCH", members(sales) + "/" + u("admin"), map[string]any{"roles": []string{"canview"}}, 404, "member_not_found", "", "", nil},
		{"Can view may not remove", "grace", "DELETE", members(sales) + "/" + u("bob"), nil, 403, "forbidden", "", "bob", []string{"canedit", "canview"}},
		{"owner removes a member", "alice", "DELETE", members(sales) + "/" + u("bob"), nil, 204, "", "", "bob", []string{"canview"}}, // still in through Marketing
		{"remove a group", "carol", "DELETE", members(sales) + "/" + marketing, nil, 204, "", "", "bob", nil},
		{"remove again", "alice", "DELETE", members(sales) + "/" + u("bob"), nil, 404, "member_not_found", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := call(t, d, tt.user, tt.method, tt.path, tt.body, tt.status, nil)
			if tt.status >= 400 && (e.Code != tt.code || (tt.field != "" && e.Details["field"] != tt.field)) {
				t.Fatalf("got %+v, want %s field %s", e, tt.code, tt.field)
			}
			if tt.subject == "" {
				return
			}
			id := sales
			if strings.Contains(tt.path, reports) {
				id = reports
			}
			// Membership changes reach the policy at once (no stale subject).
			if r := rolesOf(t, d, tt.subject, id); fmt.Sprint(r) != fmt.Sprint(tt.roles) && !(len(r) == 0 && len(tt.roles) == 0) {
				t.Fatalf("%s's roles: %v, want %v", tt.subject, r, tt.roles)
			}
		})
	}
	call(t, d, "bob", "GET", "/api/v1/spaces/"+sales, nil, 404, nil) // removed: the space is not found to him
	for typ, n := range map[string]int{"space.member.added": 4, "space.member.updated": 2, "space.member.removed": 2} {
		ev, err := d.Svc.Store.Events.All(context.Background(), typ)
		if err != nil || len(ev) != n {
			t.Fatalf("%s events: %d, %v", typ, len(ev), err)
		}
	}
}

// Two members editing one space's members at once lose no change: every
// write is a compare-and-swap on the space's version, retried on conflict.
func TestConcurrentMemberEditsLoseNothing(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	sales := d.Spaces["Sales"].ID
	path := "/api/v1/spaces/" + sales + "/members"
	var extra []string
	for i := range 12 {
		u := &store.User{Subject: fmt.Sprintf("extra-%d", i), Name: fmt.Sprintf("extra%d", i)}
		if err := d.Svc.Store.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, u.ID)
	}
	editors := []string{"alice", "carol"} // owner and Is admin
	for _, e := range editors {
		d.Token(e) // mint tokens before the goroutines share the tenant
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(extra)*2)
	for w, editor := range editors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(extra); i += len(editors) {
				var out json.RawMessage
				if s := d.Call(editor, "POST", path, map[string]any{"type": "user", "id": extra[i], "roles": []string{"canview"}}, &out); s != 201 {
					errs <- fmt.Sprintf("%s adds %d: %d %s", editor, i, s, out)
				}
			}
			// Then both change roles of existing members at once.
			for i := w; i < len(extra); i += len(editors) {
				var out json.RawMessage
				if s := d.Call(editor, "PATCH", path+"/"+extra[i], map[string]any{"roles": []string{"canedit"}}, &out); s != 200 {
					errs <- fmt.Sprintf("%s changes %d: %d %s", editor, i, s, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	sp, err := d.Svc.Store.Spaces.Get(ctx, sales)
	if err != nil {
		t.Fatal(err)
	}
	if before := len(d.Spaces["Sales"].Members); len(sp.Members) != before+len(extra) || len(sp.MemberIDs) != len(sp.Members) {
		t.Fatalf("%d members, want %d more: %+v", len(sp.Members), len(extra), sp.Members)
	}
	for _, id := range extra {
		i := slices.IndexFunc(sp.Members, func(m store.Member) bool { return m.ID == id })
		if i < 0 || fmt.Sprint(sp.Members[i].Roles) != "[canedit]" {
			t.Fatalf("member %s lost or unchanged: %+v", id, sp.Members)
		}
	}
	if want := d.Spaces["Sales"].Version + int64(2*len(extra)); sp.Version != want {
		t.Fatalf("version %d, want %d (one per write)", sp.Version, want)
	}
}

func TestDeleteSpaceDeletesItsApps(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	sales := d.Spaces["Sales"].ID
	q4, pipeline := d.Apps["Q4 report"].ID, d.Apps["Pipeline"].ID
	obj := &store.AppObject{AppID: q4, Type: "sheet", Name: "Overview", OwnerID: d.Users["alice"].ID}
	if err := d.Svc.Store.Objects.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"dave", "bob", "erin"} {
		if e := call(t, d, user, "DELETE", "/api/v1/spaces/"+sales, nil, 403, nil); e.Details["reason"] == nil {
			t.Fatalf("%s's refusal explains nothing: %+v", user, e)
		}
	}
	// grace (no license) may not read Sales: not found.
	for _, user := range []string{"grace"} {
		if e := call(t, d, user, "DELETE", "/api/v1/spaces/"+sales, nil, 404, nil); e.Code != "not_found" {
			t.Fatalf("%s: %+v", user, e)
		}
	}
	call(t, d, "carol", "DELETE", "/api/v1/spaces/"+sales, nil, 204, nil) // Is admin
	call(t, d, "carol", "DELETE", "/api/v1/spaces/"+sales, nil, 404, nil)
	call(t, d, "alice", "GET", "/api/v1/spaces/"+sales, nil, 404, nil)
	for _, id := range []string{q4, pipeline} {
		if _, err := d.Svc.Store.Apps.Get(ctx, id); err == nil {
			t.Fatalf("app %s survived its space", id)
		}
	}
	if _, err := d.Svc.Store.Objects.Get(ctx, obj.ID); err == nil {
		t.Fatal("the app's sheet survived its space")
	}
	if _, err := d.Svc.Store.Apps.Get(ctx, d.Apps["Budget 2027"].ID); err != nil {
		t.Fatalf("an app of another space went too: %v", err)
	}
	if r := rolesOf(t, d, "alice", sales); len(r) != 0 {
		t.Fatalf("alice keeps roles in a deleted space: %v", r)
	}
	ev, err := d.Svc.Store.Events.All(ctx, "space.deleted")
	if err != nil || len(ev) != 1 || ev[0].Data["appsDeleted"] != int64(2) {
		t.Fatalf("events: %+v, %v", ev, err)
	}
	// A tenant admin deletes any space from the console.
	call(t, d, "admin", "DELETE", "/api/v1/spaces/"+d.Spaces["Finance"].ID, nil, 204, nil)
}

func TestOverviewIsForTenantAdmins(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	type overview struct {
		Shared          int64      `json:"shared"`
		Managed         int64      `json:"managed"`
		LatestCreatedAt *time.Time `json:"latestCreatedAt"`
	}
	var want overview
	for _, sp := range d.Spaces {
		switch sp.Type {
		case "shared":
			want.Shared++
		case "managed":
			want.Managed++
		}
		if want.LatestCreatedAt == nil || sp.CreatedAt.After(*want.LatestCreatedAt) {
			want.LatestCreatedAt = &sp.CreatedAt
		}
	}
	var o overview
	call(t, d, "admin", "GET", "/api/v1/spaces/overview", nil, 200, &o)
	if o.Shared != want.Shared || o.Managed != want.Managed || want.Shared == 0 || want.Managed == 0 ||
		o.LatestCreatedAt == nil || !o.LatestCreatedAt.Equal(*want.LatestCreatedAt) {
		t.Fatalf("overview %+v, want %+v", o, want)
	}
	var sp space
	call(t, d, "alice", "POST", "/api/v1/spaces", map[string]any{"name": "Newest", "type": "shared"}, 201, &sp)
	call(t, d, "admin", "GET", "/api/v1/spaces/overview", nil, 200, &o)
	// The database keeps milliseconds.
	if o.Shared != want.Shared+1 || o.Managed != want.Managed || !o.LatestCreatedAt.Equal(sp.CreatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("overview after a new space %+v, created %v", o, sp.CreatedAt)
	}
	for _, user := range []string{"alice", "bob", "grace"} {
		if e := call(t, d, user, "GET", "/api/v1/spaces/overview", nil, 403, nil); e.Code != "forbidden" {
			t.Fatalf("%s: %+v", user, e)
		}
	}
}

// The license key's shared-spaces quota refuses one shared space too many;
// managed spaces do not count.
func TestSharedSpacesQuota(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	_, priv := licenses.DevKeyPair()
	terms := licenses.DevTerms(time.Now())
	terms.SharedSpaces = 1 // one more than the demo tenant's shared spaces
	for _, sp := range d.Spaces {
		if sp.Type == "shared" {
			terms.SharedSpaces++
		}
	}
	key, err := licenses.Sign(priv, terms)
	if err != nil {
		t.Fatal(err)
	}
	call(t, d, "admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": key}, 200, nil)
	call(t, d, "alice", "POST", "/api/v1/spaces", map[string]any{"name": "Third", "type": "shared"}, 201, nil)
	e := call(t, d, "alice", "POST", "/api/v1/spaces", map[string]any{"name": "Fourth", "type": "shared"}, 409, nil)
	if e.Code != "shared_space_quota_reached" {
		t.Fatalf("got %+v", e)
	}
	call(t, d, "admin", "POST", "/api/v1/spaces", map[string]any{"name": "Governed", "type": "managed"}, 201, nil)
}
