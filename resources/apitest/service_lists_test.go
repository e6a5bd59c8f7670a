package apitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// nulls lists the paths of the null values in v (a decoded JSON value),
// except those of the fields named in nullable (values that are absent,
// such as a disabled schedule's nextRun).
func nulls(v any, path string, nullable []string) []string {
	var out []string
	switch x := v.(type) {
	case nil:
		field := path[strings.LastIndex(path, ".")+1:]
		if !slices.Contains(nullable, field) {
			out = append(out, path)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, nulls(e, path+"."+k, nullable)...)
		}
	case []any:
		for i, e := range x {
			out = append(out, nulls(e, fmt.Sprintf("%s[%d]", path, i), nullable)...)
		}
	}
	return out
}

// TestListsAnswerArrays: every list endpoint answers its items as a JSON
// array — [] when there is nothing to list or nothing the caller may read,
// never null — and no list inside an item is null either. Each list is
// asked by callers who see nothing (grace has no license, bob an analyzer
// license), some and everything (admin), so that empty answers are met;
// every GET route of the API is either listed here or named as a single
// resource, so a new list endpoint cannot be left out.
func TestListsAnswerArrays(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	// An app with no reloads and no objects, in a new shared space of alice.
	var sp, app struct {
		ID string `json:"id"`
	}
	if s := d.Call("alice", "POST", "/api/v1/spaces", map[string]any{"name": "Lists", "type": "shared"}, &sp); s != 201 {
		t.Fatalf("create space: %d", s)
	}
	if s := d.Call("alice", "POST", "/api/v1/apps", map[string]any{"name": "Empty", "spaceId": sp.ID}, &app); s != 201 {
		t.Fatalf("create app: %d", s)
	}
	// A schedule, disabled: its nextRun is absent (null).
	if s := d.Call("alice", "POST", "/api/v1/schedules", map[string]any{"appId": d.Apps["Q4 report"].ID, "interval": "daily",
		"start": "2026-01-01T02:30:00Z", "enabled": false}, nil); s != 201 {
		t.Fatalf("create schedule: %d", s)
	}

	// GET lists: path (":id" is replaced by the ids below), and the fields
	// an item may leave null.
	lists := []listCase{
		{"/api/v1/users", []string{"", "?q=nobody-by-that-name"}, nil, false},
		{"/api/v1/groups", []string{"", "?q=nobody-by-that-name"}, nil, false},
		{"/api/v1/api-keys", []string{""}, []string{"expiresAt", "lastUsedAt", "revokedAt"}, false},
		{"/api/v1/licenses/assignments", []string{""}, nil, true},
		{"/api/v1/events", []string{"", "?type=no.such.event"}, nil, false},
		{"/api/v1/spaces", []string{"", "?type=managed", "?type=personal"}, nil, false},
		{"/api/v1/spaces/:id/members", []string{""}, nil, false},
		{"/api/v1/apps", []string{"", "?ownerId=nobody", "?spaceId="}, nil, false},
		{"/api/v1/apps/:id/reloads", []string{""}, nil, false},
		{"/api/v1/apps/:id/objects", []string{""}, nil, false},
		{"/api/v1/schedules", []string{"", "?appId=nope"}, []string{"nextRun", "lastRun"}, false},
		{"/api/v1/extensions", []string{""}, nil, false},
		{"/api/v1/themes", []string{""}, nil, false},
		{"/api/v1/rules", []string{"", "?q=nobody-by-that-name"}, nil, false},
		{"/api/v1/rules/templates", []string{""}, nil, true},
		{"/api/v1/web-integrations", []string{""}, nil, false},
		{"/api/v1/types", []string{"", "?builtin=false"}, nil, true},
		{"/api/v1/resources/:type", []string{"", "?action=view"}, nil, false},
	}
	// GET routes that answer one resource, not a list.
	single := []string{
		"/api/v1/users/me", "/api/v1/users/:id", "/api/v1/groups/:id", "/api/v1/api-keys/:id",
		"/api/v1/licenses/overview", "/api/v1/spaces/overview", "/api/v1/spaces/:id", "/api/v1/apps/:id",
		"/api/v1/apps/:id/objects/:objectId", "/api/v1/schedules/:id", "/api/v1/extensions/:id", "/api/v1/themes/:id",
		"/api/v1/extensions/:id/files/*", "/api/v1/themes/:id/files/*", "/api/v1/rules/:id", "/api/v1/rules/vocabulary", "/api/v1/rules/schema",
		"/api/v1/rules/export", "/api/v1/settings",
		"/api/v1/web-integrations/:id", "/api/v1/types/:name", "/api/v1/resources/:type/:id",
	}
	// GET lists checked elsewhere: the decision log answers 404 unless
	// --decision-log=mongo (resources/decisionlog checks its empty list).
	single = append(single, "/api/v1/decisions")
	listed := map[string]bool{}
	for _, l := range lists {
		listed[l.route] = true
	}
	for _, r := range d.Svc.Routes() {
		if method, path := r[0], r[1]; method == "GET" && strings.HasPrefix(path, "/api/v1/") && !listed[path] && !slices.Contains(single, path) {
			t.Errorf("GET %s is neither a list checked here nor a single resource: add it to one of them", path)
		}
	}

	// An external type without stored resources.
	if s := d.Call("admin", "POST", "/api/v1/types", map[string]any{"name": "ticket", "actions": []any{map[string]any{"name": "view"}}}, nil); s != 201 {
		t.Fatalf("create type: %d", s)
	}
	ids := map[string]string{"/api/v1/spaces/:id/members": sp.ID, "/api/v1/apps/:id/reloads": app.ID, "/api/v1/apps/:id/objects": app.ID,
		"/api/v1/resources/:type": "ticket"}
	checkGets(t, d, ids, lists)
	// Again with the app catalog that serve keeps when it owns the embedded
	// database (lists of apps are then answered from memory).
	if err := d.Svc.Store.EnableAppCatalog(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkGets(t, d, ids, lists)
	// The analysis lists: a rule that selects nothing previews no item,
	// an impact that changes nothing gains and loses nothing, and an audit
	// of nothing answers no cell.
	nothing := map[string]any{"name": "nothing", "resourceFilter": "App_*", "condition": `user.name = "nobody-by-that-name"`,
		"actions": []string{"read"}, "context": "hub"}
	var rule struct {
		ID string `json:"id"`
	}
	if s := d.Call("admin", "POST", "/api/v1/rules", nothing, &rule); s != 201 {
		t.Fatalf("create rule: %d", s)
	}
	posts := []struct {
		path string
		body any
		keys []string
	}{
		{"/api/v1/rules/preview", map[string]any{"rule": nothing}, []string{"items"}},
		{"/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "disable", "id": rule.ID}}}, []string{"gained", "lost"}},
		{"/api/v1/audit", map[string]any{"users": []string{d.Users["grace"].ID}, "resourceType": "extension", "resourceFilter": "Extension_nope", "actions": []string{"read"}}, []string{"cells"}},
	}
	for _, p := range posts {
		res := d.Do("admin", "POST", p.path, p.body, nil)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("POST %s: %d %s", p.path, res.StatusCode, raw)
			continue
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		for _, k := range p.keys {
			if got := string(bytes.TrimSpace(body[k])); got != "[]" {
				t.Errorf("POST %s: %s is %s, want []", p.path, k, orMissing([]byte(got)))
			}
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		if ns := nulls(v, "", nil); len(ns) > 0 {
			t.Errorf("POST %s: null at %v", p.path, ns)
		}
	}
}

func orMissing(b []byte) string {
	if len(b) == 0 {
		return "missing"
	}
	return string(b)
}

type listCase struct {
	route    string
	queries  []string
	nullable []string
	// never empty in the demo tenant (the license's assignments and
	// the shipped templates)
	neverEmpty bool
}

// checkGets asks every list as callers who see nothing, some and
// everything.
func checkGets(t *testing.T, d *servicetest.Tenant, ids map[string]string, lists []listCase) {
	t.Helper()
	for _, l := range lists {
		empty, answered := 0, 0
		for _, q := range l.queries {
			for _, user := range []string{"grace", "bob", "carol", "admin", "alice"} {
				path := strings.NewReplacer(":id", ids[l.route], ":type", ids[l.route]).Replace(l.route) + q
				res := d.Do(user, "GET", path, nil, nil)
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					continue // refused, an error body
				}
				answered++
				var body map[string]json.RawMessage
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("GET %s as %s: %v: %s", path, user, err, raw)
				}
				items := bytes.TrimSpace(body["items"])
				if len(items) == 0 || items[0] != '[' {
					t.Errorf("GET %s as %s: items is %s, not an array", path, user, orMissing(items))
					continue
				}
				if string(items) == "[]" {
					empty++
				}
				var v any
				_ = json.Unmarshal(raw, &v)
				if ns := nulls(v, "", l.nullable); len(ns) > 0 {
					t.Errorf("GET %s as %s: null at %v", path, user, ns)
				}
			}
		}
		if answered == 0 {
			t.Errorf("GET %s answered nobody", l.route)
		}
		if empty == 0 && !l.neverEmpty {
			t.Errorf("GET %s never answered an empty list: the check of [] was not exercised", l.route)
		}
	}
}
