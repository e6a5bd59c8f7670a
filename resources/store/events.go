package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Event is an audit event (seed 000 §1.5, §7): what happened, when (UTC),
// which service reported it and which user caused it.
type Event struct {
	ID     string         `bson:"_id" json:"id"`
	Time   time.Time      `bson:"time" json:"time"`
	Source string         `bson:"source" json:"source"` // e.g. com.rulekeeper/licenses
	Type   string         `bson:"type" json:"type"`     // e.g. app.created
	UserID string         `bson:"userId" json:"userId"`
	Data   map[string]any `bson:"data" json:"data"`
}

// Events is the repository of events.
type Events struct{ c collection[Event] }

// EventFilter narrows an event list.
type EventFilter struct {
	Source, Type, UserID string
	Since, Until         time.Time
	Newest               bool // newest first (sort=-time)
}

// Add records an event now. Under an Idempotency-Key its id derives from
// the key and the event's rank in the request, so the retry of a request
// whose first attempt recorded it does not record it again.
func (r *Events) Add(ctx context.Context, source, typ, userID string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	e := &Event{ID: eventIDFor(ctx, typ), Time: time.Now().UTC(), Source: source, Type: typ, UserID: userID, Data: data}
	if err := r.c.insert(ctx, e); err != nil {
		return fmt.Errorf("record event %s: %w", typ, err)
	}
	return nil
}

// List returns one page of events. Ids grow with time, so the _id order is
// the time order and the cursor stays stable while events are added.
func (r *Events) List(ctx context.Context, f EventFilter, p Page) ([]Event, string, error) {
	filter := bson.D{}
	for k, v := range map[string]string{"source": f.Source, "type": f.Type, "userId": f.UserID} {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		rng := bson.D{}
		if !f.Since.IsZero() {
			rng = append(rng, bson.E{Key: "$gte", Value: f.Since.UTC()})
		}
		if !f.Until.IsZero() {
			rng = append(rng, bson.E{Key: "$lt", Value: f.Until.UTC()})
		}
		filter = append(filter, bson.E{Key: "time", Value: rng})
	}
	if f.Newest {
		return r.c.pageDesc(ctx, filter, p)
	}
	return r.c.page(ctx, filter, p)
}

// DeleteBefore removes events older than t (the retention setting).
func (r *Events) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := r.c.c.DeleteMany(ctx, bson.D{{Key: "time", Value: bson.D{{Key: "$lt", Value: t.UTC()}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// All returns every event of type typ, oldest first; for tests and tools.
func (r *Events) All(ctx context.Context, typ string) ([]Event, error) {
	return r.c.find(ctx, bson.D{{Key: "type", Value: typ}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}
