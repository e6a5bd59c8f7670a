package apitest_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/analysis"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// salesRule is the example: Sales members read the Q* apps.
var salesRule = map[string]any{
	"name": "Sales reads Q apps", "resourceFilter": "App_*",
	"condition": `user.group = "Sales" and resource.name like "Q*"`, "actions": []string{"read"}, "context": "hub",
}

type access struct {
	UserID       string `json:"userId"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Action       string `json:"action"`
	Environment  string `json:"environment"`
	New          bool   `json:"new"`
	Rules        []struct {
		Kind, ID, Name string
	} `json:"rules"`
}

type impactAnswer struct {
	Gained  []access `json:"gained"`
	Lost    []access `json:"lost"`
	Summary struct {
		Gained, Lost   int
		ByUser         map[string]struct{ Gained, Lost int } `json:"byUser"`
		ByResourceType map[string]struct{ Gained, Lost int } `json:"byResourceType"`
		ChangedRules   []string                              `json:"changedRules"`
	} `json:"summary"`
}

type auditAnswer struct {
	Cells []struct {
		UserID, ResourceType, ResourceID, Action string
		Allow                                    bool
		Grants                                   []struct{ Kind, ID string }
	} `json:"cells"`
	Next     string `json:"next"`
	Revision int64  `json:"revision"`
	Total    int    `json:"total"`
}

// matrix asks the audit of Sales members × apps × read and answers the
// allowed cells as "user/app".
func matrix(t *testing.T, d *servicetest.Tenant, names map[string]string) map[string]bool {
	t.Helper()
	var a auditAnswer
	body := map[string]any{"groups": []string{"Sales"}, "resourceType": "app", "actions": []string{"read"}, "environment": "hub"}
	if s := d.Call("admin", "POST", "/api/v1/audit?limit=1000", body, &a); s != 200 {
		t.Fatalf("audit: %d", s)
	}
	if a.Next != "" || a.Total != len(a.Cells) || a.Total != 3*len(d.Apps) {
		t.Fatalf("audit of 3 Sales members × %d apps: %d cells of %d, next %q", len(d.Apps), len(a.Cells), a.Total, a.Next)
	}
	out := map[string]bool{}
	for _, c := range a.Cells {
		if c.Allow {
			out[names[c.UserID]+"/"+names[c.ResourceID]] = true
		}
	}
	return out
}

func names(d *servicetest.Tenant) map[string]string {
	out := map[string]string{}
	for n, u := range d.Users {
		out[u.ID] = n
	}
	for n, a := range d.Apps {
		out[a.ID] = n
	}
	return out
}

func createSalesRule(t *testing.T, d *servicetest.Tenant) string {
	t.Helper()
	var created struct{ ID string }
	if s := d.Call("admin", "POST", "/api/v1/rules", salesRule, &created); s != 201 {
		t.Fatalf("create the rule: %d", s)
	}
	return created.ID
}

// The "Done when": disabling the rule that lets Sales members read
// the Q* apps loses exactly what only that rule granted, and the audit
// before and after the change agrees with the impact.
func TestImpactOfDisablingTheSalesRuleAgreesWithTheAudit(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	n := names(d)
	id := createSalesRule(t, d)
	before := matrix(t, d, n)

	var imp impactAnswer
	if s := d.Call("admin", "POST", "/api/v1/rules/impact", map[string]any{
		"changes": []map[string]any{{"op": "disable", "id": id}}}, &imp); s != 200 {
		t.Fatalf("impact: %d", s)
	}
	var lost []string
	for _, l := range imp.Lost {
		if l.Action != "read" || l.Environment != "hub" || l.ResourceType != "app" {
			t.Fatalf("lost %+v", l)
		}
		if len(l.Rules) != 1 || l.Rules[0].ID != id || l.Rules[0].Kind != "rule" {
			t.Fatalf("lost %+v does not name the rule as responsible", l)
		}
		lost = append(lost, n[l.UserID]+"/"+n[l.ResourceID])
	}
	slices.Sort(lost)
	// Sales: alice, erin (and frank, who is disabled and never had access).
	// Q4 report lives in the Sales space, which they read anyway; carol's
	// personal Q2 draft only the rule opened to them.
	if want := []string{"alice/Q2 draft", "erin/Q2 draft"}; !slices.Equal(lost, want) {
		t.Fatalf("lost %v, want %v", lost, want)
	}
	if len(imp.Gained) != 0 || imp.Summary.Lost != 2 || imp.Summary.ByResourceType["app"].Lost != 2 ||
		imp.Summary.ByUser[d.Users["alice"].ID].Lost != 1 || !slices.Equal(imp.Summary.ChangedRules, []string{id}) {
		t.Fatalf("summary %+v", imp.Summary)
	}
	// Nothing was applied.
	if after := matrix(t, d, n); !reflect.DeepEqual(after, before) {
		t.Fatalf("the impact changed access: %v → %v", before, after)
	}

	// Apply the change; the audit now differs from before by exactly "lost".
	disabled := maps(salesRule, "disabled", true)
	if s := d.Call("admin", "PUT", "/api/v1/rules/"+id, disabled, nil); s != 200 {
		t.Fatalf("disable: %d", s)
	}
	after := matrix(t, d, n)
	var diff []string
	for k := range before {
		if !after[k] {
			diff = append(diff, k)
		}
	}
	for k := range after {
		if !before[k] {
			t.Fatalf("%s gained access", k)
		}
	}
	slices.Sort(diff)
	if !slices.Equal(diff, lost) {
		t.Fatalf("audit before/after differs by %v, the impact said %v", diff, lost)
	}

	// Enabling it again is the mirror image.
	var back impactAnswer
	d.Call("admin", "POST", "/api/v1/rules/impact", map[string]any{"changes": []map[string]any{{"op": "enable", "id": id}}}, &back)
	if len(back.Gained) != 2 || len(back.Lost) != 0 {
		t.Fatalf("enable: %+v", back)
	}
}

func maps(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range m {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}

func TestImpactOfEveryKindOfChange(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	n := names(d)
	id := createSalesRule(t, d)
	tests := []struct {
		name         string
		changes      []map[string]any
		gained, lost []string
		changedRules int
	}{
		{"delete", []map[string]any{{"op": "delete", "id": id}}, nil, []string{"alice/Q2 draft", "erin/Q2 draft"}, 1},
		{"update to Finance", []map[string]any{{"op": "update", "id": id, "rule": maps(salesRule, "condition", `user.group = "Finance" and resource.name like "Budget*"`)}},
			// dave (analyzer) and erin read Budget 2027 already as Finance (can view) members; carol owns it.
			nil, []string{"alice/Q2 draft", "erin/Q2 draft"}, 1},
		{"add for bob", []map[string]any{{"op": "add", "rule": maps(salesRule, "condition", `user.name = "bob"`)}},
			[]string{"bob/Alice's sandbox", "bob/Budget 2027", "bob/Company KPIs", "bob/Q2 draft"}, nil, 1},
		{"nothing changes", []map[string]any{{"op": "enable", "id": id}}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var imp impactAnswer
			if s := d.Call("admin", "POST", "/api/v1/rules/impact", map[string]any{"changes": tt.changes}, &imp); s != 200 {
				t.Fatalf("impact: %d", s)
			}
			list := func(as []access) []string {
				var out []string
				for _, a := range as {
					out = append(out, n[a.UserID]+"/"+n[a.ResourceID])
				}
				slices.Sort(out)
				return out
			}
			if g := list(imp.Gained); !slices.Equal(g, tt.gained) {
				t.Fatalf("gained %v, want %v", g, tt.gained)
			}
			if l := list(imp.Lost); !slices.Equal(l, tt.lost) {
				t.Fatalf("lost %v, want %v", l, tt.lost)
			}
			if len(imp.Summary.ChangedRules) != tt.changedRules {
				t.Fatalf("changed rules %v", imp.Summary.ChangedRules)
			}
		})
	}
}

type previewAnswer struct {
	Items  []access `json:"items"`
	Counts struct {
		Granted, New, AlreadyGranted, Gated, Users, Resources int
	} `json:"counts"`
	Next string `json:"next"`
}

func TestPreviewMarksNewAndAlreadyGranted(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	n := names(d)
	var all previewAnswer
	if s := d.Call("admin", "POST", "/api/v1/rules/preview", map[string]any{"rule": salesRule}, &all); s != 200 {
		t.Fatalf("preview: %d", s)
	}
	var got []string
	for _, it := range all.Items {
		got = append(got, fmt.Sprintf("%s/%s/%s/%s new=%v", n[it.UserID], n[it.ResourceID], it.Action, it.Environment, it.New))
	}
	slices.Sort(got)
	want := []string{
		"alice/Q2 draft/read/hub new=true", "alice/Q4 report/read/hub new=false",
		"erin/Q2 draft/read/hub new=true", "erin/Q4 report/read/hub new=false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("items %v, want %v", got, want)
	}
	c := all.Counts
	// frank is in Sales but disabled: the rule grants, a gate refuses.
	if c.Granted != 4 || c.New != 2 || c.AlreadyGranted != 2 || c.Gated != 2 || c.Users != 2 || c.Resources != 2 || all.Next != "" {
		t.Fatalf("counts %+v next %q", c, all.Next)
	}
	// The same items one page at a time.
	var paged []access
	cursor := ""
	for range 10 {
		var p previewAnswer
		if s := d.Call("admin", "POST", "/api/v1/rules/preview?limit=1&cursor="+cursor, map[string]any{"rule": salesRule}, &p); s != 200 {
			t.Fatalf("page: %d", s)
		}
		if p.Counts != c {
			t.Fatalf("counts differ on a page: %+v", p.Counts)
		}
		paged = append(paged, p.Items...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(paged, all.Items) {
		t.Fatalf("pages %+v, whole %+v", paged, all.Items)
	}
	// Narrowed to one user and to a filter.
	tests := []struct {
		name  string
		body  map[string]any
		items int
	}{
		{"one user", map[string]any{"rule": salesRule, "users": []string{d.Users["erin"].ID}}, 2},
		{"a group by name", map[string]any{"rule": salesRule, "groups": []string{"Finance"}}, 2}, // erin is in Finance too
		{"a resource filter", map[string]any{"rule": salesRule, "resourceFilter": "App_" + d.Apps["Q2 draft"].ID}, 2},
		{"another resource type", map[string]any{"rule": salesRule, "resourceType": "space"}, 0},
		{"the console", map[string]any{"rule": salesRule, "environment": "console"}, 0},
		{"an action the rule lacks", map[string]any{"rule": salesRule, "actions": []string{"delete"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p previewAnswer
			if s := d.Call("admin", "POST", "/api/v1/rules/preview", tt.body, &p); s != 200 || len(p.Items) != tt.items {
				t.Fatalf("%d, %d items: %+v", s, len(p.Items), p.Items)
			}
		})
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bad := maps(salesRule, "condition", `user.group = "Sales" and`)
	tests := []struct {
		name, path string
		body       any
		field      string
	}{
		{"preview without a rule", "/api/v1/rules/preview", map[string]any{}, "rule"},
		{"preview of a broken rule", "/api/v1/rules/preview", map[string]any{"rule": bad}, "rule.condition"},
		{"preview of an unknown action", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "actions": []string{"read", "fly"}}, "actions[1]"},
		{"preview in a bad environment", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "environment": "moon"}, "environment"},
		{"preview for an unknown user", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "users": []string{"nobody"}}, "users[0]"},
		{"preview for an unknown group", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "groups": []string{"Nobody"}}, "groups[0]"},
		{"preview with a bad filter", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "resourceFilter": "App"}, "resourceFilter"},
		{"preview of an unknown field", "/api/v1/rules/preview", map[string]any{"rule": salesRule, "user": "x"}, "user"},
		{"preview with a bad cursor", "/api/v1/rules/preview?cursor=zzz", map[string]any{"rule": salesRule}, "cursor"},
		{"preview with a bad limit", "/api/v1/rules/preview?limit=0", map[string]any{"rule": salesRule}, "limit"},
		{"impact without changes", "/api/v1/rules/impact", map[string]any{"changes": []any{}}, "changes"},
		{"impact with a bad op", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "rename"}}}, "changes[0].op"},
		{"impact of an unknown rule", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "disable", "id": "nope"}}}, "changes[0].id"},
		{"impact adding a broken rule", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "add", "rule": bad}}}, "changes[0].rule.condition"},
		{"impact of a read-only rule", "/api/v1/rules/impact", map[string]any{"changes": []any{map[string]any{"op": "delete", "id": "default-everyone-reads-extensions-themes"}}}, "changes[0].id"},
		{"audit without actions", "/api/v1/audit", map[string]any{"resourceType": "app"}, "actions"},
		{"audit without resources", "/api/v1/audit", map[string]any{"actions": []string{"read"}}, "resourceType"},
		{"audit of an unknown type", "/api/v1/audit", map[string]any{"resourceType": "license", "actions": []string{"read"}}, "resourceType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if s := d.Call("admin", "POST", tt.path, tt.body, &e); s != 400 || e.Details["field"] != tt.field {
				t.Fatalf("%d %+v, want 400 naming %s", s, e, tt.field)
			}
		})
	}
}

func TestRuleToolsNeedTheRightToReadRules(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	for _, path := range []string{"/api/v1/rules/preview", "/api/v1/rules/impact", "/api/v1/audit"} {
		var e servicetest.Error
		if s := d.Call("alice", "POST", path, map[string]any{}, &e); s != 403 || e.Code != "forbidden" {
			t.Fatalf("%s as alice: %d %+v", path, s, e)
		}
	}
}

func TestAuditAsCSV(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	body := map[string]any{"users": []string{d.Users["alice"].ID, d.Users["bob"].ID}, "resourceType": "app", "actions": []string{"read", "delete"}}
	read := func(query string) ([][]string, string) {
		res := d.Do("admin", "POST", "/api/v1/audit"+query, body, map[string]string{"Accept": "text/csv"})
		defer res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			raw, _ := io.ReadAll(res.Body)
			t.Fatalf("%d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), raw)
		}
		rows, err := csv.NewReader(res.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows, res.Header.Get("X-Next-Cursor")
	}
	rows, next := read("")
	if want := 1 + 2*len(d.Apps)*2; len(rows) != want || next != "" {
		t.Fatalf("%d rows (want %d), next %q", len(rows), want, next)
	}
	if strings.Join(rows[0], ",") != "userId,userName,resourceType,resourceId,resourceName,action,environment,allow,grants,denies" {
		t.Fatalf("header %v", rows[0])
	}
	found := false
	for _, r := range rows[1:] {
		if r[1] == "bob" && r[4] == "Q4 report" && r[5] == "read" {
			found = true
			if r[7] != "true" || !strings.Contains(r[8], "table:") {
				t.Fatalf("bob opens Q4 report as a Can view member: %v", r)
			}
		}
		if r[1] == "bob" && r[4] == "Q4 report" && r[5] == "delete" && r[7] != "false" {
			t.Fatalf("bob deletes Q4 report: %v", r)
		}
	}
	if !found {
		t.Fatal("no row for bob and Q4 report")
	}
	// Smaller exports continue with the cursor and add up to the whole.
	var joined [][]string
	cursor := ""
	for range 20 {
		page, next := read("?limit=5&cursor=" + cursor)
		joined = append(joined, page[1:]...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(joined, rows[1:]) {
		t.Fatalf("paged CSV differs: %d rows vs %d", len(joined), len(rows)-1)
	}
}

// The loader hydrates in bulk exactly as the engine hydrates one by one.
func TestLoaderHydratesLikeTheEngine(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	st := d.Svc.Store
	q4 := d.Apps["Q4 report"]
	for _, o := range []*store.AppObject{
		{AppID: q4.ID, Type: "sheet", Name: "Sheet", OwnerID: d.Users["bob"].ID},
		{AppID: d.Apps["Q2 draft"].ID, Type: "masteritem", Name: "Revenue", OwnerID: d.Users["carol"].ID, Public: true},
	} {
		if err := st.Objects.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Schedules.Create(ctx, &store.Schedule{AppID: q4.ID, Interval: "daily", Start: time.Now(), Timezone: "UTC", CreatedBy: d.Users["alice"].ID}); err != nil {
		t.Fatal(err)
	}
	if err := st.WebIntegrations.Create(ctx, &store.WebIntegration{Name: "portal", Origins: []string{"https://x.example"}}); err != nil {
		t.Fatal(err)
	}
	src := &entities.Source{Store: st}
	l := &analysis.Loader{Store: st, Source: src}
	rs, err := l.Resources(ctx, analysis.StoredTypes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	perType := map[string]int{}
	for _, r := range rs {
		perType[r.Type]++
		want, err := src.Resource(ctx, r.Type, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&r, want) {
			t.Fatalf("%s %s:\nloader %+v\nengine %+v", r.Type, r.ID, r, *want)
		}
	}
	if perType["app"] != len(d.Apps) || perType["space"] != len(d.Spaces) || perType["user"] != len(d.Users) ||
		perType["app.object"] != 2 || perType["schedule"] != 1 || perType["webintegration"] != 1 || perType["group"] != 4 {
		t.Fatalf("loaded %v", perType)
	}
	// Pages of one continue where they stopped.
	var ids []string
	after := ""
	for {
		page, next, err := l.ResourcePage(ctx, "app", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(ids) != len(d.Apps) || !slices.IsSorted(ids) {
		t.Fatalf("paged apps %v", ids)
	}
	if _, _, err := l.ResourcePage(ctx, "license", "", 10); err == nil {
		t.Fatal("a type the store does not keep")
	}
	_ = authz.ErrNotStored
}
