package apitest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/schedules"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

type schedule struct {
	ID         string     `json:"id"`
	AppID      string     `json:"appId"`
	AppName    string     `json:"appName"`
	Interval   string     `json:"interval"`
	Start      time.Time  `json:"start"`
	Timezone   string     `json:"timezone"`
	Enabled    bool       `json:"enabled"`
	NextRun    *time.Time `json:"nextRun"`
	LastStatus string     `json:"lastStatus"`
	State      string     `json:"state"`
	Version    int64      `json:"version"`
	CreatedBy  string     `json:"createdBy"`
}

type schedulesPage struct {
	Items []schedule `json:"items"`
	Next  string     `json:"next"`
}

func daily(appID string) map[string]any {
	return map[string]any{"appId": appID, "interval": "daily", "start": "2026-01-01T02:30:00+01:00", "timezone": "Europe/Berlin"}
}

func schedulesCreate(t *testing.T, d *servicetest.Tenant, user string, body any) schedule {
	t.Helper()
	return servicetest.Create[schedule](d, user, "/api/v1/schedules", body)
}

// Who creates reload schedules (seed 000 §1.4, §5.2: app owners create and
// edit them in the hub; §6.7 "Reload the app" is a professional row).
func TestWhoCreatesSchedules(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		name   string
		user   string
		app    string
		status int
		reason string // details.reason of a 403
	}{
		{"owner of an app in her shared space", "alice", "Q4 report", 201, ""},
		{"owner of a personal app", "alice", "Alice's sandbox", 201, ""},
		{"owner of an app in a managed space (Can manage)", "alice", "Company KPIs", 201, ""},
		{"Can view member, not the owner", "bob", "Q4 report", 403, "analyzer_license"},
		{"owner with an analyzer license (no reload row)", "dave", "Pipeline", 403, "analyzer_license"},
		{"owner of a personal app with an analyzer license", "bob", "Bob's notes", 403, "analyzer_license"},
		{"tenant admin: views and deletes, does not create (the app is not found to them)", "admin", "Q4 report", 404, ""},
		{"Has restricted view in the managed space", "erin", "Company KPIs", 403, ""},
		{"Can operate without a professional license", "grace", "Company KPIs", 403, ""},
		{"member of another space: the app is not found", "carol", "Alice's sandbox", 404, ""},
		{"disabled user", "frank", "Q4 report", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			st := d.Call(tt.user, "POST", "/api/v1/schedules", daily(d.Apps[tt.app].ID), &e)
			if st != tt.status {
				t.Fatalf("POST as %s for %q = %d %+v, want %d", tt.user, tt.app, st, e, tt.status)
			}
			if tt.reason != "" && e.Details["reason"] != tt.reason {
				t.Fatalf("refusal reason %v, want %s (%+v)", e.Details["reason"], tt.reason, e)
			}
		})
	}
}

