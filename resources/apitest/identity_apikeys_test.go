package apitest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type identityKey struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Secret string `json:"secret"`
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()

	var e servicetest.Error
	if s := d.Call("bob", "POST", "/api/v1/api-keys", `{"description":"no developer role"}`, &e); s != 403 {
		t.Fatalf("bob without Developer: %d %+v", s, e)
	}
	var k identityKey
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{"description":"ci","expiry":"720h"}`, &k); s != 201 {
		t.Fatalf("alice creates a key: %d", s)
	}
	if !strings.HasPrefix(k.Secret, "rk_") || len(k.Secret) < 3+43 || k.Status != "active" {
		t.Fatalf("new key %+v", k)
	}
	// The secret is shown once: reads never carry it, and only its hash is stored.
	var again identityKey
	d.Call("alice", "GET", "/api/v1/api-keys/"+k.ID, nil, &again)
	if again.Secret != "" || again.ID != k.ID {
		t.Fatalf("read of a key: %+v", again)
	}
	stored, err := d.Svc.Store.APIKeys.Get(ctx, k.ID)
	if err != nil || stored.Hash == "" || strings.Contains(stored.Hash, k.Secret) {
		t.Fatalf("stored key: %+v %v", stored, err)
	}

	// The key authenticates as its owner.
	var me struct{ Name string }
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &me); s != 200 || me.Name != "alice" {
		t.Fatalf("with the key: %d %+v", s, me)
	}

	// Limits: expiry beyond the tenant maximum, and keys per user.
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{"expiry":"100000h"}`, &e); s != 400 || e.Code != "expiry_too_far" {
		t.Fatalf("far expiry: %d %+v", s, e)
	}
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{"expiry":"soon"}`, &e); s != 400 || e.Details["field"] != "expiry" {
		t.Fatalf("bad expiry: %d %+v", s, e)
	}
	settings, _ := d.Svc.Store.Settings.Get(ctx)
	for i := 1; i < settings.APIKeyMaxPerUser; i++ {
		if s := d.Call("alice", "POST", "/api/v1/api-keys", `{}`, nil); s != 201 {
			t.Fatalf("key %d: %d", i+1, s)
		}
	}
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{}`, &e); s != 409 || e.Code != "too_many_keys" {
		t.Fatalf("one key too many: %d %+v", s, e)
	}

	// Another developer cannot touch alice's key; a tenant admin revokes it.
	if s := d.Call("admin", "DELETE", "/api/v1/api-keys/"+k.ID, nil, nil); s != 403 {
		t.Fatalf("admin deletes alice's key: %d", s)
	}
	var revoked identityKey
	if s := d.Call("admin", "POST", "/api/v1/api-keys/"+k.ID+"/revoke", nil, &revoked); s != 200 || revoked.Status != "revoked" {
		t.Fatalf("revoke: %d %+v", s, revoked)
	}
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_key_revoked" {
		t.Fatalf("revoked key: %d %+v", s, e)
	}
	// Revocation is irreversible: revoking again changes nothing.
	d.Call("alice", "POST", "/api/v1/api-keys/"+k.ID+"/revoke", nil, &revoked)
	if revoked.Status != "revoked" {
		t.Fatalf("after a second revoke: %+v", revoked)
	}
	// The owner deletes it.
	if s := d.Call("alice", "DELETE", "/api/v1/api-keys/"+k.ID, nil, nil); s != 204 {
		t.Fatalf("owner deletes: %d", s)
	}
	for _, typ := range []string{"api-key.generated", "api-key.revoked", "api-key.deleted"} {
		if evs, _ := d.Svc.Store.Events.All(ctx, typ); len(evs) == 0 {
			t.Fatalf("no %s event", typ)
		}
	}

	// The tenant switch turns every key off.
	var k2 identityKey
	d.Call("admin", "POST", "/api/v1/api-keys", `{}`, &k2)
	settings, _ = d.Svc.Store.Settings.Get(ctx)
	settings.APIKeysEnabled = false
	if _, err := d.Svc.Store.Settings.Replace(ctx, *settings); err != nil {
		t.Fatal(err)
	}
	if s := d.Call(k2.Secret, "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_keys_disabled" {
		t.Fatalf("switched off: %d %+v", s, e)
	}
	if s := d.Call("admin", "POST", "/api/v1/api-keys", `{}`, &e); s != 403 || e.Code != "api_keys_disabled" {
		t.Fatalf("create while off: %d %+v", s, e)
	}
}

