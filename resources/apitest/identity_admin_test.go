package apitest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

func TestTenantAdminProtections(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	admin, alice, bob := d.Users["admin"].ID, d.Users["alice"].ID, d.Users["bob"].ID
	type step struct {
		name   string
		as     string
		userID string
		body   string
		status int
		code   string
	}
	steps := []step{
		{"a non-admin changes roles: bob is not found", "alice", bob, `{"roles":["Developer"]}`, 404, "not_found"},
		{"unknown role", "admin", bob, `{"roles":["Wizard"]}`, 400, "unknown_role"},
		{"bad status", "admin", bob, `{"status":"sleeping"}`, 400, "bad_status"},
		{"admin drops own admin role", "admin", admin, `{"roles":["Developer"]}`, 409, "cannot_remove_own_admin"},
		{"the last admin cannot be disabled", "admin", admin, `{"status":"disabled"}`, 409, "last_tenant_admin"},
		{"admin makes alice an admin", "admin", alice, `{"roles":["TenantAdmin","Developer"]}`, 200, ""},
		{"alice removes admin's admin role", "alice", admin, `{"roles":["Developer"]}`, 200, ""},
		{"admin is not an admin any more: bob is not found", "admin", bob, `{"status":"disabled"}`, 404, "not_found"},
		{"alice cannot drop her own role", "alice", alice, `{"roles":[]}`, 409, "cannot_remove_own_admin"},
		{"alice disables bob", "alice", bob, `{"status":"disabled"}`, 200, ""},
	}
	for _, s := range steps {
		var e servicetest.Error
		got := d.Call(s.as, "PATCH", "/api/v1/users/"+s.userID, s.body, &e)
		if got != s.status || (s.code != "" && e.Code != s.code) {
			t.Fatalf("%s: %d %+v, want %d %s", s.name, got, e, s.status, s.code)
		}
	}
	var e servicetest.Error
	if got := d.Call("bob", "GET", "/api/v1/users/me", nil, &e); got != 403 || e.Code != "user_disabled" {
		t.Fatalf("disabled bob: %d %+v", got, e)
	}
	u, err := d.Svc.Store.Users.Get(context.Background(), bob)
	if err != nil || u.Status != store.UserDisabled {
		t.Fatalf("bob: %+v %v", u, err)
	}
}

// TestTokenCallerFollowsAnotherReplica: a token's user is read again on
// every request (from the replica's user index, not the store), so a user
// disabled, or a role taken away, on another replica is refused here
// within the staleness bound, although this replica's session for the
// token (verified once, kept until the token expires) stays.
func TestTokenCallerFollowsAnotherReplica(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	replica := d.ReplicaWith(func(c *service.Config) {
		c.IssuerURL, c.ClientID = d.URL()+"/dev/oidc", service.DevClientID
	})
	// GET /api/v1/users/me on the replica: the caller as authenticated.
	me := func(user string) (int, servicetest.Error, []string) {
		t.Helper()
		req, err := http.NewRequest("GET", replica.URL()+"/api/v1/users/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+d.Token(user))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			servicetest.Error
			Roles []string `json:"roles"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Error, body.Roles
	}
	admin := func(user string) bool {
		s, e, roles := me(user)
		if s != 200 {
			t.Fatalf("%s on the replica: %d %+v", user, s, e)
		}
		return slices.Contains(roles, "TenantAdmin")
	}
	// Within the bound (and a margin for a loaded machine).
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(store.DefaultStaleness + 5*time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen by the other replica", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	bob := d.Users["bob"].ID
	// Sessions on the replica: bob's and alice's tokens verified there.
	if admin("bob") || admin("alice") {
		t.Fatal("bob or alice is TenantAdmin before the test")
	}
	// Made an admin on the first replica, alice is one on the other...
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+d.Users["alice"].ID, `{"roles":["TenantAdmin","Developer"]}`, nil); s != 200 {
		t.Fatalf("make alice an admin: %d", s)
	}
	eventually("alice made TenantAdmin", func() bool { return admin("alice") })
	// ...and bob, disabled on the first replica, is refused on the other.
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+bob, `{"status":"disabled"}`, nil); s != 200 {
		t.Fatalf("disable bob: %d", s)
	}
	eventually("bob disabled", func() bool {
		s, e, _ := me("bob")
		return s == 403 && e.Code == "user_disabled"
	})
	// The role taken away again is gone there too.
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+d.Users["alice"].ID, `{"roles":["Developer"]}`, nil); s != 200 {
		t.Fatalf("take alice's role: %d", s)
	}
	eventually("alice's TenantAdmin taken away", func() bool { return !admin("alice") })
}
