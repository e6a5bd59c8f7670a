package apitest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/settings"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

type tenantSettings struct {
	OnDemandApps        bool  `json:"onDemandApps"`
	AutoCreateGroups    bool  `json:"autoCreateGroups"`
	DynamicProfessional bool  `json:"dynamicProfessional"`
	DynamicAnalyzer     bool  `json:"dynamicAnalyzer"`
	APIKeysEnabled      bool  `json:"apiKeysEnabled"`
	APIKeyMaxExpiryDays int   `json:"apiKeyMaxExpiryDays"`
	APIKeyMaxPerUser    int   `json:"apiKeyMaxPerUser"`
	EventRetentionDays  int   `json:"eventRetentionDays"`
	Version             int64 `json:"version"`
}

func get(t *testing.T, d *servicetest.Tenant) tenantSettings {
	t.Helper()
	var s tenantSettings
	if st := d.Call("admin", "GET", "/api/v1/settings", nil, &s); st != 200 {
		t.Fatalf("GET /settings = %d", st)
	}
	return s
}

func TestOnlyTenantAdminsReadAndChangeSettings(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	for _, tt := range []struct {
		user       string
		get, patch int
	}{
		{"admin", 200, 200}, {"alice", 403, 403}, {"bob", 403, 403}, {"carol", 403, 403},
		{"grace", 403, 403}, {"frank", 403, 403}, {"", 401, 401},
	} {
		t.Run(tt.user, func(t *testing.T) {
			if st := d.Call(tt.user, "GET", "/api/v1/settings", nil, nil); st != tt.get {
				t.Fatalf("GET as %q = %d, want %d", tt.user, st, tt.get)
			}
			if st := d.Call(tt.user, "PATCH", "/api/v1/settings", map[string]any{"onDemandApps": true}, nil); st != tt.patch {
				t.Fatalf("PATCH as %q = %d, want %d", tt.user, st, tt.patch)
			}
		})
	}
	// The refused changes left no trace: one change, by admin.
	evs, err := d.Svc.Store.Events.All(context.Background(), "settings.updated")
	if err != nil || len(evs) != 1 || evs[0].UserID != d.Users["admin"].ID || evs[0].Source != settings.EventSource {
		t.Fatalf("settings.updated events: %+v, %v", evs, err)
	}
}

func TestSettingsChangeAndAreRecorded(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	before := get(t, d)
	def := store.DefaultSettings()
	if before.OnDemandApps || before.AutoCreateGroups != def.AutoCreateGroups || before.APIKeyMaxExpiryDays != def.APIKeyMaxExpiryDays ||
		before.APIKeyMaxPerUser != def.APIKeyMaxPerUser || before.EventRetentionDays != def.EventRetentionDays {
		t.Fatalf("defaults: %+v", before)
	}
	steps := []struct {
		name  string
		patch map[string]any
		check func(s tenantSettings) bool
		bump  bool
	}{
		{"every flag and limit at once", map[string]any{
			"onDemandApps": true, "autoCreateGroups": false, "dynamicProfessional": true, "dynamicAnalyzer": true,
			"apiKeysEnabled": false, "apiKeyMaxExpiryDays": 30, "apiKeyMaxPerUser": 2, "eventRetentionDays": 0,
		}, func(s tenantSettings) bool {
			return s.OnDemandApps && !s.AutoCreateGroups && s.DynamicProfessional && s.DynamicAnalyzer && !s.APIKeysEnabled &&
				s.APIKeyMaxExpiryDays == 30 && s.APIKeyMaxPerUser == 2 && s.EventRetentionDays == 0
		}, true},
		{"one field leaves the others", map[string]any{"apiKeysEnabled": true}, func(s tenantSettings) bool {
			return s.APIKeysEnabled && s.OnDemandApps && s.APIKeyMaxPerUser == 2
		}, true},
		{"the bounds are allowed", map[string]any{"apiKeyMaxExpiryDays": 3650, "apiKeyMaxPerUser": 100, "eventRetentionDays": 3650}, func(s tenantSettings) bool {
			return s.APIKeyMaxExpiryDays == 3650 && s.APIKeyMaxPerUser == 100 && s.EventRetentionDays == 3650
		}, true},
		{"the lower bounds too", map[string]any{"apiKeyMaxExpiryDays": 1, "apiKeyMaxPerUser": 1}, func(s tenantSettings) bool {
			return s.APIKeyMaxExpiryDays == 1 && s.APIKeyMaxPerUser == 1
		}, true},
		{"the same values change nothing", map[string]any{"apiKeyMaxPerUser": 1, "onDemandApps": true}, func(s tenantSettings) bool {
			return s.APIKeyMaxPerUser == 1
		}, false},
	}
	cur := before
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got tenantSettings
			if code := d.Call("admin", "PATCH", "/api/v1/settings", st.patch, &got); code != 200 {
				t.Fatalf("PATCH %v = %d", st.patch, code)
			}
			if !st.check(got) || !st.check(get(t, d)) {
				t.Fatalf("after PATCH %v: %+v", st.patch, got)
			}
			if want := cur.Version + map[bool]int64{true: 1, false: 0}[st.bump]; got.Version != want {
				t.Fatalf("version %d, want %d", got.Version, want)
			}
			cur = got
		})
	}
	var evs struct {
		Items []struct {
			UserName string `json:"userName"`
			Data     struct {
				Version int64                     `json:"version"`
				Changes map[string]map[string]any `json:"changes"`
			} `json:"data"`
		} `json:"items"`
	}
	if code := d.Call("admin", "GET", "/api/v1/events?type=settings.updated&source="+settings.EventSource+"&sort=time", nil, &evs); code != 200 || len(evs.Items) != 4 {
		t.Fatalf("settings.updated events: %d, %+v; want 4", code, evs)
	}
	first := evs.Items[0]
	if len(first.Data.Changes) != 8 || first.Data.Version != before.Version+1 || first.UserName != "admin" ||
		first.Data.Changes["apiKeyMaxPerUser"]["from"] != float64(def.APIKeyMaxPerUser) || first.Data.Changes["apiKeyMaxPerUser"]["to"] != float64(2) ||
		first.Data.Changes["onDemandApps"]["to"] != true {
		t.Fatalf("the first change as the events API shows it: %+v", first)
	}
	if last := evs.Items[3].Data.Changes; len(last) != 2 || last["apiKeyMaxPerUser"]["to"] != float64(1) {
		t.Fatalf("the last change: %+v", last)
	}
}

