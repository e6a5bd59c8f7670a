package apitest_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
	"github.com/rulekeeper/rulekeeper/resources/webintegrations"
)

type integration struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Origins   []string  `json:"origins"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"version"`
}

func createIntegration(t *testing.T, d *servicetest.Tenant, name string, origins ...string) integration {
	t.Helper()
	var w integration
	if st := d.Call("admin", "POST", "/api/v1/web-integrations", map[string]any{"name": name, "origins": origins}, &w); st != 201 {
		t.Fatalf("create web integration %s: %d", name, st)
	}
	return w
}

func TestWebIntegrationsAreForTenantAdmins(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	w := createIntegration(t, d, "Portal", "https://portal.example.com")
	if w.ID == "" || w.Name != "Portal" || w.CreatedBy != d.Users["admin"].ID || w.CreatedAt.IsZero() || w.Version != 1 {
		t.Fatalf("created: %+v", w)
	}
	path := "/api/v1/web-integrations/" + w.ID
	tests := []struct {
		name   string
		user   string
		method string
		path   string
		body   any
		status int
	}{
		{"member creates", "alice", "POST", "/api/v1/web-integrations", map[string]any{"name": "x", "origins": []string{"https://x.example.com"}}, 403},
		{"analyzer creates", "bob", "POST", "/api/v1/web-integrations", map[string]any{"name": "x", "origins": []string{"https://x.example.com"}}, 403},
		// Members may not read integrations: one is not found to them.
		{"member reads", "alice", "GET", path, nil, 404},
		{"member edits", "carol", "PATCH", path, map[string]any{"name": "mine"}, 404},
		{"member deletes", "alice", "DELETE", path, nil, 404},
		{"nobody unauthenticated", "", "GET", "/api/v1/web-integrations", nil, 401},
		{"tenant admin reads", "admin", "GET", path, nil, 200},
		{"tenant admin edits", "admin", "PATCH", path, map[string]any{"name": "Customer portal"}, 200},
		{"unknown integration", "admin", "GET", "/api/v1/web-integrations/nope", nil, 404},
		{"tenant admin deletes", "admin", "DELETE", path, nil, 204},
		{"deleted", "admin", "GET", path, nil, 404},
		{"deleted twice", "admin", "DELETE", path, nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st := d.Call(tt.user, tt.method, tt.path, tt.body, nil); st != tt.status {
				t.Fatalf("%s %s as %q = %d, want %d", tt.method, tt.path, tt.user, st, tt.status)
			}
		})
	}

	// Lists: everything for the admin, nothing for members.
	a := createIntegration(t, d, "A", "https://a.example.com")
	b := createIntegration(t, d, "B", "https://b.example.com")
	c := createIntegration(t, d, "C", "https://c.example.com")
	var first, second, member struct {
		Items []integration `json:"items"`
		Next  string        `json:"next"`
	}
	d.Call("admin", "GET", "/api/v1/web-integrations?limit=2", nil, &first)
	d.Call("admin", "GET", "/api/v1/web-integrations?limit=2&cursor="+first.Next, nil, &second)
	if len(first.Items) != 2 || first.Items[0].ID != a.ID || first.Items[1].ID != b.ID || first.Next == "" ||
		len(second.Items) != 1 || second.Items[0].ID != c.ID || second.Next != "" {
		t.Fatalf("admin's pages: %+v / %+v", first, second)
	}
	if st := d.Call("alice", "GET", "/api/v1/web-integrations", nil, &member); st != 200 || len(member.Items) != 0 {
		t.Fatalf("alice's list: %d %+v", st, member)
	}

	ctx := context.Background()
	for typ, n := range map[string]int{"web-integration.created": 4, "web-integration.updated": 1, "web-integration.deleted": 1} {
		evs, err := d.Svc.Store.Events.All(ctx, typ)
		if err != nil || len(evs) != n || evs[0].UserID != d.Users["admin"].ID || evs[0].Source != webintegrations.EventSource {
			t.Fatalf("%s events: %+v, %v; want %d", typ, evs, err, n)
		}
	}
}

