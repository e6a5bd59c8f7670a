package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Reload schedule intervals (seed 000 §5.2: a single reload, or hourly,
// daily, weekly, monthly, yearly).
const (
	IntervalOnce    = "once"
	IntervalHourly  = "hourly"
	IntervalDaily   = "daily"
	IntervalWeekly  = "weekly"
	IntervalMonthly = "monthly"
	IntervalYearly  = "yearly"
)

// Intervals lists every schedule interval.
var Intervals = []string{IntervalOnce, IntervalHourly, IntervalDaily, IntervalWeekly, IntervalMonthly, IntervalYearly}

// Schedule is a reload schedule of an app (seed 000 §1.4, §5). NextRun is
// nil while the schedule is disabled and once a single reload has run. The
// lease fields belong to the scheduler: the replica named LeaseOwner runs
// the schedule until LeaseUntil.
type Schedule struct {
	ID         string     `bson:"_id" json:"id"`
	AppID      string     `bson:"appId" json:"appId"`
	Interval   string     `bson:"interval" json:"interval"`
	Start      time.Time  `bson:"start" json:"start"`
	Timezone   string     `bson:"timezone" json:"timezone"`
	Enabled    bool       `bson:"enabled" json:"enabled"`
	NextRun    *time.Time `bson:"nextRun" json:"nextRun"`
	LastRun    *time.Time `bson:"lastRun,omitempty" json:"lastRun"`
	LastStatus string     `bson:"lastStatus,omitempty" json:"lastStatus,omitempty"` // ReloadSucceeded or ReloadFailed
	LastError  string     `bson:"lastError,omitempty" json:"lastError,omitempty"`
	LeaseOwner string     `bson:"leaseOwner" json:"-"`
	LeaseUntil time.Time  `bson:"leaseUntil" json:"-"`
	CreatedBy  string     `bson:"createdBy" json:"createdBy"`
	UpdatedBy  string     `bson:"updatedBy" json:"updatedBy"`
	CreatedAt  time.Time  `bson:"createdAt" json:"createdAt"`
	UpdatedAt  time.Time  `bson:"updatedAt" json:"updatedAt"`
	Version    int64      `bson:"version" json:"version"`
}

// ScheduleRun claims one run (the occurrence Due) of a schedule. Its _id is
// derived from the schedule and the occurrence, so a unique insert decides
// which replica runs it even where findAndModify is not atomic (the
// embedded FerretDB); ReloadID is the id its reload history entry gets.
// Status is set once the run is over.
type ScheduleRun struct {
	ID         string    `bson:"_id"`
	ScheduleID string    `bson:"scheduleId"`
	Due        time.Time `bson:"due"`
	Owner      string    `bson:"owner"`
	ReloadID   string    `bson:"reloadId"`
	ClaimedAt  time.Time `bson:"claimedAt"`
	Status     string    `bson:"status,omitempty"`
	Error      string    `bson:"error,omitempty"`
	StartedAt  time.Time `bson:"startedAt,omitempty"`
}

// RunID is the _id of the run of schedule id at occurrence due.
func RunID(id string, due time.Time) string {
	return id + "@" + due.UTC().Format("20060102T150405.000Z")
}

// Schedules is the repository of reload schedules.
type Schedules struct{ c collection[Schedule] }

func (r *Schedules) runs() *mongo.Collection { return r.c.c.Database().Collection("scheduleruns") }

func scheduleIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"schedules": {
			plain(bson.D{{Key: "appId", Value: 1}}),
			plain(bson.D{{Key: "nextRun", Value: 1}}),
		},
		"scheduleruns": {
			plain(bson.D{{Key: "scheduleId", Value: 1}}),
			plain(bson.D{{Key: "due", Value: 1}}),
		},
	}
}

// epoch is the LeaseUntil of a schedule nobody holds.
var epoch = time.Unix(0, 0).UTC()

// ms truncates t to the millisecond precision of a BSON date, so values
// read back compare equal to the ones written.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func msPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ms(*t)
	return &v
}

