package apitest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func devKey(t *testing.T, mutate func(*licenses.Terms)) string {
	t.Helper()
	_, priv := licenses.DevKeyPair()
	terms := licenses.DevTerms(time.Now())
	if mutate != nil {
		mutate(&terms)
	}
	raw, err := licenses.Sign(priv, terms)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type overview struct {
	KeyID        string `json:"keyId"`
	Professional struct{ Consumed, Total int }
	Analyzer     struct{ Consumed, Total int }
	Excluded     int `json:"excluded"`
}

type assigned struct {
	Items []struct {
		UserID, Name, Type, Status string
	} `json:"items"`
}

func TestOverviewMatchesTheAssignedUsers(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var ov overview
	if s := d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov); s != 200 {
		t.Fatalf("overview: %d", s)
	}
	var list assigned
	d.Call("admin", "GET", "/api/v1/licenses/assignments", nil, &list)
	count := map[string]int{}
	for _, it := range list.Items {
		count[it.Type]++
	}
	if ov.Professional.Consumed != count["professional"] || ov.Analyzer.Consumed != count["analyzer"] ||
		ov.Professional.Total != 10 || ov.Professional.Consumed != 4 || ov.Analyzer.Consumed != 2 {
		t.Fatalf("overview %+v does not match the assignments %v", ov, count)
	}
	if s := d.Call("alice", "GET", "/api/v1/licenses/overview", nil, nil); s != 403 {
		t.Fatalf("a non-admin reads the overview: %d", s)
	}
}

func TestBadKeysAreRefused(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := licenses.Sign(other, licenses.DevTerms(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, code string
	}{
		{"signed by another key", forged, "license_key_bad_signature"},
		{"malformed", "not.a.key", "license_key_malformed"},
		{"expired", devKey(t, func(tm *licenses.Terms) { tm.ExpiresAt = time.Now().Add(-time.Hour) }), "license_key_expired"},
		{"empty", "", "missing_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": tt.key}, &e); s != 400 || e.Code != tt.code {
				t.Fatalf("got %d %+v, want 400 %s", s, e, tt.code)
			}
		})
	}
}

// evaluate asks, as admin, whether user may open app.
func evaluate(t *testing.T, d *servicetest.Tenant, user, app string) (bool, string) {
	t.Helper()
	var got struct {
		Decision bool           `json:"decision"`
		Context  map[string]any `json:"context"`
	}
	s := d.Call("admin", "POST", "/access/v1/evaluation", map[string]any{
		"subject": map[string]any{"type": "user", "id": d.Users[user].ID}, "action": map[string]any{"name": "read"},
		"resource": map[string]any{"type": "app", "id": d.Apps[app].ID},
	}, &got)
	if s != 200 {
		t.Fatalf("evaluation: %d", s)
	}
	reason, _ := got.Context["reason"].(string)
	return got.Decision, reason
}

func TestOverAllocationExcludesTheMostRecentlyAssigned(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	// Demo professional assignments in order: admin, alice, carol, frank.
	if ok, _ := evaluate(t, d, "carol", "Budget 2027"); !ok {
		t.Fatal("carol cannot open her own app before the change")
	}
	// The same key re-issued with 2 professional seats.
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devKey(t, func(tm *licenses.Terms) { tm.Professional = 2 })}, nil); s != 200 {
		t.Fatalf("apply: %d", s)
	}
	var list assigned
	d.Call("admin", "GET", "/api/v1/licenses/assignments", nil, &list)
	status := map[string]string{}
	for _, it := range list.Items {
		status[it.Name] = it.Status
	}
	want := map[string]string{"admin": "allocated", "alice": "allocated", "carol": "excluded", "frank": "excluded", "bob": "allocated"}
	for name, st := range want {
		if status[name] != st {
			t.Fatalf("%s is %q, want %q (all: %v)", name, status[name], st, status)
		}
	}
	if ok, reason := evaluate(t, d, "carol", "Budget 2027"); ok || reason != "license_excluded" {
		t.Fatalf("excluded carol: %v %s", ok, reason)
	}
	// Freeing a seat restores the earliest excluded user, with nothing else done.
	if s := d.Call("admin", "DELETE", "/api/v1/licenses/assignments/"+d.Users["alice"].ID, nil, nil); s != 204 {
		t.Fatalf("remove alice: %d", s)
	}
	if ok, _ := evaluate(t, d, "carol", "Budget 2027"); !ok {
		t.Fatal("carol did not get her access back")
	}
	if ok, reason := evaluate(t, d, "alice", "Q4 report"); ok || reason != "no_license" {
		t.Fatalf("alice without assignment: %v %s", ok, reason)
	}
	for _, typ := range []string{"license.changed", "assignment.revoked"} {
		if evs, _ := d.Svc.Store.Events.All(context.Background(), typ); len(evs) == 0 {
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestAssignmentsBelongToTheKey(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	devRaw := devKey(t, nil)
	other := devKey(t, func(tm *licenses.Terms) { tm.KeyID = "other-key" })
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": other}, nil); s != 200 {
		t.Fatalf("switch: %d", s)
	}
	if ok, reason := evaluate(t, d, "alice", "Q4 report"); ok || reason != "no_license" {
		t.Fatalf("after the switch alice: %v %s", ok, reason)
	}
	// The console stays open to admins without a license to fix it.
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devRaw}, nil); s != 200 {
		t.Fatalf("switch back: %d", s)
	}
	if ok, _ := evaluate(t, d, "alice", "Q4 report"); !ok {
		t.Fatal("switching back did not restore alice's assignment")
	}
}

