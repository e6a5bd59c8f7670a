package apitest_test

import (
	"context"
	"testing"

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
