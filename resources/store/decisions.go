package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DecisionRecord is one entry of the decision log: the fields the log is
// searched by, and the entry itself as the JSON line the stdout log would
// print (attribute names of any shape survive as they are).
type DecisionRecord struct {
	ID           string // the decision id (an ObjectID in hex)
	Time         time.Time
	SubjectID    string
	ResourceType string
	ResourceID   string
	Entry        string
}

// decisionBatch is how the log is stored: one document per batch the
// writer flushes (up to a few hundred entries), because a database pays
// per document — on the embedded FerretDB an insert of one document of 500
// entries costs a fraction of 500 documents of one. The i-th entry of the
// batch is ids[i], times[i], subjects[i], resourceTypes[i],
// resourceIds[i] and entries[i] (its JSON line), oldest first; the
// arrays are indexed (multikey: a batch matches a subject when any of its
// entries names it), and the listing keeps of a matching batch the
// entries that match.
type decisionBatch struct {
	ID            string      `bson:"_id"`  // an ObjectID in hex made when written: _id order is write order
	Time          time.Time   `bson:"ts"`   // the newest entry's time: the TTL index's field
	From          time.Time   `bson:"from"` // the oldest entry's time
	N             int         `bson:"n"`
	IDs           []string    `bson:"ids"`
	Times         []time.Time `bson:"times"`
	Subjects      []string    `bson:"subjects"`
	ResourceTypes []string    `bson:"resourceTypes"`
	ResourceIDs   []string    `bson:"resourceIds"`
	Entries       []string    `bson:"entries"`
}

// DecisionFilter narrows a decision log listing; empty fields match all.
type DecisionFilter struct {
	SubjectID, ResourceType, ResourceID string
	Since                               time.Time
}

func (f *DecisionFilter) match(b *decisionBatch, i int) bool {
	return (f.SubjectID == "" || at(b.Subjects, i) == f.SubjectID) &&
		(f.ResourceType == "" || at(b.ResourceTypes, i) == f.ResourceType) &&
		(f.ResourceID == "" || at(b.ResourceIDs, i) == f.ResourceID) &&
		(f.Since.IsZero() || i < len(b.Times) && !b.Times[i].Before(f.Since))
}

// at is xs[i], "" past its end (a batch's arrays are of one length, unless
// someone edited the document).
func at(xs []string, i int) string {
	if i < len(xs) {
		return xs[i]
	}
	return ""
}

// DecisionLog is the repository of the decision log (collection
// "decisions", one document per batch of entries), written only when
// --decision-log=mongo. Every replica writes its own batches; a listing
// reads all of them.
type DecisionLog struct{ c collection[decisionBatch] }

// DecisionLog is the decision log repository of this store.
func (s *Store) DecisionLog() *DecisionLog {
	return &DecisionLog{c: collection[decisionBatch]{s.db.Collection("decisions"), s.Locks}}
}

// decisionTTLIndex is the name of the index on ts (with expireAfterSeconds
// where the server supports it).
const decisionTTLIndex = "ts_1"

// Ensure creates the log's indexes: by subject and by resource (multikey,
// newest first through _id), and the TTL index on ts that makes the server delete
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
		{{Key: "subjects", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "resourceIds", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "resourceTypes", Value: 1}, {Key: "_id", Value: 1}},
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

// maxBatchBytes bounds the entries' bytes in one document (MongoDB's
// limit is 16 MB); a larger batch is stored as several documents.
const maxBatchBytes = 8 << 20

// Insert stores a batch of entries as one document (several when their
// lines pass maxBatchBytes), oldest first.
func (r *DecisionLog) Insert(ctx context.Context, recs []DecisionRecord) error {
	var docs []any
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+len(recs[n].Entry) <= maxBatchBytes) {
			size += len(recs[n].Entry)
			n++
		}
		docs = append(docs, newBatch(recs[:n]))
		recs = recs[n:]
	}
	switch len(docs) {
	case 0:
		return nil
	case 1:
		_, err := r.c.c.InsertOne(ctx, docs[0])
		return MapErr(err)
	}
	_, err := r.c.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	return MapErr(err)
}