func TestUpgradeButNeverDowngrade(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var e servicetest.Error
	bob, alice := d.Users["bob"].ID, d.Users["alice"].ID
	if s := d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": alice, "type": "analyzer"}, &e); s != 409 || e.Code != "no_downgrade" {
		t.Fatalf("downgrade: %d %+v", s, e)
	}
	var m struct{ Type, Status string }
	if s := d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": bob, "type": "professional"}, &m); s != 201 || m.Type != "professional" {
		t.Fatalf("upgrade: %d %+v", s, m)
	}
	if s := d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": bob, "type": "professional"}, &e); s != 409 || e.Code != "already_assigned" {
		t.Fatalf("twice: %d %+v", s, e)
	}
	if s := d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": bob, "type": "gold"}, &e); s != 400 || e.Details["field"] != "type" {
		t.Fatalf("bad type: %d %+v", s, e)
	}
	if s := d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": "nobody", "type": "analyzer"}, &e); s != 400 || e.Code != "unknown_user" {
		t.Fatalf("unknown user: %d %+v", s, e)
	}
}

func TestConcurrentAssignmentsNeverExceedTheSeats(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	// 4 professional seats are in use; allow 5.
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devKey(t, func(tm *licenses.Terms) { tm.Professional = 5 })}, nil); s != 200 {
		t.Fatal(s)
	}
	var ids []string
	for i := range 6 {
		tok, err := idp.FetchDevToken(ctx, d.URL(), fmt.Sprint("racer", i), nil, "")
		if err != nil {
			t.Fatal(err)
		}
		var me struct{ ID string }
		d.Call("Bearer "+tok, "GET", "/api/v1/users/me", nil, &me)
		ids = append(ids, me.ID)
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = d.Call("admin", "POST", "/api/v1/licenses/assignments", map[string]string{"userId": id, "type": "professional"}, nil)
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == 201 {
			created++
		} else if s != 409 {
			t.Fatalf("unexpected status %d", s)
		}
	}
	var ov overview
	d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov)
	if created != 1 || ov.Professional.Consumed != 5 || ov.Excluded != 0 {
		t.Fatalf("%d assignments made, overview %+v; want 1 and 5/5 with nobody excluded", created, ov)
	}
}

func TestDynamicAssignmentAtLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		professional, analyzer  bool
		proSeats, analyzerSeats int
		want                    string
	}{
		{"both on, professional free", true, true, 10, 10, "professional"},
		{"both on, only analyzer free", true, true, 4, 10, "analyzer"},
		{"both on, none free", true, true, 4, 2, "analyzer_capacity"},
		{"professional only, free", true, false, 10, 10, "professional"},
		{"professional only, full", true, false, 4, 10, "analyzer_capacity"},
		{"analyzer only, free", false, true, 10, 10, "analyzer"},
		{"analyzer only, full", false, true, 10, 2, "analyzer_capacity"},
		{"both off", false, false, 10, 10, "analyzer_capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := servicetest.Dev(t)
			ctx := context.Background()
			key := devKey(t, func(tm *licenses.Terms) { tm.Professional, tm.Analyzer = tt.proSeats, tt.analyzerSeats })
			if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": key}, nil); s != 200 {
				t.Fatal(s)
			}
			st, err := d.Svc.Store.Settings.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.DynamicProfessional, st.DynamicAnalyzer = tt.professional, tt.analyzer
			if _, err := d.Svc.Store.Settings.Replace(ctx, *st); err != nil {
				t.Fatal(err)
			}
			tok, err := idp.FetchDevToken(ctx, d.URL(), "newcomer", nil, "")
			if err != nil {
				t.Fatal(err)
			}
			var me struct {
				License struct{ Type string }
			}
			if s := d.Call("Bearer "+tok, "GET", "/api/v1/users/me", nil, &me); s != 200 || me.License.Type != tt.want {
				t.Fatalf("%d, license %q, want %q", s, me.License.Type, tt.want)
			}
		})
	}
}

func TestCapacityExhaustion(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	key := devKey(t, func(tm *licenses.Terms) { tm.CapacityMinutes, tm.OverageMinutes = 1, 0 })
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": key}, nil); s != 200 {
		t.Fatal(s)
	}
	// erin has analyzer capacity; her first request consumes the only minute.
	if s := d.Call("erin", "GET", "/api/v1/users/me", nil, nil); s != 200 {
		t.Fatalf("erin: %d", s)
	}
	d.Svc.Licenses.Invalidate()
	if ok, reason := evaluate(t, d, "erin", "Q4 report"); ok || reason != "capacity_exhausted" {
		t.Fatalf("erin after the minutes ran out: %v %s", ok, reason)
	}
	var ov struct {
		AnalyzerCapacity struct {
			ConsumedMinutes int  `json:"consumedMinutes"`
			Exhausted       bool `json:"exhausted"`
		} `json:"analyzerCapacity"`
	}
	d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov)
	if ov.AnalyzerCapacity.ConsumedMinutes != 1 || !ov.AnalyzerCapacity.Exhausted {
		t.Fatalf("overview %+v", ov)
	}
}

