package apitest_test

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// Conformance to the AuthZEN Authorization API 1.0 (final,
// openid.net/specs/authorization-api-1_0.html), one subtest per normative
// requirement a PDP can be held to over HTTP; each names its section. The
// table MUST → test is in README.md ("AuthZEN 1.0 conformance").

// exchange is one HTTP exchange with the PDP.
type exchange struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func decisionsCall(t *testing.T, d *servicetest.Tenant, caller, method, path string, body any, headers map[string]string) exchange {
	t.Helper()
	res := d.Do(caller, method, path, body, headers)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	ex := exchange{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &ex.body); err != nil {
			t.Fatalf("%s %s: %d, the body is not a JSON object: %s", method, path, res.StatusCode, raw)
		}
	}
	return ex
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestAuthZENConformance(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bob := d.Users["bob"]
	q4 := d.Apps["Q4 report"].ID
	user := func(id string) map[string]any { return obj("type", "user", "id", id) }
	app := func(id string) map[string]any { return obj("type", "app", "id", id) }
	action := func(name string) map[string]any { return obj("name", name) }
	eval := func(a string) map[string]any {
		return obj("subject", user(bob.ID), "action", action(a), "resource", app(q4))
	}
	endpoints := []struct {
		path string
		body map[string]any
	}{
		{"/access/v1/evaluation", eval("read")},
		{"/access/v1/evaluations", obj("subject", user(bob.ID), "resource", app(q4), "evaluations", []any{obj("action", action("read"))})},
		{"/access/v1/search/subject", obj("subject", obj("type", "user"), "action", action("read"), "resource", app(q4))},
		{"/access/v1/search/resource", obj("subject", user(bob.ID), "action", action("read"), "resource", obj("type", "app"))},
		{"/access/v1/search/action", obj("subject", user(bob.ID), "resource", app(q4))},
	}

	// §5.5 Decision: "a REQUIRED decision key with a boolean value"; the
	// top level of an evaluation answer carries decision and context only.
	t.Run("5.5_decision_is_a_boolean", func(t *testing.T) {
		for a, want := range map[string]bool{"read": true, "delete": false} {
			ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation", eval(a), nil)
			got, ok := ex.body["decision"].(bool)
			if ex.status != 200 || !ok || got != want {
				t.Fatalf("%s: %d %s, want decision %v", a, ex.status, ex.raw, want)
			}
			for _, k := range keys(ex.body) {
				if k != "decision" && k != "context" {
					t.Fatalf("%s: top-level key %q beyond decision and context: %s", a, k, ex.raw)
				}
			}
		}
	})

	// §10.1.2: "A successful request that results in a deny is indicated
	// by a 200 OK status code with a { "decision": false } payload."
	t.Run("10.1.2_deny_is_200", func(t *testing.T) {
		ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation", eval("delete"), nil)
		if ex.status != 200 || ex.body["decision"] != false {
			t.Fatalf("%d %s", ex.status, ex.raw)
		}
	})

	// §7.1.1 Default values: the top-level keys are defaults; an item's
	// own key overrides them; "any of these keys omitted from an
	// evaluation object MUST be provided as a top-level key".
	t.Run("7.1.1_defaults_inherited_and_overridden", func(t *testing.T) {
		alice := d.Users["alice"].ID
		body := obj("subject", user(bob.ID), "action", action("read"), "resource", app(q4), "context", obj("environment", "hub"),
			"evaluations", []any{
				obj(),                           // bob read: permit
				obj("action", action("delete")), // bob delete: deny
				obj("subject", user(alice), "action", action("delete")), // alice (the owner) delete: permit
			})
		ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluations", body, nil)
		evs, _ := ex.body["evaluations"].([]any)
		want := []bool{true, false, true}
		if ex.status != 200 || len(evs) != len(want) {
			t.Fatalf("%d %s", ex.status, ex.raw)
		}
		for i, w := range want {
			if evs[i].(map[string]any)["decision"] != w {
				t.Fatalf("item %d: %v, want %v", i, evs[i], w)
			}
		}
	})
	t.Run("7.1.1_omitted_key_without_default_is_400", func(t *testing.T) {
		body := obj("subject", user(bob.ID), "evaluations", []any{obj("action", action("read"), "resource", app(q4)), obj("action", action("read"))})
		ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluations", body, nil)
		if ex.status != 400 || ex.body["details"].(map[string]any)["field"] != "evaluations[1].resource" {
			t.Fatalf("%d %s", ex.status, ex.raw)
		}
	})

	// §7.1: "If an evaluations array is NOT present or is empty, the
	// Access Evaluations Request behaves in a backwards-compatible manner
	// with the (single) Access Evaluation API Request".
	t.Run("7.1_empty_evaluations_is_one_evaluation", func(t *testing.T) {
		for _, b := range []map[string]any{eval("read"), obj("subject", user(bob.ID), "action", action("read"), "resource", app(q4), "evaluations", []any{})} {
			ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluations", b, nil)
			if ex.status != 200 || ex.body["decision"] != true {
				t.Fatalf("%d %s", ex.status, ex.raw)
			}
		}
	})

	// §7.1.2.1 Evaluations semantics, and §7.2: the answer "lists the
	// decisions in the same order they were provided"; an item's failure
	// is a false decision with the error in its context (§7.2.1).
	t.Run("7.1.2.1_evaluations_semantics", func(t *testing.T) {
		items := []any{obj("action", action("read")), obj("action", action("delete")), obj("action", action("no-such-action")), obj("action", action("read"))}
		for _, tt := range []struct {
			semantic string
			want     []bool
		}{
			{"", []bool{true, false, false, true}},
			{"execute_all", []bool{true, false, false, true}},
			{"deny_on_first_deny", []bool{true, false}},
			{"permit_on_first_permit", []bool{true}},
		} {
			body := obj("subject", user(bob.ID), "resource", app(q4), "evaluations", items)
			if tt.semantic != "" {
				body["options"] = obj("evaluations_semantic", tt.semantic, "another_option", 1)
			}
			ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluations", body, nil)
			evs, _ := ex.body["evaluations"].([]any)
			if ex.status != 200 || len(evs) != len(tt.want) || len(ex.body) != 1 {
				t.Fatalf("%q: %d %s", tt.semantic, ex.status, ex.raw)
			}
			for i, w := range tt.want {
				if evs[i].(map[string]any)["decision"] != w {
					t.Fatalf("%q item %d: %v, want %v", tt.semantic, i, evs[i], w)
				}
			}
			if len(evs) > 2 && evs[2].(map[string]any)["context"].(map[string]any)["error"] == nil {
				t.Fatalf("the failed item carries no context.error: %v", evs[2])
			}
		}
		// deny_on_first_deny stops at a failure as at a deny.
		body := obj("subject", user(bob.ID), "resource", app(q4), "options", obj("evaluations_semantic", "deny_on_first_deny"),
			"evaluations", []any{obj("action", action("no-such-action")), obj("action", action("read"))})
		if ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluations", body, nil); len(ex.body["evaluations"].([]any)) != 1 {
			t.Fatalf("an error did not end a deny_on_first_deny batch: %s", ex.raw)
		}
	})

	// §10.1.1: "If a required attribute in the information model is
	// omitted, the server MUST return a Bad Request error" (§5: subject
	// type and id, action name, resource type and id; §6 the three objects).
	t.Run("10.1.1_required_attribute_omitted_is_400", func(t *testing.T) {
		for _, tt := range []struct {
			field string
			body  map[string]any
		}{
			{"subject", obj("action", action("read"), "resource", app(q4))},
			{"subject.type", obj("subject", obj("id", bob.ID), "action", action("read"), "resource", app(q4))},
			{"subject.id", obj("subject", obj("type", "user"), "action", action("read"), "resource", app(q4))},
			{"action", obj("subject", user(bob.ID), "resource", app(q4))},
			{"action.name", obj("subject", user(bob.ID), "action", obj("properties", obj("method", "GET")), "resource", app(q4))},
			{"resource", obj("subject", user(bob.ID), "action", action("read"))},
			{"resource.type", obj("subject", user(bob.ID), "action", action("read"), "resource", obj("id", q4))},
			{"resource.id", obj("subject", user(bob.ID), "action", action("read"), "resource", obj("type", "app"))},
		} {
			ex := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation", tt.body, nil)
			if ex.status != 400 || ex.body["details"].(map[string]any)["field"] != tt.field {
				t.Fatalf("without %s: %d %s", tt.field, ex.status, ex.raw)
			}
		}
	})

	// §10.1.1: "The top-level element of all request and response bodies
	// MUST be a JSON object."
	t.Run("10.1.1_top_level_is_an_object", func(t *testing.T) {
		for _, e := range endpoints {
			if ex := decisionsCall(t, d, "admin", "POST", e.path, `[]`, nil); ex.status != 400 {
				t.Fatalf("%s with an array: %d %s", e.path, ex.status, ex.raw)
			}
			if ex := decisionsCall(t, d, "admin", "POST", e.path, e.body, nil); ex.status != 200 || !strings.HasPrefix(strings.TrimSpace(ex.raw), "{") {
				t.Fatalf("%s: %d %s", e.path, ex.status, ex.raw)
			}
		}
	})

	// §10.1.1: "receivers MUST ignore unknown fields present in request or
	// response bodies."
	t.Run("10.1.1_unknown_fields_ignored", func(t *testing.T) {
		for _, e := range endpoints {
			plain := decisionsCall(t, d, "admin", "POST", e.path, e.body, nil)
			b := obj("x_extension", obj("a", []any{1, "two"}), "another", true)
			for k, v := range e.body {
				if m, ok := v.(map[string]any); ok {
					m2 := obj("x_unknown", "ignored")
					for mk, mv := range m {
						m2[mk] = mv
					}
					v = m2
				}
				b[k] = v
			}
			ex := decisionsCall(t, d, "admin", "POST", e.path, b, nil)
			delete(plain.body, "context")
			delete(ex.body, "context")
			pj, _ := json.Marshal(plain.body)
			ej, _ := json.Marshal(ex.body)
			if ex.status != 200 || string(pj) != string(ej) {
				t.Fatalf("%s: %d %s, without the unknown fields %s", e.path, ex.status, ej, pj)
			}
		}
	})

	// §10.1.1: "Implementations MUST NOT assume a particular ordering of
	// JSON object members": the same request with its keys in another
	// order is the same request, also for a page token (§8.2).
	t.Run("10.1.1_member_order_irrelevant", func(t *testing.T) {
		a := `{"subject":{"type":"user","id":"` + bob.ID + `"},"action":{"name":"read"},"resource":{"type":"app"},"page":{"limit":1}}`
		first := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", a, nil)
		tok, _ := first.body["page"].(map[string]any)["next_token"].(string)
		if first.status != 200 || tok == "" {
			t.Fatalf("first page: %d %s", first.status, first.raw)
		}
		b := `{"page":{"token":"` + tok + `","limit":1},"resource":{"type":"app"},"action":{"name":"read"},"subject":{"id":"` + bob.ID + `","type":"user"}}`
		if ex := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", b, nil); ex.status != 200 {
			t.Fatalf("the token of a reordered request: %d %s", ex.status, ex.raw)
		}
		r1 := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation", `{"subject":{"type":"user","id":"`+bob.ID+`"},"action":{"name":"read"},"resource":{"type":"app","id":"`+q4+`"}}`, nil)
		r2 := decisionsCall(t, d, "admin", "POST", "/access/v1/evaluation", `{"resource":{"id":"`+q4+`","type":"app"},"action":{"name":"read"},"subject":{"id":"`+bob.ID+`","type":"user"}}`, nil)
		if r1.body["decision"] != true || r2.body["decision"] != true {
			t.Fatalf("%s / %s", r1.raw, r2.raw)
		}
	})

	// §10.1 HTTPS JSON binding: "A successful response is an HTTPS
	// response with a status code of 200 and a Content-Type of
	// application/json."
	t.Run("10.1_success_is_200_application_json", func(t *testing.T) {
		for _, e := range endpoints {
			ex := decisionsCall(t, d, "admin", "POST", e.path, e.body, nil)
			mt, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
			if ex.status != 200 || mt != "application/json" {
				t.Fatalf("%s: %d %q", e.path, ex.status, ex.header.Get("Content-Type"))
			}
		}
	})

	// §10.1.3: "If the PEP specified a request identifier in the request,
	// the PDP MUST include the same identifier in the response" — on
	// every endpoint, refusals included.
	t.Run("10.1.3_request_id_echoed", func(t *testing.T) {
		for i, e := range endpoints {
			id := "req-" + string(rune('a'+i))
			if ex := decisionsCall(t, d, "admin", "POST", e.path, e.body, map[string]string{"X-Request-ID": id}); ex.header.Get("X-Request-ID") != id {
				t.Fatalf("%s: X-Request-ID %q, want %q", e.path, ex.header.Get("X-Request-ID"), id)
			}
			if ex := decisionsCall(t, d, "admin", "POST", e.path, `{}`, map[string]string{"X-Request-ID": id}); ex.status != 400 || ex.header.Get("X-Request-ID") != id {
				t.Fatalf("%s, a 400: %d X-Request-ID %q", e.path, ex.status, ex.header.Get("X-Request-ID"))
			}
		}
	})

	// §11.3: "the resource server MUST respond with a 401 HTTP status
	// code and SHOULD include the HTTP WWW-Authenticate response header".
	t.Run("11.3_unauthenticated_is_401", func(t *testing.T) {
		for _, caller := range []string{"", "Bearer not-a-token"} {
			for _, e := range endpoints {
				ex := decisionsCall(t, d, caller, "POST", e.path, e.body, nil)
				if ex.status != 401 || !strings.HasPrefix(ex.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s as %q: %d, WWW-Authenticate %q", e.path, caller, ex.status, ex.header.Get("WWW-Authenticate"))
				}
			}
		}
	})

	// §8.2 Pagination: "A paginated response MUST be clearly identified by
	// the inclusion of a page object containing a non-empty, opaque
	// next_token"; §8.2.2: "if a response does not contain the entire
	// result set, it MUST include this object", and at the end "its value
	// MUST be an empty string".
	t.Run("8.2_pages_and_next_token", func(t *testing.T) {
		for _, e := range endpoints[2:] {
			all := decisionsCall(t, d, "admin", "POST", e.path, e.body, nil)
			n := len(all.body["results"].([]any))
			if n < 2 {
				t.Fatalf("%s: %d results, the test needs two", e.path, n)
			}
			var seen []any
			token := ""
			for pages := 0; ; pages++ {
				b := obj()
				for k, v := range e.body {
					b[k] = v
				}
				b["page"] = obj("limit", 1)
				if token != "" {
					b["page"].(map[string]any)["token"] = token
				}
				ex := decisionsCall(t, d, "admin", "POST", e.path, b, nil)
				page, ok := ex.body["page"].(map[string]any)
				if ex.status != 200 || !ok {
					t.Fatalf("%s: %d %s", e.path, ex.status, ex.raw)
				}
				token, ok = page["next_token"].(string)
				if !ok {
					t.Fatalf("%s: page without next_token: %s", e.path, ex.raw)
				}
				seen = append(seen, ex.body["results"].([]any)...)
				if token == "" {
					break
				}
				if pages > n {
					t.Fatalf("%s: the pages never end", e.path)
				}
			}
			aj, _ := json.Marshal(all.body["results"])
			sj, _ := json.Marshal(seen)
			if string(aj) != string(sj) {
				t.Fatalf("%s: pages of one hold %s, one page %s", e.path, sj, aj)
			}
		}
	})

	// §8.2: "When a request contains a token, all entities ... and
	// pagination parameters (e.g., limit) MUST be identical to the
	// preceding request. PDPs SHOULD return an error when any entity or
	// parameter has been changed."
	t.Run("8.2_changed_request_with_token_is_400", func(t *testing.T) {
		body := obj("subject", user(bob.ID), "action", action("read"), "resource", obj("type", "app"), "page", obj("limit", 1))
		first := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", body, nil)
		tok := first.body["page"].(map[string]any)["next_token"].(string)
		for name, change := range map[string]func(map[string]any){
			"action": func(b map[string]any) { b["action"] = action("update") },
			"limit":  func(b map[string]any) { b["page"].(map[string]any)["limit"] = 2 },
		} {
			b := obj("subject", user(bob.ID), "action", action("read"), "resource", obj("type", "app"), "page", obj("limit", 1, "token", tok))
			change(b)
			if ex := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", b, nil); ex.status != 400 || ex.body["code"] != "page_changed" {
				t.Fatalf("changed %s: %d %s", name, ex.status, ex.raw)
			}
		}
	})

	// §8.3: results "MUST contain only entities of the type being searched
	// for"; search answers carry page, context and results only.
	t.Run("8.3_results_only_of_the_searched_type", func(t *testing.T) {
		for _, tt := range []struct {
			path, typ string
			body      map[string]any
		}{
			{"/access/v1/search/subject", "user", endpoints[2].body},
			{"/access/v1/search/subject", "group", obj("subject", obj("type", "group"), "action", action("read"), "resource", app(q4))},
			{"/access/v1/search/resource", "app", endpoints[3].body},
			{"/access/v1/search/action", "", endpoints[4].body},
		} {
			ex := decisionsCall(t, d, "admin", "POST", tt.path, tt.body, nil)
			rs, ok := ex.body["results"].([]any)
			if ex.status != 200 || !ok {
				t.Fatalf("%s: %d %s", tt.path, ex.status, ex.raw)
			}
			for _, k := range keys(ex.body) {
				if k != "page" && k != "results" && k != "context" {
					t.Fatalf("%s: top-level key %q", tt.path, k)
				}
			}
			for _, r := range rs {
				m := r.(map[string]any)
				if tt.typ == "" {
					if _, ok := m["name"].(string); !ok || m["type"] != nil || m["id"] != nil {
						t.Fatalf("action search result %v is not an Action", m)
					}
					continue
				}
				if m["type"] != tt.typ || m["id"] == "" {
					t.Fatalf("%s for %s: result %v", tt.path, tt.typ, m)
				}
			}
		}
	})

	// §8.4.1 Subject Search: "The Subject MUST contain a type, but the
	// Subject id SHOULD be omitted, and if present, MUST be ignored."
	t.Run("8.4.1_subject_search_type_required_id_ignored", func(t *testing.T) {
		base := decisionsCall(t, d, "admin", "POST", "/access/v1/search/subject", endpoints[2].body, nil)
		withID := decisionsCall(t, d, "admin", "POST", "/access/v1/search/subject",
			obj("subject", obj("type", "user", "id", bob.ID), "action", action("read"), "resource", app(q4)), nil)
		if base.status != 200 || withID.raw != base.raw {
			t.Fatalf("with subject.id: %s, without: %s", withID.raw, base.raw)
		}
		if ex := decisionsCall(t, d, "admin", "POST", "/access/v1/search/subject", obj("subject", obj(), "action", action("read"), "resource", app(q4)), nil); ex.status != 400 {
			t.Fatalf("without subject.type: %d %s", ex.status, ex.raw)
		}
	})

	// §8.5.1 Resource Search: "The Resource MUST contain a type, but the
	// Resource id SHOULD be omitted, and if present, MUST be ignored."
	t.Run("8.5.1_resource_search_type_required_id_ignored", func(t *testing.T) {
		base := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", endpoints[3].body, nil)
		withID := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource",
			obj("subject", user(bob.ID), "action", action("read"), "resource", app(q4)), nil)
		if base.status != 200 || withID.raw != base.raw {
			t.Fatalf("with resource.id: %s, without: %s", withID.raw, base.raw)
		}
		if ex := decisionsCall(t, d, "admin", "POST", "/access/v1/search/resource", obj("subject", user(bob.ID), "action", action("read"), "resource", obj()), nil); ex.status != 400 {
			t.Fatalf("without resource.type: %d %s", ex.status, ex.raw)
		}
	})

	// §9.2: "PDPs supporting metadata MUST make a JSON document containing
	// metadata ... available at" /.well-known/authzen-configuration;
	// §9.2.1: "MUST be queried using an HTTP GET request"; §9.2.2: "A
	// successful response MUST use the HTTP status code 200 and a
	// Content-Type of application/json", and "Parameters that have no
	// values MUST be omitted"; §9.1.1: access_evaluation_endpoint REQUIRED.
	t.Run("9.2_metadata_document", func(t *testing.T) {
		ex := decisionsCall(t, d, "", "GET", "/.well-known/authzen-configuration", nil, nil)
		mt, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
		if ex.status != 200 || mt != "application/json" {
			t.Fatalf("%d %q", ex.status, ex.header.Get("Content-Type"))
		}
		for k, v := range ex.body {
			if s, ok := v.(string); !ok || s == "" {
				t.Fatalf("parameter %s has no value: %v", k, v)
			}
		}
		for k, path := range map[string]string{"access_evaluation_endpoint": "/access/v1/evaluation", "access_evaluations_endpoint": "/access/v1/evaluations",
			"search_subject_endpoint": "/access/v1/search/subject", "search_resource_endpoint": "/access/v1/search/resource", "search_action_endpoint": "/access/v1/search/action"} {
			if ex.body[k] != d.URL()+path {
				t.Fatalf("%s = %v", k, ex.body[k])
			}
		}
	})

	// §9.2.3: "The policy_decision_point value returned MUST be identical
	// to the Policy Decision Point identifier value into which the
	// well-known URI string was inserted to create the URL used to
	// retrieve the metadata."
	t.Run("9.2.3_identifier_is_the_url_asked", func(t *testing.T) {
		ex := decisionsCall(t, d, "", "GET", "/.well-known/authzen-configuration", nil, nil)
		if ex.body["policy_decision_point"] != d.URL() {
			t.Fatalf("policy_decision_point %v, asked at %s", ex.body["policy_decision_point"], d.URL())
		}
		// Forwarded headers do not count without --trusted-proxy.
		ex = decisionsCall(t, d, "", "GET", "/.well-known/authzen-configuration", nil, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
		if ex.body["policy_decision_point"] != d.URL() {
			t.Fatalf("an untrusted X-Forwarded-Host was honoured: %v", ex.body["policy_decision_point"])
		}
	})
}

