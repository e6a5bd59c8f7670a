package apitest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/apikeys"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type key struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	OwnerID     string    `json:"ownerId"`
	ExpiresAt   time.Time `json:"expiresAt"`
	Status      string    `json:"status"`
	Secret      string    `json:"secret"`
}

type page struct {
	Items []key  `json:"items"`
	Next  string `json:"next"`
}

func create(t *testing.T, d *servicetest.Tenant, user, body string) key {
	t.Helper()
	return servicetest.Create[key](d, user, "/api/v1/api-keys", body)
}

// TestCreateValidatesItsInput: every refusal names its field; an expiry is
// a duration or an RFC 3339 time in the future, within the tenant maximum.
func TestCreateValidatesItsInput(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"a duration", `{"description":"ci","expiry":"48h"}`, 201, ""},
		{"a time", `{"expiry":"` + time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339) + `"}`, 201, ""},
		{"the tenant maximum by default", `{}`, 201, ""},
		{"a time in the past", `{"expiry":"2020-01-01T00:00:00Z"}`, 400, "bad_expiry"},
		{"a negative duration", `{"expiry":"-1h"}`, 400, "bad_expiry"},
		{"not a time", `{"expiry":"tomorrow"}`, 400, "bad_expiry"},
		{"too far", `{"expiry":"100000h"}`, 400, "expiry_too_far"},
		{"a long description", `{"description":"` + strings.Repeat("d", 501) + `"}`, 400, "bad_description"},
		{"an unknown field", `{"name":"ci"}`, 400, "unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k key
			var e servicetest.Error
			s, raw := d.Send("alice", "POST", "/api/v1/api-keys", tt.body)
			if s == 201 {
				_ = json.Unmarshal(raw, &k)
			} else {
				_ = json.Unmarshal(raw, &e)
			}
			if s != tt.status {
				t.Fatalf("%d %+v, want %d", s, e, tt.status)
			}
			if s == 201 {
				if k.Status != "active" || !strings.HasPrefix(k.Secret, "rk_") || !k.ExpiresAt.After(time.Now()) || k.OwnerID != d.Users["alice"].ID {
					t.Fatalf("new key %+v", k)
				}
				return
			}
			if e.Code != tt.code || (e.Details["field"] == nil && tt.code != "unknown_field") {
				t.Fatalf("%+v, want %s naming its field", e, tt.code)
			}
		})
	}
}

// TestTheTenantSwitch: with API keys switched off nobody generates one.
func TestTheTenantSwitch(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	if s := d.Call("admin", "PATCH", "/api/v1/settings", map[string]any{"apiKeysEnabled": false}, nil); s != 200 {
		t.Fatalf("switch off: %d", s)
	}
	var e servicetest.Error
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{}`, &e); s != 403 || e.Code != "api_keys_disabled" {
		t.Fatalf("with keys off: %d %+v", s, e)
	}
	if s := d.Call("admin", "PATCH", "/api/v1/settings", map[string]any{"apiKeysEnabled": true}, nil); s != 200 {
		t.Fatalf("switch on: %d", s)
	}
	create(t, d, "alice", `{}`)
}

// TestOwnersManageTheirKeys: each developer lists and reads only their
// own keys (never a secret), renames, revokes (once: revocation is
// irreversible and recorded once) and deletes them.
func TestOwnersManageTheirKeys(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	a := create(t, d, "alice", `{"description":"alice ci"}`)
	b := create(t, d, "admin", `{"description":"admin ci"}`)

	// The tenant admin sees every key (to revoke it, §1.8).
	for user, want := range map[string][]string{"alice": {a.ID}, "admin": {a.ID, b.ID}} {
		var p page
		s := d.Call(user, "GET", "/api/v1/api-keys", nil, &p)
		var got []string
		for _, k := range p.Items {
			if k.Secret != "" {
				t.Fatalf("%s lists a secret", user)
			}
			got = append(got, k.ID)
		}
		if s != 200 || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s lists %d %v, want %v", user, s, got, want)
		}
	}
	var p page
	if s := d.Call("bob", "GET", "/api/v1/api-keys", nil, &p); s != 200 || len(p.Items) != 0 {
		t.Fatalf("bob lists %d %+v", s, p.Items)
	}
	if s := d.Call("carol", "GET", "/api/v1/api-keys/"+a.ID, nil, nil); s != 404 {
		t.Fatalf("carol reads alice's key: %d", s)
	}

	var renamed key
	if s := d.Call("alice", "PATCH", "/api/v1/api-keys/"+a.ID, map[string]any{"description": "deploys"}, &renamed); s != 200 || renamed.Description != "deploys" {
		t.Fatalf("rename: %d %+v", s, renamed)
	}
	var e servicetest.Error
	if s := d.Call("alice", "PATCH", "/api/v1/api-keys/"+a.ID, map[string]any{}, &e); s != 400 || e.Details["field"] != "description" {
		t.Fatalf("rename without a description: %d %+v", s, e)
	}
	if s := d.Call("carol", "PATCH", "/api/v1/api-keys/"+a.ID, map[string]any{"description": "mine"}, nil); s != 404 {
		t.Fatalf("carol renames alice's key: %d", s)
	}

	// The owner revokes in the hub; again is a no-op.
	for range 2 {
		var k key
		if s := d.Call("alice", "POST", "/api/v1/api-keys/"+a.ID+"/revoke", nil, &k); s != 200 || k.Status != "revoked" {
			t.Fatalf("revoke: %d %+v", s, k)
		}
	}
	if s := d.Call(a.Secret, "GET", "/api/v1/users/me", nil, nil); s != 401 {
		t.Fatalf("a revoked key still authenticates: %d", s)
	}
	if s := d.Call("carol", "POST", "/api/v1/api-keys/"+b.ID+"/revoke", nil, nil); s != 404 {
		t.Fatalf("carol revokes the admin's key: %d", s)
	}

	// Deleting a key ends it.
	if s := d.Call(b.Secret, "GET", "/api/v1/users/me", nil, nil); s != 200 {
		t.Fatalf("the admin's key: %d", s)
	}
	if s := d.Call("admin", "DELETE", "/api/v1/api-keys/"+b.ID, nil, nil); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if s := d.Call(b.Secret, "GET", "/api/v1/users/me", nil, nil); s != 401 {
		t.Fatalf("a deleted key still authenticates: %d", s)
	}
	if s := d.Call("admin", "GET", "/api/v1/api-keys/"+b.ID, nil, nil); s != 404 {
		t.Fatalf("a deleted key is still there: %d", s)
	}

	var ev struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	d.Call("admin", "GET", "/api/v1/events?source="+apikeys.EventSource, nil, &ev)
	got := map[string]int{}
	for _, x := range ev.Items {
		got[x.Type]++
	}
	if got["api-key.generated"] != 2 || got["api-key.revoked"] != 1 || got["api-key.deleted"] != 1 {
		t.Fatalf("events %v", got)
	}
}
