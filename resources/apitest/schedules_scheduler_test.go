package apitest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/resources/schedules"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// seedDue creates an app and an hourly schedule of it whose run at `due`
// has come (its start is hours before).
func seedDue(t *testing.T, s *store.Store, name string, due time.Time) (*store.App, *store.Schedule) {
	t.Helper()
	ctx := context.Background()
	app := &store.App{Name: name, OwnerID: "u-owner"}
	if err := s.Apps.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	sch := &store.Schedule{AppID: app.ID, Interval: store.IntervalHourly, Start: due.Add(-5 * time.Hour),
		Timezone: "Europe/Berlin", Enabled: true, NextRun: &due, CreatedBy: "u-owner"}
	if err := s.Schedules.Create(ctx, sch); err != nil {
		t.Fatal(err)
	}
	return app, sch
}

func reloadsOf(t *testing.T, s *store.Store, scheduleID string) []store.Reload {
	t.Helper()
	cur, err := s.Database().Collection("reloads").Find(context.Background(), bson.D{{Key: "scheduleId", Value: scheduleID}})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Reload
	if err := cur.All(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Scheduler instances race on the same due schedules, several passes each:
// every schedule reloads exactly once. "two processes" gives each instance
// its own connection and in-process locks, as two replicas have (on the
// embedded FerretDB, whose updates are not atomic across connections, only
// the unique run claims hold the line there); "one process" shares them.
func TestSchedulersRunEachOccurrenceExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, twoProcesses := range []bool{true, false} {
		name := "one process"
		if twoProcesses {
			name = "two processes"
		}
		t.Run(name, func(t *testing.T) { raceSchedulers(t, twoProcesses) })
	}
}

func raceSchedulers(t *testing.T, twoProcesses bool) {
	db := storetest.DatabaseName(t)
	replicaA := storetest.Open(t, db)
	replicaB := replicaA
	if twoProcesses {
		replicaB = storetest.Open(t, db)
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	const n = 15
	var due []*store.Schedule
	for i := range n {
		_, sch := seedDue(t, replicaA, fmt.Sprintf("app %d", i), now.Add(-time.Duration(i+1)*time.Minute))
		due = append(due, sch)
	}
	// Neither a disabled schedule nor one not yet due runs.
	_, disabled := seedDue(t, replicaA, "disabled", now.Add(-time.Minute))
	off := false
	if _, err := replicaA.Schedules.Update(ctx, disabled.ID, store.ScheduleChange{Version: 1, Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, future := seedDue(t, replicaA, "future", now.Add(time.Hour))

	var reloads atomic.Int64
	perApp := sync.Map{}
	reload := func(_ context.Context, app *store.App, _ *store.Schedule) error {
		reloads.Add(1)
		v, _ := perApp.LoadOrStore(app.ID, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		return nil
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	var ran atomic.Int64
	for i, s := range []*store.Store{replicaA, replicaB, replicaA, replicaB} {
		sch := &schedules.Scheduler{Store: s, ID: fmt.Sprintf("replica-%d", i), Reload: reload}
		wg.Go(func() {
			<-start
			for range 3 {
				k, err := sch.RunDue(ctx)
				if err != nil {
					t.Error(err)
				}
				ran.Add(int64(k))
			}
		})
	}
	close(start)
	wg.Wait()

	if got := reloads.Load(); got != n {
		t.Fatalf("%d reloads ran for %d due schedules", got, n)
	}
	if got := ran.Load(); got != n {
		t.Fatalf("the schedulers report %d runs for %d due schedules", got, n)
	}
	// One more pass each reloads nothing (and, after lost updates between
	// connections, puts every schedule back on its next run).
	for _, s := range []*store.Store{replicaA, replicaB} {
		if k, err := (&schedules.Scheduler{Store: s, Reload: reload}).RunDue(ctx); k != 0 || err != nil {
			t.Fatalf("a further pass ran %d, %v", k, err)
		}
	}
	if got := reloads.Load(); got != n {
		t.Fatalf("%d reloads ran for %d due schedules after a further pass", got, n)
	}
	perApp.Range(func(app, count any) bool {
		if c := count.(*atomic.Int64).Load(); c != 1 {
			t.Errorf("app %s reloaded %d times", app, c)
		}
		return true
	})
	for _, sch := range due {
		rl := reloadsOf(t, replicaB, sch.ID)
		if len(rl) != 1 || rl[0].Trigger != store.ReloadScheduled || rl[0].Status != store.ReloadSucceeded ||
			rl[0].AppID != sch.AppID || rl[0].UserID != "u-owner" || rl[0].EndedAt.Before(rl[0].StartedAt) {
			t.Fatalf("reload history of schedule %s: %+v", sch.ID, rl)
		}
		got, err := replicaB.Schedules.Get(ctx, sch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.NextRun == nil || !got.NextRun.After(now) || got.LastStatus != store.ReloadSucceeded || got.LastRun == nil ||
			got.LeaseOwner != "" || got.LeaseUntil.After(now) {
			t.Fatalf("schedule %s after its run: next %v, last %v %q, lease %q until %s",
				sch.ID, got.NextRun, got.LastRun, got.LastStatus, got.LeaseOwner, got.LeaseUntil)
		}
		// The next run is the first hourly occurrence after now.
		if got.NextRun.Sub(now) > time.Hour || got.NextRun.Sub(sch.Start)%time.Hour != 0 {
			t.Fatalf("schedule %s: next run %s is not the next hourly run after %s", sch.ID, got.NextRun, now)
		}
	}
	for _, id := range []string{disabled.ID, future.ID} {
		if rl := reloadsOf(t, replicaA, id); len(rl) != 0 {
			t.Fatalf("schedule %s ran: %+v", id, rl)
		}
	}
	if c, err := replicaA.Schedules.RunCount(ctx, ""); err != nil || c != n {
		t.Fatalf("run claims: %d, %v; want %d", c, err, n)
	}
	if due, err := replicaB.Schedules.Due(ctx, time.Now(), 100); err != nil || len(due) != 0 {
		t.Fatalf("still due after the runs: %d, %v", len(due), err)
	}
}

// A run claimed by a replica that then stopped: while its claim is younger
// than a lease the others wait; after that one of them records it as failed
// and moves the schedule on, without reloading that occurrence again.
func TestAStoppedReplicasRunIsTakenOver(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	due := now.Add(-10 * time.Minute)
	tests := []struct {
		name      string
		claimedAt time.Time
		takeover  bool
	}{
		{"fresh claim: wait", now.Add(-30 * time.Second), false},
		{"stale claim: take over", now.Add(-5 * time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sch := seedDue(t, s, tt.name, due)
			dead := &store.ScheduleRun{ScheduleID: sch.ID, Due: due, Owner: "dead-replica", ReloadID: store.NewID(), ClaimedAt: tt.claimedAt}
			if err := s.Schedules.ClaimRun(ctx, dead); err != nil {
				t.Fatal(err)
			}
			if err := s.Schedules.ClaimRun(ctx, &store.ScheduleRun{ScheduleID: sch.ID, Due: due, Owner: "x", ClaimedAt: now}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a second claim of one occurrence: %v, want ErrConflict", err)
			}
			reloaded := false
			sc := &schedules.Scheduler{Store: s, ID: "live", Lease: 2 * time.Minute,
				Reload: func(context.Context, *store.App, *store.Schedule) error { reloaded = true; return nil }}
			if _, err := sc.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			if reloaded {
				t.Fatal("the occurrence another replica claimed was reloaded again")
			}
			got, err := s.Schedules.Get(ctx, sch.ID)
			if err != nil {
				t.Fatal(err)
			}
			rl := reloadsOf(t, s, sch.ID)
			if !tt.takeover {
				if len(rl) != 0 || got.NextRun == nil || !got.NextRun.Equal(due) || got.LeaseOwner != "" {
					t.Fatalf("after waiting: reloads %+v, next %v, lease %q", rl, got.NextRun, got.LeaseOwner)
				}
				return
			}
			if len(rl) != 1 || rl[0].ID != dead.ReloadID || rl[0].Status != store.ReloadFailed {
				t.Fatalf("reload history after the take-over: %+v", rl)
			}
			if got.NextRun == nil || !got.NextRun.After(now) || got.LastStatus != store.ReloadFailed || got.LastError == "" ||
				schedules.State(got) != schedules.StateFailed {
				t.Fatalf("schedule after the take-over: next %v, %q %q, state %s", got.NextRun, got.LastStatus, got.LastError, schedules.State(got))
			}
		})
	}
}

func TestRunsOfSchedulesAndTheirOutcome(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	// A failing reload is recorded as failed; the schedule goes on.
	_, failing := seedDue(t, s, "failing", now.Add(-time.Minute))
	// A single reload runs once and completes.
	app := &store.App{Name: "once", OwnerID: "u-owner"}
	if err := s.Apps.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Second)
	once := &store.Schedule{AppID: app.ID, Interval: store.IntervalOnce, Start: at, Timezone: "UTC", Enabled: true, NextRun: &at}
	if err := s.Schedules.Create(ctx, once); err != nil {
		t.Fatal(err)
	}
	// The schedule of an app that was deleted goes with it.
	orphan := &store.Schedule{AppID: "gone", Interval: store.IntervalDaily, Start: at, Timezone: "UTC", Enabled: true, NextRun: &at}
	if err := s.Schedules.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}

	sc := &schedules.Scheduler{Store: s, Reload: func(_ context.Context, a *store.App, _ *store.Schedule) error {
		if a.Name == "failing" {
			return errors.New("the data source is unreachable")
		}
		return nil
	}}
	if _, err := sc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id     string
		status string
		state  string
		next   bool
	}{
		{failing.ID, store.ReloadFailed, schedules.StateFailed, true},
		{once.ID, store.ReloadSucceeded, schedules.StateCompleted, false},
	}
	for _, tt := range tests {
		got, err := s.Schedules.Get(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		rl := reloadsOf(t, s, tt.id)
		if len(rl) != 1 || rl[0].Status != tt.status || got.LastStatus != tt.status || (got.NextRun != nil) != tt.next ||
			schedules.State(got) != tt.state {
			t.Fatalf("schedule %s: reloads %+v, last %q, next %v, state %s", tt.id, rl, got.LastStatus, got.NextRun, schedules.State(got))
		}
	}
	if _, err := s.Schedules.Get(ctx, orphan.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the schedule of a deleted app: %v, want ErrNotFound", err)
	}
	// Nothing is due any more.
	if k, err := sc.RunDue(ctx); k != 0 || err != nil {
		t.Fatalf("second pass ran %d, %v", k, err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	_, sch := seedDue(t, s, "looped", time.Now().UTC().Add(-time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		(&schedules.Scheduler{Store: s, Tick: 20 * time.Millisecond}).Run(ctx)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(reloadsOf(t, s, sch.ID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler loop did not run the due schedule")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
