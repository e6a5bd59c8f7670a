// Package events serves the events log of the management console (seed 000
// §1.5, §7): who did what and when (UTC), from which service, filtered by
// source, type, user and time, sorted by time either way, for tenant
// admins. Its retention job deletes events older than the tenant setting
// eventRetentionDays, at start and every hour.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// EventSource is the source of the events this package writes.
const EventSource = "com.rulekeeper/events"

// Handlers serve /events.
type Handlers struct {
	Store *store.Store
	Guard *guard.Guard
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/events", h.list)
}

// view is an event with the name of its user ("" when the user is gone:
// the console then shows the id, seed §1.5).
type view struct {
	store.Event
	UserName string `json:"userName"`
}

// params are the query parameters of GET /events.
var params = []string{"source", "type", "userId", "since", "until", "sort", "limit", "cursor"}

// maxFilterLen bounds the text filters.
const maxFilterLen = 200

func (h *Handlers) list(c fiber.Ctx) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "event"}); err != nil {
		return err
	}
	ctx := c.Context()
	list, next, err := h.Store.Events.List(ctx, f, p)
	if err != nil {
		return err
	}
	names := map[string]string{}
	items := make([]view, len(list))
	for i := range list {
		e := list[i]
		e.Time = e.Time.UTC()
		e.Data = plainMap(e.Data)
		name, ok := names[e.UserID]
		if !ok && e.UserID != "" {
			if u, err := h.Store.Users.Get(ctx, e.UserID); err == nil {
				name = u.Name
			}
			names[e.UserID] = name
		}
		items[i] = view{Event: e, UserName: name}
	}
	return listing.JSON(c, items, next)
}

// plainMap turns event data as the driver decodes it (nested documents as
// bson.D, arrays as bson.A, dates as bson.DateTime) into plain JSON values.
func plainMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = plain(v)
	}
	return out
}

func plain(v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[e.Key] = plain(e.Value)
		}
		return out
	case bson.M:
		return plainMap(x)
	case map[string]any:
		return plainMap(x)
	case bson.A:
		return plainSlice(x)
	case []any:
		return plainSlice(x)
	case bson.DateTime:
		return x.Time().UTC()
	case time.Time:
		return x.UTC()
	case bson.ObjectID:
		return x.Hex()
	}
	return v
}

func plainSlice(s []any) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = plain(v)
	}
	return out
}

// filter reads and checks every query parameter; unknown ones are refused
// so that a misspelt filter never silently lists everything.
func filter(c fiber.Ctx) (store.EventFilter, error) {
	var f store.EventFilter
	if err := listing.KnownParams(c, params); err != nil {
		return f, err
	}
	texts, err := listing.Texts(c, maxFilterLen, "source", "type", "userId")
	if err != nil {
		return f, err
	}
	f.Source, f.Type, f.UserID = texts[0], texts[1], texts[2]
	if f.Since, err = listing.Time(c, "since"); err != nil {
		return f, err
	}
	if f.Until, err = listing.Time(c, "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, apierror.Field("bad_until", "until", "until must be later than since")
	}
	switch c.Query("sort") {
	case "", "-time":
		f.Newest = true
	case "time":
	default:
		return f, apierror.Field("bad_sort", "sort", "sort is time (oldest first) or -time (newest first, the default)")
	}
	return f, nil
}

// Retention deletes events older than the tenant's eventRetentionDays (0
// keeps them forever). Several replicas may run it: deleting is idempotent.
type Retention struct {
	Store  *store.Store
	Logger *slog.Logger
	// Every is the time between two runs (default one hour).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Run prunes now and then every Every until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := r.Prune(ctx); err != nil && ctx.Err() == nil && r.Logger != nil {
			r.Logger.Error("event retention", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Prune deletes the events older than the retention period and, when it
// deleted any, records that it did.
func (r *Retention) Prune(ctx context.Context) (int64, error) {
	settings, err := r.Store.Settings.Get(ctx)
	if err != nil {
		return 0, fmt.Errorf("event retention: %w", err)
	}
	if settings.EventRetentionDays <= 0 {
		return 0, nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	before := now().UTC().AddDate(0, 0, -settings.EventRetentionDays)
	n, err := r.Store.Events.DeleteBefore(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("event retention: delete events before %s: %w", before.Format(time.RFC3339), err)
	}
	if n > 0 {
		if r.Logger != nil {
			r.Logger.Info("deleted old events", "count", n, "before", before, "retentionDays", settings.EventRetentionDays)
		}
		if err := r.Store.Events.Add(ctx, EventSource, "events.deleted", "",
			map[string]any{"count": n, "before": before, "retentionDays": settings.EventRetentionDays}); err != nil {
			return n, err
		}
	}
	return n, nil
}
