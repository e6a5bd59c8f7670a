package analysis_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// The answers name the users and resources they mention, even those the
// caller could not read one by one (carol's personal app).
func TestAnswersNameTheirUsersAndResources(t *testing.T) {
	d := servicetest.Dev(t)
	alice, draft := d.Users["alice"].ID, d.Apps["Q2 draft"].ID
	rule := map[string]any{"name": "Alice reads drafts", "resourceFilter": "App_*",
		"condition": `user.name = "alice" and resource.name like "*draft*"`, "actions": []string{"read"}}
	type named struct {
		Names struct {
			Users     map[string]string `json:"users"`
			Resources map[string]string `json:"resources"`
		} `json:"names"`
	}
	tests := []struct {
		name, path string
		body       any
	}{
		{"preview", "/api/v1/rules/preview", map[string]any{"rule": rule, "users": []string{alice}}},
		{"impact", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "add", "rule": rule}}, "users": []string{alice}}},
		{"audit", "/api/v1/audit", map[string]any{"users": []string{alice}, "resourceType": "app", "actions": []string{"read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out named
			if status := d.Call("admin", "POST", tt.path, tt.body, &out); status != 200 {
				t.Fatalf("= %d", status)
			}
			if out.Names.Users[alice] != "alice" || out.Names.Resources["app/"+draft] != "Q2 draft" {
				t.Fatalf("names %+v", out.Names)
			}
		})
	}
}
