package apitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// ticketType is the ticketing service's type of the scenario.
func ticketType() map[string]any {
	return map[string]any{
		"name": "ticket", "description": "A support ticket",
		"actions": []map[string]any{
			{"name": "view", "description": "Read the ticket"}, {"name": "edit"}, {"name": "close"}, {"name": "delete"},
		},
		"attributes": []map[string]any{
			{"name": "department", "kind": "string", "description": "The department handling it"},
			{"name": "status", "kind": "string"}, {"name": "priority", "kind": "number"}, {"name": "tags", "kind": "list"},
		},
	}
}

type item struct {
	Name         string `json:"name"`
	Builtin      bool   `json:"builtin"`
	LicenseGates bool   `json:"licenseGates"`
	Version      int64  `json:"version"`
	Actions      []struct {
		Name string `json:"name"`
	} `json:"actions"`
}

func with(base map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range base {
		out[key] = val
	}
	out[k] = v
	return out
}

func TestTypesAPI(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	if s := d.Call("admin", "POST", "/api/v1/types", ticketType(), nil); s != 201 {
		t.Fatalf("create ticket: %d", s)
	}
	// Table: bad writes answer 4xx naming the field.
	for _, tc := range []struct {
		name, user, method, path string
		body                     any
		headers                  map[string]string
		status                   int
		code, field              string
	}{
		{"duplicate name", "admin", "POST", "/api/v1/types", ticketType(), nil, 409, "type_exists", "name"},
		{"bad name", "admin", "POST", "/api/v1/types", with(ticketType(), "name", "Ticket_X"), nil, 400, "bad_name", "name"},
		{"built-in name", "admin", "POST", "/api/v1/types", with(ticketType(), "name", "app"), nil, 400, "builtin_type", "name"},
		{"QMC alias of a built-in", "admin", "POST", "/api/v1/types", with(ticketType(), "name", "stream"), nil, 400, "builtin_type", "name"},
		{"no actions", "admin", "POST", "/api/v1/types", with(ticketType(), "name", "doc"), nil, 0, "", ""},
		{"duplicate action", "admin", "POST", "/api/v1/types", with(with(ticketType(), "name", "doc"), "actions",
			[]map[string]any{{"name": "view"}, {"name": "view"}}), nil, 400, "duplicate_action", "actions[1].name"},
		{"bad kind", "admin", "POST", "/api/v1/types", with(with(ticketType(), "name", "doc"), "attributes",
			[]map[string]any{{"name": "size", "kind": "integer"}}), nil, 400, "bad_kind", "attributes[0].kind"},
		{"reserved attribute", "admin", "POST", "/api/v1/types", with(with(ticketType(), "name", "doc"), "attributes",
			[]map[string]any{{"name": "owner"}}), nil, 400, "reserved_attribute", "attributes[0].name"},
		{"unknown field", "admin", "POST", "/api/v1/types", with(ticketType(), "colour", "red"), nil, 400, "", ""},
		{"not an admin", "bob", "POST", "/api/v1/types", with(ticketType(), "name", "doc"), nil, 404, "not_found", ""}, // the guard hides what bob may not read
		{"stale If-Match", "admin", "PUT", "/api/v1/types/ticket", ticketType(), map[string]string{"If-Match": `"7"`}, 412, "stale_version", "If-Match"},
		{"bad If-Match", "admin", "PUT", "/api/v1/types/ticket", ticketType(), map[string]string{"If-Match": "x"}, 400, "bad_if_match", "If-Match"},
		{"rename", "admin", "PUT", "/api/v1/types/ticket", with(ticketType(), "name", "case"), nil, 400, "name_mismatch", "name"},
		{"built-in is read-only", "admin", "PUT", "/api/v1/types/app", ticketType(), nil, 409, "builtin_type", "name"},
		{"delete a built-in", "admin", "DELETE", "/api/v1/types/space", nil, nil, 409, "builtin_type", "name"},
		{"unknown type", "admin", "GET", "/api/v1/types/nothing", nil, nil, 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 0 {
				b := with(ticketType(), "name", "doc")
				b["actions"] = []any{}
				tc.body, tc.status, tc.code, tc.field = b, 400, "missing_actions", "actions"
			}
			res := d.Do(tc.user, tc.method, tc.path, tc.body, tc.headers)
			defer res.Body.Close()
			var e servicetest.Error
			decode(t, res.Body, &e)
			if res.StatusCode != tc.status || (tc.code != "" && e.Code != tc.code) || (tc.field != "" && e.Details["field"] != tc.field) {
				t.Fatalf("%d %+v; want %d %s at %s", res.StatusCode, e, tc.status, tc.code, tc.field)
			}
			if e.Message == "" {
				t.Fatalf("no message: %+v", e)
			}
		})
	}
	// Listed with the built-in types (read-only, gated), and on its own.
	var list struct{ Items []item }
	if s := d.Call("admin", "GET", "/api/v1/types", nil, &list); s != 200 {
		t.Fatalf("list: %d", s)
	}
	byName := map[string]item{}
	for _, it := range list.Items {
		byName[it.Name] = it
	}
	if app := byName["app"]; !app.Builtin || !app.LicenseGates || len(app.Actions) < 10 {
		t.Fatalf("app: %+v", app)
	}
	if tk := byName["ticket"]; tk.Builtin || tk.LicenseGates || len(tk.Actions) != 4 || tk.Version != 1 {
		t.Fatalf("ticket: %+v", tk)
	}
	// Replace with If-Match: the version moves; the ETag says so.
	upd := with(ticketType(), "licenseGates", true)
	res := d.Do("admin", "PUT", "/api/v1/types/ticket", upd, map[string]string{"If-Match": `"1"`})
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("replace: %d %q", res.StatusCode, res.Header.Get("ETag"))
	}
	var got item
	if s := d.Call("bob", "GET", "/api/v1/types/ticket", nil, &got); s != 403 && s != 404 {
		t.Fatalf("bob reads the registry: %d", s)
	}
	if s := d.Call("admin", "GET", "/api/v1/types/ticket", nil, &got); s != 200 || !got.LicenseGates || got.Version != 2 {
		t.Fatalf("get: %d %+v", s, got)
	}
	// A rule uses the type: dropping its action, or the type, is refused.
	rule := map[string]any{"name": "close tickets", "resourceFilter": "Ticket_*", "condition": "", "actions": []string{"close"}, "context": "both"}
	if s := d.Call("admin", "POST", "/api/v1/rules", rule, nil); s != 201 {
		t.Fatalf("rule on ticket: %d", s)
	}
	var e servicetest.Error
	noClose := with(ticketType(), "actions", []map[string]any{{"name": "view"}})
	if s := d.Call("admin", "PUT", "/api/v1/types/ticket", noClose, &e); s != 409 || e.Code != "type_in_use" || !strings.Contains(e.Message, "close") {
		t.Fatalf("dropping a used action: %d %+v", s, e)
	}
	if s := d.Call("admin", "DELETE", "/api/v1/types/ticket", nil, &e); s != 409 || e.Code != "type_in_use" {
		t.Fatalf("deleting a used type: %d %+v", s, e)
	}
	// Events record every write.
	var evs struct{ Items []struct{ Type string } }
	if s := d.Call("admin", "GET", "/api/v1/events?source=com.rulekeeper/types", nil, &evs); s != 200 {
		t.Fatalf("events: %d", s)
	}
	var types []string
	for _, ev := range evs.Items {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, "type.created") || !slices.Contains(types, "type.updated") {
		t.Fatalf("events: %v", types)
	}
	// An unused type is deleted.
	if s := d.Call("admin", "POST", "/api/v1/types", with(ticketType(), "name", "invoice"), nil); s != 201 {
		t.Fatalf("create invoice: %d", s)
	}
	if s := d.Call("admin", "DELETE", "/api/v1/types/invoice", nil, nil); s != 204 {
		t.Fatalf("delete invoice: %d", s)
	}
	if s := d.Call("admin", "GET", "/api/v1/types/invoice", nil, nil); s != 404 {
		t.Fatalf("deleted invoice: %d", s)
	}
}