// Create stores a new schedule.
func (r *Schedules) Create(ctx context.Context, s *Schedule) error {
	now := ms(time.Now())
	if s.ID == "" {
		s.ID = NewID()
	}
	s.Start, s.NextRun = ms(s.Start), msPtr(s.NextRun)
	s.LeaseOwner, s.LeaseUntil = "", epoch
	s.CreatedAt, s.UpdatedAt, s.Version = now, now, 1
	if s.UpdatedBy == "" {
		s.UpdatedBy = s.CreatedBy
	}
	if err := r.c.insert(ctx, s); err != nil {
		return fmt.Errorf("create schedule of app %q: %w", s.AppID, err)
	}
	return nil
}

// Get returns the schedule with id.
func (r *Schedules) Get(ctx context.Context, id string) (*Schedule, error) {
	s, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", id, err)
	}
	return s, nil
}

// ScheduleFilter narrows a schedule list.
type ScheduleFilter struct {
	AppID string // "" lists the schedules of every app
}

// List returns one page of schedules in creation order.
func (r *Schedules) List(ctx context.Context, f ScheduleFilter, p Page) ([]Schedule, string, error) {
	filter := bson.D{}
	if f.AppID != "" {
		filter = append(filter, bson.E{Key: "appId", Value: f.AppID})
	}
	return r.c.page(ctx, filter, p)
}

// ScheduleChange is a compare-and-swap update of a schedule at Version.
// NextRun is written only when SetNextRun is true (nil clears it).
type ScheduleChange struct {
	Version    int64
	Interval   *string
	Start      *time.Time
	Timezone   *string
	Enabled    *bool
	SetNextRun bool
	NextRun    *time.Time
	UpdatedBy  string
}

// Update applies ch if the schedule is still at ch.Version.
func (r *Schedules) Update(ctx context.Context, id string, ch ScheduleChange) (*Schedule, error) {
	set := bson.D{{Key: "updatedBy", Value: ch.UpdatedBy}}
	if ch.Interval != nil {
		set = append(set, bson.E{Key: "interval", Value: *ch.Interval})
	}
	if ch.Start != nil {
		set = append(set, bson.E{Key: "start", Value: ms(*ch.Start)})
	}
	if ch.Timezone != nil {
		set = append(set, bson.E{Key: "timezone", Value: *ch.Timezone})
	}
	if ch.Enabled != nil {
		set = append(set, bson.E{Key: "enabled", Value: *ch.Enabled})
	}
	if ch.SetNextRun {
		set = append(set, bson.E{Key: "nextRun", Value: msPtr(ch.NextRun)})
	}
	s, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update schedule %q: %w", id, err)
	}
	return s, nil
}

// Delete removes the schedule and its run claims.
func (r *Schedules) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete schedule %q: %w", id, err)
	}
	if _, err := r.runs().DeleteMany(ctx, bson.D{{Key: "scheduleId", Value: id}}); err != nil {
		return fmt.Errorf("delete runs of schedule %q: %w", id, err)
	}
	return nil
}

// Due returns up to limit enabled schedules whose next run is at or before
// now and whose lease has expired, earliest first.
func (r *Schedules) Due(ctx context.Context, now time.Time, limit int) ([]Schedule, error) {
	now = ms(now)
	filter := bson.D{
		{Key: "enabled", Value: true},
		{Key: "nextRun", Value: bson.D{{Key: "$lte", Value: now}}},
		{Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: now}}},
	}
	out, err := r.c.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "nextRun", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("due schedules: %w", err)
	}
	return out, nil
}

// Claim takes the lease of schedule id for owner until `until`, provided
// the schedule is still enabled, still due at due and nobody holds an
// unexpired lease (a findOneAndUpdate under the schedule's database lock,
// so atomic on every backend). ErrConflict when it cannot.
func (r *Schedules) Claim(ctx context.Context, id string, due time.Time, owner string, now, until time.Time) (*Schedule, error) {
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "enabled", Value: true},
		{Key: "nextRun", Value: ms(due)},
		{Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: ms(now)}}},
	}
	s, err := r.c.update(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "leaseOwner", Value: owner}, {Key: "leaseUntil", Value: ms(until)},
	}}})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("claim schedule %q: %w", id, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("claim schedule %q: %w", id, err)
	}
	if s.LeaseOwner != owner {
		return nil, fmt.Errorf("claim schedule %q: held by %q: %w", id, s.LeaseOwner, ErrConflict)
	}
	return s, nil
}