func TestWebIntegrationInputIsValidated(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"empty body", "", 400, "body"},
		{"unknown field", map[string]any{"name": "x", "origins": []string{"https://x.com"}, "id": "mine"}, 400, "id"},
		{"no name", map[string]any{"origins": []string{"https://x.com"}}, 400, "name"},
		{"blank name", map[string]any{"name": "   ", "origins": []string{"https://x.com"}}, 400, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 201), "origins": []string{"https://x.com"}}, 400, "name"},
		{"no origins", map[string]any{"name": "x"}, 400, "origins"},
		{"empty origins", map[string]any{"name": "x", "origins": []string{}}, 400, "origins"},
		{"origins not a list", map[string]any{"name": "x", "origins": "https://x.com"}, 400, "origins"},
		{"too many origins", map[string]any{"name": "x", "origins": manyOrigins(101)}, 400, "origins"},
		{"a path", map[string]any{"name": "x", "origins": []string{"https://ok.com", "https://x.com/app"}}, 400, "origins[1]"},
		{"a trailing slash", map[string]any{"name": "x", "origins": []string{"https://x.com/"}}, 400, "origins[0]"},
		{"a wildcard", map[string]any{"name": "x", "origins": []string{"https://*.x.com"}}, 400, "origins[0]"},
		{"another scheme", map[string]any{"name": "x", "origins": []string{"ftp://x.com"}}, 400, "origins[0]"},
		{"no scheme", map[string]any{"name": "x", "origins": []string{"x.com"}}, 400, "origins[0]"},
		{"a bad port", map[string]any{"name": "x", "origins": []string{"https://x.com:99999"}}, 400, "origins[0]"},
	}
	for _, tt := range tests {
		t.Run("POST "+tt.name, func(t *testing.T) {
			var e servicetest.Error
			if st := d.Call("admin", "POST", "/api/v1/web-integrations", tt.body, &e); st != tt.status || e.Details["field"] != tt.field {
				t.Fatalf("POST %v = %d %+v, want %d naming %s", tt.body, st, e, tt.status, tt.field)
			}
		})
	}

	// Origins are normalised and deduplicated.
	var w integration
	d.Call("admin", "POST", "/api/v1/web-integrations", map[string]any{"name": "  Mashups  ", "origins": []string{
		"HTTPS://Mashup.Example.com:443", "https://mashup.example.com", " http://localhost:3000 ", "http://LOCALHOST:3000"}}, &w)
	if w.Name != "Mashups" || strings.Join(w.Origins, " ") != "https://mashup.example.com http://localhost:3000" {
		t.Fatalf("normalised: %+v", w)
	}
	patches := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"nothing to change", map[string]any{}, 400, "body"},
		{"blank name", map[string]any{"name": ""}, 400, "name"},
		{"no origins", map[string]any{"origins": []string{}}, 400, "origins"},
		{"a bad origin", map[string]any{"origins": []string{"https://ok.com", "https://x.com?q"}}, 400, "origins[1]"},
		{"stale version", map[string]any{"name": "y", "version": 5}, 409, "version"},
	}
	for _, tt := range patches {
		t.Run("PATCH "+tt.name, func(t *testing.T) {
			var e servicetest.Error
			if st := d.Call("admin", "PATCH", "/api/v1/web-integrations/"+w.ID, tt.body, &e); st != tt.status || e.Details["field"] != tt.field {
				t.Fatalf("PATCH %v = %d %+v, want %d naming %s", tt.body, st, e, tt.status, tt.field)
			}
		})
	}
	var got integration
	d.Call("admin", "PATCH", "/api/v1/web-integrations/"+w.ID, map[string]any{"origins": []string{"https://NEW.example.com"}, "version": 1}, &got)
	if got.Version != 2 || got.Name != "Mashups" || strings.Join(got.Origins, " ") != "https://new.example.com" || !got.UpdatedAt.After(w.UpdatedAt.Add(-time.Millisecond)) {
		t.Fatalf("after PATCH: %+v", got)
	}
}

func manyOrigins(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://o" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + ".example.com"
	}
	return out
}

const portal = "https://portal.example.com"

type corsAnswer struct {
	status  int
	headers map[string]string
	code    string
}

