package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// WebIntegration is a named whitelist of browser origins (seed 000 §1.9, §10).
type WebIntegration struct {
	ID string `bson:"_id" json:"id"`
}

// WebIntegrations is the repository of web integrations.
type WebIntegrations struct{ c collection[WebIntegration] }

func webIntegrationIndexes() map[string][]mongo.IndexModel { return nil }