func newBatch(recs []DecisionRecord) *decisionBatch {
	n := len(recs)
	b := &decisionBatch{ID: NewID(), N: n, IDs: make([]string, n), Times: make([]time.Time, n),
		Subjects: make([]string, n), ResourceTypes: make([]string, n), ResourceIDs: make([]string, n), Entries: make([]string, n)}
	for i := range recs {
		r := &recs[i]
		t := r.Time.UTC()
		b.IDs[i], b.Times[i], b.Subjects[i], b.ResourceTypes[i], b.ResourceIDs[i], b.Entries[i] =
			r.ID, t, r.SubjectID, r.ResourceType, r.ResourceID, r.Entry
		if i == 0 || t.Before(b.From) {
			b.From = t
		}
		if t.After(b.Time) {
			b.Time = t
		}
	}
	return b
}

// List returns one page of entries, newest first: the batches newest
// first (by when they were written; two replicas' batches interleave by
// the second), each one's entries newest first. The database selects the
// batches holding a match (the multikey indexes); the entries that match
// are picked here.
func (r *DecisionLog) List(ctx context.Context, f DecisionFilter, p Page) ([]DecisionRecord, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	filter := bson.D{}
	for _, kv := range [...]struct{ k, v string }{{"subjects", f.SubjectID}, {"resourceTypes", f.ResourceType}, {"resourceIds", f.ResourceID}} {
		if kv.v != "" {
			filter = append(filter, bson.E{Key: kv.k, Value: kv.v})
		}
	}
	if !f.Since.IsZero() {
		f.Since = f.Since.UTC()
		filter = append(filter, bson.E{Key: "ts", Value: bson.D{{Key: "$gte", Value: f.Since}}})
	}
	afterBatch, afterIndex := "", -1
	if p.Cursor != "" {
		var err error
		if afterBatch, afterIndex, err = decodeDecisionCursor(p.Cursor); err != nil {
			return nil, "", err
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lte", Value: afterBatch}}})
	}
	// Batches are large: a few per round trip.
	cur, err := r.c.c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetBatchSize(4))
	if err != nil {
		return nil, "", MapErr(err)
	}
	defer cur.Close(ctx)
	var out []DecisionRecord
	var last struct {
		batch string
		index int
	}
	for cur.Next(ctx) {
		var b decisionBatch
		if err := cur.Decode(&b); err != nil {
			return nil, "", err
		}
		i := len(b.Entries) - 1
		if b.ID == afterBatch {
			i = min(i, afterIndex-1)
		}
		for ; i >= 0; i-- {
			if !f.match(&b, i) {
				continue
			}
			if len(out) == limit { // one more: the page has a next
				return out, encodeDecisionCursor(last.batch, last.index), nil
			}
			rec := DecisionRecord{ID: at(b.IDs, i), SubjectID: at(b.Subjects, i), ResourceType: at(b.ResourceTypes, i),
				ResourceID: at(b.ResourceIDs, i), Entry: b.Entries[i]}
			if i < len(b.Times) {
				rec.Time = b.Times[i]
			}
			out = append(out, rec)
			last.batch, last.index = b.ID, i
		}
	}
	if err := cur.Err(); err != nil {
		return nil, "", MapErr(err)
	}
	return out, "", nil
}

// A decision log cursor names the last entry listed: its batch and its
// place in it.
func encodeDecisionCursor(batch string, index int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("dl:" + batch + ":" + strconv.Itoa(index)))
}

func decodeDecisionCursor(cursor string) (batch string, index int, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	s, ok := strings.CutPrefix(string(raw), "dl:")
	if err == nil && ok {
		var idx string
		if batch, idx, ok = strings.Cut(s, ":"); ok && batch != "" {
			if index, err = strconv.Atoi(idx); err == nil && index >= 0 {
				return batch, index, nil
			}
		}
	}
	return "", 0, fmt.Errorf("%w: %q", ErrBadCursor, cursor)
}

// DeleteBefore removes the batches whose newest entry was logged before t
// (the TTL, where the server keeps no TTL index).
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
