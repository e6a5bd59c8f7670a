package apitest_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"slices"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type scimAnswer struct {
	status int
	ctype  string
	body   map[string]any
	raw    string
}

func do(t *testing.T, d *servicetest.Tenant, caller, method, path string, body any) scimAnswer {
	t.Helper()
	res := d.Do(caller, method, path, body, nil)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := scimAnswer{status: res.StatusCode, raw: string(raw)}
	a.ctype, _, _ = mime.ParseMediaType(res.Header.Get("Content-Type"))
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return a
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func scimUser(userName, externalID, email, department string, roles ...string) map[string]any {
	u := obj("schemas", []any{"urn:ietf:params:scim:schemas:core:2.0:User", enterprise}, "userName", userName,
		"name", obj("givenName", userName, "familyName", "Test"), "active", true,
		enterprise, obj("department", department))
	if externalID != "" {
		u["externalId"] = externalID
	}
	if email != "" {
		u["emails"] = []any{obj("value", email, "type", "work", "primary", true)}
	}
	if len(roles) > 0 {
		rs := []any{}
		for _, r := range roles {
			rs = append(rs, obj("value", r))
		}
		u["roles"] = rs
	}
	return u
}

func patch(ops ...map[string]any) map[string]any {
	list := []any{}
	for _, o := range ops {
		list = append(list, o)
	}
	return obj("schemas", []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations", list)
}

// isError checks an RFC 7644 §3.12 error body.
func isError(t *testing.T, a scimAnswer, status int, scimType string) {
	t.Helper()
	schemas, _ := a.body["schemas"].([]any)
	if a.status != status || a.ctype != "application/scim+json" || len(schemas) != 1 ||
		schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || a.body["status"] != itoa(status) ||
		(scimType != "" && a.body["scimType"] != scimType) {
		t.Fatalf("want a SCIM error %d %s, got %d %s %s", status, scimType, a.status, a.ctype, a.raw)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSCIMUsersAndGroups(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)

	// Create (RFC 7644 §3.3): 201, Location, the resource with its id.
	zoe := do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("zoe@acme.test", "idp|zoe", "zoe@acme.test", "Support", "agent"))
	if zoe.status != 201 || zoe.ctype != "application/scim+json" || zoe.body["id"] == "" || zoe.body["externalId"] != "idp|zoe" {
		t.Fatalf("create: %d %s", zoe.status, zoe.raw)
	}
	zoeID := zoe.body["id"].(string)
	if zoe.body[enterprise].(map[string]any)["department"] != "Support" || zoe.body["roles"].([]any)[0].(map[string]any)["value"] != "agent" {
		t.Fatalf("create kept %s", zoe.raw)
	}
	// userName is unique: 409 uniqueness.
	isError(t, do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("ZOE@acme.test", "", "", "x")), 409, "uniqueness")
	// so is externalId.
	isError(t, do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("zoe2", "idp|zoe", "", "x")), 409, "uniqueness")
	// userName is required.
	isError(t, do(t, d, "admin", "POST", "/scim/v2/Users", obj("schemas", []any{"urn:ietf:params:scim:schemas:core:2.0:User"})), 400, "invalidValue")
	yann := do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("yann", "", "yann@acme.test", "Sales"))
	yannID, _ := yann.body["id"].(string)

	// Filters (§3.4.2.2): userName eq (any case), externalId eq; others are invalidFilter.
	for filter, want := range map[string]int{`userName eq "Zoe@Acme.test"`: 1, `externalId eq "idp|zoe"`: 1, `userName eq "nobody"`: 0, `emails.value eq "yann@acme.test"`: 1} {
		a := do(t, d, "admin", "GET", "/scim/v2/Users?filter="+urlq(filter), nil)
		rs, _ := a.body["Resources"].([]any)
		if a.status != 200 || len(rs) != want || a.body["totalResults"] != float64(want) {
			t.Fatalf("filter %s: %d %s", filter, a.status, a.raw)
		}
	}
	isError(t, do(t, d, "admin", "GET", "/scim/v2/Users?filter="+urlq(`userName co "zoe"`), nil), 400, "invalidFilter")
	// Paging (§3.4.2.4): startIndex is 1-based.
	all := do(t, d, "admin", "GET", "/scim/v2/Users", nil)
	total := int(all.body["totalResults"].(float64))
	if total < 10 {
		t.Fatalf("%d users", total)
	}
	var ids []string
	for start := 1; start <= total; start += 3 {
		a := do(t, d, "admin", "GET", "/scim/v2/Users?startIndex="+itoa(start)+"&count=3", nil)
		if a.body["startIndex"] != float64(start) || int(a.body["totalResults"].(float64)) != total {
			t.Fatalf("page at %d: %s", start, a.raw)
		}
		for _, r := range a.body["Resources"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
	}
	if len(ids) != total || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != total {
		t.Fatalf("pages hold %d of %d users", len(ids), total)
	}

	// PATCH (§3.5.2) as Entra ID sends it: "Replace", "False" as a string,
	// a value-filtered path, an extension path.
	p := do(t, d, "admin", "PATCH", "/scim/v2/Users/"+zoeID, patch(
		obj("op", "Replace", "path", "active", "value", "False"),
		obj("op", "replace", "path", `emails[type eq "work"].value`, "value", "zoe.new@acme.test"),
		obj("op", "add", "path", enterprise+":department", "value", "Escalations"),
		obj("op", "replace", "value", obj("displayName", "Zoe Z")),
	))
	if p.status != 200 || p.body["active"] != false || p.body["displayName"] != "Zoe Z" ||
		p.body["emails"].([]any)[0].(map[string]any)["value"] != "zoe.new@acme.test" ||
		p.body[enterprise].(map[string]any)["department"] != "Escalations" {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	// remove with a path; a PatchOp without its schema is refused.
	p = do(t, d, "admin", "PATCH", "/scim/v2/Users/"+zoeID, patch(obj("op", "remove", "path", "roles"), obj("op", "replace", "path", "active", "value", true)))
	if p.status != 200 || p.body["roles"] != nil || p.body["active"] != true {
		t.Fatalf("patch remove: %d %s", p.status, p.raw)
	}
	isError(t, do(t, d, "admin", "PATCH", "/scim/v2/Users/"+zoeID, obj("Operations", []any{obj("op", "remove", "path", "roles")})), 400, "invalidValue")

	// PUT replaces: what the body leaves out is gone.
	r := do(t, d, "admin", "PUT", "/scim/v2/Users/"+zoeID, scimUser("zoe@acme.test", "idp|zoe", "zoe@acme.test", "Support"))
	if r.status != 200 || r.body["displayName"] != "zoe@acme.test Test" && r.body["displayName"] != "zoe@acme.test" {
		// displayName falls back to name.givenName + familyName
		if r.body["displayName"] != "zoe@acme.test Test" {
			t.Fatalf("put: %d %s", r.status, r.raw)
		}
	}

	// Groups: create with members, patch add/remove members, rename, get.
	g := do(t, d, "admin", "POST", "/scim/v2/Groups", obj("schemas", []any{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName", "Support", "members", []any{obj("value", zoeID)}))
	if g.status != 201 || len(g.body["members"].([]any)) != 1 {
		t.Fatalf("group: %d %s", g.status, g.raw)
	}
	gid := g.body["id"].(string)
	isError(t, do(t, d, "admin", "POST", "/scim/v2/Groups", obj("displayName", "support")), 409, "uniqueness")
	gp := do(t, d, "admin", "PATCH", "/scim/v2/Groups/"+gid, patch(
		obj("op", "add", "path", "members", "value", []any{obj("value", yannID)}),
		obj("op", "remove", "path", `members[value eq "`+zoeID+`"]`),
	))
	if gp.status != 200 || len(gp.body["members"].([]any)) != 1 || gp.body["members"].([]any)[0].(map[string]any)["value"] != yannID {
		t.Fatalf("group patch: %d %s", gp.status, gp.raw)
	}
	if u := do(t, d, "admin", "GET", "/scim/v2/Users/"+yannID, nil); len(u.body["groups"].([]any)) != 1 {
		t.Fatalf("yann's groups: %s", u.raw)
	}
	if a := do(t, d, "admin", "GET", "/scim/v2/Groups?filter="+urlq(`displayName eq "Support"`), nil); a.body["totalResults"] != float64(1) {
		t.Fatalf("group filter: %s", a.raw)
	}

	// Errors: unknown ids 404, a caller without the rights 403, no
	// credentials 401 — all in SCIM's format.
	isError(t, do(t, d, "admin", "GET", "/scim/v2/Users/no-such-user", nil), 404, "")
	isError(t, do(t, d, "bob", "GET", "/scim/v2/Users", nil), 403, "")
	isError(t, do(t, d, "", "GET", "/scim/v2/Users", nil), 401, "")

	// Delete: 204, then 404; deleting a group drops it from its members.
	if a := do(t, d, "admin", "DELETE", "/scim/v2/Groups/"+gid, nil); a.status != 204 {
		t.Fatalf("delete group: %d %s", a.status, a.raw)
	}
	if u := do(t, d, "admin", "GET", "/scim/v2/Users/"+yannID, nil); len(u.body["groups"].([]any)) != 0 {
		t.Fatalf("yann's groups after the group's deletion: %s", u.raw)
	}
	if a := do(t, d, "admin", "DELETE", "/scim/v2/Users/"+yannID, nil); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	isError(t, do(t, d, "admin", "GET", "/scim/v2/Users/"+yannID, nil), 404, "")

	// Discovery (§4).
	for path, check := range map[string]func(map[string]any) bool{
		"/scim/v2/ServiceProviderConfig":                               func(m map[string]any) bool { return m["patch"].(map[string]any)["supported"] == true },
		"/scim/v2/ResourceTypes":                                       func(m map[string]any) bool { return m["totalResults"] == float64(2) },
		"/scim/v2/ResourceTypes/User":                                  func(m map[string]any) bool { return m["endpoint"] == "/Users" },
		"/scim/v2/Schemas":                                             func(m map[string]any) bool { return m["totalResults"] == float64(4) },
		"/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group": func(m map[string]any) bool { return m["name"] == "Group" },
	} {
		if a := do(t, d, "admin", "GET", path, nil); a.status != 200 || !check(a.body) {
			t.Fatalf("%s: %d %s", path, a.status, a.raw)
		}
	}
}

func urlq(s string) string {
	out := ""
	for _, b := range []byte(s) {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '-', b == '_':
			out += string(b)
		default:
			out += "%" + string("0123456789ABCDEF"[b>>4]) + string("0123456789ABCDEF"[b&15])
		}
	}
	return out
}

// A service that knows users only by the ids its IdP gives them: users
// and departments provisioned by SCIM, a rule on a custom attribute, and
// every AuthZEN question asked with IdP subjects and emails, never a
// rulekeeper id; then the first login of a user provisioned without a
// subject binds to them.
func TestExternalSubjectScenario(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	q4 := d.Apps["Q4 report"].ID
	for _, u := range []map[string]any{
		scimUser("zoe@acme.test", "idp|zoe", "zoe@acme.test", "Support"),
		scimUser("yann@acme.test", "", "yann@acme.test", "Sales"),
	} {
		a := do(t, d, "admin", "POST", "/scim/v2/Users", u)
		if a.status != 201 {
			t.Fatalf("provision: %d %s", a.status, a.raw)
		}
		// the license comes from the admin API: SCIM carries none.
		if s := d.Call("admin", "PATCH", "/api/v1/users/"+a.body["id"].(string), obj("license", "analyzer"), nil); s != 200 {
			t.Fatalf("license: %d", s)
		}
	}
	rule := obj("name", "Support reads the Q4 report", "resourceFilter", "App_"+q4, "condition", `user.@department = "Support"`,
		"actions", []any{"read"}, "context", "hub")
	if s := d.Call("admin", "POST", "/api/v1/rules", rule, nil); s != 201 {
		t.Fatalf("rule: %d", s)
	}
	evaluate := func(subject map[string]any) bool {
		t.Helper()
		a := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", subject, "action", obj("name", "read"), "resource", obj("type", "app", "id", q4)))
		if a.status != 200 {
			t.Fatalf("evaluation of %v: %d %s", subject, a.status, a.raw)
		}
		return a.body["decision"] == true
	}
	user := func(id string, props ...any) map[string]any {
		u := obj("type", "user", "id", id)
		if len(props) > 0 {
			u["properties"] = obj(props...)
		}
		return u
	}
	for _, tt := range []struct {
		subject map[string]any
		want    bool
	}{
		{user("idp|zoe"), true},                                 // the IdP subject (SCIM externalId)
		{user("zoe@acme.test"), true},                           // the email (and userName)
		{user("ZOE@ACME.TEST"), true},                           // emails match in any case
		{user("yann@acme.test"), false},                         // department Sales
		{user("yann@acme.test", "department", "Support"), true}, // inline properties override stored ones
		{user("idp|zoe", "department", []any{"Sales", "Legal"}), false},
	} {
		if got := evaluate(tt.subject); got != tt.want {
			t.Fatalf("%v: %v, want %v", tt.subject, got, tt.want)
		}
	}
	if a := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", user("nobody@acme.test"), "action", obj("name", "read"),
		"resource", obj("type", "app", "id", q4))); a.status != 200 || a.body["decision"] != false {
		t.Fatalf("an unknown subject: %d %s", a.status, a.raw)
	}

	// Batch with the subject by email at the top level.
	b := do(t, d, "admin", "POST", "/access/v1/evaluations", obj("subject", user("zoe@acme.test"), "resource", obj("type", "app", "id", q4),
		"evaluations", []any{obj("action", obj("name", "read")), obj("action", obj("name", "delete"))}))
	if evs := b.body["evaluations"].([]any); len(evs) != 2 || evs[0].(map[string]any)["decision"] != true || evs[1].(map[string]any)["decision"] != false {
		t.Fatalf("batch: %s", b.raw)
	}
	// Subject search answers the ids the IdP knows: zoe's subject; yann,
	// not bound yet, by email.
	s := do(t, d, "admin", "POST", "/access/v1/search/subject", obj("subject", obj("type", "user"), "action", obj("name", "read"), "resource", obj("type", "app", "id", q4)))
	var found []string
	for _, r := range s.body["results"].([]any) {
		found = append(found, r.(map[string]any)["id"].(string))
	}
	if !slices.Contains(found, "idp|zoe") || slices.Contains(found, "yann@acme.test") {
		t.Fatalf("subject search: %v", found)
	}
	// Resource and action search by email.
	rs := do(t, d, "admin", "POST", "/access/v1/search/resource", obj("subject", user("zoe@acme.test"), "action", obj("name", "read"), "resource", obj("type", "app")))
	if res := rs.body["results"].([]any); len(res) != 1 || res[0].(map[string]any)["id"] != q4 {
		t.Fatalf("resource search: %s", rs.raw)
	}
	as := do(t, d, "admin", "POST", "/access/v1/search/action", obj("subject", user("idp|zoe"), "resource", obj("type", "app", "id", q4)))
	if res := as.body["results"].([]any); len(res) == 0 || !slices.ContainsFunc(res, func(r any) bool { return r.(map[string]any)["name"] == "read" }) {
		t.Fatalf("action search: %s", as.raw)
	}

	// SCIM moves zoe to Sales: the next decision follows.
	zoe := do(t, d, "admin", "GET", "/scim/v2/Users?filter="+urlq(`externalId eq "idp|zoe"`), nil).body["Resources"].([]any)[0].(map[string]any)
	do(t, d, "admin", "PATCH", "/scim/v2/Users/"+zoe["id"].(string), patch(obj("op", "replace", "path", enterprise+":department", "value", "Sales")))
	if evaluate(user("idp|zoe")) {
		t.Fatal("zoe still reads after moving to Sales")
	}

	// yann's first login (a token with another subject and his email)
	// binds to the provisioned user: no second user.
	tok, err := idp.FetchDevToken(context.Background(), d.URL(), "yann", nil, "yann@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	if s := d.Call("Bearer "+tok, "GET", "/api/v1/users/me", nil, &me); s != 200 {
		t.Fatalf("login: %d", s)
	}
	yann := do(t, d, "admin", "GET", "/scim/v2/Users?filter="+urlq(`userName eq "yann@acme.test"`), nil)
	if yann.body["totalResults"] != float64(1) || me["id"] != yann.body["Resources"].([]any)[0].(map[string]any)["id"] ||
		me["subject"] != idp.DevSubject("yann") || me["attributes"].(map[string]any)["department"].([]any)[0] != "Sales" {
		t.Fatalf("first login: me %v, provisioned %s", me, yann.raw)
	}
	if n := do(t, d, "admin", "GET", "/scim/v2/Users?filter="+urlq(`emails.value eq "yann@acme.test"`), nil).body["totalResults"]; n != float64(1) {
		t.Fatalf("%v users with yann's email", n)
	}
	// …and his IdP subject now names him in decisions.
	if !evaluate(user(idp.DevSubject("yann"), "department", "Support")) {
		t.Fatal("the bound subject does not resolve")
	}
}

// The scenario as a ticketing service would run it: its own type
// with its own actions, users provisioned by SCIM with departments and
// roles, tickets inline and stored, rules "owners edit their tickets,
// the ticket's department views it, admins delete anything" — and every
// single, batch and search question asked with IdP ids only.
func TestTicketScenarioOverSCIM(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ticket := obj("name", "ticket", "description", "A support ticket",
		"actions", []any{obj("name", "view"), obj("name", "edit"), obj("name", "close"), obj("name", "delete")},
		"attributes", []any{obj("name", "department", "kind", "string"), obj("name", "status", "kind", "string")})
	if s := d.Call("admin", "POST", "/api/v1/types", ticket, nil); s != 201 {
		t.Fatalf("type: %d", s)
	}
	ids := map[string]string{}
	for name, u := range map[string]map[string]any{
		"sam": scimUser("sam@acme.test", "idp|sam", "sam@acme.test", "Support"),
		"sue": scimUser("sue@acme.test", "", "sue@acme.test", "Sales"),
		"ada": scimUser("ada@acme.test", "idp|ada", "ada@acme.test", "IT", "admin"),
	} {
		a := do(t, d, "admin", "POST", "/scim/v2/Users", u)
		if a.status != 201 {
			t.Fatalf("provision %s: %d %s", name, a.status, a.raw)
		}
		ids[name] = a.body["id"].(string)
	}
	for _, r := range []map[string]any{
		{"name": "Owners edit their tickets", "resourceFilter": "Ticket_*", "condition": "resource.owner = user", "actions": []string{"edit"}, "context": "both"},
		{"name": "Departments view their tickets", "resourceFilter": "Ticket_*", "condition": "resource.department = user.@department", "actions": []string{"view"}, "context": "both"},
		{"name": "Admins delete anything", "resourceFilter": "Ticket_*", "condition": `user.@roles = "admin"`, "actions": []string{"delete"}, "context": "both"},
	} {
		var e servicetest.Error
		if s := d.Call("admin", "POST", "/api/v1/rules", r, &e); s != 201 {
			t.Fatalf("rule %s: %d %+v", r["name"], s, e)
		}
	}
	// T-2 is stored (owner: sam, by his IdP subject), T-3 stored by the
	// batch (owner: sam, by his email), T-4 stored for zed before zed is
	// provisioned; T-1 is inline (owner: sue, by her email). Owners are
	// kept as the users' rulekeeper ids, so that resource.owner = user.
	if s := d.Call("admin", "PUT", "/api/v1/resources/ticket/T-2", obj("owner", "idp|sam", "attributes", obj("department", "Support", "status", "open")), nil); s != 201 && s != 200 {
		t.Fatalf("store T-2: %d", s)
	}
	if a := do(t, d, "admin", "POST", "/api/v1/resources/ticket:batch", obj("items", []any{
		obj("id", "T-3", "owner", "SAM@acme.test", "attributes", obj("department", "IT")),
		obj("id", "T-4", "owner", "idp|zed", "attributes", obj("department", "IT"))})); a.status != 200 {
		t.Fatalf("batch: %d %s", a.status, a.raw)
	}
	for id, want := range map[string]string{"T-2": ids["sam"], "T-3": ids["sam"], "T-4": "idp|zed"} {
		if a := do(t, d, "admin", "GET", "/api/v1/resources/ticket/"+id, nil); a.body["owner"] != want {
			t.Fatalf("%s stored with owner %v, want %s", id, a.body["owner"], want)
		}
	}
	t1 := obj("type", "ticket", "id", "T-1", "properties", obj("ownerID", "sue@acme.test", "department", "Sales"))
	t2 := obj("type", "ticket", "id", "T-2")
	user := func(id string, props ...any) map[string]any {
		u := obj("type", "user", "id", id)
		if len(props) > 0 {
			u["properties"] = obj(props...)
		}
		return u
	}
	for _, tc := range []struct {
		subject  map[string]any
		action   string
		resource map[string]any
		want     bool
	}{
		{user("idp|sam"), "edit", t2, true},                                 // owner, by IdP subject
		{user("sam@acme.test"), "view", t2, true},                           // Support views Support's ticket, by email
		{user("sue@acme.test"), "view", t2, false},                          // Sales does not
		{user("sue@acme.test"), "edit", t2, false},                          // nor edits
		{user("sue@acme.test"), "edit", t1, true},                           // her own inline ticket
		{user("sue@acme.test"), "view", t1, true},                           // in her department
		{user("idp|sam"), "view", t1, false},                                // Support does not view Sales'
		{user("idp|sam", "department", "Sales"), "view", t1, true},          // inline properties win for this decision
		{user("idp|ada"), "delete", t2, true},                               // admins (SCIM roles) delete
		{user("idp|sam"), "delete", t2, false},                              // owners do not
		{user("idp|sam"), "close", t2, false},                               // nobody closes
		{user("idp|sam"), "edit", obj("type", "ticket", "id", "T-3"), true}, // owner by email, stored by the batch
		{user("sue@acme.test"), "edit", obj("type", "ticket", "id", "T-3"), false},
		{user("sam@acme.test"), "edit", obj("type", "ticket", "id", "T-9", "properties", obj("ownerID", "idp|sam")), true}, // inline owner by IdP subject
	} {
		a := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", tc.subject, "action", obj("name", tc.action), "resource", tc.resource))
		if a.status != 200 || a.body["decision"] != tc.want {
			t.Fatalf("%v %s %v: %d %s, want %v", tc.subject["id"], tc.action, tc.resource["id"], a.status, a.raw, tc.want)
		}
	}
	// Batch: sam on T-2, stopping at the first deny.
	b := do(t, d, "admin", "POST", "/access/v1/evaluations", obj("subject", user("idp|sam"), "resource", t2,
		"options", obj("evaluations_semantic", "deny_on_first_deny"),
		"evaluations", []any{obj("action", obj("name", "view")), obj("action", obj("name", "edit")), obj("action", obj("name", "delete")), obj("action", obj("name", "view"))}))
	evs, _ := b.body["evaluations"].([]any)
	if len(evs) != 3 || evs[2].(map[string]any)["decision"] != false || evs[1].(map[string]any)["decision"] != true {
		t.Fatalf("batch: %s", b.raw)
	}
	// Searches: which tickets may sam view; who may view T-2; what may sam do on T-2.
	rs := do(t, d, "admin", "POST", "/access/v1/search/resource", obj("subject", user("sam@acme.test"), "action", obj("name", "view"), "resource", obj("type", "ticket")))
	if res, _ := rs.body["results"].([]any); len(res) != 1 || res[0].(map[string]any)["id"] != "T-2" {
		t.Fatalf("resource search: %s", rs.raw)
	}
	ss := do(t, d, "admin", "POST", "/access/v1/search/subject", obj("subject", obj("type", "user"), "action", obj("name", "view"), "resource", t2))
	var who []string
	for _, r := range ss.body["results"].([]any) {
		who = append(who, r.(map[string]any)["id"].(string))
	}
	if !slices.Contains(who, "idp|sam") || slices.Contains(who, "sue@acme.test") || slices.Contains(who, "idp|ada") {
		t.Fatalf("subject search: %v", who)
	}
	as := do(t, d, "admin", "POST", "/access/v1/search/action", obj("subject", user("idp|sam"), "resource", t2))
	var can []string
	for _, r := range as.body["results"].([]any) {
		can = append(can, r.(map[string]any)["name"].(string))
	}
	if !slices.Equal(can, []string{"edit", "view"}) {
		t.Fatalf("action search: %v (%s)", can, as.raw)
	}
	// The tickets sam may edit, planned and filtered in the database: his
	// by whichever id they were stored with.
	re := do(t, d, "admin", "POST", "/access/v1/search/resource", obj("subject", user("idp|sam"), "action", obj("name", "edit"), "resource", obj("type", "ticket")))
	var editable []string
	for _, r := range re.body["results"].([]any) {
		editable = append(editable, r.(map[string]any)["id"].(string))
	}
	if slices.Sort(editable); !slices.Equal(editable, []string{"T-2", "T-3"}) {
		t.Fatalf("tickets sam may edit: %v (%s)", editable, re.raw)
	}
	// zed, provisioned after T-4 was stored for "idp|zed", owns it.
	if a := do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("zed@acme.test", "idp|zed", "zed@acme.test", "IT")); a.status != 201 {
		t.Fatalf("provision zed: %d %s", a.status, a.raw)
	}
	if a := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", user("zed@acme.test"), "action", obj("name", "edit"),
		"resource", obj("type", "ticket", "id", "T-4"))); a.body["decision"] != true {
		t.Fatalf("zed edits T-4, stored for him before he was provisioned: %s", a.raw)
	}
	// SCIM moves sam to Sales: T-2 is no longer his department's to view,
	// still his to edit.
	do(t, d, "admin", "PATCH", "/scim/v2/Users/"+ids["sam"], patch(obj("op", "replace", "path", enterprise+":department", "value", "Sales")))
	for action, want := range map[string]bool{"view": false, "edit": true} {
		a := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", user("idp|sam"), "action", obj("name", action), "resource", t2))
		if a.body["decision"] != want {
			t.Fatalf("after the move, %s: %s", action, a.raw)
		}
	}
}