// Tenant admins see, view and delete every schedule in the console; app
// owners see and edit theirs; other members see none.
func TestWhoSeesEditsAndDeletesSchedules(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	q4 := schedulesCreate(t, d, "alice", daily(d.Apps["Q4 report"].ID))
	sandbox := schedulesCreate(t, d, "alice", daily(d.Apps["Alice's sandbox"].ID))
	kpis := schedulesCreate(t, d, "alice", daily(d.Apps["Company KPIs"].ID))
	all := []string{q4.ID, sandbox.ID, kpis.ID}

	lists := []struct {
		user string
		want []string
	}{
		{"alice", all},
		{"admin", all},
		{"bob", nil},
		{"dave", nil},
		{"grace", nil},
		{"erin", nil},
	}
	for _, tt := range lists {
		t.Run("list as "+tt.user, func(t *testing.T) {
			var p schedulesPage
			if st := d.Call(tt.user, "GET", "/api/v1/schedules", nil, &p); st != 200 {
				t.Fatalf("GET /schedules = %d", st)
			}
			var got []string
			for _, s := range p.Items {
				got = append(got, s.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("%s sees %v, want %v", tt.user, got, tt.want)
			}
		})
	}
	var byApp schedulesPage
	d.Call("admin", "GET", "/api/v1/schedules?appId="+d.Apps["Company KPIs"].ID, nil, &byApp)
	if len(byApp.Items) != 1 || byApp.Items[0].ID != kpis.ID || byApp.Items[0].AppName != "Company KPIs" {
		t.Fatalf("GET /schedules?appId= : %+v", byApp.Items)
	}
	var first, second schedulesPage
	d.Call("admin", "GET", "/api/v1/schedules?limit=2", nil, &first)
	d.Call("admin", "GET", "/api/v1/schedules?limit=2&cursor="+first.Next, nil, &second)
	if len(first.Items) != 2 || first.Next == "" || len(second.Items) != 1 || second.Next != "" || second.Items[0].ID != kpis.ID {
		t.Fatalf("pages: %+v / %+v", first, second)
	}

	actions := []struct {
		name   string
		user   string
		method string
		id     string
		body   any
		status int
	}{
		{"owner views", "alice", "GET", q4.ID, nil, 200},
		{"tenant admin views", "admin", "GET", q4.ID, nil, 200},
		// A schedule the caller may not read is not found to them.
		{"Can view member does not view", "bob", "GET", q4.ID, nil, 404},
		{"Can operate without a license does not view", "grace", "GET", kpis.ID, nil, 404},
		{"unknown schedule", "admin", "GET", "nope", nil, 404},
		{"owner edits", "alice", "PATCH", q4.ID, map[string]any{"interval": "weekly"}, 200},
		{"tenant admin does not edit", "admin", "PATCH", q4.ID, map[string]any{"enabled": false}, 403},
		{"Can view member does not edit", "bob", "PATCH", q4.ID, map[string]any{"enabled": false}, 404},
		{"Can edit member with an analyzer license does not edit", "dave", "PATCH", q4.ID, map[string]any{"enabled": false}, 404},
		{"Can view member does not delete", "bob", "DELETE", q4.ID, nil, 404},
		{"Has restricted view does not delete", "erin", "DELETE", kpis.ID, nil, 404},
		{"tenant admin deletes", "admin", "DELETE", sandbox.ID, nil, 204},
		{"deleted schedule is gone", "admin", "GET", sandbox.ID, nil, 404},
		{"owner deletes", "alice", "DELETE", kpis.ID, nil, 204},
	}
	for _, tt := range actions {
		t.Run(tt.name, func(t *testing.T) {
			var e servicetest.Error
			if st := d.Call(tt.user, tt.method, "/api/v1/schedules/"+tt.id, tt.body, &e); st != tt.status {
				t.Fatalf("%s as %s = %d %+v, want %d", tt.method, tt.user, st, e, tt.status)
			}
		})
	}

	ctx := context.Background()
	for _, tt := range []struct {
		typ  string
		user string
		n    int
	}{
		{"schedule.created", "alice", 3},
		{"schedule.updated", "alice", 1},
		{"schedule.deleted", "", 2},
	} {
		evs, err := d.Svc.Store.Events.All(ctx, tt.typ)
		if err != nil || len(evs) != tt.n {
			t.Fatalf("%s events: %d, %v; want %d", tt.typ, len(evs), err, tt.n)
		}
		for _, e := range evs {
			if e.Source != schedules.EventSource || e.Data["scheduleId"] == nil || (tt.user != "" && e.UserID != d.Users[tt.user].ID) {
				t.Fatalf("%s event: %+v", tt.typ, e)
			}
		}
	}
}

func TestScheduleInputIsValidated(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	app := d.Apps["Q4 report"].ID
	with := func(k string, v any) map[string]any {
		b := daily(app)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	posts := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"empty body", "", 400, "body"},
		{"malformed JSON", `{"appId":`, 400, "body"},
		{"unknown field", with("every", "day"), 400, "every"},
		{"no app", with("appId", nil), 400, "appId"},
		{"unknown app", with("appId", "no-such-app"), 404, "appId"},
		{"no interval", with("interval", nil), 400, "interval"},
		{"unknown interval", with("interval", "biweekly"), 400, "interval"},
		{"interval in capitals", with("interval", "Daily"), 400, "interval"},
		{"unknown time zone", with("timezone", "Mars/Olympus_Mons"), 400, "timezone"},
		{"server time zone", with("timezone", "Local"), 400, "timezone"},
		{"offset instead of a zone", with("timezone", "+01:00"), 400, "timezone"},
		{"no start", with("start", nil), 400, "start"},
		{"start not a time", with("start", "tomorrow at 3"), 400, "start"},
		{"start as a date only", with("start", "2026-05-01"), 400, "start"},
		{"start before 1970", with("start", "1900-01-01T00:00:00Z"), 400, "start"},
		{"start beyond 2999", with("start", "3000-01-01T00:00:00Z"), 400, "start"},
		{"start of the wrong type", with("start", 1767225600), 400, "start"},
		{"enabled of the wrong type", with("enabled", "yes"), 400, "enabled"},
		{"single reload in the past", map[string]any{"appId": app, "interval": "once", "start": "2020-01-01T00:00:00Z"}, 400, "start"},
	}
	for _, tt := range posts {
		t.Run("POST "+tt.name, func(t *testing.T) {
			var e servicetest.Error
			st := d.Call("alice", "POST", "/api/v1/schedules", tt.body, &e)
			if st != tt.status || e.Details["field"] != tt.field {
				t.Fatalf("POST %v = %d %+v, want %d naming %s", tt.body, st, e, tt.status, tt.field)
			}
		})
	}

	s := schedulesCreate(t, d, "alice", daily(app))
	patches := []struct {
		name   string
		id     string
		body   any
		status int
		field  string
	}{
		{"nothing to change", s.ID, map[string]any{}, 400, "body"},
		{"unknown field", s.ID, map[string]any{"appId": app}, 400, "appId"},
		{"unknown interval", s.ID, map[string]any{"interval": "fortnightly"}, 400, "interval"},
		{"unknown time zone", s.ID, map[string]any{"timezone": "Europe/Atlantis"}, 400, "timezone"},
		{"bad start", s.ID, map[string]any{"start": "2026-13-01T00:00:00Z"}, 400, "start"},
		{"single reload in the past", s.ID, map[string]any{"interval": "once"}, 400, "start"},
		{"stale version", s.ID, map[string]any{"enabled": false, "version": s.Version + 7}, 409, "version"},
		{"unknown schedule", "no-such-schedule", map[string]any{"enabled": false}, 404, ""},
	}
	for _, tt := range patches {
		t.Run("PATCH "+tt.name, func(t *testing.T) {
			var e servicetest.Error
			st := d.Call("alice", "PATCH", "/api/v1/schedules/"+tt.id, tt.body, &e)
			got, _ := e.Details["field"].(string)
			if st != tt.status || got != tt.field {
				t.Fatalf("PATCH %v = %d %+v, want %d naming %q", tt.body, st, e, tt.status, tt.field)
			}
		})
	}
	// None of the refused changes was applied.
	var after schedule
	d.Call("alice", "GET", "/api/v1/schedules/"+s.ID, nil, &after)
	if after.Version != s.Version || after.Interval != "daily" || !after.Enabled {
		t.Fatalf("after refused changes: %+v", after)
	}
}