// ClaimRun records that run.Owner runs the occurrence run.Due of a
// schedule. The insert is unique per occurrence: ErrConflict means another
// replica claimed it first.
func (r *Schedules) ClaimRun(ctx context.Context, run *ScheduleRun) error {
	run.Due, run.ClaimedAt = ms(run.Due), ms(run.ClaimedAt)
	run.ID = RunID(run.ScheduleID, run.Due)
	if _, err := r.runs().InsertOne(ctx, run); err != nil {
		return fmt.Errorf("claim run %s: %w", run.ID, MapErr(err))
	}
	return nil
}

// Run returns the claim of the occurrence due of schedule id.
func (r *Schedules) Run(ctx context.Context, id string, due time.Time) (*ScheduleRun, error) {
	var run ScheduleRun
	if err := r.runs().FindOne(ctx, bson.D{{Key: "_id", Value: RunID(id, due)}}).Decode(&run); err != nil {
		return nil, fmt.Errorf("run of schedule %q at %s: %w", id, due, MapErr(err))
	}
	return &run, nil
}

// FinishRun records the outcome of a claimed run, so that a replica that
// finds the occurrence claimed can tell a finished run from one under way.
func (r *Schedules) FinishRun(ctx context.Context, id string, due time.Time, status, reason string, started time.Time) error {
	_, err := r.runs().UpdateOne(ctx, bson.D{{Key: "_id", Value: RunID(id, due)}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: status}, {Key: "error", Value: reason}, {Key: "startedAt", Value: ms(started)},
	}}})
	if err != nil {
		return fmt.Errorf("finish run of schedule %q at %s: %w", id, due, err)
	}
	return nil
}

// RunCount counts the claimed runs of schedule id ("" for every schedule).
func (r *Schedules) RunCount(ctx context.Context, id string) (int64, error) {
	filter := bson.D{}
	if id != "" {
		filter = bson.D{{Key: "scheduleId", Value: id}}
	}
	return r.runs().CountDocuments(ctx, filter)
}

// RunResult is what a run leaves on its schedule.
type RunResult struct {
	At     time.Time  // when it ran
	Status string     // ReloadSucceeded or ReloadFailed
	Error  string     // why it failed
	Next   *time.Time // the next occurrence, nil when none
}

// Advance records the run of the occurrence due and moves the schedule to
// res.Next, releasing the lease. It changes nothing (and answers false)
// when the schedule is no longer due at due: another replica advanced it,
// or its owner edited it meanwhile.
func (r *Schedules) Advance(ctx context.Context, id string, due time.Time, res RunResult) (bool, error) {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "nextRun", Value: ms(due)}}
	_, err := r.c.update(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "nextRun", Value: msPtr(res.Next)},
		{Key: "lastRun", Value: ms(res.At)},
		{Key: "lastStatus", Value: res.Status},
		{Key: "lastError", Value: res.Error},
		{Key: "leaseOwner", Value: ""},
		{Key: "leaseUntil", Value: epoch},
	}}})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("advance schedule %q: %w", id, err)
	}
	return true, nil
}

// Release gives up owner's lease on schedule id, if owner still holds it.
func (r *Schedules) Release(ctx context.Context, id, owner string) error {
	unlock, err := r.c.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("release schedule %q: %w", id, err)
	}
	defer unlock()
	_, err = r.c.c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "leaseOwner", Value: owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "leaseOwner", Value: ""}, {Key: "leaseUntil", Value: epoch}}}})
	if err != nil {
		return fmt.Errorf("release schedule %q: %w", id, err)
	}
	return nil
}

// PruneRuns deletes the run claims of occurrences before t; a claim only
// matters while its schedule still waits on that occurrence.
func (r *Schedules) PruneRuns(ctx context.Context, t time.Time) (int64, error) {
	res, err := r.runs().DeleteMany(ctx, bson.D{{Key: "due", Value: bson.D{{Key: "$lt", Value: ms(t)}}}})
	if err != nil {
		return 0, fmt.Errorf("prune schedule runs: %w", err)
	}
	return res.DeletedCount, nil
}