// §9.2.3 behind a TLS proxy: the identifier is the public URL the PEP
// asked at, from --public-url or, with --trusted-proxy, from the
// forwarded headers — never the internal http URL.
func TestAuthZENMetadataBehindProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		cfg     func(*service.Config)
		headers map[string]string
		want    string // "" : the service's own URL
	}{
		{"public url", func(c *service.Config) { c.PublicURL = "https://pdp.example.com" },
			map[string]string{"X-Forwarded-Host": "evil.example"}, "https://pdp.example.com"},
		{"trusted proxy", func(c *service.Config) { c.TrustedProxy = true },
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pdp.example.com"}, "https://pdp.example.com"},
		{"trusted proxy, bad host", func(c *service.Config) { c.TrustedProxy = true },
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pdp.example.com/evil?x"}, "https+own"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := servicetest.Start(t, tt.cfg)
			req, _ := http.NewRequest("GET", svc.URL()+"/.well-known/authzen-configuration", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var md map[string]string
			if err := json.NewDecoder(res.Body).Decode(&md); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "https+own" {
				want = "https://" + strings.TrimPrefix(svc.URL(), "http://")
			}
			if md["policy_decision_point"] != want || md["access_evaluation_endpoint"] != want+"/access/v1/evaluation" {
				t.Fatalf("metadata %v, want identifier %s", md, want)
			}
		})
	}
}
