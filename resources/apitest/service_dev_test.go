package apitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

func TestDevLoginShowsTheSeededProfile(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var me struct {
		Name    string                `json:"name"`
		Groups  []string              `json:"groups"`
		Roles   []string              `json:"roles"`
		License struct{ Type string } `json:"license"`
		Spaces  map[string][]string   `json:"spaces"`
	}
	if s := d.Call("alice", "GET", "/api/v1/users/me", nil, &me); s != 200 {
		t.Fatalf("GET /users/me = %d", s)
	}
	if me.Name != "alice" || fmt.Sprint(me.Groups) != "[Sales]" || me.License.Type != "professional" || len(me.Spaces) != 3 {
		t.Fatalf("alice's profile: %+v", me)
	}
	// A token naming groups replaces them; a new group is created at login.
	tok, err := idp.FetchDevToken(context.Background(), d.Svc.URL(), "alice", []string{"Sales", "Pilots"}, "")
	if err != nil {
		t.Fatal(err)
	}
	d.SetToken("alice", tok)
	d.Call("alice", "GET", "/api/v1/users/me", nil, &me)
	if fmt.Sprint(me.Groups) != "[Sales Pilots]" && fmt.Sprint(me.Groups) != "[Pilots Sales]" {
		t.Fatalf("groups after a token with Sales, Pilots: %v", me.Groups)
	}
	events, err := d.Svc.Store.Events.All(context.Background(), "user-session.begin")
	if err != nil || len(events) < 2 {
		t.Fatalf("user-session.begin events: %d, %v", len(events), err)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name   string
		header string
		status int
		code   string
	}{
		{"no header", "", 401, "missing_credentials"},
		{"not bearer", "Basic abc", 401, "bad_credentials"},
		{"garbage token", "Bearer not-a-jwt", 401, idp.CodeMalformed},
		{"unknown api key", "Bearer rk_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", 401, "api_key_invalid"},
		{"disabled user", "Bearer " + d.Token("frank"), 403, "user_disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", d.Svc.URL()+"/api/v1/users/me", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e errBody
			_ = json.NewDecoder(res.Body).Decode(&e)
			if res.StatusCode != tt.status || e.Code != tt.code {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, e.Code, tt.status, tt.code)
			}
		})
	}
}

type serviceDecision struct {
	Allow  bool `json:"allow"`
	Grants []struct {
		Kind, ID, Name string
	} `json:"grants"`
	Denies []struct {
		Kind, Reason string
	} `json:"denies"`
	Revision int64 `json:"revision"`
}

func TestCheckDecidesFromTheSeedTables(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	// Q4 report is alice's app in the shared space Sales, where bob (analyzer)
	// can view, dave (analyzer) can edit and grace has no license.
	q4 := d.Apps["Q4 report"]
	tests := []struct {
		asker, user, action string
		allow               bool
		grantOrDeny         string
	}{
		{"bob", "bob", "read", true, "shared.app.open"},
		{"bob", "bob", "delete", false, ""},
		{"admin", "alice", "delete", true, ""},
		{"admin", "dave", "delete", true, "shared.app.delete"},
		{"admin", "dave", "reload", false, "analyzer_license"},
		{"admin", "grace", "read", false, "no_license"},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.action, func(t *testing.T) {
			var got serviceDecision
			s := d.Call(tt.asker, "POST", "/authz/check", map[string]any{
				"subject": map[string]any{"id": d.Users[tt.user].ID}, "action": tt.action,
				"resource": map[string]any{"type": "app", "id": q4.ID},
			}, &got)
			if s != 200 || got.Allow != tt.allow {
				t.Fatalf("status %d, %+v; want allow=%v", s, got, tt.allow)
			}
			if tt.grantOrDeny == "" {
				return
			}
			found := false
			for _, g := range got.Grants {
				found = found || strings.HasPrefix(g.ID, tt.grantOrDeny)
			}
			for _, g := range got.Denies {
				found = found || g.Reason == tt.grantOrDeny
			}
			if !found {
				t.Fatalf("%+v names no %s", got, tt.grantOrDeny)
			}
		})
	}
}

func TestCheckRefusesBadQuestions(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	bob := d.Users["bob"].ID
	tests := []struct {
		name   string
		asker  string
		body   string
		status int
		code   string
		field  string
	}{
		{"unknown action", "bob", `{"subject":{"id":"` + bob + `"},"action":"fly","resource":{"type":"app"}}`, 400, "unknown_action", "action"},
		{"unknown type", "bob", `{"subject":{"id":"` + bob + `"},"action":"read","resource":{"type":"spaceship"}}`, 400, "unknown_resource_type", "resource.type"},
		{"missing subject", "bob", `{"action":"read","resource":{"type":"app"}}`, 400, "missing_subject", "subject.id"},
		{"unknown field", "bob", `{"subject":{"id":"` + bob + `"},"action":"read","resource":{"type":"app"},"extra":1}`, 400, "unknown_field", "extra"},
		{"wrong type", "bob", `{"subject":{"id":"` + bob + `"},"action":7,"resource":{"type":"app"}}`, 400, "wrong_type", "action"},
		{"malformed", "bob", `{"subject":`, 400, "malformed_json", "body"},
		{"another subject", "alice", `{"subject":{"id":"` + bob + `"},"action":"read","resource":{"type":"app"}}`, 403, "forbidden_subject", "subject.id"},
		{"bad environment", "bob", `{"subject":{"id":"` + bob + `"},"action":"read","resource":{"type":"app"},"context":{"environment":"moon"}}`, 400, "bad_environment", "context.environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errBody
			s := d.Call(tt.asker, "POST", "/authz/check", tt.body, &e)
			if s != tt.status || e.Code != tt.code || e.Details["field"] != tt.field {
				t.Fatalf("got %d %+v, want %d %s field %s", s, e, tt.status, tt.code, tt.field)
			}
		})
	}
}

