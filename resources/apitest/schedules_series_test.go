package apitest_test

import (
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/schedules"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

func loc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := schedules.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Europe/Berlin 2026: clocks jump 02:00 → 03:00 on 29 March and fall back
// 03:00 → 02:00 on 25 October. America/New_York 2026: 8 March and 1 November.
func TestSeriesRunsAcrossDST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval string
		start    string
		tz       string
		want     []string // the first runs, as local times in tz
	}{
		{"daily keeps 02:30 local; the skipped 02:30 runs at 03:30", store.IntervalDaily, "2026-03-27T02:30:00+01:00", "Europe/Berlin",
			[]string{"2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"}},
		{"daily keeps 02:30 local; the doubled 02:30 runs once, first", store.IntervalDaily, "2026-10-24T02:30:00+02:00", "Europe/Berlin",
			[]string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"daily in New York across the spring jump", store.IntervalDaily, "2026-03-07T09:00:00-05:00", "America/New_York",
			[]string{"2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"}},
		{"hourly counts elapsed hours across the spring jump", store.IntervalHourly, "2026-03-29T00:30:00+01:00", "Europe/Berlin",
			[]string{"2026-03-29T00:30:00+01:00", "2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"}},
		{"hourly runs the repeated hour twice when clocks fall back", store.IntervalHourly, "2026-11-01T00:30:00-04:00", "America/New_York",
			[]string{"2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"}},
		{"weekly on Sundays keeps 02:30 local across the jump", store.IntervalWeekly, "2026-03-22T02:30:00+01:00", "Europe/Berlin",
			[]string{"2026-03-22T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-04-05T02:30:00+02:00"}},
		{"weekly across the fall back", store.IntervalWeekly, "2026-10-18T02:30:00+02:00", "Europe/Berlin",
			[]string{"2026-10-18T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-11-01T02:30:00+01:00"}},
		{"monthly on the 31st uses the last day of shorter months", store.IntervalMonthly, "2026-01-31T09:00:00+01:00", "Europe/Berlin",
			[]string{"2026-01-31T09:00:00+01:00", "2026-02-28T09:00:00+01:00", "2026-03-31T09:00:00+02:00", "2026-04-30T09:00:00+02:00", "2026-05-31T09:00:00+02:00"}},
		{"monthly lands in the spring gap", store.IntervalMonthly, "2026-02-08T02:30:00-05:00", "America/New_York",
			[]string{"2026-02-08T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-04-08T02:30:00-04:00"}},
		{"monthly across a year end", store.IntervalMonthly, "2026-11-30T23:00:00+01:00", "Europe/Berlin",
			[]string{"2026-11-30T23:00:00+01:00", "2026-12-30T23:00:00+01:00", "2027-01-30T23:00:00+01:00", "2027-02-28T23:00:00+01:00"}},
		{"yearly on 29 February", store.IntervalYearly, "2028-02-29T12:00:00-05:00", "America/New_York",
			[]string{"2028-02-29T12:00:00-05:00", "2029-02-28T12:00:00-05:00", "2030-02-28T12:00:00-05:00", "2031-02-28T12:00:00-05:00", "2032-02-29T12:00:00-05:00"}},
		{"yearly keeps 02:30 local in winter time, the gap and summer time", store.IntervalYearly, "2026-03-28T02:30:00+01:00", "Europe/Berlin",
			[]string{"2026-03-28T02:30:00+01:00", "2027-03-28T03:30:00+02:00", "2028-03-28T02:30:00+02:00", "2029-03-28T02:30:00+02:00"}},
		{"once runs once", store.IntervalOnce, "2026-03-29T03:30:00+02:00", "Europe/Berlin",
			[]string{"2026-03-29T03:30:00+02:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := loc(t, tt.tz)
			s := schedules.Series{Interval: tt.interval, Start: mustTime(t, tt.start), Loc: l}
			for k, w := range tt.want {
				got := s.At(k)
				want := mustTime(t, w)
				if !got.Equal(want) {
					t.Errorf("run %d = %s (%s local), want %s", k, got.Format(time.RFC3339), got.In(l).Format(time.RFC3339), w)
				}
				if got.Location() != time.UTC {
					t.Errorf("run %d is not in UTC: %s", k, got.Location())
				}
			}
			// Next walks the same runs: from just after run k it finds run k+1.
			for k := 0; k+1 < len(tt.want); k++ {
				next, ok := s.Next(s.At(k).Add(time.Second))
				if !ok || !next.Equal(s.At(k+1)) {
					t.Errorf("Next(run %d + 1s) = %s, %v; want run %d %s", k, next, ok, k+1, s.At(k+1))
				}
			}
			last := s.At(len(tt.want) - 1)
			if _, ok := s.Next(last.Add(time.Second)); ok == (tt.interval == store.IntervalOnce) {
				t.Errorf("Next after the last listed run: ok = %v for %s", ok, tt.interval)
			}
		})
	}
}

