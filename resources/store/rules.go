package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// Rule is a QMC-style security rule (DESIGN.md "Security rules").
type Rule struct {
	ID string `bson:"_id" json:"id"`
}

// Rules is the repository of security rules and of the rules revision.
type Rules struct {
	c  collection[Rule]
	db *mongo.Database
}

func ruleIndexes() map[string][]mongo.IndexModel { return nil }
