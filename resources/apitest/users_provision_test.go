package apitest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type provisioned struct {
	ID          string                `json:"id"`
	Subject     string                `json:"subject"`
	Name        string                `json:"name"`
	Email       string                `json:"email"`
	UserName    string                `json:"userName"`
	Status      string                `json:"status"`
	Provisioned bool                  `json:"provisioned"`
	Groups      []string              `json:"groups"`
	Attributes  map[string][]string   `json:"attributes"`
	License     struct{ Type string } `json:"license"`
}

// TestProvisioning: users made before their first login by the admin
// API, bulk import and attribute PATCHes; the first login binds to them.
func TestProvisioning(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var zoe provisioned
	s := d.Call("admin", "POST", "/api/v1/users", map[string]any{"externalId": idp.DevSubject("zoe"), "email": "zoe@acme.test",
		"name": "Zoe", "groups": []string{"Support", "Sales"}, "attributes": map[string][]string{"department": {"Support"}, "floor": {"3"}},
		"license": "analyzer"}, &zoe)
	if s != 201 || !zoe.Provisioned || zoe.Subject != idp.DevSubject("zoe") || zoe.License.Type != "analyzer" ||
		!slices.Equal(zoe.Groups, []string{"Sales", "Support"}) && !slices.Equal(zoe.Groups, []string{"Support", "Sales"}) {
		t.Fatalf("create: %d %+v", s, zoe)
	}
	var e servicetest.Error
	for _, tt := range []struct {
		caller string
		body   map[string]any
		status int
		code   string
	}{
		{"admin", map[string]any{"externalId": idp.DevSubject("zoe")}, 409, "user_exists"},
		{"admin", map[string]any{"name": "nobody"}, 400, "missing_id"},
		{"admin", map[string]any{"email": "not an email"}, 400, "bad_email"},
		{"admin", map[string]any{"email": "x@acme.test", "license": "gold"}, 400, "bad_license"},
		{"bob", map[string]any{"email": "x@acme.test"}, 403, "forbidden"},
	} {
		if s := d.Call(tt.caller, "POST", "/api/v1/users", tt.body, &e); s != tt.status || e.Code != tt.code {
			t.Fatalf("%v: %d %+v, want %d %s", tt.body, s, e, tt.status, tt.code)
		}
	}

	// PATCH merges attributes: a list replaces one, null removes one.
	var p provisioned
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+zoe.ID, map[string]any{"attributes": map[string]any{"department": []string{"Escalations"}, "floor": nil}}, &p); s != 200 ||
		!slices.Equal(p.Attributes["department"], []string{"Escalations"}) || p.Attributes["floor"] != nil {
		t.Fatalf("patch: %d %+v", s, p)
	}

	// Bulk import: created or updated, per item.
	var imp struct {
		Counts map[string]int `json:"counts"`
		Items  []struct {
			Status, ID string
		} `json:"items"`
	}
	if s := d.Call("admin", "POST", "/api/v1/users/import", map[string]any{"users": []map[string]any{
		{"email": "yann@acme.test", "userName": "yann"},
		{"externalId": idp.DevSubject("zoe"), "email": "zoe@acme.test", "name": "Zoe Z", "attributes": map[string][]string{"department": {"Support"}}},
		{"email": "broken"},
	}}, &imp); s != 200 || imp.Counts["created"] != 1 || imp.Counts["updated"] != 1 || imp.Counts["failed"] != 1 || imp.Items[1].ID != zoe.ID {
		t.Fatalf("import: %d %+v", s, imp)
	}

	// The first logins bind: zoe by her subject, yann (no subject) by email.
	for name, want := range map[string]string{"zoe": zoe.ID, "yann": imp.Items[0].ID} {
		tok, err := idp.FetchDevToken(context.Background(), d.URL(), name, nil, name+"@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		var me provisioned
		if s := d.Call("Bearer "+tok, "GET", "/api/v1/users/me", nil, &me); s != 200 || me.ID != want || me.Subject != idp.DevSubject(name) {
			t.Fatalf("%s's first login: %d %+v, want user %s", name, s, me, want)
		}
	}
	var all usersPage[provisioned]
	d.Call("admin", "GET", "/api/v1/users?q=acme.test&limit=100", nil, &all)
	if len(all.Items) != 2 {
		t.Fatalf("%d users with an acme.test email", len(all.Items))
	}
	// zoe has logged in: her subject is fixed now.
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+zoe.ID, map[string]any{"externalId": "other"}, &e); s != 400 || e.Code != "bound_user" {
		t.Fatalf("changing a bound subject: %d %+v", s, e)
	}
}
