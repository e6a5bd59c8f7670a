package apitest_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/resources/events"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

type event struct {
	ID       string         `json:"id"`
	Time     string         `json:"time"`
	Source   string         `json:"source"`
	Type     string         `json:"type"`
	UserID   string         `json:"userId"`
	UserName string         `json:"userName"`
	Data     map[string]any `json:"data"`
}

type eventsPage struct {
	Items []event `json:"items"`
	Next  string  `json:"next"`
}

// seed writes events at known times, oldest first (ids grow with time, as
// they do for events recorded as they happen), and returns their ids.
func seed(t *testing.T, s *store.Store, base time.Time, rows [][3]string) []string {
	t.Helper()
	var ids []string
	for i, r := range rows {
		e := store.Event{ID: store.NewID(), Time: base.Add(time.Duration(i) * time.Hour), Source: r[0], Type: r[1], UserID: r[2],
			Data: map[string]any{"n": i}}
		if _, err := s.Database().Collection("events").InsertOne(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func eventsList(t *testing.T, d *servicetest.Tenant, query string) []event {
	t.Helper()
	var all []event
	cursor := ""
	for range 50 {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p eventsPage
		var e servicetest.Error
		if st := d.Call("admin", "GET", "/api/v1/events?"+q, nil, &p); st != 200 {
			d.Call("admin", "GET", "/api/v1/events?"+q, nil, &e)
			t.Fatalf("GET /events?%s = %d %+v", q, st, e)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		cursor = p.Next
	}
	t.Fatal("the cursor never ends")
	return nil
}

func TestOnlyTenantAdminsReadEvents(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	for _, tt := range []struct {
		user   string
		status int
	}{
		{"admin", 200}, {"alice", 403}, {"bob", 403}, {"carol", 403}, {"grace", 403}, {"frank", 403}, {"", 401},
	} {
		t.Run(tt.user, func(t *testing.T) {
			if st := d.Call(tt.user, "GET", "/api/v1/events", nil, nil); st != tt.status {
				t.Fatalf("GET /events as %q = %d, want %d", tt.user, st, tt.status)
			}
		})
	}
}

func TestEventFiltersSortAndCursor(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	alice, bob := d.Users["alice"].ID, d.Users["bob"].ID
	// Keep the events below from the service's retention job, which may
	// run while the test does.
	st, err := d.Svc.Store.Settings.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.EventRetentionDays = 0
	if _, err := d.Svc.Store.Settings.Replace(context.Background(), *st); err != nil {
		t.Fatal(err)
	}
	// Recent times: a retention run that began before the setting changed
	// (it runs at start) must not find them old either.
	base := time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)
	ids := seed(t, d.Svc.Store, base, [][3]string{
		{"com.test/licenses", "assignment.added", alice},   // 0  10:00
		{"com.test/licenses", "assignment.revoked", alice}, // 1  11:00
		{"com.test/engine", "app.created", bob},            // 2  12:00
		{"com.test/engine", "app.created", alice},          // 3  13:00
		{"com.test/engine", "app.created", "u-gone"},       // 4  14:00
		{"com.test/licenses", "assignment.added", bob},     // 5  15:00
		{"com.test/edge-auth", "user-session.begin", bob},  // 6  16:00
	})
	at := func(i int) string { return base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339) }
	inZone := func(i int) string { // the same instant written at +02:00
		return base.Add(time.Duration(i) * time.Hour).In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
	}
	pick := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, ids[i])
		}
		return out
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"by source, newest first by default", "source=com.test/licenses", pick(5, 1, 0)},
		{"by source, oldest first", "source=com.test/licenses&sort=time", pick(0, 1, 5)},
		{"by source, newest first", "source=com.test/engine&sort=-time", pick(4, 3, 2)},
		{"by type", "type=app.created&sort=time", pick(2, 3, 4)},
		{"by user", "userId=" + bob + "&since=" + at(0) + "&until=" + at(7) + "&sort=time", pick(2, 5, 6)},
		{"by source and user", "source=com.test/engine&userId=" + alice, pick(3)},
		{"since is inclusive", "since=" + at(5) + "&until=" + at(7) + "&sort=time", pick(5, 6)},
		{"until is exclusive", "since=" + at(0) + "&until=" + at(2) + "&sort=time", pick(0, 1)},
		{"since and until with an offset", "since=" + url.QueryEscape(inZone(1)) + "&until=" + url.QueryEscape(inZone(2)), pick(1)},
		{"pages of one, oldest first", "type=app.created&sort=time&limit=1", pick(2, 3, 4)},
		{"pages of two, newest first", "since=" + at(0) + "&until=" + at(7) + "&limit=2", pick(6, 5, 4, 3, 2, 1, 0)},
		{"nothing matches", "source=com.test/nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range eventsList(t, d, tt.query) {
				got = append(got, e.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("GET /events?%s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	// Events are shown in UTC with the user's name ("" for unknown users).
	for _, e := range eventsList(t, d, "source=com.test/engine&sort=time") {
		if !strings.HasSuffix(e.Time, "Z") {
			t.Fatalf("time %q is not UTC", e.Time)
		}
		want := map[string]string{bob: "bob", alice: "alice", "u-gone": ""}[e.UserID]
		if e.UserName != want || e.Data == nil {
			t.Fatalf("event %+v: userName %q, want %q", e, e.UserName, want)
		}
	}
	// The events of the service itself are listed too: admin's login.
	if got := eventsList(t, d, "type=user-session.begin&userId="+d.Users["admin"].ID); len(got) == 0 || got[0].UserName != "admin" {
		t.Fatalf("admin's login events: %+v", got)
	}
}

func TestEventParametersAreValidated(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	tests := []struct {
		query string
		field string
	}{
		{"since=yesterday", "since"},
		{"since=2026-01-01", "since"},
		{"until=2026-01-01T00:00:00", "until"},
		{"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"sort=date", "sort"},
		{"sort=%2Btime", "sort"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"cursor=not-a-cursor", "cursor"},
		{"source=" + strings.Repeat("s", 201), "source"},
		{"type=" + strings.Repeat("t", 201), "type"},
		{"userId=" + strings.Repeat("u", 201), "userId"},
		{"user=alice", "user"},
		{"sort=time&order=asc", "order"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			var e servicetest.Error
			if st := d.Call("admin", "GET", "/api/v1/events?"+tt.query, nil, &e); st != 400 || e.Details["field"] != tt.field {
				t.Fatalf("GET /events?%s = %d %+v, want 400 naming %s", tt.query, st, e, tt.field)
			}
		})
	}
}

func TestRetentionDeletesOldEvents(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	seed(t, s, now.AddDate(0, 0, -100), [][3]string{{"com.test/a", "old", "u1"}})                                   // 100 days old
	seed(t, s, now.AddDate(0, 0, -40), [][3]string{{"com.test/a", "older-than-30", "u1"}})                          // 40 days
	seed(t, s, now.AddDate(0, 0, -10), [][3]string{{"com.test/a", "recent", "u1"}, {"com.test/a", "recent", "u1"}}) // 10 days
	r := &events.Retention{Store: s, Now: func() time.Time { return now }}
	count := func() int64 {
		n, err := s.Database().Collection("events").CountDocuments(ctx, bson.D{{Key: "source", Value: "com.test/a"}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		days    int
		deleted int64
		left    int64
	}{
		{0, 0, 4},   // 0 keeps every event
		{365, 0, 4}, // nothing is a year old
		{90, 1, 3},  // default: the 100-day-old event goes
		{30, 1, 2},
		{30, 0, 2}, // idempotent
		{5, 2, 0},
	}
	for _, st := range steps {
		cur, err := s.Settings.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cur.EventRetentionDays = st.days
		if _, err := s.Settings.Replace(ctx, *cur); err != nil {
			t.Fatal(err)
		}
		n, err := r.Prune(ctx)
		if err != nil || n != st.deleted || count() != st.left {
			t.Fatalf("retention %d days: deleted %d (%v), %d left; want %d deleted, %d left", st.days, n, err, count(), st.deleted, st.left)
		}
	}
	// Each deletion is itself recorded.
	evs, err := s.Events.All(ctx, "events.deleted")
	if err != nil || len(evs) != 3 || evs[0].Source != events.EventSource {
		t.Fatalf("events.deleted events: %+v, %v", evs, err)
	}

	// The job runs at start and stops with its context.
	seed(t, s, now.AddDate(0, 0, -400), [][3]string{{"com.test/a", "ancient", "u1"}})
	jobCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(jobCtx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retention job did not run at start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the retention job did not stop with its context")
	}
}
