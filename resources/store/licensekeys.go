package store

import "go.mongodb.org/mongo-driver/v2/mongo"

// LicenseKey is an applied, verified license key (seed 000 §1.1, §2).
type LicenseKey struct {
	ID string `bson:"_id" json:"id"`
}

// LicenseKeys is the repository of applied license keys.
type LicenseKeys struct{ c collection[LicenseKey] }

func licenseKeyIndexes() map[string][]mongo.IndexModel { return nil }
