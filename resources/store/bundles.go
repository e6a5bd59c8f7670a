package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// Bundle is an uploaded extension or theme: metadata from its QEXT file,
// files in GridFS (seed 000 §1.6, §1.7, §8, §9).
type Bundle struct {
	ID string `bson:"_id" json:"id"`
}

// Bundles is the repository of extensions or of themes (one collection and
// one GridFS bucket each).
type Bundles struct {
	c  collection[Bundle]
	db *mongo.Database
}

func newBundles(db *mongo.Database, name string) *Bundles {
	return &Bundles{c: collection[Bundle]{db.Collection(name), new(stripes)}, db: db}
}

func bundleIndexes() map[string][]mongo.IndexModel { return nil }
