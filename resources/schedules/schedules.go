// Package schedules serves reload schedules (seed 000 §1.4, §5) and runs
// them. Whoever may reload an app creates and edits its schedules in the
// hub (in a shared space Owner, Is admin and Can edit members, §6.7; in a
// personal space its owner, §5.2); tenant admins view and delete every
// schedule in the management console; the policy decides both (a schedule
// is content of its app). A schedule
// repeats once, hourly, daily, weekly, monthly or yearly from its start, on
// the wall clock of its IANA time zone (see Series), and the Scheduler runs
// each occurrence exactly once across replicas, recording it in the app's
// reload history.
package schedules

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// EventSource is the source of schedule events.
const EventSource = "com.rulekeeper/schedules"

// Schedule states shown beside the enabled flag (seed 000 §1.4 "State").
const (
	StateEnabled   = "enabled"
	StateDisabled  = "disabled"
	StateCompleted = "completed"
	StateFailed    = "failed"
)

// Handlers serve /schedules.
type Handlers struct {
	Store      *store.Store
	Guard      *guard.Guard
	Invalidate func(kind, id string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/schedules", h.list)
	r.Post("/schedules", h.create)
	r.Get("/schedules/:id", h.get)
	r.Patch("/schedules/:id", h.patch)
	r.Delete("/schedules/:id", h.delete)
}

func (h *Handlers) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// view is a schedule as the API shows it.
type view struct {
	*store.Schedule
	AppName string `json:"appName"`
	State   string `json:"state"`
}

// State is enabled, disabled, completed (a single reload that ran) or
// failed (the last run failed).
func State(s *store.Schedule) string {
	switch {
	case !s.Enabled:
		return StateDisabled
	case s.LastStatus == store.ReloadFailed:
		return StateFailed
	case s.NextRun == nil:
		return StateCompleted
	}
	return StateEnabled
}

func (h *Handlers) show(c fiber.Ctx, s *store.Schedule, names map[string]string) view {
	name, ok := names[s.AppID]
	if !ok {
		if a, err := h.Store.Apps.Get(c.Context(), s.AppID); err == nil {
			name = a.Name
		}
		names[s.AppID] = name
	}
	return view{Schedule: s, AppName: name, State: State(s)}
}

func stored(s *store.Schedule) authz.Resource { return authz.Resource{Type: "schedule", ID: s.ID} }

func (h *Handlers) list(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	list, next, err := h.Store.Schedules.List(c.Context(), store.ScheduleFilter{AppID: c.Query("appId")}, p)
	if err != nil {
		return err
	}
	items := []view{}
	names := map[string]string{}
	for i := range list {
		res := stored(&list[i])
		ok, err := h.Guard.AllowedHubOrConsole(c, "read", res)
		if err != nil {
			return err
		}
		if ok {
			items = append(items, h.show(c, &list[i], names))
		}
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) get(c fiber.Ctx) error {
	s, err := h.Store.Schedules.Get(c.Context(), c.Params("id"))
	if err != nil {
		return guard.Missing("schedule", c.Params("id"), err)
	}
	if err := h.Guard.RequireHubOrConsole(c, "read", stored(s)); err != nil {
		return err
	}
	return c.JSON(h.show(c, s, map[string]string{}))
}

type createBody struct {
	AppID    string `json:"appId"`
	Interval string `json:"interval"`
	Start    string `json:"start"`
	Timezone string `json:"timezone"`
	Enabled  *bool  `json:"enabled"`
}

func (h *Handlers) create(c fiber.Ctx) error {
	var body createBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.AppID == "" {
		return apierror.Field("missing_app", "appId", "appId names the app to reload")
	}
	if err := checkInterval(body.Interval); err != nil {
		return err
	}
	if body.Timezone == "" {
		body.Timezone = "UTC"
	}
	loc, err := LoadLocation(body.Timezone)
	if err != nil {
		return apierror.Field("bad_timezone", "timezone", err.Error()+", e.g. Europe/Berlin or UTC")
	}
	start, err := parseStart(body.Start, loc)
	if err != nil {
		return err
	}
	enabled := body.Enabled == nil || *body.Enabled
	series := Series{Interval: body.Interval, Start: start, Loc: loc}
	next, err := h.nextRun(series, enabled)
	if err != nil {
		return err
	}

	ctx := c.Context()
	appNotFound := apierror.New(http.StatusNotFound, "app_not_found", fmt.Sprintf("app %q does not exist", body.AppID),
		map[string]any{"field": "appId", "id": body.AppID})
	app, err := h.Store.Apps.Get(ctx, body.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return appNotFound
	}
	if err != nil {
		return err
	}
	// An app the caller may not read answers as one that does not exist.
	if ok, err := h.Guard.AllowedHubOrConsole(c, "read", authz.Resource{Type: "app", ID: app.ID}); err != nil || !ok {
		return cmp.Or(err, error(appNotFound))
	}
	if err := h.Guard.Require(c, guard.Hub, "create", authz.Resource{
		Type: "schedule", Name: app.Name, Owner: app.OwnerID, SpaceID: app.SpaceID,
		App: &authz.Related{ID: app.ID, Name: app.Name, Owner: app.OwnerID, SpaceID: app.SpaceID},
	}); err != nil {
		return err
	}
	caller := identity.CallerOf(c).User
	s := &store.Schedule{
		ID:    store.NewIDFor(ctx),
		AppID: app.ID, Interval: body.Interval, Start: start, Timezone: loc.String(),
		Enabled: enabled, NextRun: next, CreatedBy: caller.ID,
	}
	if err := h.Store.Schedules.Create(ctx, s); err != nil {
		return err
	}
	if err := h.Store.Events.Add(ctx, EventSource, "schedule.created", caller.ID, eventData(s)); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(view{Schedule: s, AppName: app.Name, State: State(s)})
}

func eventData(s *store.Schedule) map[string]any {
	d := map[string]any{
		"scheduleId": s.ID, "appId": s.AppID, "interval": s.Interval, "start": s.Start,
		"timezone": s.Timezone, "enabled": s.Enabled,
	}
	if s.NextRun != nil {
		d["nextRun"] = *s.NextRun
	}
	return d
}

type patchBody struct {
	Interval *string `json:"interval"`
	Start    *string `json:"start"`
	Timezone *string `json:"timezone"`
	Enabled  *bool   `json:"enabled"`
	// Version, when given, must be the schedule's current version.
	Version *int64 `json:"version"`
}

func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Interval == nil && body.Start == nil && body.Timezone == nil && body.Enabled == nil {
		return apierror.Field("empty_patch", "body", "name at least one of interval, start, timezone, enabled")
	}
	if body.Interval != nil {
		if err := checkInterval(*body.Interval); err != nil {
			return err
		}
	}
	var loc *time.Location
	if body.Timezone != nil {
		var err error
		if loc, err = LoadLocation(*body.Timezone); err != nil {
			return apierror.Field("bad_timezone", "timezone", err.Error()+", e.g. Europe/Berlin or UTC")
		}
	}
	ctx := c.Context()
	s, err := h.Store.Schedules.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("schedule", c.Params("id"), err)
	}
	if err := h.Guard.Require(c, guard.Hub, "update", stored(s)); err != nil {
		return err
	}
	if body.Version != nil && *body.Version != s.Version {
		return versionConflict(s.Version)
	}
	if loc == nil {
		if loc, err = LoadLocation(s.Timezone); err != nil {
			return fmt.Errorf("stored schedule %s: %w", s.ID, err)
		}
	}
	series := Series{Interval: s.Interval, Start: s.Start, Loc: loc}
	if body.Interval != nil {
		series.Interval = *body.Interval
	}
	if body.Start != nil {
		if series.Start, err = parseStart(*body.Start, loc); err != nil {
			return err
		}
	}
	enabled := s.Enabled
	if body.Enabled != nil {
		enabled = *body.Enabled
	}
	ch := store.ScheduleChange{
		Version: s.Version, Interval: body.Interval, Enabled: body.Enabled, UpdatedBy: identity.CallerOf(c).User.ID,
	}
	if body.Start != nil {
		ch.Start = &series.Start
	}
	if body.Timezone != nil {
		tz := loc.String()
		ch.Timezone = &tz
	}
	timing := body.Interval != nil || body.Start != nil || body.Timezone != nil
	if timing || enabled != s.Enabled {
		// The run times change: start again from now.
		if ch.NextRun, err = h.nextRun(series, enabled); err != nil {
			return err
		}
		ch.SetNextRun = true
	}
	ns, err := h.Store.Schedules.Update(ctx, s.ID, ch)
	if errors.Is(err, store.ErrConflict) {
		return versionConflict(s.Version)
	}
	if err != nil {
		return err
	}
	h.Invalidate("schedule", s.ID)
	if err := h.Store.Events.Add(ctx, EventSource, "schedule.updated", ch.UpdatedBy, eventData(ns)); err != nil {
		return err
	}
	return c.JSON(h.show(c, ns, map[string]string{}))
}

