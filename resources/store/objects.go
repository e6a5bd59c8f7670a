package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// AppObject is content of an app: sheet, story, bookmark, snapshot,
// masteritem, variable or media (seed 000 §6.6). Private until made public.
type AppObject struct {
	ID string `bson:"_id" json:"id"`
}

// AppObjects is the repository of app objects.
type AppObjects struct{ c collection[AppObject] }

func objectIndexes() map[string][]mongo.IndexModel { return nil }
