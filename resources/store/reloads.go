package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Reload is one entry of an app's reload history (seed 000 §1.4, §5.2
// "Viewing reload history for your app"): manual reloads and the runs of
// reload schedules share the collection "reloads".
type Reload struct {
	ID         string    `bson:"_id" json:"id"`
	AppID      string    `bson:"appId" json:"appId"`
	ScheduleID string    `bson:"scheduleId,omitempty" json:"scheduleId,omitempty"`
	UserID     string    `bson:"userId" json:"userId"`
	Trigger    string    `bson:"trigger" json:"trigger"` // ReloadManual or ReloadScheduled
	Status     string    `bson:"status" json:"status"`   // ReloadSucceeded or ReloadFailed
	StartedAt  time.Time `bson:"startedAt" json:"startedAt"`
	EndedAt    time.Time `bson:"endedAt" json:"endedAt"`
}

// Reload triggers and statuses.
const (
	ReloadManual    = "manual"
	ReloadScheduled = "schedule"
	ReloadSucceeded = "succeeded"
	ReloadFailed    = "failed"
)

// Reloads is the repository of reload history, one collection for every app.
type Reloads struct{ c collection[Reload] }

// Reloads returns the reload history repository.
func (s *Store) Reloads() *Reloads {
	return &Reloads{c: collection[Reload]{s.db.Collection("reloads"), s.Locks}}
}

// Add records a reload.
func (r *Reloads) Add(ctx context.Context, rl *Reload) error {
	if rl.ID == "" {
		rl.ID = NewID()
	}
	rl.StartedAt, rl.EndedAt = rl.StartedAt.UTC(), rl.EndedAt.UTC()
	if err := r.c.insert(ctx, rl); err != nil {
		return fmt.Errorf("record reload of app %q: %w", rl.AppID, err)
	}
	return nil
}

// List returns one page of an app's reloads, newest first.
func (r *Reloads) List(ctx context.Context, appID string, p Page) ([]Reload, string, error) {
	return r.c.pageDesc(ctx, bson.D{{Key: "appId", Value: appID}}, p)
}

func reloadIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"reloads": {plain(bson.D{{Key: "appId", Value: 1}})},
	}
}
