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

// DecisionRecord is one entry of the decision log as stored: the fields
// the log is searched by, and the entry itself as the JSON line the stdout
// log would print (attribute names of any shape survive as they are).
type DecisionRecord struct {
	ID           string    `bson:"_id"` // the decision id: an ObjectID in hex, so _id order is time order
	Time         time.Time `bson:"ts"`  // the TTL index's field
	SubjectID    string    `bson:"subject"`
	ResourceType string    `bson:"resourceType"`
	ResourceID   string    `bson:"resourceId"`
	Allow        bool      `bson:"allow"`
	Entry        string    `bson:"entry"`
}

// DecisionFilter narrows a decision log listing; empty fields match all.
type DecisionFilter struct {
	SubjectID, ResourceType, ResourceID string
	Since                               time.Time
}

// DecisionLog is the repository of the decision log (collection
// "decisions"), written only when --decision-log=mongo.
type DecisionLog struct{ c collection[DecisionRecord] }

// DecisionLog is the decision log repository of this store.
func (s *Store) DecisionLog() *DecisionLog {
	return &DecisionLog{c: collection[DecisionRecord]{s.db.Collection("decisions"), s.Locks}}
}

// decisionTTLIndex is the name of the index on ts (with expireAfterSeconds
// where the server supports it).
const decisionTTLIndex = "ts_1"

// Ensure creates the log's indexes: by subject and by resource (newest
// first through _id), and the TTL index on ts that makes the server delete
// entries older than ttl. It answers whether the server keeps the TTL
// (MongoDB); FerretDB v1.24 implements no TTL index, and then the index on
// ts is a plain one and the caller prunes with DeleteBefore. A TTL index
// of another age is changed in place (collMod).
func (r *DecisionLog) Ensure(ctx context.Context, ttl time.Duration) (ttlKept bool, err error) {
	iv := r.c.c.Indexes()
	specs, err := iv.ListSpecifications(ctx)
	if err != nil {
		return false, fmt.Errorf("store: list indexes of decisions: %w", err)
	}
	have := map[string]*mongo.IndexSpecification{}
	for i := range specs {
		have[specs[i].Name] = &specs[i]
	}
	var missing []mongo.IndexModel
	for _, keys := range []bson.D{
		{{Key: "subject", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "resourceId", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "resourceType", Value: 1}, {Key: "_id", Value: 1}},
	} {
		if have[indexName(keys)] == nil {
			missing = append(missing, plain(keys))
		}
	}
	if len(missing) > 0 {
		if _, err := iv.CreateMany(ctx, missing); err != nil {
			return false, fmt.Errorf("store: create indexes on decisions: %w", err)
		}
	}
	secs := int32(max(ttl/time.Second, 1))
	if sp := have[decisionTTLIndex]; sp != nil {
		switch {
		case sp.ExpireAfterSeconds == nil:
			return false, nil // a plain index: FerretDB, pruned by the caller
		case *sp.ExpireAfterSeconds == secs:
			return true, nil
		}
		err := r.c.c.Database().RunCommand(ctx, bson.D{{Key: "collMod", Value: "decisions"},
			{Key: "index", Value: bson.D{{Key: "name", Value: decisionTTLIndex}, {Key: "expireAfterSeconds", Value: secs}}}}).Err()
		if err != nil {
			return false, fmt.Errorf("store: change the decision log TTL: %w", err)
		}
		return true, nil
	}
	ts := bson.D{{Key: "ts", Value: 1}}
	_, err = iv.CreateOne(ctx, mongo.IndexModel{Keys: ts, Options: options.Index().SetExpireAfterSeconds(secs)})
	if err == nil {
		return true, nil
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 238 { // 238: NotImplemented (FerretDB)
		return false, fmt.Errorf("store: create the decision log TTL index: %w", err)
	}
	if _, err := iv.CreateOne(ctx, plain(ts)); err != nil {
		return false, fmt.Errorf("store: create the decision log index on ts: %w", err)
	}
	return false, nil
}

// Insert stores a batch of entries in one unordered insert.
func (r *DecisionLog) Insert(ctx context.Context, recs []DecisionRecord) error {
	if len(recs) == 0 {
		return nil
	}
	docs := make([]any, len(recs))
	for i := range recs {
		docs[i] = &recs[i]
	}
	_, err := r.c.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	return MapErr(err)
}

// List returns one page of entries, newest first.
func (r *DecisionLog) List(ctx context.Context, f DecisionFilter, p Page) ([]DecisionRecord, string, error) {
	filter := bson.D{}
	for k, v := range map[string]string{"subject": f.SubjectID, "resourceType": f.ResourceType, "resourceId": f.ResourceID} {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	if !f.Since.IsZero() {
		filter = append(filter, bson.E{Key: "ts", Value: bson.D{{Key: "$gte", Value: f.Since.UTC()}}})
	}
	return r.c.pageDesc(ctx, filter, p)
}

// DeleteBefore removes the entries logged before t (the TTL, where the
// server keeps no TTL index).
func (r *DecisionLog) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := r.c.c.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: t.UTC()}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// TTL is the expireAfterSeconds of the TTL index on ts; ok is false when
// there is no such index (or it keeps no TTL).
func (r *DecisionLog) TTL(ctx context.Context) (ttl time.Duration, ok bool, err error) {
	specs, err := r.c.c.Indexes().ListSpecifications(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, sp := range specs {
		if sp.Name == decisionTTLIndex && sp.ExpireAfterSeconds != nil {
			return time.Duration(*sp.ExpireAfterSeconds) * time.Second, true, nil
		}
	}
	return 0, false, nil
}
