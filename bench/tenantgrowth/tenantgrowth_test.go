package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestCurve runs the benchmark on a small tenant (two steps, a few samples)
// and checks that every operation was measured at every step; it asserts
// no timings (the figures come from `go run ./bench/tenantgrowth`).
func TestCurve(t *testing.T) {
	if testing.Short() {
		t.Skip("TestRoundTripsStayFlat runs the same bench at two sizes in -short")
	}
	steps, samples := []int{300, 1000}, 5
	rows, err := Run(context.Background(), Options{Steps: steps, Samples: samples, DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(steps) {
		t.Fatalf("%d rows for %d steps", len(rows), len(steps))
	}
	for i, r := range rows {
		if r.Users != steps[i] || r.Apps != steps[i] || r.Spaces != steps[i]/10 {
			t.Errorf("step %d: %d users, %d apps, %d spaces", steps[i], r.Users, r.Apps, r.Spaces)
		}
		for _, op := range Ops {
			if r.P50[op] <= 0 || r.Max[op] < r.P50[op] {
				t.Errorf("step %d: %s p50 %v max %v", steps[i], op, r.P50[op], r.Max[op])
			}
		}
	}
	var b bytes.Buffer
	report(&b, rows)
	if got := strings.Count(b.String(), "\n"); got != 2+len(rows)+3+len(rows) {
		t.Errorf("report has %d lines:\n%s", got, b.String())
	}
}

// TestRoundTripsStayFlat is the load-independent proof of the curve: the
// database commands a request sends, and the documents they return, are
// counted (the server's dbCommands and dbDocs) for every operation at two
// tenant sizes; a request whose work grows with the tenant (a query that
// decodes a collection, a lookup per member) fails it.
func TestRoundTripsStayFlat(t *testing.T) {
	small, large := 100, 2000
	if testing.Short() {
		large = 1000
	}
	rows, err := Run(context.Background(), Options{Steps: []int{small, large}, Samples: 5, DataDir: t.TempDir(),
		Trace: testing.Verbose(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// The fewest of the samples: catch-ups with the change log read the
	// entries other requests (and the background tail) left, which varies
	// from sample to sample; what grows with the tenant grows in all.
	least := func(r Row, op string, f func(calls) int64) int64 {
		m := f(r.Calls[op][0])
		for _, c := range r.Calls[op] {
			m = min(m, f(c))
		}
		return m
	}
	commands := func(c calls) int64 { return c.Commands }
	docs := func(c calls) int64 { return c.Docs }
	s, l := Row{Commands: map[string]int64{}, Docs: map[string]int64{}}, Row{Commands: map[string]int64{}, Docs: map[string]int64{}}
	var b bytes.Buffer
	report(&b, rows)
	if got := strings.Count(b.String(), "\n"); got != 2+len(rows)+3+len(rows) {
		t.Errorf("report has %d lines:\n%s", got, b.String())
	}
	for _, op := range Ops {
		s.Commands[op], s.Docs[op] = least(rows[0], op, commands), least(rows[0], op, docs)
		l.Commands[op], l.Docs[op] = least(rows[1], op, commands), least(rows[1], op, docs)
		l.Trace = rows[1].Trace
	}
	for _, op := range Ops {
		t.Logf("%s: %d commands / %d docs at %d users, %d / %d at %d", op,
			s.Commands[op], s.Docs[op], small, l.Commands[op], l.Docs[op], large)
		if testing.Verbose() {
			t.Logf("%s at %d users:\n  %s", op, large, strings.Join(l.Trace[op], "\n  "))
		}
		if s.Commands[op] == 0 {
			t.Errorf("%s: no database command counted", op)
		}
		// Catch-ups with the change log inside the request find more or
		// fewer entries depending on whether the background tail applied
		// them first (up to 4 commands of a login): the expected
		// difference. Work per user, group or space grows tenfold here.
		if l.Commands[op] > s.Commands[op]+max(4, s.Commands[op]/4) {
			t.Errorf("%s: %d database commands at %d users, %d at %d: the round trips grow with the tenant",
				op, l.Commands[op], large, s.Commands[op], small)
		}
		if l.Docs[op] > s.Docs[op]+2 {
			t.Errorf("%s: %d documents read at %d users, %d at %d: a read grows with the tenant",
				op, l.Docs[op], large, s.Docs[op], small)
		}
		// The embedded server decodes the whole collection for any filter
		// but {_id: x}: such a read costs the same round trip at every
		// size and grows all the same. Only the locks collection, which
		// holds the locks held at the moment, may be read so.
		for _, r := range rows {
			for _, coll := range r.Scans[op] {
				if coll != "locks" {
					t.Errorf("%s at %d users reads the collection %s with a filter other than {_id}: the embedded server scans it",
						op, r.Users, coll)
				}
			}
		}
	}
}
