package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rulekeeper/rulekeeper/resources/decisionlog/linepack"
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
	Entry        []byte // one JSON line, no newline
}

// decisionBatch is how the log is stored: one document per batch the
// writer flushes (up to a few thousand entries), because a database pays
// per document, per array element and per byte — on the embedded FerretDB
// an insert costs about a millisecond plus 50–60 ns per byte (SQLite's JSON
// functions copy and parse the whole document). packed holds the entries'
// JSON lines, oldest first, column-wise (decisionlog/linepack: about 15
// bytes an entry); entries, in batches an earlier version wrote, the lines
// each ended by a newline, compressed with DEFLATE (about 80). Where the server keeps
// indexes (MongoDB: DecisionLog.Ensure found the TTL index), subjects,
// resourceTypes and resourceIds list the distinct values of the batch's
// entries, indexed (multikey: a batch matches a subject when one of its
// entries names it); on FerretDB, which would use no index, they are left
// out. The listing reads the matching batches and keeps of their entries
// those that match (it reads the fields of each line).
type decisionBatch struct {
	ID            string    `bson:"_id"`  // an ObjectID in hex made when written: _id order is write order
	Time          time.Time `bson:"ts"`   // the newest entry's time: the TTL index's field
	From          time.Time `bson:"from"` // the oldest entry's time
	N             int       `bson:"n"`
	Subjects      []string  `bson:"subjects,omitempty"`
	ResourceTypes []string  `bson:"resourceTypes,omitempty"`
	ResourceIDs   []string  `bson:"resourceIds,omitempty"`
	Packed        []byte    `bson:"packed,omitempty"`
	Entries       []byte    `bson:"entries,omitempty"`
}

// DecisionFilter narrows a decision log listing; empty fields match all.
type DecisionFilter struct {
	SubjectID, ResourceType, ResourceID string
	Since                               time.Time
}