func TestDailyRunsKeepTheirLocalTimeAllYear(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"} {
		t.Run(tz, func(t *testing.T) {
			l := loc(t, tz)
			s := schedules.Series{Interval: store.IntervalDaily, Start: time.Date(2026, 1, 1, 2, 30, 0, 0, l), Loc: l}
			gaps := 0
			for k := 0; k < 800; k++ {
				run := s.At(k).In(l)
				y, m, d := run.Date()
				if wy, wm, wd := time.Date(2026, 1, 1+k, 0, 0, 0, 0, time.UTC).Date(); y != wy || m != wm || d != wd {
					t.Fatalf("run %d on %s, want %d-%02d-%02d", k, run, wy, wm, wd)
				}
				if h, mi, _ := run.Clock(); h != 2 || mi != 30 {
					// Only on a day whose 02:30 the clocks skip, and later that day.
					probe := time.Date(y, m, d, 2, 30, 0, 0, l)
					if ph, pm, _ := probe.Clock(); (ph == 2 && pm == 30) || h < 2 {
						t.Fatalf("run %d at %s although 02:30 exists that day", k, run)
					}
					gaps++
				}
				if k > 0 && !s.At(k).After(s.At(k-1)) {
					t.Fatalf("run %d (%s) is not after run %d", k, s.At(k), k-1)
				}
			}
			if gaps > 3 { // at most one spring jump a year
				t.Fatalf("%d runs off 02:30 local in 800 days", gaps)
			}
		})
	}
}

func TestNextRun(t *testing.T) {
	t.Parallel()
	berlin := loc(t, "Europe/Berlin")
	tests := []struct {
		name     string
		interval string
		start    string
		after    string
		want     string // "" when there is none
	}{
		{"before the start: the start", store.IntervalDaily, "2026-05-01T02:30:00+02:00", "2026-01-01T00:00:00Z", "2026-05-01T00:30:00Z"},
		{"exactly at a run: that run", store.IntervalDaily, "2026-05-01T02:30:00+02:00", "2026-05-03T00:30:00Z", "2026-05-03T00:30:00Z"},
		{"daily from long ago", store.IntervalDaily, "2020-01-01T02:30:00+01:00", "2026-03-29T00:00:00Z", "2026-03-29T01:30:00Z"},
		{"hourly from long ago", store.IntervalHourly, "2020-01-01T00:15:00Z", "2026-07-04T10:15:01Z", "2026-07-04T11:15:00Z"},
		{"weekly from long ago", store.IntervalWeekly, "2021-01-04T08:00:00+01:00", "2026-06-30T12:00:00Z", "2026-07-06T06:00:00Z"},
		{"monthly from long ago, short month", store.IntervalMonthly, "2020-01-31T09:00:00+01:00", "2026-02-15T00:00:00Z", "2026-02-28T08:00:00Z"},
		{"yearly from a leap day", store.IntervalYearly, "2000-02-29T12:00:00+01:00", "2026-06-01T00:00:00Z", "2027-02-28T11:00:00Z"},
		{"once, still ahead", store.IntervalOnce, "2026-05-01T02:30:00+02:00", "2026-04-30T00:00:00Z", "2026-05-01T00:30:00Z"},
		{"once, passed", store.IntervalOnce, "2026-05-01T02:30:00+02:00", "2026-05-01T00:30:01Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schedules.Series{Interval: tt.interval, Start: mustTime(t, tt.start), Loc: berlin}
			got, ok := s.Next(mustTime(t, tt.after))
			if tt.want == "" {
				if ok {
					t.Fatalf("Next = %s, want none", got)
				}
				return
			}
			if !ok || !got.Equal(mustTime(t, tt.want)) {
				t.Fatalf("Next = %s, %v; want %s", got.Format(time.RFC3339), ok, tt.want)
			}
		})
	}
}

func TestLoadLocation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"Europe/Berlin", true}, {"UTC", true}, {"America/Argentina/Buenos_Aires", true},
		{"", false}, {"Local", false}, {"Mars/Olympus", false}, {"../../etc/passwd", false}, {"+02:00", false},
	} {
		if _, err := schedules.LoadLocation(tt.name); (err == nil) != tt.ok {
			t.Errorf("LoadLocation(%q) error = %v, want ok = %v", tt.name, err, tt.ok)
		}
	}
}