func (h *Handlers) delete(c fiber.Ctx) error {
	ctx := c.Context()
	s, err := h.Store.Schedules.Get(ctx, c.Params("id"))
	if err != nil {
		return guard.Missing("schedule", c.Params("id"), err)
	}
	if err := h.Guard.RequireHubOrConsole(c, "delete", stored(s)); err != nil {
		return err
	}
	if err := h.Store.Schedules.Delete(ctx, s.ID); err != nil {
		return err
	}
	h.Invalidate("schedule", s.ID)
	if err := h.Store.Events.Add(ctx, EventSource, "schedule.deleted", identity.CallerOf(c).User.ID,
		map[string]any{"scheduleId": s.ID, "appId": s.AppID}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// nextRun is the first run at or after now of an enabled schedule; a
// single reload must lie in the future.
func (h *Handlers) nextRun(series Series, enabled bool) (*time.Time, error) {
	if !enabled {
		return nil, nil
	}
	now := h.now()
	next, ok := series.Next(now)
	if !ok {
		return nil, apierror.Field("start_in_past", "start",
			fmt.Sprintf("a single reload must be scheduled in the future; %s has passed", series.Start.UTC().Format(time.RFC3339)))
	}
	return &next, nil
}

func checkInterval(interval string) error {
	if !slices.Contains(store.Intervals, interval) {
		return apierror.Field("bad_interval", "interval", fmt.Sprintf("interval is one of %s", strings.Join(store.Intervals, ", ")))
	}
	return nil
}

// Years a start may fall in.
const minYear, maxYear = 1970, 2999

// parseStart reads an RFC 3339 time, or a local date and time without an
// offset (2006-01-02T15:04:05), which is read in loc. Seconds are kept,
// fractions dropped.
func parseStart(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, apierror.Field("missing_start", "start", "start is the first run, an RFC 3339 time such as 2026-05-01T02:30:00+02:00")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		lt, lerr := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC)
		if lerr != nil {
			return time.Time{}, apierror.Field("bad_start", "start", fmt.Sprintf("start %q is not an RFC 3339 time such as 2026-05-01T02:30:00+02:00", s))
		}
		y, mo, d := lt.Date()
		hh, mm, ss := lt.Clock()
		t = wall(y, mo, d, hh, mm, ss, 0, loc)
	}
	if t.Year() < minYear || t.Year() > maxYear {
		return time.Time{}, apierror.Field("bad_start", "start", fmt.Sprintf("start must lie between the years %d and %d", minYear, maxYear))
	}
	return t.UTC().Truncate(time.Second), nil
}

func versionConflict(current int64) error {
	return apierror.New(http.StatusConflict, "version_conflict",
		"the schedule changed since you read it; read it again and retry", map[string]any{"field": "version", "version": current})
}
