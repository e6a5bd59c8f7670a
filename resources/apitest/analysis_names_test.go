package apitest_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// Every item of an answer names its user and resource beside their ids,
// even those the caller could not read one by one (carol's personal app).
func TestAnswersNameTheirUsersAndResources(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	alice, draft := d.Users["alice"].ID, d.Apps["Q2 draft"].ID
	rule := map[string]any{"name": "Alice reads drafts", "resourceFilter": "App_*",
		"condition": `user.name = "alice" and resource.name like "*draft*"`, "actions": []string{"read"}}
	type item struct {
		UserID       string `json:"userId"`
		UserName     string `json:"userName"`
		ResourceID   string `json:"resourceId"`
		ResourceName string `json:"resourceName"`
	}
	type answer struct {
		Items  []item `json:"items"`
		Gained []item `json:"gained"`
		Cells  []item `json:"cells"`
	}
	tests := []struct {
		name, path string
		body       any
		items      func(answer) []item
	}{
		{"preview", "/api/v1/rules/preview", map[string]any{"rule": rule, "users": []string{alice}}, func(a answer) []item { return a.Items }},
		{"impact", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "add", "rule": rule}}, "users": []string{alice}}, func(a answer) []item { return a.Gained }},
		{"audit", "/api/v1/audit", map[string]any{"users": []string{alice}, "resourceType": "app", "actions": []string{"read"}}, func(a answer) []item { return a.Cells }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out answer
			if status := d.Call("admin", "POST", tt.path, tt.body, &out); status != 200 {
				t.Fatalf("= %d", status)
			}
			found := false
			for _, it := range tt.items(out) {
				if it.UserID == alice && it.UserName != "alice" {
					t.Errorf("user %s named %q", it.UserID, it.UserName)
				}
				if it.ResourceID == draft {
					found = true
					if it.ResourceName != "Q2 draft" {
						t.Errorf("resource %s named %q", draft, it.ResourceName)
					}
				}
			}
			if !found {
				t.Fatalf("no item for Q2 draft in %+v", out)
			}
		})
	}
}
