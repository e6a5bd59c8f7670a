package apitest_test

import (
	"slices"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

func TestRuleListSearchSortAndPage(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	for _, name := range []string{"Zeta readers", "alpha readers", "Mid writers"} {
		body := map[string]any{"name": name, "resourceFilter": "App_*", "condition": `user.group = "Pilots"`, "actions": []string{"read"}}
		if status := d.Call("admin", "POST", "/api/v1/rules", body, nil); status != 201 {
			t.Fatalf("create %q = %d", name, status)
		}
	}
	type page struct {
		Items  []store.Rule `json:"items"`
		Total  int          `json:"total"`
		Offset int          `json:"offset"`
	}
	names := func(p page) []string {
		var out []string
		for _, r := range p.Items {
			out = append(out, r.Name)
		}
		return out
	}
	tests := []struct {
		query string
		total int
		want  []string
	}{
		{"q=pilots&sort=name", 3, []string{"alpha readers", "Mid writers", "Zeta readers"}},
		{"q=PILOTS+readers&sort=name&order=desc", 2, []string{"Zeta readers", "alpha readers"}},
		{"q=pilots&sort=name&offset=1&limit=1", 3, []string{"Mid writers"}},
		{"q=pilots&offset=3", 3, nil},
		{"q=no+such+words", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var p page
			if status := d.Call("admin", "GET", "/api/v1/rules?"+tt.query, nil, &p); status != 200 {
				t.Fatalf("= %d", status)
			}
			if p.Total != tt.total || !slices.Equal(names(p), tt.want) {
				t.Fatalf("total %d items %q, want %d %q", p.Total, names(p), tt.total, tt.want)
			}
		})
	}

	var all page
	d.Call("admin", "GET", "/api/v1/rules?sort=updatedAt&order=desc&limit=500", nil, &all)
	if all.Total < 3 || all.Total != len(all.Items) || all.Items[0].Name != "Mid writers" {
		t.Fatalf("newest first: total %d, first %q", all.Total, names(all)[:1])
	}

	// A write moves the revision: the next search sees it.
	late := map[string]any{"name": "Late pilots rule", "resourceFilter": "App_*", "condition": `user.group = "Pilots"`, "actions": []string{"read"}}
	if status := d.Call("admin", "POST", "/api/v1/rules", late, nil); status != 201 {
		t.Fatalf("create = %d", status)
	}
	var after page
	d.Call("admin", "GET", "/api/v1/rules?q=pilots", nil, &after)
	if after.Total != 4 {
		t.Fatalf("after a write: total %d, want 4", after.Total)
	}

	for _, q := range []string{"sort=color", "order=up", "offset=-1", "offset=x", "limit=0&sort=name"} {
		var e servicetest.Error
		if status := d.Call("admin", "GET", "/api/v1/rules?"+q, nil, &e); status != 400 || e.Details["field"] == nil {
			t.Errorf("?%s = %d %+v, want 400 naming the field", q, status, e)
		}
	}
	if status := d.Call("alice", "GET", "/api/v1/rules?q=x", nil, nil); status != 403 {
		t.Errorf("alice searches rules: %d, want 403", status)
	}
}

func TestRuleVocabulary(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var v struct {
		ResourceTypes []struct{ Name string } `json:"resourceTypes"`
		Actions       []string                `json:"actions"`
	}
	if status := d.Call("admin", "GET", "/api/v1/rules/vocabulary", nil, &v); status != 200 {
		t.Fatalf("= %d", status)
	}
	if !slices.Contains(v.Actions, "read") || !slices.ContainsFunc(v.ResourceTypes, func(r struct{ Name string }) bool { return r.Name == "app" }) {
		t.Fatalf("vocabulary %+v", v)
	}
	if status := d.Call("alice", "GET", "/api/v1/rules/vocabulary", nil, nil); status != 403 {
		t.Fatalf("alice reads the vocabulary: %d, want 403", status)
	}
}