func TestAuthZENEvaluation(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	q4 := d.Apps["Q4 report"].ID
	bob := d.Users["bob"].ID
	eval := func(action string) map[string]any {
		return map[string]any{
			"subject": map[string]any{"type": "user", "id": bob}, "action": map[string]any{"name": action},
			"resource": map[string]any{"type": "app", "id": q4}, "unknown_extension": true,
		}
	}
	for action, want := range map[string]bool{"read": true, "delete": false} {
		var got struct {
			Decision bool           `json:"decision"`
			Context  map[string]any `json:"context"`
		}
		if s := d.Call("bob", "POST", "/access/v1/evaluation", eval(action), &got); s != 200 || got.Decision != want {
			t.Fatalf("%s: %d %+v, want decision %v", action, s, got, want)
		}
		if got.Context["reason"] == nil {
			t.Fatalf("%s: no reason in %+v", action, got.Context)
		}
	}

	// X-Request-ID is echoed.
	req, _ := http.NewRequest("POST", d.Svc.URL()+"/access/v1/evaluation", strings.NewReader(`{"subject":{"type":"user","id":"`+bob+`"},"action":{"name":"read"},"resource":{"type":"app","id":"`+q4+`"}}`))
	req.Header.Set("Authorization", "Bearer "+d.Token("bob"))
	req.Header.Set("X-Request-ID", "req-42")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Request-ID") != "req-42" {
		t.Fatalf("X-Request-ID = %q", res.Header.Get("X-Request-ID"))
	}

	var e errBody
	if s := d.Call("bob", "POST", "/access/v1/evaluation", `{"action":{"name":"read"},"resource":{"type":"app"}}`, &e); s != 400 || e.Details["field"] != "subject" {
		t.Fatalf("missing subject: %d %+v", s, e)
	}
}

func TestAuthZENBatchSemantics(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	q4 := d.Apps["Q4 report"].ID
	bob := d.Users["bob"].ID
	items := []map[string]any{
		{"action": map[string]any{"name": "read"}},   // permit
		{"action": map[string]any{"name": "delete"}}, // deny
		{"action": map[string]any{"name": "fly"}},    // error → false
		{"action": map[string]any{"name": "read"}},   // permit
	}
	tests := []struct {
		semantic string
		want     []bool
	}{
		{"execute_all", []bool{true, false, false, true}},
		{"", []bool{true, false, false, true}},
		{"deny_on_first_deny", []bool{true, false}},
		{"permit_on_first_permit", []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.semantic, func(t *testing.T) {
			body := map[string]any{
				"subject":     map[string]any{"type": "user", "id": bob},
				"resource":    map[string]any{"type": "app", "id": q4},
				"evaluations": items,
			}
			if tt.semantic != "" {
				body["options"] = map[string]any{"evaluations_semantic": tt.semantic}
			}
			var got struct {
				Evaluations []struct {
					Decision bool           `json:"decision"`
					Context  map[string]any `json:"context"`
				} `json:"evaluations"`
			}
			if s := d.Call("bob", "POST", "/access/v1/evaluations", body, &got); s != 200 {
				t.Fatalf("status %d", s)
			}
			if len(got.Evaluations) != len(tt.want) {
				t.Fatalf("%d results, want %d: %+v", len(got.Evaluations), len(tt.want), got)
			}
			for i, w := range tt.want {
				if got.Evaluations[i].Decision != w {
					t.Fatalf("item %d: %v, want %v", i, got.Evaluations[i].Decision, w)
				}
			}
			if len(got.Evaluations) > 2 && got.Evaluations[2].Context["error"] == nil {
				t.Fatalf("failed item has no context.error: %+v", got.Evaluations[2])
			}
		})
	}
	big := map[string]any{"subject": map[string]any{"type": "user", "id": bob}, "action": map[string]any{"name": "read"},
		"resource": map[string]any{"type": "app", "id": q4}, "evaluations": make([]map[string]any, 1001)}
	for i := range 1001 {
		big["evaluations"].([]map[string]any)[i] = map[string]any{}
	}
	var e errBody
	if s := d.Call("bob", "POST", "/access/v1/evaluations", big, &e); s != 400 || e.Code != "batch_too_large" {
		t.Fatalf("1001 evaluations: %d %+v", s, e)
	}
}

func TestAuthZENMetadata(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var md map[string]string
	if s := d.Call("", "GET", "/.well-known/authzen-configuration", nil, &md); s != 200 {
		t.Fatalf("status %d", s)
	}
	if md["policy_decision_point"] != d.Svc.URL() || md["access_evaluation_endpoint"] != d.Svc.URL()+"/access/v1/evaluation" {
		t.Fatalf("metadata %+v", md)
	}
}

// A space asked about directly and the same space as an app's space are
// cached apart: the second question must not trip over the first.
func TestSpaceThenAppInThatSpace(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	alice := d.Users["alice"].ID
	sales := d.Spaces["Sales"].ID
	q4 := d.Apps["Q4 report"].ID
	for _, q := range []struct{ typ, id string }{{"space", sales}, {"app", q4}, {"space", sales}, {"app", q4}} {
		var got serviceDecision
		s := d.Call("alice", "POST", "/authz/check", map[string]any{
			"subject": map[string]any{"id": alice}, "action": "read", "resource": map[string]any{"type": q.typ, "id": q.id},
		}, &got)
		if s != 200 || !got.Allow {
			t.Fatalf("%s %s: %d %+v", q.typ, q.id, s, got)
		}
	}
}