func TestExpiredAPIKeyIsRefused(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	// Used once, the key is remembered (identity's key cache); its expiry
	// still counts on every request. The first use must come before the
	// expiry: on a loaded machine the creation and the first request
	// took longer than a 2 s key lives, and the fresh key was (rightly)
	// refused; the key is then made again with twice the life.
	var (
		k    identityKey
		life time.Duration
		made time.Time
	)
	for life = 2 * time.Second; ; life *= 2 {
		asked := time.Now()
		if s := d.Call("alice", "POST", "/api/v1/api-keys", `{"expiry":"`+life.String()+`"}`, &k); s != 201 {
			t.Fatalf("create: %d", s)
		}
		made = time.Now() // the key expires at or before made+life
		var e servicetest.Error
		s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &e)
		if s == 200 {
			break
		}
		if s != 401 || e.Code != "api_key_expired" || time.Since(asked) < life || life >= 32*time.Second {
			t.Fatalf("fresh key (expiry %v): %d %+v", life, s, e)
		}
		t.Logf("the first use came %v after the creation of a key living %v: again", time.Since(asked), life)
	}
	time.Sleep(time.Until(made.Add(life)) + 100*time.Millisecond)
	var e servicetest.Error
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_key_expired" {
		t.Fatalf("expired key: %d %+v", s, e)
	}
	var got identityKey
	d.Call("alice", "GET", "/api/v1/api-keys/"+k.ID, nil, &got)
	if got.Status != "expired" {
		t.Fatalf("status %q", got.Status)
	}
}

// TestCachedAPIKeyFollowsWrites: a key verified once is remembered, and
// every write through the service that changes the answer — revoking or
// deleting the key, disabling its owner, taking the owner's role that a
// route needs, switching API keys off — takes effect on the very next
// request, within the cache's TTL.
func TestCachedAPIKeyFollowsWrites(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var e servicetest.Error
	newKey := func() string {
		t.Helper()
		var k identityKey
		if s := d.Call("alice", "POST", "/api/v1/api-keys", `{}`, &k); s != 201 {
			t.Fatalf("create: %d", s)
		}
		for range 2 { // the second answer comes from the cache
			if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, nil); s != 200 {
				t.Fatalf("fresh key: %d", s)
			}
		}
		return k.ID + " " + k.Secret
	}
	idOf := func(ks string) string { return strings.Fields(ks)[0] }
	secretOf := func(ks string) string { return strings.Fields(ks)[1] }

	k := newKey()
	if s := d.Call("alice", "POST", "/api/v1/api-keys/"+idOf(k)+"/revoke", nil, nil); s != 200 {
		t.Fatalf("revoke: %d", s)
	}
	if s := d.Call(secretOf(k), "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_key_revoked" {
		t.Fatalf("revoked key: %d %+v", s, e)
	}

	k = newKey()
	if s := d.Call("alice", "DELETE", "/api/v1/api-keys/"+idOf(k), nil, nil); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if s := d.Call(secretOf(k), "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_key_invalid" {
		t.Fatalf("deleted key: %d %+v", s, e)
	}

	k = newKey()
	if s := d.Call("admin", "PATCH", "/api/v1/settings", `{"apiKeysEnabled":false}`, nil); s != 200 {
		t.Fatalf("switch off: %d", s)
	}
	if s := d.Call(secretOf(k), "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_keys_disabled" {
		t.Fatalf("switched off: %d %+v", s, e)
	}
	if s := d.Call("admin", "PATCH", "/api/v1/settings", `{"apiKeysEnabled":true}`, nil); s != 200 {
		t.Fatalf("switch on: %d", s)
	}

	k = newKey()
	var alice struct{ ID string }
	d.Call("alice", "GET", "/api/v1/users/me", nil, &alice)
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+alice.ID, `{"status":"disabled"}`, nil); s != 200 {
		t.Fatalf("disable alice: %d", s)
	}
	if s := d.Call(secretOf(k), "GET", "/api/v1/users/me", nil, &e); s != 403 || e.Code != "user_disabled" {
		t.Fatalf("key of a disabled user: %d %+v", s, e)
	}
}

// TestAPIKeyNeedsADeveloperOwnerAndMintsNoKeys: an API key cannot generate
// keys, and stops working when its owner loses the Developer role (and
// works again when the role comes back).
func TestAPIKeyNeedsADeveloperOwnerAndMintsNoKeys(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var k identityKey
	if s := d.Call("alice", "POST", "/api/v1/api-keys", `{"description":"ci"}`, &k); s != 201 {
		t.Fatalf("alice creates a key: %d", s)
	}
	var e servicetest.Error
	if s := d.Call(k.Secret, "POST", "/api/v1/api-keys", `{"description":"minted by a key"}`, &e); s != 403 || e.Code != "api_key_cannot_create_keys" {
		t.Fatalf("a key minting a key: %d %+v", s, e)
	}
	var me struct{ ID string }
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &me); s != 200 {
		t.Fatalf("with the key: %d", s)
	}
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+me.ID, map[string]any{"roles": []string{}}, nil); s != 200 {
		t.Fatalf("admin removes alice's roles: %d", s)
	}
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, &e); s != 401 || e.Code != "api_key_owner_not_developer" {
		t.Fatalf("key of an owner without Developer: %d %+v", s, e)
	}
	if s := d.Call("admin", "PATCH", "/api/v1/users/"+me.ID, map[string]any{"roles": []string{"Developer"}}, nil); s != 200 {
		t.Fatalf("admin gives Developer back: %d", s)
	}
	if s := d.Call(k.Secret, "GET", "/api/v1/users/me", nil, nil); s != 200 {
		t.Fatalf("key after Developer came back: %d", s)
	}
}