// TestBatchSeesStoredExternalResources: a batch of evaluations hydrates a
// stored resource of an external type as a single evaluation does — its
// stored attributes and owner — also when the entity cache does not hold
// it (here: no entity cache at all; under load, an entry past its TTL).
// The batch's prefetch once took the external type for one the store does
// not keep and decided on the bare {type, id}.
func TestBatchSeesStoredExternalResources(t *testing.T) {
	t.Parallel()
	d := servicetest.DevWith(t, func(c *service.Config) { c.NoEntityCache = true })
	doc := obj("name", "doc", "actions", []any{obj("name", "view"), obj("name", "edit")},
		"attributes", []any{obj("name", "team", "kind", "string")})
	if s := d.Call("admin", "POST", "/api/v1/types", doc, nil); s != 201 {
		t.Fatalf("type: %d", s)
	}
	a := do(t, d, "admin", "POST", "/scim/v2/Users", scimUser("kim@acme.test", "idp|kim", "kim@acme.test", "Support"))
	if a.status != 201 {
		t.Fatalf("provision kim: %d %s", a.status, a.raw)
	}
	for _, r := range []map[string]any{
		{"name": "Owners edit their docs", "resourceFilter": "Doc_*", "condition": "resource.owner = user", "actions": []string{"edit"}, "context": "both"},
		{"name": "Teams view their docs", "resourceFilter": "Doc_*", "condition": "resource.team = user.@department", "actions": []string{"view"}, "context": "both"},
	} {
		var e servicetest.Error
		if s := d.Call("admin", "POST", "/api/v1/rules", r, &e); s != 201 {
			t.Fatalf("rule %s: %d %+v", r["name"], s, e)
		}
	}
	if s := d.Call("admin", "PUT", "/api/v1/resources/doc/D-1", obj("owner", "idp|kim", "attributes", obj("team", "Support")), nil); s != 201 && s != 200 {
		t.Fatalf("store D-1: %d", s)
	}
	subject, resource := obj("type", "user", "id", "idp|kim"), obj("type", "doc", "id", "D-1")
	for _, action := range []string{"view", "edit"} {
		single := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", subject, "action", obj("name", action), "resource", resource))
		if single.body["decision"] != true {
			t.Fatalf("single %s: %s", action, single.raw)
		}
	}
	b := do(t, d, "admin", "POST", "/access/v1/evaluations", obj("subject", subject, "resource", resource,
		"evaluations", []any{obj("action", obj("name", "view")), obj("action", obj("name", "edit"))}))
	evs, _ := b.body["evaluations"].([]any)
	if len(evs) != 2 {
		t.Fatalf("batch: %s", b.raw)
	}
	for i, ev := range evs {
		if ev.(map[string]any)["decision"] != true {
			t.Fatalf("batch item %d decided otherwise than alone: %s", i, b.raw)
		}
	}
	// A resource of the type that is not stored is decided as described,
	// alone and in a batch alike (not refused as unknown).
	gone := obj("type", "doc", "id", "D-404", "properties", obj("team", "Support"))
	single := do(t, d, "admin", "POST", "/access/v1/evaluation", obj("subject", subject, "action", obj("name", "view"), "resource", gone))
	b = do(t, d, "admin", "POST", "/access/v1/evaluations", obj("subject", subject, "action", obj("name", "view"),
		"evaluations", []any{obj("resource", gone), obj("resource", obj("type", "doc", "id", "D-405"))}))
	evs, _ = b.body["evaluations"].([]any)
	if single.status != 200 || single.body["decision"] != true || b.status != 200 || len(evs) != 2 ||
		evs[0].(map[string]any)["decision"] != true || evs[1].(map[string]any)["decision"] != false ||
		evs[1].(map[string]any)["context"].(map[string]any)["reason"] != "no_grant" {
		t.Fatalf("unstored docs: alone %d %s; batch %d %s", single.status, single.raw, b.status, b.raw)
	}
}