type decision struct {
	Allow  bool `json:"allow"`
	Grants []struct {
		Kind, ID, Name string
	} `json:"grants"`
	Denies []struct{ Reason string } `json:"denies"`
}

// TestTicketScenario is the ticketing service of issue 14: its own type,
// rules on it, resources inline and stored, on two replicas.
func TestTicketScenario(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	replica := d.Replica()
	bob, alice := d.Users["bob"].ID, d.Users["alice"].ID

	// Before the type exists, a decision on it is refused, naming the types.
	var e servicetest.Error
	check := func(subject map[string]any, action string, resource map[string]any) (int, decision) {
		t.Helper()
		var dec decision
		e = servicetest.Error{}
		body := map[string]any{"subject": subject, "action": action, "resource": resource}
		s, raw := d.Send("admin", "POST", "/authz/check", body)
		if s == 200 {
			_ = json.Unmarshal(raw, &dec)
		} else {
			_ = json.Unmarshal(raw, &e)
		}
		return s, dec
	}
	if s, _ := check(map[string]any{"id": bob}, "view", map[string]any{"type": "ticket", "id": "T-1"}); s != 400 || e.Code != "unknown_resource_type" || !strings.Contains(e.Message, "app") {
		t.Fatalf("before the type: %d %+v", s, e)
	}
	if s := d.Call("admin", "POST", "/api/v1/types", ticketType(), nil); s != 201 {
		t.Fatalf("create ticket: %d", s)
	}
	// The other replica sees the type within the staleness bound.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := replica.Engine.Ready(ctx)
		if _, ok := typesOf(replica).External("ticket"); ok && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica does not know ticket after 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []map[string]any{
		{"name": "Owners edit their tickets", "resourceFilter": "Ticket_*", "condition": "resource.owner = user", "actions": []string{"edit"}, "context": "both"},
		{"name": "Departments view their tickets", "resourceFilter": "Ticket_*", "condition": "resource.department = user.@department", "actions": []string{"view"}, "context": "both"},
		{"name": "Admins delete anything", "resourceFilter": "*", "condition": `user.roles = "TenantAdmin"`, "actions": []string{"delete"}, "context": "both"},
	} {
		var out servicetest.Error
		if s := d.Call("admin", "POST", "/api/v1/rules", r, &out); s != 201 {
			t.Fatalf("rule %s: %d %+v", r["name"], s, out)
		}
	}
	// The checker knows the type: its actions and attributes.
	var bad servicetest.Error
	if s := d.Call("admin", "POST", "/api/v1/rules", map[string]any{"name": "x", "resourceFilter": "Ticket_*",
		"condition": "resource.departmnt = \"x\"", "actions": []string{"view"}}, &bad); s != 400 || !strings.Contains(fmt.Sprint(bad.Details["hint"]), "department") {
		t.Fatalf("unknown attribute: %d %+v", s, bad)
	}
	if s := d.Call("admin", "POST", "/api/v1/rules", map[string]any{"name": "x", "resourceFilter": "App_*",
		"condition": "", "actions": []string{"close"}}, &bad); s != 400 || !strings.Contains(bad.Message, "ticket") {
		t.Fatalf("a ticket action on apps: %d %+v", s, bad)
	}
	var voc struct {
		ResourceTypes []struct {
			Name     string   `json:"name"`
			External bool     `json:"external"`
			Actions  []string `json:"actions"`
		} `json:"resourceTypes"`
	}
	if s := d.Call("admin", "GET", "/api/v1/rules/vocabulary", nil, &voc); s != 200 ||
		!slices.ContainsFunc(voc.ResourceTypes, func(rt struct {
			Name     string   `json:"name"`
			External bool     `json:"external"`
			Actions  []string `json:"actions"`
		}) bool {
			return rt.Name == "ticket" && rt.External && slices.Contains(rt.Actions, "close")
		}) {
		t.Fatalf("vocabulary: %d %+v", s, voc)
	}

	// Subjects: demo users by id, and users the store does not know, in
	// full (no license: tickets take no license gate).
	support := map[string]any{"id": "ext-sam", "name": "sam", "attributes": map[string]any{"department": []string{"Support"}}}
	sales := map[string]any{"id": "ext-sue", "name": "sue", "attributes": map[string]any{"department": []string{"Sales"}}}
	// Stored: T-2 bob's, in Support.
	var stored map[string]any
	if s := d.Call("admin", "PUT", "/api/v1/resources/ticket/T-2", map[string]any{"owner": bob,
		"attributes": map[string]any{"department": "Support", "status": "open", "priority": 2, "tags": []string{"vip"}}}, &stored); s != 201 {
		t.Fatalf("store T-2: %d %v", s, stored)
	}
	inline := map[string]any{"type": "ticket", "id": "T-1", "properties": map[string]any{"ownerID": bob, "department": "Support", "status": "open"}}
	byID := map[string]any{"type": "ticket", "id": "T-2"}
	for _, tc := range []struct {
		name     string
		subject  map[string]any
		action   string
		resource map[string]any
		allow    bool
		reason   string
	}{
		{"owner edits (inline)", map[string]any{"id": bob}, "edit", inline, true, ""},
		{"owner edits (stored)", map[string]any{"id": bob}, "edit", byID, true, ""},
		{"another user does not edit (inline)", map[string]any{"id": alice}, "edit", inline, false, ""},
		{"another user does not edit (stored)", map[string]any{"id": alice}, "edit", byID, false, ""},
		{"the department views (inline)", support, "view", inline, true, ""},
		{"the department views (stored)", support, "view", byID, true, ""},
		{"the department does not edit", support, "edit", byID, false, ""},
		{"another department does not view (inline)", sales, "view", inline, false, ""},
		{"another department does not view (stored)", sales, "view", byID, false, ""},
		{"inline wins over stored", support, "view", map[string]any{"type": "ticket", "id": "T-2", "properties": map[string]any{"department": "Sales"}}, false, ""},
		{"inline owner wins over stored", map[string]any{"id": alice}, "edit", map[string]any{"type": "ticket", "id": "T-2", "properties": map[string]any{"owner": alice}}, true, ""},
		{"admins delete", map[string]any{"id": d.Users["admin"].ID}, "delete", byID, true, ""},
		{"owners do not delete", map[string]any{"id": bob}, "delete", byID, false, ""},
		{"nobody closes", map[string]any{"id": bob}, "close", byID, false, ""},
		{"a disabled user is refused", map[string]any{"id": d.Users["frank"].ID}, "edit", map[string]any{"type": "ticket", "id": "T-9", "properties": map[string]any{"ownerID": d.Users["frank"].ID}}, false, "user_disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dec := check(tc.subject, tc.action, tc.resource)
			if s != 200 || dec.Allow != tc.allow {
				t.Fatalf("%d %+v %+v; want allow=%v", s, dec, e, tc.allow)
			}
			if tc.reason != "" && (len(dec.Denies) == 0 || dec.Denies[0].Reason != tc.reason) {
				t.Fatalf("denies %+v, want %s", dec.Denies, tc.reason)
			}
			if tc.allow && (len(dec.Grants) == 0 || dec.Grants[0].Kind != "rule") {
				t.Fatalf("grants %+v", dec.Grants)
			}
		})
	}
	// Unknown actions and types name what the registry has.
	if s, _ := check(map[string]any{"id": bob}, "reopen", byID); s != 400 || e.Code != "unknown_action" || !strings.Contains(e.Message, "close") {
		t.Fatalf("unknown action: %d %+v", s, e)
	}
	if s, _ := check(map[string]any{"id": bob}, "read", byID); s != 400 || e.Code != "unknown_action" {
		t.Fatalf("a platform action on ticket: %d %+v", s, e)
	}
	if s, _ := check(map[string]any{"id": bob}, "view", map[string]any{"type": "tickets"}); s != 400 || e.Code != "unknown_resource_type" || !strings.Contains(e.Message, "ticket") {
		t.Fatalf("unknown type: %d %+v", s, e)
	}
	if s, _ := check(support, "view", map[string]any{"type": "ticket", "id": "T-3", "properties": map[string]any{"priority": "high"}}); s != 400 || e.Code != "wrong_kind" || e.Details["field"] != "resource.properties.priority" {
		t.Fatalf("wrong kind inline: %d %+v", s, e)
	}
	if s, _ := check(support, "view", map[string]any{"type": "ticket", "id": "T-3", "properties": map[string]any{"tags": map[string]any{"a": 1}}}); s != 400 {
		t.Fatalf("an object attribute inline: %d %+v", s, e)
	}
	// AuthZEN: the same question with resource.properties.
	var z struct {
		Decision bool           `json:"decision"`
		Context  map[string]any `json:"context"`
	}
	if s := d.Call("admin", "POST", "/access/v1/evaluation", map[string]any{
		"subject": map[string]any{"type": "user", "id": "ext-sam", "properties": map[string]any{"name": "sam", "attributes": map[string]any{"department": []string{"Support"}}}},
		"action":  map[string]any{"name": "view"}, "resource": inline,
	}, &z); s != 200 || !z.Decision {
		t.Fatalf("authzen: %d %+v", s, z)
	}
	// The other replica decides alike (rules follow the revision; the
	// stored ticket is read from the shared database).
	deadline = time.Now().Add(5 * time.Second)
	for {
		dec, err := replica.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: bob}, Action: "edit",
			Resource: authz.Resource{Type: "ticket", ID: "T-2"}, Environment: "hub"})
		if err == nil && dec.Allow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica: %+v %v", dec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Stored resources: GET, batch (all or nothing), planned list, DELETE.
	var got struct {
		Owner      string         `json:"owner"`
		Attributes map[string]any `json:"attributes"`
		Version    int64          `json:"version"`
	}
	if s := d.Call("admin", "GET", "/api/v1/resources/ticket/T-2", nil, &got); s != 200 || got.Owner != bob || got.Attributes["priority"] != 2.0 || got.Version != 1 {
		t.Fatalf("get T-2: %d %+v", s, got)
	}
	if s := d.Call("bob", "GET", "/api/v1/resources/ticket/T-2", nil, nil); s != 403 && s != 404 {
		t.Fatalf("bob reads stored resources: %d", s)
	}
	if s := d.Call("admin", "PUT", "/api/v1/resources/ticket/T-2", map[string]any{"attributes": map[string]any{"colour": "red"}}, &e); s != 400 || e.Code != "unknown_attribute" || e.Details["field"] != "attributes.colour" {
		t.Fatalf("undeclared attribute: %d %+v", s, e)
	}
	if s := d.Call("admin", "PUT", "/api/v1/resources/app/a-1", map[string]any{}, &e); s != 404 || e.Code != "unknown_resource_type" {
		t.Fatalf("a built-in type: %d %+v", s, e)
	}
	batch := []map[string]any{}
	for i := 10; i < 15; i++ {
		batch = append(batch, map[string]any{"id": fmt.Sprintf("T-%d", i), "owner": bob, "attributes": map[string]any{"department": "Support"}})
	}
	batch = append(batch, map[string]any{"id": "T-20", "owner": alice, "attributes": map[string]any{"department": "Sales"}})
	badBatch := append(slices.Clone(batch), map[string]any{"id": "T-21", "attributes": map[string]any{"priority": "x"}}, map[string]any{"id": "T-10"})
	if s := d.Call("admin", "POST", "/api/v1/resources/ticket:batch", map[string]any{"items": badBatch}, &e); s != 400 || e.Code != "invalid_items" {
		t.Fatalf("bad batch: %d %+v", s, e)
	}
	if errs, _ := e.Details["errors"].([]any); len(errs) != 2 {
		t.Fatalf("per-item errors: %+v", e.Details)
	}
	if s := d.Call("admin", "GET", "/api/v1/resources/ticket/T-10", nil, nil); s != 404 {
		t.Fatalf("a refused batch wrote T-10: %d", s)
	}
	tooMany := make([]map[string]any, 1001)
	if s := d.Call("admin", "POST", "/api/v1/resources/ticket:batch", map[string]any{"items": tooMany}, &e); s != 400 || e.Code != "batch_too_large" {
		t.Fatalf("1001 items: %d %+v", s, e)
	}
	var written struct{ Written int }
	if s := d.Call("admin", "POST", "/api/v1/resources/ticket:batch", map[string]any{"items": batch}, &written); s != 200 || written.Written != 6 {
		t.Fatalf("batch: %d %+v", s, written)
	}
	// Which tickets may bob edit? His own: T-2, T-10..T-14 (planned, in the database).
	var page struct {
		Items []struct{ ID string }
		Next  string
	}
	if s := d.Call("admin", "GET", "/api/v1/resources/ticket?action=edit&subject="+bob, nil, &page); s != 200 {
		t.Fatalf("list: %d", s)
	}
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	if want := []string{"T-10", "T-11", "T-12", "T-13", "T-14", "T-2"}; !slices.Equal(ids, want) || page.Next != "" {
		t.Fatalf("bob may edit %v, want %v", ids, want)
	}
	// The AuthZEN resource search and the audit read the same stored tickets.
	var search struct {
		Results []struct{ Type, ID string }
	}
	if s := d.Call("admin", "POST", "/access/v1/search/resource", map[string]any{"subject": map[string]any{"type": "user", "id": bob},
		"action": map[string]any{"name": "edit"}, "resource": map[string]any{"type": "ticket"}}, &search); s != 200 {
		t.Fatalf("resource search: %d", s)
	}
	ids = nil
	for _, r := range search.Results {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if want := []string{"T-10", "T-11", "T-12", "T-13", "T-14", "T-2"}; !slices.Equal(ids, want) {
		t.Fatalf("search: bob may edit %v, want %v", ids, want)
	}
	var audit struct {
		Cells []struct {
			ResourceID string `json:"resourceId"`
			Action     string `json:"action"`
			Allow      bool   `json:"allow"`
		}
	}
	if s := d.Call("admin", "POST", "/api/v1/audit", map[string]any{"users": []string{alice}, "resourceType": "ticket",
		"actions": []string{"view", "edit"}, "environment": "hub"}, &audit); s != 200 || len(audit.Cells) != 14 {
		var ae servicetest.Error
		d.Call("admin", "POST", "/api/v1/audit", map[string]any{"users": []string{alice}, "resourceType": "ticket",
			"actions": []string{"view", "edit"}, "environment": "hub"}, &ae)
		t.Fatalf("audit: %d, %d cells %+v", s, len(audit.Cells), ae)
	}
	for _, c := range audit.Cells {
		if c.Allow != (c.ResourceID == "T-20" && c.Action == "edit") {
			t.Fatalf("audit cell %+v", c)
		}
	}
	var preview struct {
		Items []struct {
			ResourceID string `json:"resourceId"`
			New        bool   `json:"new"`
		}
	}
	if s := d.Call("admin", "POST", "/api/v1/rules/preview", map[string]any{"users": []string{alice}, "rule": map[string]any{
		"resourceFilter": "Ticket_*", "condition": `resource.department = "Support"`, "actions": []string{"view"}, "context": "hub"}}, &preview); s != 200 || len(preview.Items) != 6 {
		t.Fatalf("preview: %d %+v", s, preview)
	}
	if s := d.Call("admin", "GET", "/api/v1/resources/ticket?action=read", nil, &e); s != 400 || e.Code != "unknown_action" {
		t.Fatalf("list with a platform action: %d %+v", s, e)
	}
	if s := d.Call("admin", "DELETE", "/api/v1/resources/ticket/T-2", nil, nil); s != 204 {
		t.Fatalf("delete T-2: %d", s)
	}
	// Without its stored record bob no longer owns T-2.
	if _, dec := check(map[string]any{"id": bob}, "edit", byID); dec.Allow {
		t.Fatalf("bob edits a deleted ticket: %+v", dec)
	}

	// License gates: a type registered with licenseGates refuses an
	// unlicensed subject; ticket (without) does not.
	gated := with(with(ticketType(), "name", "invoice"), "licenseGates", true)
	if s := d.Call("admin", "POST", "/api/v1/types", gated, nil); s != 201 {
		t.Fatalf("invoice: %d", s)
	}
	if s := d.Call("admin", "POST", "/api/v1/rules", map[string]any{"name": "everybody views invoices", "resourceFilter": "Invoice_*",
		"condition": "", "actions": []string{"view"}, "context": "both"}, nil); s != 201 {
		t.Fatalf("invoice rule: %d", s)
	}
	if _, dec := check(support, "view", map[string]any{"type": "invoice", "id": "I-1"}); dec.Allow || len(dec.Denies) == 0 || dec.Denies[0].Reason != "no_license" {
		t.Fatalf("unlicensed on a gated type: %+v", dec)
	}
	if _, dec := check(map[string]any{"id": bob}, "view", map[string]any{"type": "invoice", "id": "I-1"}); !dec.Allow {
		t.Fatalf("licensed on a gated type: %+v", dec)
	}
}

// typesOf is the replica's registry.
func typesOf(s *service.Service) *authz.Types { return s.Types }

func decode(t *testing.T, r io.Reader, v any) {
	t.Helper()
	raw, _ := io.ReadAll(r)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
	}
}