// lineFields are the fields of an entry's line the listing filters by
// (decisionlog.Entry's; a masked field is absent, and then not searchable).
type lineFields struct {
	ID        string    `json:"decision_id"`
	Timestamp time.Time `json:"timestamp"`
	Input     struct {
		Subject struct {
			ID string `json:"id"`
		} `json:"subject"`
		Resource struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"resource"`
	} `json:"input"`
}

func (f *DecisionFilter) match(l *lineFields) bool {
	return (f.SubjectID == "" || l.Input.Subject.ID == f.SubjectID) &&
		(f.ResourceType == "" || l.Input.Resource.Type == f.ResourceType) &&
		(f.ResourceID == "" || l.Input.Resource.ID == f.ResourceID) &&
		(f.Since.IsZero() || !l.Timestamp.Before(f.Since))
}

// DecisionLog is the repository of the decision log (collection
// "decisions", one document per batch of entries), written only when
// --decision-log=mongo. Every replica writes its own batches; a listing
// reads all of them.
type DecisionLog struct {
	c collection[decisionBatch]
	// keys: the batches carry their distinct subjects and resources
	// (Ensure found a server that keeps indexes).
	keys bool
	// Of Insert: its encoder and the lines of the batch being packed.
	mu    sync.Mutex
	pack  linepack.Encoder
	lines [][]byte
}

// DecisionLog is the decision log repository of this store.
func (s *Store) DecisionLog() *DecisionLog {
	return &DecisionLog{c: collection[decisionBatch]{s.db.Collection("decisions"), s.Locks}}
}

// lines unpacks the batch's entries (none in a document of another
// shape: an entry per document, as an earlier version stored them).
func (b *decisionBatch) lines() ([][]byte, error) {
	if len(b.Packed) > 0 {
		lines, err := linepack.Decode(b.Packed)
		if err != nil {
			return nil, fmt.Errorf("store: the decision log batch %s: %w", b.ID, err)
		}
		return lines, nil
	}
	if len(b.Entries) == 0 {
		return nil, nil
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(b.Entries)))
	if err != nil {
		return nil, fmt.Errorf("store: the decision log batch %s: %w", b.ID, err)
	}
	lines := bytes.SplitAfter(raw, []byte{'\n'})
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte{'\n'})
	}
	return lines, nil
}

// decisionTTLIndex is the name of the index on ts (with expireAfterSeconds
// where the server supports it).
const decisionTTLIndex = "ts_1"

// Ensure creates the log's indexes: the TTL index on ts that makes the
// server delete batches older than ttl, and the multikey indexes by subject
// and by resource (newest first through _id). It answers whether the
// server keeps the TTL (MongoDB). FerretDB v1.24 implements no TTL index,
// and on SQLite it uses no secondary index in a query (it pushes down
// only a filter on _id) while every index costs each insert a parse of the
// whole document (SQLite's json_extract): there Ensure creates none (it
// drops those an earlier version made), the caller prunes with
// DeleteBefore and the listing reads the batches in _id order. A TTL index
// of another age is changed in place (collMod).
func (r *DecisionLog) Ensure(ctx context.Context, ttl time.Duration) (ttlKept bool, err error) {
	defer func() { r.keys = ttlKept }()
	iv := r.c.c.Indexes()
	specs, err := iv.ListSpecifications(ctx)
	if err != nil {
		return false, fmt.Errorf("store: list indexes of decisions: %w", err)
	}
	have := map[string]*mongo.IndexSpecification{}
	for i := range specs {
		have[specs[i].Name] = &specs[i]
	}
	drop := func(name string) error {
		if have[name] == nil {
			return nil
		}
		if err := iv.DropOne(ctx, name); err != nil {
			return fmt.Errorf("store: drop the index %s of decisions: %w", name, err)
		}
		delete(have, name)
		return nil
	}
	// The indexes of the log's shape before batches (a document per entry).
	for _, old := range []string{"subject_1__id_1", "resourceId_1__id_1", "resourceType_1__id_1"} {
		if err := drop(old); err != nil {
			return false, err
		}
	}
	secs := int32(max(ttl/time.Second, 1))
	switch sp := have[decisionTTLIndex]; {
	case sp != nil && sp.ExpireAfterSeconds == nil: // a plain index an earlier version made on FerretDB
		return false, drop(decisionTTLIndex)
	case sp != nil && *sp.ExpireAfterSeconds != secs:
		err := r.c.c.Database().RunCommand(ctx, bson.D{{Key: "collMod", Value: "decisions"},
			{Key: "index", Value: bson.D{{Key: "name", Value: decisionTTLIndex}, {Key: "expireAfterSeconds", Value: secs}}}}).Err()
		if err != nil {
			return false, fmt.Errorf("store: change the decision log TTL: %w", err)
		}
	case sp == nil:
		ts := bson.D{{Key: "ts", Value: 1}}
		_, err = iv.CreateOne(ctx, mongo.IndexModel{Keys: ts, Options: options.Index().SetExpireAfterSeconds(secs)})
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == 238 { // 238: NotImplemented (FerretDB)
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("store: create the decision log TTL index: %w", err)
		}
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
			return true, fmt.Errorf("store: create indexes on decisions: %w", err)
		}
	}
	return true, nil
}

// maxBatchBytes bounds the entries' bytes in one document (MongoDB's
// limit is 16 MB); a larger batch is stored as several documents.
const maxBatchBytes = 8 << 20

// Insert stores a batch of entries as one document (several when their
// lines pass maxBatchBytes), oldest first.
func (r *DecisionLog) Insert(ctx context.Context, recs []DecisionRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var docs []any
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+len(recs[n].Entry) <= maxBatchBytes) {
			size += len(recs[n].Entry)
			n++
		}
		doc, err := r.newBatch(recs[:n], r.keys)
		if err != nil {
			return fmt.Errorf("store: compress decision log entries: %w", err)
		}
		docs = append(docs, doc)
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

// newBatch builds the document of recs; the caller holds r.mu.
func (r *DecisionLog) newBatch(recs []DecisionRecord, keys bool) (*decisionBatch, error) {
	b := &decisionBatch{ID: NewID(), N: len(recs)}
	lines := r.lines[:0]
	for i := range recs {
		r := &recs[i]
		t := r.Time.UTC()
		if i == 0 || t.Before(b.From) {
			b.From = t
		}
		if t.After(b.Time) {
			b.Time = t
		}
		if keys {
			b.Subjects = addDistinct(b.Subjects, r.SubjectID)
			b.ResourceTypes = addDistinct(b.ResourceTypes, r.ResourceType)
			b.ResourceIDs = addDistinct(b.ResourceIDs, r.ResourceID)
		}
		lines = append(lines, r.Entry)
	}
	packed, err := r.pack.Encode(nil, lines)
	clear(lines)
	r.lines = lines[:0]
	if err != nil {
		return nil, err
	}
	b.Packed = packed
	return b, nil
}

// addDistinct appends v to xs unless it is there or empty (a batch has a
// few hundred entries: a scan is cheaper than a map).
func addDistinct(xs []string, v string) []string {
	if v == "" || slices.Contains(xs, v) {
		return xs
	}
	return append(xs, v)
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
	// The batches carry their keys where the server keeps the TTL index
	// (MongoDB, Ensure).
	if _, keyed, err := r.TTL(ctx); err != nil {
		return nil, "", MapErr(err)
	} else if keyed {
		for _, kv := range [...]struct{ k, v string }{{"subjects", f.SubjectID}, {"resourceTypes", f.ResourceType}, {"resourceIds", f.ResourceID}} {
			if kv.v != "" {
				filter = append(filter, bson.E{Key: kv.k, Value: kv.v})
			}
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
	cur, err := r.c.c.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetBatchSize(16))
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
		lines, err := b.lines()
		if err != nil {
			return nil, "", err
		}
		i := len(lines) - 1
		if b.ID == afterBatch {
			i = min(i, afterIndex-1)
		}
		for ; i >= 0; i-- {
			var l lineFields
			if err := json.Unmarshal(lines[i], &l); err != nil {
				return nil, "", fmt.Errorf("store: the decision log batch %s, entry %d: %w", b.ID, i, err)
			}
			if !f.match(&l) {
				continue
			}
			if len(out) == limit { // one more: the page has a next
				return out, encodeDecisionCursor(last.batch, last.index), nil
			}
			out = append(out, DecisionRecord{ID: l.ID, Time: l.Timestamp, SubjectID: l.Input.Subject.ID,
				ResourceType: l.Input.Resource.Type, ResourceID: l.Input.Resource.ID, Entry: lines[i]})
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
