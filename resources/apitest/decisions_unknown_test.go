package apitest_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// TestUnknownEntitiesAreNamedOnce: a decision about a subject or resource
// the store does not hold says which one, once, in both APIs.
func TestUnknownEntitiesAreNamedOnce(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bob := d.Users["bob"].ID
	q4 := d.Apps["Q4 report"].ID
	for _, c := range []struct {
		name, subject, app, want string
	}{
		{"subject", "nobody-known", q4, `subject "nobody-known": not found`},
		{"resource", bob, "no-such-app", `app "no-such-app": not found`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ex := decisionsCall(t, d, "admin", "POST", "/authz/check",
				obj("subject", obj("id", c.subject), "action", "read", "resource", obj("type", "app", "id", c.app)), nil)
			if ex.status != 404 || ex.body["code"] != "unknown_entity" || ex.body["message"] != c.want {
				t.Fatalf("/authz/check: %d %s, want 404 unknown_entity %q", ex.status, ex.raw, c.want)
			}
			ex = decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation",
				obj("subject", obj("type", "user", "id", c.subject), "action", obj("name", "read"), "resource", obj("type", "app", "id", c.app)), nil)
			ctx, _ := ex.body["context"].(map[string]any)
			if ex.status != 200 || ex.body["decision"] != false || ctx["reason"] != "unknown_entity" || ctx["error"] != c.want {
				t.Fatalf("/access/v1/evaluation: %d %s, want a denial naming %q", ex.status, ex.raw, c.want)
			}
		})
	}
}
