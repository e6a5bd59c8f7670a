package apitest_test

import (
	"slices"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type searchAnswer struct {
	Page struct {
		NextToken *string `json:"next_token"`
	} `json:"page"`
	Results []struct {
		Type, ID, Name string
	} `json:"results"`
}

// allowed asks the evaluation endpoint, the reference for every search.
func allowed(t *testing.T, d *servicetest.Tenant, subject, action, typ, id string) bool {
	t.Helper()
	var ans struct{ Decision bool }
	body := map[string]any{"subject": map[string]any{"type": "user", "id": subject}, "action": map[string]any{"name": action},
		"resource": map[string]any{"type": typ, "id": id}}
	if s := d.Call("admin", "POST", "/access/v1/evaluation", body, &ans); s != 200 {
		t.Fatalf("evaluation: %d", s)
	}
	return ans.Decision
}

// search walks every page and answers the ids (or action names).
func search(t *testing.T, d *servicetest.Tenant, caller, kind string, body map[string]any, limit int) []string {
	t.Helper()
	var out []string
	token := ""
	for range 50 {
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		page := map[string]any{"limit": limit}
		if token != "" {
			page["token"] = token
		}
		b["page"] = page
		var ans searchAnswer
		if s := d.Call(caller, "POST", "/access/v1/search/"+kind, b, &ans); s != 200 {
			t.Fatalf("search %s: %d", kind, s)
		}
		if ans.Page.NextToken == nil {
			t.Fatal("page.next_token is missing")
		}
		if len(ans.Results) > limit {
			t.Fatalf("%d results on a page of %d", len(ans.Results), limit)
		}
		for _, r := range ans.Results {
			if kind == "action" {
				out = append(out, r.Name)
			} else {
				out = append(out, r.ID)
			}
		}
		if token = *ans.Page.NextToken; token == "" {
			return out
		}
		if len(ans.Results) != limit {
			t.Fatalf("a page with a next token holds %d of %d", len(ans.Results), limit)
		}
	}
	t.Fatal("the pages never end")
	return nil
}

func TestResourceSearchAgreesWithEvaluations(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ids := map[string][]string{}
	for _, a := range d.Apps {
		ids["app"] = append(ids["app"], a.ID)
	}
	for _, sp := range d.Spaces {
		ids["space"] = append(ids["space"], sp.ID)
	}
	for _, typ := range []string{"app", "space"} {
		for _, user := range []string{"alice", "bob", "carol", "erin", "grace", "admin"} {
			for _, action := range []string{"read", "update", "delete", "export"} {
				var want []string
				for _, id := range ids[typ] {
					if allowed(t, d, d.Users[user].ID, action, typ, id) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				body := map[string]any{"subject": map[string]any{"type": "user", "id": d.Users[user].ID},
					"action": map[string]any{"name": action}, "resource": map[string]any{"type": typ}}
				for _, limit := range []int{1, 2, 50} {
					got := search(t, d, "admin", "resource", body, limit)
					if !slices.Equal(got, want) {
						t.Fatalf("%s %s %s, pages of %d: %v, want %v", user, action, typ, limit, got, want)
					}
				}
				// A caller asks about itself without any role.
				if got := search(t, d, user, "resource", body, 3); user != "grace" && !slices.Equal(got, want) {
					t.Fatalf("%s about themselves: %v", user, got)
				}
			}
		}
	}
	// alice reads some apps and not others: the test can tell.
	if n := len(search(t, d, "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": d.Users["alice"].ID},
		"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "app"}}, 50)); n == 0 || n == len(d.Apps) {
		t.Fatalf("alice reads %d of %d apps", n, len(d.Apps))
	}
}

func TestSubjectSearchAgreesWithEvaluations(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	app := d.Apps["Q4 report"]
	for _, action := range []string{"read", "update"} {
		// Subject search answers users by their IdP subject, in rulekeeper id order.
		var wantIDs []string
		for _, u := range d.Users {
			if allowed(t, d, u.ID, action, "app", app.ID) {
				wantIDs = append(wantIDs, u.ID)
			}
		}
		slices.Sort(wantIDs)
		want := []string{}
		for _, id := range wantIDs {
			for _, u := range d.Users {
				if u.ID == id {
					want = append(want, u.Subject)
				}
			}
		}
		body := map[string]any{"subject": map[string]any{"type": "user"}, "action": map[string]any{"name": action},
			"resource": map[string]any{"type": "app", "id": app.ID}}
		if got := search(t, d, "admin", "subject", body, 2); !slices.Equal(got, want) || len(want) == 0 || len(want) == len(d.Users) {
			t.Fatalf("%s: %v, want %v", action, got, want)
		}
		// Without a role, a caller only ever finds itself.
		if got := search(t, d, "bob", "subject", body, 10); len(got) > 1 || len(got) == 1 && got[0] != d.Users["bob"].Subject {
			t.Fatalf("bob's subject search: %v", got)
		}
	}
}

func TestActionSearchAgreesWithEvaluations(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct{ user, app string }{{"bob", "Q4 report"}, {"alice", "Q4 report"}, {"carol", "Budget 2027"}}
	for _, tt := range tests {
		body := map[string]any{"subject": map[string]any{"type": "user", "id": d.Users[tt.user].ID},
			"resource": map[string]any{"type": "app", "id": d.Apps[tt.app].ID}}
		got := search(t, d, "admin", "action", body, 4)
		if !slices.IsSorted(got) || len(got) == 0 {
			t.Fatalf("%s on %s: %v", tt.user, tt.app, got)
		}
		for _, a := range []string{"read", "update", "delete", "export", "duplicate", "reload", "change_owner"} {
			if slices.Contains(got, a) != allowed(t, d, d.Users[tt.user].ID, a, "app", d.Apps[tt.app].ID) {
				t.Fatalf("%s on %s: %q listed=%v", tt.user, tt.app, a, slices.Contains(got, a))
			}
		}
	}
}

func TestSearchRefusesBadInputAndOtherSubjects(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bob := d.Users["bob"].ID
	app := d.Apps["Q4 report"].ID
	tests := []struct {
		name, caller, kind string
		body               map[string]any
		status             int
		field              string
	}{
		{"about another subject", "alice", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "app"}}, 403, "subject.id"},
		{"actions of another subject", "alice", "action", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"resource": map[string]any{"type": "app", "id": app}}, 403, "subject.id"},
		{"no action", "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"resource": map[string]any{"type": "app"}}, 400, "action.name"},
		{"unknown action", "admin", "subject", map[string]any{"subject": map[string]any{"type": "user"},
			"action": map[string]any{"name": "fly"}, "resource": map[string]any{"type": "app", "id": app}}, 400, "action.name"},
		{"no subject", "admin", "resource", map[string]any{"action": map[string]any{"name": "read"},
			"resource": map[string]any{"type": "app"}}, 400, "subject"},
		{"unknown type", "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "spaceship"}}, 400, "resource.type"},
		{"unstored type", "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "license"}}, 400, "resource.type"},
		{"bad token", "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "app"}, "page": map[string]any{"token": "!!"}}, 400, "page.token"},
		{"bad limit", "admin", "resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "app"}, "page": map[string]any{"limit": -1}}, 400, "page.limit"},
		{"robot subjects", "admin", "subject", map[string]any{"subject": map[string]any{"type": "robot"},
			"action": map[string]any{"name": "read"}, "resource": map[string]any{"type": "app", "id": app}}, 400, "subject.type"},
		{"bad environment", "admin", "action", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
			"resource": map[string]any{"type": "app", "id": app}, "context": map[string]any{"environment": "moon"}}, 400, "context.environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if s := d.Call(tt.caller, "POST", "/access/v1/search/"+tt.kind, tt.body, &e); s != tt.status || e.Details["field"] != tt.field {
				t.Fatalf("%d %+v, want %d naming %s", s, e, tt.status, tt.field)
			}
		})
	}
}

func TestMetadataNamesTheSearchEndpoints(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var md map[string]string
	if s := d.Call("", "GET", "/.well-known/authzen-configuration", nil, &md); s != 200 {
		t.Fatalf("metadata: %d", s)
	}
	for k, path := range map[string]string{"search_subject_endpoint": "/access/v1/search/subject",
		"search_resource_endpoint": "/access/v1/search/resource", "search_action_endpoint": "/access/v1/search/action"} {
		if md[k] != d.URL()+path {
			t.Fatalf("%s = %q", k, md[k])
		}
	}
	res := d.Do("admin", "POST", "/access/v1/search/action", map[string]any{"subject": map[string]any{"type": "user", "id": d.Users["bob"].ID},
		"resource": map[string]any{"type": "app", "id": d.Apps["Q4 report"].ID}}, map[string]string{"X-Request-ID": "req-42"})
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Request-ID") != "req-42" {
		t.Fatalf("%d, X-Request-ID %q", res.StatusCode, res.Header.Get("X-Request-ID"))
	}
}
