package decisionlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
)

// Lines is a Stdout target safe for the writer and the test at once
// (exported for the service tests).
type Lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *Lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *Lines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// entries decodes every line written so far.
func (w *Lines) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(w.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

func newLogger(t *testing.T, cfg Config) *Logger {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func closeNow(t *testing.T, l *Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// decision is an allow by a table row and a security rule, as the engine
// answers it, for bob reading app a1 in space s1.
func decision() *authz.LoggedDecision {
	return &authz.LoggedDecision{
		Input: authz.Input{
			Subject: authz.Subject{ID: "u-bob", Name: "bob", Email: "bob@example.test", Roles: []string{"Developer"},
				Groups: []string{"Sales"}, License: authz.License{Type: "analyzer"},
				Attributes: map[string][]string{"department": {"Support"}},
				Spaces:     map[string][]string{"s1": {"canview"}, "s2": {"canedit"}, "s3": {"facilityadmin"}}},
			Action:      "read",
			Resource:    authz.Resource{Type: "app", ID: "a1", Name: "Q4", SpaceID: "s1", Attributes: map[string][]string{"ssn": {"123"}}},
			Environment: "hub",
		},
		Decision: authz.Decision{Allow: true, Revision: 7, Denies: []authz.Deny{},
			Grants: []authz.Grant{{Kind: "rule", ID: "r-sales", Name: "Sales"}, {Kind: "table", ID: "shared.app.open"}}},
		Hydrate: 3 * time.Microsecond, Evaluate: 40 * time.Microsecond,
	}
}

func TestEntryFields(t *testing.T) {
	out := &Lines{}
	at := time.Date(2026, 12, 4, 22, 0, 0, 123, time.UTC)
	l := newLogger(t, Config{Sink: &Stdout{W: out}, Sample: 1, Labels: Labels{ID: "host/1", Version: "1.2.3"},
		Now: func() time.Time { return at }})
	ctx := context.WithValue(context.Background(), requestKey{}, &request{method: "POST", path: "/authz/check", id: "req-1", remote: "10.0.0.9", caller: "u-admin"})
	l.LogDecision(ctx, decision())
	failed := decision()
	failed.Decision, failed.Err = authz.Decision{Revision: 7}, fmt.Errorf("subject %q: %w", "u-x", authz.ErrNotFound)
	l.LogDecision(context.Background(), failed)
	closeNow(t, l)

	got := out.entries(t)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2", len(got))
	}
	e := got[0]
	want := map[string]any{
		"path": "rulekeeper/authz/decision", "timestamp": "2026-12-04T22:00:00.000000123Z", "revision": 7.0,
		"requested_by": "10.0.0.9",
		"labels":       map[string]any{"id": "host/1", "version": "1.2.3"},
		"bundles":      map[string]any{"rulekeeper": map[string]any{"revision": "7"}},
		"rule_ids":     []any{"r-sales"},
		"request":      map[string]any{"method": "POST", "path": "/authz/check", "id": "req-1", "caller": "u-admin"},
		"metrics": map[string]any{"timer_rulekeeper_hydrate_ns": 3000.0, "timer_rego_query_eval_ns": 40000.0,
			"timer_rulekeeper_decision_ns": 43000.0},
	}
	for k, v := range want {
		if fmt.Sprint(e[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	if id, _ := e["decision_id"].(string); len(id) != 24 {
		t.Errorf("decision_id %q is not an ObjectID in hex", id)
	}
	res, _ := e["result"].(map[string]any)
	if res["allow"] != true || len(res["grants"].([]any)) != 2 {
		t.Errorf("result = %v, want the decision", res)
	}
	in, _ := e["input"].(map[string]any)
	subject, _ := in["subject"].(map[string]any)
	if in["action"] != "read" || fmt.Sprint(in["context"]) != "map[environment:hub]" || subject["email"] != "bob@example.test" {
		t.Errorf("input = %v", in)
	}
	// Only the resource's space of the subject's roles: the policy reads no other.
	if fmt.Sprint(subject["spaces"]) != "map[s1:[canview]]" {
		t.Errorf("subject.spaces = %v, want only s1", subject["spaces"])
	}
	if _, ok := e["erased"]; ok {
		t.Errorf("erased without a mask: %v", e["erased"])
	}

	f := got[1]
	if _, ok := f["result"]; ok {
		t.Errorf("a failed decision has a result: %v", f["result"])
	}
	if fmt.Sprint(f["error"]) != `map[code:unknown_entity message:subject "u-x": not found]` {
		t.Errorf("error = %v", f["error"])
	}
	if _, ok := f["request"]; ok {
		t.Errorf("a decision outside a request names one: %v", f["request"])
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mask      []string
		gone      []string // dotted paths no longer in the input
		kept      []string
		erased    []string
		subjectID string // indexed for the database
	}{
		{"email", []string{"subject.email"}, []string{"subject.email"}, []string{"subject.name", "subject.id"},
			[]string{"/input/subject/email"}, "u-bob"},
		{"attribute and input prefix", []string{"resource.attributes.ssn", "input.subject.attributes"},
			[]string{"resource.attributes.ssn", "subject.attributes"}, []string{"resource.id", "resource.attributes"},
			[]string{"/input/subject/attributes", "/input/resource/attributes/ssn"}, "u-bob"}, // in the input's order
		{"pointer form and the subject id", []string{"/input/subject/id"}, []string{"subject.id"}, []string{"subject.email"},
			[]string{"/input/subject/id"}, ""},
		{"absent path is not erased", []string{"subject.attributes.nothing", "resource.space.name"}, nil,
			[]string{"subject.attributes.department"}, nil, "u-bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLogger(t, Config{Sink: &Stdout{W: &Lines{}}, Sample: 1, Mask: tc.mask})
			enc, err := l.encode(&record{ld: withID(decision(), "x"), at: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Input  map[string]any `json:"input"`
				Erased []string       `json:"erased"`
			}
			if err := json.Unmarshal(enc.Line, &e); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.gone {
				if _, ok := lookup(e.Input, p); ok {
					t.Errorf("%s is still in the input", p)
				}
			}
			for _, p := range tc.kept {
				if _, ok := lookup(e.Input, p); !ok {
					t.Errorf("%s was erased too", p)
				}
			}
			if fmt.Sprint(e.Erased) != fmt.Sprint(tc.erased) {
				t.Errorf("erased = %v, want %v", e.Erased, tc.erased)
			}
			if enc.SubjectID != tc.subjectID {
				t.Errorf("indexed subject %q, want %q", enc.SubjectID, tc.subjectID)
			}
		})
	}
}

func lookup(m map[string]any, dotted string) (any, bool) {
	var v any = m
	for _, s := range strings.Split(dotted, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[s]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestParseMask(t *testing.T) {
	for _, tc := range []struct {
		in  []string
		err string
	}{
		{[]string{"subject.email", " resource.attributes.ssn ", ""}, ""},
		{[]string{"input.context.environment", "/input/action"}, ""},
		{[]string{"email"}, `mask path "email": it starts with subject`},
		{[]string{"subject..email"}, "empty step"},
		{[]string{"input"}, "it starts with subject"},
		{[]string{"result.allow"}, "it starts with subject"},
	} {
		_, err := ParseMask(tc.in)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseMask(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParseMask(f *testing.F) {
	for _, s := range []string{"subject.email", "/input/resource/attributes/x", "input.", "a..b", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMask(strings.Split(s, ","))
		if err != nil {
			return
		}
		// Whatever parses erases cleanly from any input.
		l := &Logger{cfg: Config{Sink: &Stdout{W: &Lines{}}}, mask: m, tree: m.tree()}
		enc, err := l.encode(&record{ld: withID(decision(), "x"), at: time.Now()})
		if err != nil || !json.Valid(enc.Line) {
			t.Fatalf("mask %q: %v %s", s, err, enc.Line)
		}
	})
}

// ids hands out the decision ids d-0, d-1, …
func ids() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("d-%d", n-1)
	}
}

func TestSampling(t *testing.T) {
	const n = 4000
	run := func(rate float64, seed uint64) map[string]bool {
		out := &Lines{}
		l := newLogger(t, Config{Sink: &Stdout{W: out}, Sample: rate, Seed: seed})
		l.newID = ids()
		for range n {
			l.LogDecision(context.Background(), decision())
		}
		closeNow(t, l)
		kept := map[string]bool{}
		for _, e := range out.entries(t) {
			kept[e["decision_id"].(string)] = true
		}
		return kept
	}
	a, b := run(0.25, 1), run(0.25, 1)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same ids and seed kept different decisions")
	}
	if got := len(a); got < n/4-200 || got > n/4+200 {
		t.Errorf("rate 0.25 kept %d of %d", got, n)
	}
	s := newSampler(0.25, 1)
	for i := range n {
		id := fmt.Sprintf("d-%d", i)
		if a[id] != s.keep(id) {
			t.Fatalf("%s: logged %v, the sampler says %v", id, a[id], s.keep(id))
		}
	}
	if c := run(0.25, 2); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Error("another seed kept the very same decisions")
	}
	if got := len(run(1, 0)); got != n {
		t.Errorf("rate 1 kept %d of %d", got, n)
	}
}

// gate is a sink that holds every write until opened.
type gate struct {
	open    chan struct{}
	mu      sync.Mutex
	written int
	fail    error
}

func (g *gate) Write(_ context.Context, batch []Encoded) error {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return g.fail
	}
	g.written += len(batch)
	return nil
}

func TestFullBufferDropsNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &gate{open: make(chan struct{})}
	logs := &Lines{}
	l := newLogger(t, Config{Sink: g, Sample: 1, Buffer: 8, Batch: 1, Registry: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	const n = 1000
	done := make(chan struct{})
	go func() {
		for range n {
			l.LogDecision(context.Background(), decision())
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("LogDecision blocked while the sink was stuck")
	}
	dropped := value(t, reg, "buffer_full")
	// The buffer holds 8 and the writer one more, stuck in the sink.
	if dropped < n-9 || dropped > n-8 {
		t.Errorf("dropped %v of %d with a buffer of 8", dropped, n)
	}
	close(g.open)
	closeNow(t, l)
	if g.written+int(dropped) != n {
		t.Errorf("written %d + dropped %v != %d", g.written, dropped, n)
	}
	if got := value(t, reg, ""); int(got) != g.written {
		t.Errorf("written_total %v, sink got %d", got, g.written)
	}
	// Never silently: one warning (rate-limited) says how many.
	warnings := logs.entries(t)
	if len(warnings) != 1 || warnings[0]["level"] != "WARN" || warnings[0]["dropped"] != dropped {
		t.Errorf("warnings about the full buffer: %v (dropped %v)", warnings, dropped)
	}
}

// Sample decides before the decision is taken: a decision it leaves out
// gets no entry (the engine takes its plain path); one it keeps gets an
// entry with its id, filled by the engine and handed back to LogDecision.
func TestSampleBeforeTheDecision(t *testing.T) {
	out := &Lines{}
	l := newLogger(t, Config{Sink: &Stdout{W: out}, Sample: 0.5, Seed: 3})
	l.newID = ids()
	s := newSampler(0.5, 3)
	kept := 0
	for i := range 200 {
		ld := l.Sample(context.Background())
		id := fmt.Sprintf("d-%d", i)
		if (ld != nil) != s.keep(id) {
			t.Fatalf("%s: Sample gave an entry: %v, the sampler keeps it: %v", id, ld != nil, s.keep(id))
		}
		if ld == nil {
			continue
		}
		if ld.ID != id || ld.Input.Subject.ID != "" {
			t.Fatalf("Sample's entry: id %q (want %q), subject %q (want a clean entry)", ld.ID, id, ld.Input.Subject.ID)
		}
		d := decision()
		d.ID = ld.ID
		*ld = *d
		l.LogDecision(context.Background(), ld)
		kept++
	}
	closeNow(t, l)
	got := out.entries(t)
	if len(got) != kept || kept == 0 || kept == 200 {
		t.Fatalf("%d entries written, %d kept by the sampler", len(got), kept)
	}
	for _, e := range got {
		if id, _ := e["decision_id"].(string); !s.keep(id) {
			t.Errorf("entry %s was written but the sampler leaves it out", id)
		}
	}
	if ld := l.Sample(context.Background()); ld != nil {
		t.Error("Sample gave an entry after Close")
	}
}

func TestFailingSinkCountsDrops(t *testing.T) {
	g := &gate{open: make(chan struct{}), fail: errors.New("disk full")}
	close(g.open)
	reg := prometheus.NewRegistry()
	logs := &Lines{}
	l := newLogger(t, Config{Sink: g, Sample: 1, Registry: reg, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	for range 10 {
		l.LogDecision(context.Background(), decision())
	}
	closeNow(t, l)
	if got := value(t, reg, "write_failed"); got != 10 {
		t.Errorf("write_failed drops %v, want 10", got)
	}
	// Loud: an error saying why and how many were lost.
	if errs := logs.entries(t); len(errs) != 1 || errs[0]["level"] != "ERROR" || errs[0]["error"] != "disk full" || errs[0]["lost"] != 10.0 {
		t.Errorf("the failed write's log: %v", errs)
	}
	// After Close, decisions are not queued (and nothing panics).
	l.LogDecision(context.Background(), decision())
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{{}, {Sink: &Stdout{}, Sample: 1.5}, {Sink: &Stdout{}, Sample: 1, Mask: []string{"password"}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// value reads a counter of l's registry: the dropped counter by reason, or
// the written counter (reason "").
func value(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	name := "rulekeeper_decision_log_written_total"
	if reason != "" {
		name = "rulekeeper_decision_log_dropped_total"
	}
	for _, f := range mf {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if reason == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == reason) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// withID gives ld the decision id Sample would have.
func withID(ld *authz.LoggedDecision, id string) *authz.LoggedDecision {
	ld.ID = id
	return ld
}

// TestFlushWritesWhatIsBuffered: Flush writes the buffered entries without
// waiting for the batch to fill or the next tick, and returns nil after
// Close.
func TestFlushWritesWhatIsBuffered(t *testing.T) {
	out := &Lines{}
	l := newLogger(t, Config{Sink: &Stdout{W: out}, Sample: 1, Batch: 1000, FlushEvery: time.Hour})
	for range 3 {
		l.LogDecision(context.Background(), decision())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(out.entries(t)); got != 3 {
		t.Fatalf("%d entries written after Flush, want 3", got)
	}
	closeNow(t, l)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush after Close: %v", err)
	}
}
