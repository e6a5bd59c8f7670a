// Package decisionlog writes the decision log: every decision the engine
// takes (the decision endpoints' and the REST API's guard alike) as one
// JSON entry with the fields of OPA's decision log (decision_id, labels,
// path, input, result, timestamp, metrics, erased) plus the granting
// security rules and the policy revision, to stdout or to a MongoDB
// collection that expires them. Entries are sampled (by decision id, so a
// given id is always kept or always left out) and masked (input fields
// erased, as OPA's default mask does) before they are written.
//
// Writing is never on a decision's path: the engine hands each decision to
// Logger.LogDecision, which puts it in a bounded buffer and returns; a
// background writer encodes and writes batches. A full buffer drops the
// entry and counts it (rulekeeper_decision_log_dropped_total); neither a
// full buffer nor a failing sink ever blocks or fails a decision. Close
// flushes what is buffered.
package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
)

// Defaults of Config.
const (
	DefaultBuffer     = 10_000
	DefaultBatch      = 500
	DefaultFlushEvery = 200 * time.Millisecond
	DefaultTTL        = 7 * 24 * time.Hour
	// MongoBatch and MongoFlushEvery are Batch's and FlushEvery's
	// defaults for a Mongo sink, which stores a batch as one document: the
	// embedded FerretDB pays per document as well as per byte, so fewer,
	// larger documents, whose tables of distinct subjects and resources
	// (store.DecisionLog, linepack) serve more entries
	// (BenchmarkDecisionLogMongoWrite, CPU of writer and database an entry
	// with loadbench-like entries: 6–9 µs in batches of 500, about 2 in
	// batches of 5,000). An entry waits at most two seconds to be listed; a
	// listing unpacks a batch (about 6 MB of lines) at a time.
	MongoBatch      = 5_000
	MongoFlushEvery = 2 * time.Second
)

// Path is the entry's path: the policy rule every decision evaluates
// (authz.DecisionQuery), in OPA's slash form.
const Path = "rulekeeper/authz/decision"