func webintegrationsCall(t *testing.T, d *servicetest.Tenant, user, method string, headers map[string]string) corsAnswer {
	t.Helper()
	res := d.Do(user, method, "/api/v1/users/me", nil, headers)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var e servicetest.Error
	_ = json.Unmarshal(raw, &e)
	a := corsAnswer{status: res.StatusCode, headers: map[string]string{}, code: e.Code}
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Vary"} {
		a.headers[h] = res.Header.Get(h)
	}
	return a
}

func TestCORSAdmitsOnlyListedOrigins(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	w := createIntegration(t, d, "Portal", portal, "http://localhost:3000")
	other := createIntegration(t, d, "Other", "https://other.example.com")
	tests := []struct {
		name    string
		user    string
		method  string
		headers map[string]string
		status  int
		allowed bool
		code    string
	}{
		{"listed origin", "alice", "GET", map[string]string{"Origin": portal, webintegrations.HeaderID: w.ID}, 200, true, ""},
		{"listed origin, other case", "alice", "GET", map[string]string{"Origin": "https://PORTAL.example.com", webintegrations.HeaderID: w.ID}, 200, true, ""},
		{"second listed origin", "alice", "GET", map[string]string{"Origin": "http://localhost:3000", webintegrations.HeaderID: w.ID}, 200, true, ""},
		{"listed origin, unauthenticated: the browser may read the 401", "", "GET", map[string]string{"Origin": portal, webintegrations.HeaderID: w.ID}, 401, true, "missing_credentials"},
		{"origin of another integration", "alice", "GET", map[string]string{"Origin": "https://other.example.com", webintegrations.HeaderID: w.ID}, 200, false, ""},
		{"origin not listed anywhere", "alice", "GET", map[string]string{"Origin": "https://evil.example.com", webintegrations.HeaderID: w.ID}, 200, false, ""},
		{"same host, other port", "alice", "GET", map[string]string{"Origin": "http://localhost:3001", webintegrations.HeaderID: w.ID}, 200, false, ""},
		{"same host, other scheme", "alice", "GET", map[string]string{"Origin": "http://portal.example.com", webintegrations.HeaderID: w.ID}, 200, false, ""},
		{"unknown integration", "alice", "GET", map[string]string{"Origin": portal, webintegrations.HeaderID: "nope"}, 200, false, ""},
		{"no integration header", "alice", "GET", map[string]string{"Origin": portal}, 200, false, ""},
		{"opaque origin", "alice", "GET", map[string]string{"Origin": "null", webintegrations.HeaderID: w.ID}, 200, false, ""},
		{"no origin", "alice", "GET", map[string]string{webintegrations.HeaderID: w.ID}, 200, false, ""},

		{"preflight, listed origin", "", "OPTIONS", map[string]string{"Origin": portal, webintegrations.HeaderID: w.ID,
			"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization, x-web-integration-id"}, 204, true, ""},
		{"preflight without the header (as browsers send it), origin listed", "", "OPTIONS", map[string]string{"Origin": portal,
			"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization, x-web-integration-id"}, 204, true, ""},
		{"preflight, origin of another integration", "", "OPTIONS", map[string]string{"Origin": "https://other.example.com", webintegrations.HeaderID: w.ID,
			"Access-Control-Request-Method": "GET"}, 403, false, "origin_not_allowed"},
		{"preflight, origin not listed anywhere", "", "OPTIONS", map[string]string{"Origin": "https://evil.example.com",
			"Access-Control-Request-Method": "GET"}, 403, false, "origin_not_allowed"},
		{"preflight, unknown integration", "", "OPTIONS", map[string]string{"Origin": portal, webintegrations.HeaderID: "nope",
			"Access-Control-Request-Method": "GET"}, 403, false, "origin_not_allowed"},
		{"preflight, malformed origin", "", "OPTIONS", map[string]string{"Origin": "https://portal.example.com/", "Access-Control-Request-Method": "GET"}, 403, false, "origin_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := webintegrationsCall(t, d, tt.user, tt.method, tt.headers)
			if a.status != tt.status || a.code != tt.code {
				t.Fatalf("%s = %d %q, want %d %q", tt.method, a.status, a.code, tt.status, tt.code)
			}
			h := a.headers
			if !tt.allowed {
				for k, v := range h {
					if strings.HasPrefix(k, "Access-Control-") && v != "" {
						t.Fatalf("refused request got %s: %s", k, v)
					}
				}
				return
			}
			if h["Access-Control-Allow-Origin"] != tt.headers["Origin"] || h["Access-Control-Allow-Credentials"] != "true" ||
				!strings.Contains(h["Vary"], "Origin") {
				t.Fatalf("admitted request's headers: %v", h)
			}
			if tt.method == "OPTIONS" {
				if !strings.Contains(h["Access-Control-Allow-Methods"], "PATCH") || !strings.Contains(h["Access-Control-Allow-Headers"], "Authorization") ||
					!strings.Contains(h["Access-Control-Allow-Headers"], webintegrations.HeaderID) {
					t.Fatalf("preflight headers: %v", h)
				}
			} else if h["Access-Control-Allow-Methods"] != "" || h["Access-Control-Expose-Headers"] != "X-Request-ID" {
				t.Fatalf("simple request headers: %v", h)
			}
		})
	}

	// Changes through this replica apply at once.
	admitted := func(id, origin string) bool {
		return webintegrationsCall(t, d, "alice", "GET", map[string]string{"Origin": origin, webintegrations.HeaderID: id}).headers["Access-Control-Allow-Origin"] != ""
	}
	steps := []struct {
		name   string
		method string
		path   string
		body   any
		id     string
		origin string
		want   bool
	}{
		{"origin added", "PATCH", w.ID, map[string]any{"origins": []string{portal, "https://new.example.com"}}, w.ID, "https://new.example.com", true},
		{"origin removed", "PATCH", w.ID, map[string]any{"origins": []string{"https://new.example.com"}}, w.ID, portal, false},
		{"other integration deleted", "DELETE", other.ID, nil, other.ID, "https://other.example.com", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if code := d.Call("admin", st.method, "/api/v1/web-integrations/"+st.path, st.body, nil); code/100 != 2 {
				t.Fatalf("%s = %d", st.method, code)
			}
			if got := admitted(st.id, st.origin); got != st.want {
				t.Fatalf("%s admitted right after the change: %v, want %v", st.origin, got, st.want)
			}
		})
	}
}