// nextRun is computed in the schedule's time zone, from now on.
func TestScheduleNextRunAndState(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	app := d.Apps["Q4 report"].ID
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Now()

	// A local start without an offset is read in the time zone.
	s := schedulesCreate(t, d, "alice", map[string]any{"appId": app, "interval": "daily", "start": "2026-01-01T02:30:00", "timezone": "Europe/Berlin"})
	if !s.Start.Equal(time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC)) || s.Timezone != "Europe/Berlin" || !s.Enabled ||
		s.State != schedules.StateEnabled || s.AppName != "Q4 report" || s.CreatedBy != d.Users["alice"].ID {
		t.Fatalf("created: %+v", s)
	}
	if s.NextRun == nil || s.NextRun.Before(now.Add(-time.Second)) || s.NextRun.After(now.Add(25*time.Hour)) {
		t.Fatalf("nextRun %v is not the next daily run after %s", s.NextRun, now)
	}
	if h, m, _ := s.NextRun.In(berlin).Clock(); m != 30 || (h != 2 && h != 3) {
		t.Fatalf("nextRun %s is not 02:30 Berlin time", s.NextRun.In(berlin))
	}

	steps := []struct {
		name  string
		patch map[string]any
		check func(s schedule) bool
	}{
		{"disabled: no next run", map[string]any{"enabled": false}, func(s schedule) bool {
			return s.NextRun == nil && s.State == schedules.StateDisabled && !s.Enabled
		}},
		{"enabled again: the next run is back", map[string]any{"enabled": true}, func(s schedule) bool {
			return s.NextRun != nil && s.NextRun.After(now.Add(-time.Second)) && s.State == schedules.StateEnabled
		}},
		{"hourly in New York: within the hour, on the minute of the start", map[string]any{"interval": "hourly", "timezone": "America/New_York", "start": "2026-01-01T00:45:00-05:00"}, func(s schedule) bool {
			return s.NextRun != nil && s.NextRun.Sub(now) <= time.Hour && s.NextRun.Minute() == 45 && s.Timezone == "America/New_York"
		}},
		{"a single reload ahead runs at its start", map[string]any{"interval": "once", "start": now.Add(48 * time.Hour).UTC().Format(time.RFC3339)}, func(s schedule) bool {
			return s.NextRun != nil && s.NextRun.Equal(s.Start) && s.Start.Sub(now) > 47*time.Hour
		}},
		{"monthly on the 31st", map[string]any{"interval": "monthly", "start": "2025-01-31T09:00:00+01:00", "timezone": "Europe/Berlin"}, func(s schedule) bool {
			l := s.NextRun.In(berlin)
			last := time.Date(l.Year(), l.Month()+1, 0, 0, 0, 0, 0, berlin).Day()
			return s.NextRun.After(now) && l.Day() == last && l.Hour() == 9 && s.NextRun.Sub(now) < 32*24*time.Hour
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got schedule
			var e servicetest.Error
			if code := d.Call("alice", "PATCH", "/api/v1/schedules/"+s.ID, st.patch, &got); code != 200 {
				d.Call("alice", "PATCH", "/api/v1/schedules/"+s.ID, st.patch, &e)
				t.Fatalf("PATCH %v = %d %+v", st.patch, code, e)
			}
			if !st.check(got) {
				t.Fatalf("after PATCH %v: %+v (nextRun %v)", st.patch, got, got.NextRun)
			}
			if got.Version <= s.Version {
				t.Fatalf("version %d did not grow from %d", got.Version, s.Version)
			}
			s = got
		})
	}
	// The version a client read must still be current.
	var e servicetest.Error
	if code := d.Call("alice", "PATCH", "/api/v1/schedules/"+s.ID, map[string]any{"enabled": false, "version": s.Version - 1}, &e); code != 409 || e.Code != "version_conflict" {
		t.Fatalf("stale version: %d %+v", code, e)
	}
	if code := d.Call("alice", "PATCH", "/api/v1/schedules/"+s.ID, map[string]any{"enabled": false, "version": s.Version}, nil); code != 200 {
		t.Fatalf("current version: %d", code)
	}
}

