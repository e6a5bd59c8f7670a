package schedules

import (
	"fmt"
	"time"

	// The IANA time zone database inside the binary: a schedule's time zone
	// must not depend on what the host (or a scratch container) ships.
	_ "time/tzdata"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Series is the recurrence of a schedule: the first run Start, then one run
// per Interval, computed on the wall clock of Loc.
//
//   - hourly runs every 60 minutes of elapsed time from Start;
//   - daily, weekly, monthly and yearly keep Start's local time of day, so
//     a daily run at 02:30 Europe/Berlin stays at 02:30 local across DST;
//   - monthly and yearly keep Start's day of the month, or the last day of
//     a shorter month (31 January → 28 February → 31 March; 29 February →
//     28 February in other years);
//   - a local time that the clocks skip (spring forward) runs as many
//     minutes after the jump as it lay after the last valid time (02:30 in
//     a 02:00→03:00 gap runs at 03:30); a local time that occurs twice (fall
//     back) runs at its first occurrence.
type Series struct {
	Interval string
	Start    time.Time
	Loc      *time.Location
}

// SeriesOf is the recurrence of a stored schedule.
func SeriesOf(s *store.Schedule) (Series, error) {
	loc, err := LoadLocation(s.Timezone)
	if err != nil {
		return Series{}, err
	}
	return Series{Interval: s.Interval, Start: s.Start, Loc: loc}, nil
}

// LoadLocation loads an IANA time zone; "Local" is refused because it
// depends on the server.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	return loc, nil
}

// At is the k-th run (k ≥ 0) of the series.
func (s Series) At(k int) time.Time {
	l := s.Start.In(s.Loc)
	y, mo, d := l.Date()
	h, mi, sec := l.Clock()
	ns := l.Nanosecond()
	switch s.Interval {
	case store.IntervalHourly:
		return s.Start.Add(time.Duration(k) * time.Hour).UTC()
	case store.IntervalDaily:
		return wall(y, mo, d+k, h, mi, sec, ns, s.Loc)
	case store.IntervalWeekly:
		return wall(y, mo, d+7*k, h, mi, sec, ns, s.Loc)
	case store.IntervalMonthly:
		months := int(mo) - 1 + k
		ty, tm := y+months/12, time.Month(months%12+1)
		return wall(ty, tm, min(d, daysIn(ty, tm)), h, mi, sec, ns, s.Loc)
	case store.IntervalYearly:
		return wall(y+k, mo, min(d, daysIn(y+k, mo)), h, mi, sec, ns, s.Loc)
	}
	return s.Start.UTC() // once
}

// approx is roughly the time between two runs, to start the search.
var approx = map[string]time.Duration{
	store.IntervalHourly:  time.Hour,
	store.IntervalDaily:   24 * time.Hour,
	store.IntervalWeekly:  7 * 24 * time.Hour,
	store.IntervalMonthly: 730 * time.Hour,  // 30.4 days
	store.IntervalYearly:  8766 * time.Hour, // 365.25 days
}

// Next is the first run at or after t; false when there is none (a single
// reload whose time has passed).
func (s Series) Next(t time.Time) (time.Time, bool) {
	if !s.Start.Before(t) {
		return s.Start.UTC(), true
	}
	step, ok := approx[s.Interval]
	if !ok { // once, already past
		return time.Time{}, false
	}
	// Start near the answer, then walk to the first run at or after t:
	// runs are increasing in k, and the estimate is off by a step or two.
	k := max(int(t.Sub(s.Start)/step), 0)
	for k > 0 && !s.At(k-1).Before(t) {
		k--
	}
	for s.At(k).Before(t) {
		k++
	}
	return s.At(k), true
}

// wall is the instant the clocks of loc show the given local time, with the
// gap and overlap rules of Series. Day overflow normalises like time.Date.
func wall(y int, mo time.Month, d, h, mi, s, ns int, loc *time.Location) time.Time {
	naive := time.Date(y, mo, d, h, mi, s, ns, time.UTC) // the local time read as UTC
	_, before := naive.Add(-26 * time.Hour).In(loc).Zone()
	_, after := naive.Add(26 * time.Hour).In(loc).Zone()
	var found time.Time
	for _, off := range []int{before, after} {
		c := naive.Add(-time.Duration(off) * time.Second)
		if _, got := c.In(loc).Zone(); got == off && (found.IsZero() || c.Before(found)) {
			found = c
		}
	}
	if found.IsZero() {
		// Skipped by a jump forward: read the time with the offset in force
		// before the jump, which lands as far past the jump as it was due
		// past the last valid time.
		found = naive.Add(-time.Duration(before) * time.Second)
	}
	return found.UTC()
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
