package schedules

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// ReloadFunc reloads the data of app for a run of schedule s; an error is a
// failed reload. rulekeeper has no engine to reload with, so the default
// succeeds at once: what matters here is who may reload and when.
type ReloadFunc func(ctx context.Context, app *store.App, s *store.Schedule) error

// Scheduler runs due reload schedules. Any number of replicas may run one
// against the same database: each occurrence of a schedule runs exactly
// once.
//
//  1. Due lists enabled schedules whose nextRun has come and whose lease
//     has expired.
//  2. Claim takes the schedule's lease (leaseOwner, leaseUntil) with a
//     findOneAndUpdate that matches only while nextRun is unchanged and the
//     lease has expired.
//  3. ClaimRun inserts the run's claim, whose _id names the schedule and
//     the occurrence: a unique insert is atomic on every server, including
//     the embedded FerretDB where findAndModify is not, and it also stops a
//     replica that took over an expired lease from running the occurrence
//     again. A replica that loses this insert lets go of the lease; if the
//     claimed run is over (its outcome is on the claim) it makes sure the
//     schedule advanced; if the claim is older than a lease (its holder
//     died before finishing), it records the run as failed and advances.
//  4. The reload runs as the app's owner, who must still be allowed to
//     reload the app (seed 000 §5.2 "You can only reload apps you own"),
//     and is recorded in the app's reload history (trigger "schedule")
//     under the id chosen in the claim, so it is recorded once.
//  5. Advance moves nextRun to the first occurrence after both the one that
//     ran and now (missed occurrences are not caught up one by one) and
//     releases the lease.
type Scheduler struct {
	Store *store.Store
	// Decider answers whether the app owner may still reload the app; nil
	// skips the check.
	Decider guard.Decider
	Logger  *slog.Logger
	// ID names this replica in leases; "" picks host-pid-random.
	ID string
	// Tick is how often due schedules are looked for (default 5 s).
	Tick time.Duration
	// Lease is how long a claim protects a run (default 2 min).
	Lease time.Duration
	// Batch is how many due schedules one pass takes (default 100).
	Batch int
	// Reload does the reload (default: succeeds at once).
	Reload ReloadFunc
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Scheduler) init() {
	if s.ID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		s.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if s.Tick <= 0 {
		s.Tick = 5 * time.Second
	}
	if s.Lease <= 0 {
		s.Lease = 2 * time.Minute
	}
	if s.Batch <= 0 {
		s.Batch = 100
	}
	if s.Reload == nil {
		s.Reload = func(context.Context, *store.App, *store.Schedule) error { return nil }
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run runs due schedules every Tick until ctx ends, and once an hour
// deletes run claims older than a day.
func (s *Scheduler) Run(ctx context.Context) {
	s.init()
	tick := time.NewTicker(s.Tick)
	defer tick.Stop()
	var pruned time.Time
	for {
		if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("reload scheduler", "error", err.Error())
		}
		if now := s.Now(); now.Sub(pruned) >= time.Hour && ctx.Err() == nil {
			if _, err := s.Store.Schedules.PruneRuns(ctx, now.Add(-24*time.Hour)); err != nil {
				s.Logger.Error("prune schedule runs", "error", err.Error())
			}
			pruned = now
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunDue makes one pass: it runs every due schedule it can claim and
// answers how many it ran.
func (s *Scheduler) RunDue(ctx context.Context) (int, error) {
	s.init()
	due, err := s.Store.Schedules.Due(ctx, s.Now(), s.Batch)
	if err != nil {
		return 0, err
	}
	ran := 0
	var errs []error
	for i := range due {
		if ctx.Err() != nil {
			break
		}
		ok, err := s.runOne(ctx, &due[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", due[i].ID, err))
		}
		if ok {
			ran++
		}
	}
	return ran, errors.Join(errs...)
}

// runOne runs one occurrence of sch if this replica wins it.
func (s *Scheduler) runOne(ctx context.Context, sch *store.Schedule) (bool, error) {
	if sch.NextRun == nil {
		return false, nil
	}
	due := *sch.NextRun
	now := s.Now()
	if _, err := s.Store.Schedules.Claim(ctx, sch.ID, due, s.ID, now, now.Add(s.Lease)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return false, err
	}
	run := &store.ScheduleRun{ScheduleID: sch.ID, Due: due, Owner: s.ID, ReloadID: store.NewID(), ClaimedAt: now}
	if err := s.Store.Schedules.ClaimRun(ctx, run); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return false, s.lost(ctx, sch, due, now)
		}
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return false, err
	}

	app, err := s.Store.Apps.Get(ctx, sch.AppID)
	if errors.Is(err, store.ErrNotFound) {
		// The app is gone, and its schedules with it.
		s.Logger.Info("deleted the schedule of a deleted app", "scheduleId", sch.ID, "appId", sch.AppID)
		return false, ignoreNotFound(s.Store.Schedules.Delete(ctx, sch.ID))
	}
	if err != nil {
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return false, err
	}
	started := s.Now()
	status, reason := store.ReloadSucceeded, ""
	if err := s.mayReload(ctx, app); err != nil {
		status, reason = store.ReloadFailed, err.Error()
	} else if err := s.Reload(ctx, app, sch); err != nil {
		status, reason = store.ReloadFailed, err.Error()
	}
	ended := s.Now()
	if err := s.record(ctx, run.ReloadID, app.OwnerID, sch, status, started, ended); err != nil {
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return false, err
	}
	if err := s.Store.Schedules.FinishRun(ctx, sch.ID, due, status, reason, started); err != nil {
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return false, err
	}
	if status == store.ReloadFailed {
		s.Logger.Warn("scheduled reload failed", "scheduleId", sch.ID, "appId", app.ID, "reason", reason)
	}
	return true, s.advance(ctx, sch, due, store.RunResult{At: started, Status: status, Error: reason})
}

// mayReload asks whether the app's owner may still reload it.
func (s *Scheduler) mayReload(ctx context.Context, app *store.App) error {
	if s.Decider == nil {
		return nil
	}
	d, err := s.Decider.Decide(ctx, authz.Request{
		Subject: authz.Subject{ID: app.OwnerID}, Action: "reload",
		Resource: authz.Resource{Type: "app", ID: app.ID}, Environment: guard.Hub,
	})
	if err != nil {
		return fmt.Errorf("the decision whether the app owner may reload the app failed: %w", err)
	}
	if !d.Allow {
		reason := "no permission, role or rule grants it"
		if len(d.Denies) > 0 {
			reason = d.Denies[0].Reason
		}
		return fmt.Errorf("the app owner may not reload the app (%s)", reason)
	}
	return nil
}

// lost handles a run another replica claimed first. When that run is over
// but the schedule still waits on it (its advance is on the way, or was
// undone by a concurrent write on a server whose updates are not atomic),
// it advances the schedule the same way; while the run is under way it
// lets go; when the claim is older than a lease (that replica stopped), it
// records the run as failed and moves on.
func (s *Scheduler) lost(ctx context.Context, sch *store.Schedule, due, now time.Time) error {
	other, err := s.Store.Schedules.Run(ctx, sch.ID, due)
	if err == nil && other.Status != "" {
		return s.advance(ctx, sch, due, store.RunResult{At: other.StartedAt, Status: other.Status, Error: other.Error})
	}
	if err != nil || now.Sub(other.ClaimedAt) < s.Lease {
		return errors.Join(ignoreNotFound(err), s.Store.Schedules.Release(ctx, sch.ID, s.ID))
	}
	reason := fmt.Sprintf("the replica %s that started this reload stopped before it finished", other.Owner)
	owner := ""
	if app, err := s.Store.Apps.Get(ctx, sch.AppID); err == nil {
		owner = app.OwnerID
	}
	if err := s.record(ctx, other.ReloadID, owner, sch, store.ReloadFailed, other.ClaimedAt, now); err != nil {
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return err
	}
	if err := s.Store.Schedules.FinishRun(ctx, sch.ID, due, store.ReloadFailed, reason, other.ClaimedAt); err != nil {
		_ = s.Store.Schedules.Release(ctx, sch.ID, s.ID)
		return err
	}
	return s.advance(ctx, sch, due, store.RunResult{At: other.ClaimedAt, Status: store.ReloadFailed, Error: reason})
}

// record writes the reload history entry of a run once: a second write of
// the same id is a no-op.
func (s *Scheduler) record(ctx context.Context, id, userID string, sch *store.Schedule, status string, started, ended time.Time) error {
	err := s.Store.Reloads().Add(ctx, &store.Reload{
		ID: id, AppID: sch.AppID, ScheduleID: sch.ID, UserID: userID,
		Trigger: store.ReloadScheduled, Status: status, StartedAt: started, EndedAt: ended,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// advance moves sch past the occurrence due.
func (s *Scheduler) advance(ctx context.Context, sch *store.Schedule, due time.Time, res store.RunResult) error {
	series, err := SeriesOf(sch)
	if err == nil {
		after := due.Add(time.Second)
		if now := s.Now(); now.After(after) {
			after = now
		}
		if next, ok := series.Next(after); ok {
			res.Next = &next
		}
	} else {
		res.Status, res.Error = store.ReloadFailed, err.Error()
	}
	_, err = s.Store.Schedules.Advance(ctx, sch.ID, due, res)
	return err
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
