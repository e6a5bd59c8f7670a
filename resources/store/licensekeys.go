package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// LicenseKey is an applied, verified license key (seed 000 §1.1, §2): the
// signed text as given; its terms are read from it again on load.
type LicenseKey struct {
	ID        string    `bson:"_id" json:"id"` // the key's own id
	Raw       string    `bson:"raw" json:"-"`
	AppliedAt time.Time `bson:"appliedAt" json:"appliedAt"`
}

// LicenseKeys is the repository of applied license keys and of which one
// is in force.
type LicenseKeys struct {
	c   collection[LicenseKey]
	rev *Changes
}

func licenseKeyIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"capacity": {plain(bson.D{{Key: "month", Value: 1}})},
	}
}

// Apply stores k (once per key id) and makes it the key in force.
func (r *LicenseKeys) Apply(ctx context.Context, k *LicenseKey) error {
	k.AppliedAt = time.Now().UTC()
	_, err := r.c.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: k.ID}}, k, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store license key %q: %w", k.ID, err)
	}
	_, err = r.c.c.Database().Collection("tenant").ReplaceOne(ctx, bson.D{{Key: "_id", Value: "license"}},
		bson.D{{Key: "_id", Value: "license"}, {Key: "keyId", Value: k.ID}, {Key: "at", Value: k.AppliedAt}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("make license key %q current: %w", k.ID, err)
	}
	return r.rev.changed(ctx, AreaLicenses, KeyDocID)
}

// Current returns the key in force; ErrNotFound when none was applied.
func (r *LicenseKeys) Current(ctx context.Context) (*LicenseKey, error) {
	var marker struct {
		KeyID string `bson:"keyId"`
	}
	err := r.c.c.Database().Collection("tenant").FindOne(ctx, bson.D{{Key: "_id", Value: "license"}}).Decode(&marker)
	if err != nil {
		return nil, fmt.Errorf("current license key: %w", MapErr(err))
	}
	k, err := r.c.byID(ctx, marker.KeyID)
	if err != nil {
		return nil, fmt.Errorf("license key %q: %w", marker.KeyID, err)
	}
	return k, nil
}

// RecordMinute counts one minute of activity of a capacity user; the same
// minute counts once however often it is recorded (the _id decides).
func (r *LicenseKeys) RecordMinute(ctx context.Context, keyID, userID string, minute time.Time) error {
	minute = minute.UTC().Truncate(time.Minute)
	month := minute.Format("2006-01")
	_, err := r.c.c.Database().Collection("capacity").InsertOne(ctx, bson.D{
		{Key: "_id", Value: keyID + "/" + month + "/" + userID + "/" + minute.Format("02T15:04")},
		{Key: "keyId", Value: keyID}, {Key: "month", Value: keyID + "/" + month}, {Key: "userId", Value: userID},
	})
	if err != nil {
		if errors.Is(MapErr(err), ErrConflict) {
			return nil // counted already: nothing changed
		}
		return fmt.Errorf("record capacity minute: %w", err)
	}
	// The month's counter, so that the license state reads one document
	// instead of counting the month's minutes. FerretDB applies $inc as
	// read, change, write: the database lock makes it one step.
	id := minutesID(keyID, minute)
	err = r.c.locks.Do(ctx, "capacity/"+id, func() error {
		_, err := r.c.c.Database().Collection("capacitycounts").UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("count capacity minute: %w", err)
	}
	return r.rev.changed(ctx, AreaCapacity, id)
}

func minutesID(keyID string, t time.Time) string {
	return keyID + "/" + t.UTC().Format("2006-01")
}

// MinutesUsed returns the capacity minutes consumed under keyID in the
// month of t: the month's counter (one point read), or, for a month
// recorded before counters existed, the count of its minutes.
func (r *LicenseKeys) MinutesUsed(ctx context.Context, keyID string, t time.Time) (int64, error) {
	var doc struct {
		N int64 `bson:"n"`
	}
	err := r.c.c.Database().Collection("capacitycounts").FindOne(ctx, bson.D{{Key: "_id", Value: minutesID(keyID, t)}}).Decode(&doc)
	if err == nil {
		return doc.N, nil
	}
	if !errors.Is(MapErr(err), ErrNotFound) {
		return 0, fmt.Errorf("capacity minutes: %w", err)
	}
	return r.c.c.Database().Collection("capacity").CountDocuments(ctx,
		bson.D{{Key: "month", Value: keyID + "/" + t.UTC().Format("2006-01")}})
}