func TestLicenseSharedSpacesQuota(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	// The demo tenant has 2 shared spaces.
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devKey(t, func(tm *licenses.Terms) { tm.SharedSpaces = 2 })}, nil); s != 200 {
		t.Fatal(s)
	}
	d.Svc.Licenses.Invalidate()
	if err := d.Svc.Licenses.SharedSpaceAllowed(ctx); err == nil {
		t.Fatal("a third shared space fits a quota of 2")
	}
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devKey(t, func(tm *licenses.Terms) { tm.SharedSpaces = 3 })}, nil); s != 200 {
		t.Fatal(s)
	}
	if err := d.Svc.Licenses.SharedSpaceAllowed(ctx); err != nil {
		t.Fatalf("quota of 3 with 2 spaces: %v", err)
	}
}

func TestPutKeyAsPlainText(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	key := devKey(t, func(tm *licenses.Terms) { tm.KeyID, tm.Professional = "plain-text", 7 })
	res := d.Do("admin", "PUT", "/api/v1/licenses/key", "\n"+key+"\n", map[string]string{"Content-Type": "text/plain; charset=utf-8"})
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("text/plain key: %d", res.StatusCode)
	}
	var ov overview
	if s := d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov); s != 200 || ov.KeyID != "plain-text" || ov.Professional.Total != 7 {
		t.Fatalf("overview after a text/plain key: %d %+v", s, ov)
	}
	// The raw key with what curl --data-binary sends by default (a form),
	// or with no type at all, is the key too; declared JSON must be JSON.
	for i, ct := range []string{"application/x-www-form-urlencoded", "", "application/octet-stream"} {
		key := devKey(t, func(tm *licenses.Terms) { tm.KeyID, tm.Professional = fmt.Sprintf("raw-%d", i), 8+i })
		res := d.Do("admin", "PUT", "/api/v1/licenses/key", key, map[string]string{"Content-Type": ct})
		res.Body.Close()
		if s := d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov); res.StatusCode != 200 || s != 200 || ov.Professional.Total != 8+i {
			t.Fatalf("raw key as %q: %d, overview %+v", ct, res.StatusCode, ov)
		}
	}
	var e servicetest.Error
	res = d.Do("admin", "PUT", "/api/v1/licenses/key", key, map[string]string{"Content-Type": "application/json"})
	_ = json.NewDecoder(res.Body).Decode(&e)
	res.Body.Close()
	if res.StatusCode != 400 || e.Code != "malformed_json" {
		t.Fatalf("a raw key declared JSON: %d %+v", res.StatusCode, e)
	}
}

func TestApplyKeyWithoutPublicKey(t *testing.T) {
	t.Parallel()
	svc := licenses.New(storetest.New(t), nil)
	_, err := svc.ApplyKey(context.Background(), devKey(t, nil), "")
	e := apierror.From(err)
	if e.Status != 409 || e.Code != "license_public_key_missing" || !strings.Contains(e.Message, "--license-public-key") {
		t.Fatalf("%+v", e)
	}
}

// Dev mode with a production public key (an operator trying their key
// pair): the server starts, the demo tenant without a license, and the
// production key applies while the dev key is refused.
func TestDevModeWithAProductionPublicKey(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := servicetest.DevWith(t, func(c *service.Config) { c.LicensePublicKey = base64.StdEncoding.EncodeToString(pub) })
	var ov overview
	if s := d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov); s != 200 || ov.KeyID != "" || ov.Professional.Consumed != 0 {
		t.Fatalf("overview before a key: %d %+v", s, ov)
	}
	var e servicetest.Error
	if s := d.Call("admin", "PUT", "/api/v1/licenses/key", map[string]string{"key": devKey(t, nil)}, &e); s != 400 || e.Code != "license_key_bad_signature" {
		t.Fatalf("the dev key: %d %+v", s, e)
	}
	terms := licenses.DevTerms(time.Now())
	terms.KeyID, terms.Professional = "acme-2027", 50
	key, err := licenses.Sign(priv, terms)
	if err != nil {
		t.Fatal(err)
	}
	res := d.Do("admin", "PUT", "/api/v1/licenses/key", key+"\n", map[string]string{"Content-Type": "text/plain"})
	res.Body.Close()
	if s := d.Call("admin", "GET", "/api/v1/licenses/overview", nil, &ov); res.StatusCode != 200 || s != 200 || ov.KeyID != "acme-2027" || ov.Professional.Total != 50 {
		t.Fatalf("the production key: %d, overview %+v", res.StatusCode, ov)
	}
}
