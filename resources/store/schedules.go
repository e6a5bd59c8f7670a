package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// Schedule is a reload schedule of an app (seed 000 §1.4, §5).
type Schedule struct {
	ID string `bson:"_id" json:"id"`
}

// Schedules is the repository of reload schedules.
type Schedules struct{ c collection[Schedule] }

func scheduleIndexes() map[string][]mongo.IndexModel { return nil }