// Config configures a Logger.
type Config struct {
	// Sink receives the encoded entries (Stdout, Mongo); required.
	Sink Sink
	// Sample is the share of decisions logged, 0..1 (1: every one).
	Sample float64
	// Seed varies which decision ids the sampler keeps.
	Seed uint64
	// Mask lists input fields erased from every entry, dotted
	// ("subject.email", "resource.attributes.ssn"); see ParseMask.
	Mask []string
	// Labels identify this process in every entry.
	Labels Labels
	// Buffer is the number of decisions waiting to be written (0:
	// DefaultBuffer); past it they are dropped.
	Buffer int
	// Batch is the most entries written at once (0: DefaultBatch;
	// MongoBatch for a *Mongo sink).
	Batch int
	// FlushEvery bounds how long an entry waits for its batch to fill
	// (0: DefaultFlushEvery; MongoFlushEvery for a *Mongo sink).
	FlushEvery time.Duration
	Registry   prometheus.Registerer // nil: metrics not registered
	Logger     *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Labels are OPA's labels: the instance id and the server's version.
type Labels struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// Sink writes encoded entries. Write gets a batch at a time, from one
// goroutine, and must not keep the batch or its lines after it returns (the
// writer reuses them); an error drops that batch (counted, logged).
type Sink interface {
	Write(ctx context.Context, batch []Encoded) error
}

// Logger is the decision log; it implements authz.DecisionLogger.
type Logger struct {
	cfg     Config
	sampler sampler
	mask    mask
	ch      chan record
	kick    chan struct{}      // wakes the writer early: the buffer holds a batch
	flush   chan chan struct{} // Flush's requests: the writer closes each once it has written
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once
	now     func() time.Time
	newID   func() string // the decision ids (tests set their own)
	logger  *slog.Logger

	dropFull, dropWrite, dropEncode prometheus.Counter
	written                         prometheus.Counter
	tree                            *maskNode // the mask as the appender walks it
	pool                            sync.Pool // *authz.LoggedDecision, for Sample
	// full counts the buffer_full drops since the writer last warned of
	// them (decisions add, the writer takes).
	full atomic.Int64
	// Of the writer goroutine only: the times of the last warnings (of
	// drops by a full buffer, of failed writes), the entries lost to
	// failed writes since the last, and the entries' appender.
	lastWarn, lastFail time.Time
	failed             int
	app                appender
	enc                []Encoded
	ends               []int
	spaceIDs           []string
}

// record is a decision waiting to be written.
type record struct {
	ld  *authz.LoggedDecision // the pool's: released once encoded
	at  time.Time
	req *request
}

// New builds a Logger and starts its writer; Close stops it.
func New(cfg Config) (*Logger, error) {
	if cfg.Sink == nil {
		return nil, errors.New("decisionlog: no sink")
	}
	if cfg.Sample < 0 || cfg.Sample > 1 {
		return nil, fmt.Errorf("decisionlog: the sample rate %v is not between 0 and 1", cfg.Sample)
	}
	m, err := ParseMask(cfg.Mask)
	if err != nil {
		return nil, err
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	_, mongo := cfg.Sink.(*Mongo)
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
		if mongo {
			cfg.Batch = MongoBatch
		}
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
		if mongo {
			cfg.FlushEvery = MongoFlushEvery
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Logger{cfg: cfg, sampler: newSampler(cfg.Sample, cfg.Seed), mask: m,
		ch: make(chan record, cfg.Buffer), kick: make(chan struct{}, 1), flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		now: cfg.Now, logger: cfg.Logger}
	if l.now == nil {
		l.now = time.Now
	}
	l.newID = func() string { return bson.NewObjectID().Hex() }
	l.pool.New = func() any { return new(authz.LoggedDecision) }
	l.tree = m.tree()
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rulekeeper_decision_log_dropped_total",
		Help: "Decision log entries dropped, by reason: buffer_full (the writer fell behind), write_failed (the sink refused a batch), encode_failed.",
	}, []string{"reason"})
	written := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rulekeeper_decision_log_written_total", Help: "Decision log entries written to the sink.",
	})
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{dropped, written} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	l.dropFull, l.dropWrite, l.dropEncode = dropped.WithLabelValues("buffer_full"), dropped.WithLabelValues("write_failed"), dropped.WithLabelValues("encode_failed")
	l.written = written
	go l.run()
	return l, nil
}

// Sample decides whether the decision about to be taken is logged: it
// gives it an id and asks the sampler, and answers an entry to fill (from a
// pool: the writer hands it back once encoded), or nil when the decision is
// left out or the logger is closed. A decision left out costs an id and a
// hash; nothing of it is copied.
func (l *Logger) Sample(context.Context) *authz.LoggedDecision {
	if l.closed.Load() {
		return nil
	}
	id := l.newID()
	if !l.sampler.keep(id) {
		return nil
	}
	ld := l.pool.Get().(*authz.LoggedDecision)
	ld.ID = id
	return ld
}

// LogDecision queues a decision for the log, or drops it (counted) when the
// buffer is full or the logger is closed. It never blocks. ld is normally
// one Sample gave; one without an id (ld.ID "") is sampled here.
func (l *Logger) LogDecision(ctx context.Context, ld *authz.LoggedDecision) {
	if l.closed.Load() {
		return
	}
	if ld.ID == "" {
		if ld.ID = l.newID(); !l.sampler.keep(ld.ID) {
			return
		}
	}
	select {
	case l.ch <- record{ld: ld, at: l.now(), req: requestOf(ctx)}:
		// The writer sleeps between ticks; a full batch wakes it (and
		// only that: a wake-up per decision would cost more than the entry).
		if len(l.ch) >= l.cfg.Batch {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	default:
		l.dropFull.Inc()
		l.full.Add(1)
		l.release(ld)
	}
}

// release hands an entry back to the pool Sample takes from.
func (l *Logger) release(ld *authz.LoggedDecision) {
	*ld = authz.LoggedDecision{}
	l.pool.Put(ld)
}

// Flush writes what is buffered now and returns once it is written (or
// dropped by a failing sink), or when ctx ends first; entries logged
// meanwhile may wait for the next batch.
func (l *Logger) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case l.flush <- done:
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("decisionlog: flush: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("decisionlog: flush: %w", ctx.Err())
	}
}