// Another replica's change reaches this one's cache within its TTL.
func TestCacheSeesOtherReplicasChangesWithinItsTTL(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	w := &store.WebIntegration{Name: "Portal", Origins: []string{portal}}
	if err := s.WebIntegrations.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	c := webintegrations.NewCache(s, ttl)
	check := func(id, origin string, want bool) {
		t.Helper()
		got, err := c.Allows(ctx, id, origin)
		if err != nil || got != want {
			t.Fatalf("Allows(%s, %s) = %v, %v; want %v", id, origin, got, err, want)
		}
	}
	before := time.Now() // the cache is filled between before and filled
	check(w.ID, portal, true)
	filled := time.Now()
	check("", portal, true)
	check(w.ID, "https://evil.example.com", false)

	// Another replica removes the origin: still cached here, gone after the TTL.
	if _, err := s.WebIntegrations.Update(ctx, w.ID, store.WebIntegrationChange{Version: 1, Origins: []string{"https://new.example.com"}}); err != nil {
		t.Fatal(err)
	}
	// Only while the entry is younger than the TTL can it still be there
	// (on a loaded machine the update may take longer than that).
	if got, err := c.Allows(ctx, w.ID, portal); err != nil || (!got && time.Since(before) < ttl) {
		t.Fatalf("Allows right after another replica's change = %v, %v; want the cached true", got, err)
	}
	time.Sleep(time.Until(filled.Add(ttl + 50*time.Millisecond)))
	check(w.ID, portal, false)
	check("", "https://new.example.com", true)
	// Invalidate reads again at once.
	if err := s.WebIntegrations.Delete(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	check(w.ID, "https://new.example.com", true)
	c.Invalidate()
	check(w.ID, "https://new.example.com", false)
}