func TestSettingsInputIsValidated(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"empty body", "", "body"},
		{"nothing to change", map[string]any{}, "body"},
		{"only a version", map[string]any{"version": 1}, "body"},
		{"unknown setting", map[string]any{"darkMode": true}, "darkMode"},
		{"flag of the wrong type", map[string]any{"apiKeysEnabled": "no"}, "apiKeysEnabled"},
		{"number of the wrong type", map[string]any{"apiKeyMaxPerUser": "5"}, "apiKeyMaxPerUser"},
		{"fractional days", map[string]any{"apiKeyMaxExpiryDays": 1.5}, "apiKeyMaxExpiryDays"},
		{"expiry 0 days", map[string]any{"apiKeyMaxExpiryDays": 0}, "apiKeyMaxExpiryDays"},
		{"expiry over ten years", map[string]any{"apiKeyMaxExpiryDays": 3651}, "apiKeyMaxExpiryDays"},
		{"0 keys per user", map[string]any{"apiKeyMaxPerUser": 0}, "apiKeyMaxPerUser"},
		{"101 keys per user", map[string]any{"apiKeyMaxPerUser": 101}, "apiKeyMaxPerUser"},
		{"negative retention", map[string]any{"eventRetentionDays": -1}, "eventRetentionDays"},
		{"retention over ten years", map[string]any{"eventRetentionDays": 3651}, "eventRetentionDays"},
		{"one bad field spoils the patch", map[string]any{"onDemandApps": true, "apiKeyMaxPerUser": 1000}, "apiKeyMaxPerUser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if st := d.Call("admin", "PATCH", "/api/v1/settings", tt.body, &e); st != 400 || e.Details["field"] != tt.field {
				t.Fatalf("PATCH %v = %d %+v, want 400 naming %s", tt.body, st, e, tt.field)
			}
		})
	}
	if s := get(t, d); s.Version != 1 || s.OnDemandApps {
		t.Fatalf("refused patches changed the settings: %+v", s)
	}
}

func TestSettingsChangesAreCompareAndSwap(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	v := get(t, d).Version
	var e servicetest.Error
	if st := d.Call("admin", "PATCH", "/api/v1/settings", map[string]any{"onDemandApps": true, "version": v + 1}, &e); st != 409 || e.Code != "version_conflict" || e.Details["field"] != "version" {
		t.Fatalf("PATCH with a future version = %d %+v", st, e)
	}
	// Admins racing with the version they read: exactly one wins.
	const n = 6
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			codes[i] = d.Call("admin", "PATCH", "/api/v1/settings", map[string]any{"apiKeyMaxPerUser": 10 + i, "version": v}, nil)
		})
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 200:
			won++
		case 409:
		default:
			t.Fatalf("racing PATCH answered %d", c)
		}
	}
	s := get(t, d)
	if won != 1 || s.Version != v+1 || s.APIKeyMaxPerUser < 10 || s.APIKeyMaxPerUser >= 10+n {
		t.Fatalf("%d of %d racing changes won; settings %+v", won, n, s)
	}
}

// The settings are what the rest of the service obeys: with the API key
// switch off nobody generates a key.
func TestTheAPIKeySwitchIsObeyed(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	steps := []struct {
		enabled bool
		status  int
	}{
		{false, 403}, {true, 201},
	}
	for _, st := range steps {
		if code := d.Call("admin", "PATCH", "/api/v1/settings", map[string]any{"apiKeysEnabled": st.enabled}, nil); code != 200 {
			t.Fatalf("switch API keys to %v: %d", st.enabled, code)
		}
		var e servicetest.Error
		if code := d.Call("alice", "POST", "/api/v1/api-keys", map[string]any{"description": "ci"}, &e); code != st.status {
			t.Fatalf("API keys %v: generating a key = %d %+v, want %d", st.enabled, code, e, st.status)
		}
	}
}