// Close stops taking decisions, writes what is buffered and stops the
// writer; ctx bounds the wait.
func (l *Logger) Close(ctx context.Context) error {
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.stop)
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("decisionlog: flush on close: %w", ctx.Err())
	}
}

// run is the writer: every FlushEvery, when the buffer holds a batch, and
// on Close, it writes what is buffered, a batch at a time.
func (l *Logger) run() {
	defer close(l.done)
	batch := make([]record, 0, l.cfg.Batch)
	tick := time.NewTicker(l.cfg.FlushEvery)
	defer tick.Stop()
	drain := func() {
		// What is buffered now; what comes meanwhile waits for the next
		// round, so a flood cannot keep the writer here for ever.
		for n := len(l.ch); n > 0; {
			for ; n > 0 && len(batch) < cap(batch); n-- {
				batch = append(batch, <-l.ch)
			}
			l.write(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case <-tick.C:
			if p, ok := l.cfg.Sink.(pruner); ok {
				p.prune(l.now(), l.logger)
			}
			l.warnDropped()
		case <-l.kick:
		case done := <-l.flush:
			drain()
			close(done)
			continue
		case <-l.stop:
			drain()
			l.warnDropped()
			return
		}
		drain()
	}
}

// write encodes and writes one batch.
func (l *Logger) write(batch []record) {
	// The lines go to one buffer; their places are fixed once it has
	// stopped growing.
	l.app.b = l.app.b[:0]
	enc, ends := l.enc[:0], l.ends[:0]
	for i := range batch {
		e, err := l.encode(&batch[i])
		l.release(batch[i].ld)
		if err != nil {
			l.dropEncode.Inc()
			l.warn("a decision log entry could not be encoded", err)
			continue
		}
		enc, ends = append(enc, e), append(ends, len(l.app.b))
	}
	start := 0
	for i := range enc {
		enc[i].Line = l.app.b[start:ends[i]:ends[i]]
		start = ends[i]
	}
	l.enc, l.ends = enc, ends
	defer func() {
		clear(l.enc)
		if cap(l.app.b) > 16<<20 { // a batch of huge entries: let it go
			l.app.b = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.cfg.Sink.Write(ctx, enc); err != nil {
		l.dropWrite.Add(float64(len(enc)))
		l.failed += len(enc)
		// An error, never silent, at most once per warnEvery (a
		// database down for an hour is not a million lines).
		if now := l.now(); now.Sub(l.lastFail) >= warnEvery {
			l.lastFail = now
			l.logger.Error("the decision log could not be written: entries lost (rulekeeper_decision_log_dropped_total{reason=\"write_failed\"}); decisions are answered as before",
				"error", err.Error(), "lost", l.failed)
			l.failed = 0
		}
		return
	}
	l.written.Add(float64(len(enc)))
}

// warnDropped warns (at most once per warnEvery) of the entries a full
// buffer dropped since the last warning.
func (l *Logger) warnDropped() {
	if n := l.full.Load(); n > 0 && l.now().Sub(l.lastWarn) >= warnEvery {
		l.full.Add(-n)
		l.warn("the decision log's buffer was full: entries dropped (rulekeeper_decision_log_dropped_total{reason=\"buffer_full\"})",
			errors.New("the writer fell behind"), "dropped", n, "buffer", l.cfg.Buffer)
	}
}

// warnEvery is the least time between two warnings of the writer.
const warnEvery = 10 * time.Second

// warn logs at most one line per warnEvery (writer goroutine only).
func (l *Logger) warn(msg string, err error, args ...any) {
	if now := l.now(); now.Sub(l.lastWarn) >= warnEvery {
		l.lastWarn = now
		l.logger.Warn(msg, append([]any{"error", err.Error()}, args...)...)
	}
}