// A schedule made over HTTP runs as its app's owner and lands in the app's
// reload history; once the owner may no longer reload (disabled), the run
// fails and says why.
func TestScheduledRunsAsTheAppOwner(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	ctx := context.Background()
	// Both start an hour ahead, so that neither lies in the past when it
	// is created however slow the machine (a start a few seconds ahead
	// had passed under load: the single reload was refused, the hourly
	// one began an hour later). The test's scheduler reads a clock past
	// that hour, so both are due to it at once; the service's own
	// scheduler, on the wall clock, leaves them alone.
	start := time.Now().Add(time.Hour).UTC()
	ok := schedulesCreate(t, d, "alice", map[string]any{"appId": d.Apps["Alice's sandbox"].ID, "interval": "once",
		"start": start.Format(time.RFC3339Nano), "timezone": "UTC"})
	hourly := schedulesCreate(t, d, "alice", map[string]any{"appId": d.Apps["Q4 report"].ID, "interval": "hourly",
		"start": start.Format(time.RFC3339), "timezone": "UTC"})
	// alice is disabled before the hourly schedule's second run.
	sc := &schedules.Scheduler{Store: d.Svc.Store, Decider: d.Svc.Engine,
		Now: func() time.Time { return time.Now().Add(time.Hour + time.Minute) }}
	waitRun(t, sc, d.Svc.Store, ok.ID, 1)
	waitRun(t, sc, d.Svc.Store, hourly.ID, 1)

	var got schedule
	d.Call("admin", "GET", "/api/v1/schedules/"+ok.ID, nil, &got)
	if got.State != schedules.StateCompleted || got.NextRun != nil || got.LastStatus != store.ReloadSucceeded {
		t.Fatalf("single reload after its run: %+v", got)
	}
	rl, _, err := d.Svc.Store.Reloads().List(ctx, d.Apps["Alice's sandbox"].ID, store.Page{})
	if err != nil || len(rl) != 1 || rl[0].Trigger != store.ReloadScheduled || rl[0].UserID != d.Users["alice"].ID ||
		rl[0].ScheduleID != ok.ID || rl[0].Status != store.ReloadSucceeded {
		t.Fatalf("reload history of the sandbox: %+v, %v", rl, err)
	}

	if st := d.Call("admin", "PATCH", "/api/v1/users/"+d.Users["alice"].ID, map[string]any{"status": "disabled"}, nil); st != 200 {
		t.Fatalf("disable alice: %d", st)
	}
	// Bring the hourly run forward to now, as if an hour had passed.
	h, err := d.Svc.Store.Schedules.Get(ctx, hourly.ID)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second)
	if _, err := d.Svc.Store.Schedules.Update(ctx, h.ID, store.ScheduleChange{Version: h.Version, SetNextRun: true, NextRun: &past}); err != nil {
		t.Fatal(err)
	}
	waitRun(t, sc, d.Svc.Store, hourly.ID, 2)
	h, _ = d.Svc.Store.Schedules.Get(ctx, hourly.ID)
	if h.LastStatus != store.ReloadFailed || !strings.Contains(h.LastError, "user_disabled") || schedules.State(h) != schedules.StateFailed || h.NextRun == nil {
		t.Fatalf("run as a disabled owner: %q %q, next %v", h.LastStatus, h.LastError, h.NextRun)
	}
	rl, _, _ = d.Svc.Store.Reloads().List(ctx, d.Apps["Q4 report"].ID, store.Page{})
	if len(rl) != 2 || rl[0].Status != store.ReloadFailed || rl[1].Status != store.ReloadSucceeded {
		t.Fatalf("reload history of Q4 report, newest first: %+v", rl)
	}
}

