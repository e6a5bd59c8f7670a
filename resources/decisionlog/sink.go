package decisionlog

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Stdout writes each entry as one line to W (the process's stdout, beside
// the JSON logs: one Write per batch of whole lines, and an *os.File
// serializes writes, so lines never interleave).
type Stdout struct {
	W   io.Writer
	mu  sync.Mutex
	buf []byte
}

// Write writes the batch's lines.
func (s *Stdout) Write(_ context.Context, batch []Encoded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = s.buf[:0]
	for _, e := range batch {
		s.buf = append(append(s.buf, e.Line...), '\n')
	}
	_, err := s.W.Write(s.buf)
	return err
}

// Mongo stores entries in the decision log collection, one document per
// batch (store.DecisionLog: a database pays per document, and per entry the
// embedded FerretDB cost more than the decision). Batches expire after TTL
// (counted from their newest entry): through the TTL index on MongoDB, and
// where the server has none (FerretDB) by a deletion of the expired ones
// the writer runs every PruneEvery.
type Mongo struct {
	Log *store.DecisionLog
	TTL time.Duration
	// TTLKept is what Ensure found: the server expires entries itself.
	TTLKept bool
	// PruneEvery is the time between two prunes (0: a tenth of the TTL,
	// at most 15 minutes: FerretDB deletes by reading every batch, about
	// 2 ms of CPU per batch of 500 entries).
	PruneEvery time.Duration
	lastPrune  time.Time
	recs       []store.DecisionRecord // reused from batch to batch
}

// NewMongo creates the collection's indexes (the TTL index among them) and
// returns the sink.
func NewMongo(ctx context.Context, log *store.DecisionLog, ttl time.Duration) (*Mongo, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	kept, err := log.Ensure(ctx, ttl)
	if err != nil {
		return nil, err
	}
	return &Mongo{Log: log, TTL: ttl, TTLKept: kept}, nil
}

// Write inserts the batch as one document.
func (m *Mongo) Write(ctx context.Context, batch []Encoded) error {
	recs := m.recs[:0]
	for _, e := range batch {
		recs = append(recs, store.DecisionRecord{ID: e.ID, Time: e.Time, SubjectID: e.SubjectID, ResourceType: e.ResourceType,
			ResourceID: e.ResourceID, Entry: e.Line})
	}
	m.recs = recs
	defer clear(recs)
	return m.Log.Insert(ctx, recs)
}

// pruner is a sink that deletes expired entries itself.
type pruner interface {
	prune(now time.Time, logger *slog.Logger)
}

func (m *Mongo) prune(now time.Time, logger *slog.Logger) {
	if m.TTLKept {
		return
	}
	every := m.PruneEvery
	if every <= 0 {
		every = min(m.TTL/10, 15*time.Minute)
	}
	if now.Sub(m.lastPrune) < every {
		return
	}
	m.lastPrune = now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.Log.DeleteBefore(ctx, now.Add(-m.TTL)); err != nil {
		logger.Warn("the decision log could not delete expired entries", "error", err.Error())
	}
}
