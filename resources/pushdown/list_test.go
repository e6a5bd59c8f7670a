package pushdown_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// member is a licensed viewer of two shared spaces and editor of a
// managed one, and owns the apps of u1.
var member = authz.Subject{ID: "u1", Name: "member", Status: "active", License: authz.License{Type: "professional"},
	Spaces: map[string][]string{"s1": {"canview"}, "s2": {"canview"}, "s3": {"canview"}}}

// TestList pages apps with an exact plan (one query a page) and with
// inexact ones (the superset scanned, each app decided by the real
// engine), at page sizes 1, 3 and 50: every page but the last is full, no
// app comes twice, none is skipped and the last page has no cursor.
func TestList(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	n := 120
	if testing.Short() {
		n = 40 // make test; make test-full lists all 120
	}
	apps := genApps(rand.New(rand.NewPCG(3, 4)), n)
	insertApps(t, s, apps)
	e := engine(t)
	decide := func(ctx context.Context, a *store.App) (bool, error) {
		d, err := e.Evaluate(ctx, &authz.Input{Subject: member, Action: "read", Resource: *view(a), Environment: "hub"})
		return d.Allow, err
	}
	readable := func(f *authz.Filter, viaEngine bool) []string {
		var ids []string
		for _, a := range apps {
			ok, err := f.Match(view(a))
			if err != nil {
				t.Fatal(err)
			}
			if ok && viaEngine {
				ok, err = decide(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
			}
			if ok {
				ids = append(ids, a.ID)
			}
		}
		return ids
	}
	spaces := authz.Eq("spaceId", "s1", "s2", "s3")
	for _, tc := range []struct {
		name  string
		plan  *authz.Filter
		exact bool
		want  []string
	}{
		{"exact", authz.Or(spaces, authz.And(authz.Eq("spaceId", ""), authz.Eq("owner", "u1"))), true,
			readable(authz.Or(spaces, authz.And(authz.Eq("spaceId", ""), authz.Eq("owner", "u1"))), false)},
		{"exact nothing", authz.Eq("spaceId", "s9"), true, nil},
		{"inexact everything", authz.Or(spaces, authz.Opaque("rules")), false, readable(authz.Everything(), true)},
		{"inexact narrowed", authz.And(authz.Not(authz.Eq("owner", "u2")), authz.Opaque("rules")), false,
			readable(authz.Not(authz.Eq("owner", "u2")), true)},
	} {
		for _, size := range []int{1, 3, 50} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				reg := prometheus.NewRegistry()
				m, err := pushdown.NewMetrics(reg)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				cursor, pages := "", 0
				for {
					items, next, err := pushdown.List(ctx, pushdown.Query[store.App]{
						Resource: "app", Filter: tc.plan, Fields: pushdown.AppFields(),
						Fetch: s.Apps.Scan, ID: func(a *store.App) string { return a.ID }, Allowed: decide,
						Limit: size, Cursor: cursor, Batch: 7, Metrics: m,
					})
					if err != nil {
						t.Fatal(err)
					}
					pages++
					for _, a := range items {
						got = append(got, a.ID)
					}
					if next == "" {
						break
					}
					if len(items) != size {
						t.Fatalf("page %d has %d items and a next page", pages, len(items))
					}
					cursor = next
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("got %d apps, want %d\nonly got: %v\nmissing: %v", len(got), len(tc.want), minus(got, tc.want), minus(tc.want, got))
				}
				if wantPages := max(1, (len(tc.want)+size-1)/size); pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
				exact := fmt.Sprint(tc.exact)
				if n := counter(t, reg, "rulekeeper_pushdown_plans_total", "exact", exact); n != float64(pages) {
					t.Errorf("plans{exact=%s} = %v, want %d", exact, n, pages)
				}
				fallback := counter(t, reg, "rulekeeper_pushdown_fallback_items_total", "resource", "app")
				if tc.exact && fallback != 0 || !tc.exact && fallback < float64(len(tc.want)) {
					t.Errorf("fallback items = %v (%d readable)", fallback, len(tc.want))
				}
			})
		}
	}
	if n := len(readable(authz.Everything(), true)); n == 0 || n == len(apps) {
		t.Fatalf("the engine allows %d of %d apps: the inexact cases prove nothing", n, len(apps))
	}
}

func TestListFailsClosed(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	insertApps(t, s, genApps(rand.New(rand.NewPCG(5, 6)), 5))
	boom := errors.New("engine down")
	q := pushdown.Query[store.App]{
		Resource: "app", Filter: authz.Opaque("rules"), Fields: pushdown.AppFields(), Fetch: s.Apps.Scan,
		ID:      func(a *store.App) string { return a.ID },
		Allowed: func(context.Context, *store.App) (bool, error) { return true, boom },
	}
	if items, _, err := pushdown.List(ctx, q); !errors.Is(err, boom) || items != nil {
		t.Fatalf("decision error: %v items, %v", len(items), err)
	}
	q.Allowed = nil
	if _, _, err := pushdown.List(ctx, q); err == nil {
		t.Fatal("an inexact plan without a decision listed items")
	}
	q.Filter, q.Cursor = authz.Everything(), "not a cursor"
	if _, _, err := pushdown.List(ctx, q); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// counter reads the counter name{label=value} (and resource="app").
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels[label] == value && labels["resource"] == "app" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestListBoundsDecisions: with an inexact plan, no request decides more
// than MaxDecisions apps; a request that reaches the bound answers a short
// page (maybe empty) with a cursor, and following the cursors still lists
// every readable app once.
func TestListBoundsDecisions(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	apps := genApps(rand.New(rand.NewPCG(3, 4)), 120)
	insertApps(t, s, apps)
	e := engine(t)
	decided := 0
	decide := func(ctx context.Context, a *store.App) (bool, error) {
		decided++
		d, err := e.Evaluate(ctx, &authz.Input{Subject: member, Action: "read", Resource: *view(a), Environment: "hub"})
		return d.Allow, err
	}
	var want []string
	for _, a := range apps {
		if ok, err := decide(ctx, a); err != nil {
			t.Fatal(err)
		} else if ok {
			want = append(want, a.ID)
		}
	}
	reg := prometheus.NewRegistry()
	m, err := pushdown.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 10
	var got []string
	cursor, short := "", 0
	for requests := 1; ; requests++ {
		if requests > len(apps) {
			t.Fatal("the cursors do not advance")
		}
		decided = 0
		items, next, err := pushdown.List(ctx, pushdown.Query[store.App]{
			Resource: "app", Filter: authz.Opaque("rules"), Fields: pushdown.AppFields(),
			Fetch: s.Apps.Scan, ID: func(a *store.App) string { return a.ID }, Allowed: decide,
			Limit: 8, Cursor: cursor, Metrics: m, MaxDecisions: bound,
		})
		if err != nil {
			t.Fatal(err)
		}
		if decided > bound {
			t.Fatalf("request %d decided %d apps, bound %d", requests, decided, bound)
		}
		for _, a := range items {
			got = append(got, a.ID)
		}
		if next == "" {
			break
		}
		if len(items) < 8 {
			short++
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d apps, want %d\nonly got: %v\nmissing: %v", len(got), len(want), minus(got, want), minus(want, got))
	}
	if short == 0 || len(want) == 0 || len(want) == len(apps) {
		t.Fatalf("%d short pages, %d of %d apps readable: the bound was not exercised", short, len(want), len(apps))
	}
	if n := counter(t, reg, "rulekeeper_pushdown_bounded_pages_total", "resource", "app"); n != float64(short) {
		t.Errorf("bounded pages = %v, want %d", n, short)
	}
}