// waitRun runs the scheduler until schedule id has n reloads (the service's
// own scheduler may take some of them: either way, once each).
func waitRun(t *testing.T, sc *schedules.Scheduler, s *store.Store, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := sc.RunDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := len(reloadsOf(t, s, id))
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("schedule %s has %d reloads, want %d", id, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A schedule whose app was deleted belongs to nobody: its owner no longer
// sees it, tenant admins still see and delete it.
func TestOrphanedSchedulesStayVisibleToTenantAdmins(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	s := schedulesCreate(t, d, "alice", daily(d.Apps["Alice's sandbox"].ID))
	if err := d.Svc.Store.Apps.Delete(context.Background(), d.Apps["Alice's sandbox"].ID); err != nil {
		t.Fatal(err)
	}
	d.Svc.Engine.Invalidate("schedule", s.ID)
	var got schedule
	if st := d.Call("admin", "GET", "/api/v1/schedules/"+s.ID, nil, &got); st != 200 || got.AppName != "" {
		t.Fatalf("admin GET of an orphaned schedule = %d %+v", st, got)
	}
	for _, tt := range []struct {
		user, method string
		status       int
	}{
		{"alice", "GET", 404}, {"alice", "PATCH", 404}, {"alice", "DELETE", 404}, {"admin", "DELETE", 204},
	} {
		var body any
		if tt.method == "PATCH" {
			body = map[string]any{"enabled": false}
		}
		if st := d.Call(tt.user, tt.method, "/api/v1/schedules/"+s.ID, body, nil); st != tt.status {
			t.Fatalf("%s as %s = %d, want %d", tt.method, tt.user, st, tt.status)
		}
	}
}
