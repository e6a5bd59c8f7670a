package apitest_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// entry is what the tests read of a decision log entry.
type entry struct {
	DecisionID string `json:"decision_id"`
	Path       string `json:"path"`
	Input      struct {
		Subject  map[string]any `json:"subject"`
		Action   string         `json:"action"`
		Resource map[string]any `json:"resource"`
	} `json:"input"`
	Result *struct {
		Allow bool `json:"allow"`
	} `json:"result"`
	Request *decisionlog.RequestInfo `json:"request"`
	Erased  []string                 `json:"erased"`
	Metrics map[string]int64         `json:"metrics"`
}

type decisionlogPage struct {
	Items []entry `json:"items"`
	Next  string  `json:"next"`
}

// list answers every entry of the query as admin, following the cursor.
func decisionlogList(t *testing.T, d *servicetest.Tenant, query string) []entry {
	t.Helper()
	var all []entry
	cursor := ""
	for range 100 {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p decisionlogPage
		if st := d.Call("admin", "GET", "/api/v1/decisions?"+q, nil, &p); st != 200 {
			var e servicetest.Error
			d.Call("admin", "GET", "/api/v1/decisions?"+q, nil, &e)
			t.Fatalf("GET /decisions?%s = %d %+v", q, st, e)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		cursor = p.Next
	}
	t.Fatal("the cursor never ends")
	return nil
}

// await lists until want holds (the writer flushes in the background).
func await(t *testing.T, d *servicetest.Tenant, query string, want func([]entry) bool) []entry {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := decisionlogList(t, d, query)
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /decisions?%s: %d entries, not what the test waits for", query, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func byPath(es []entry, path string) []entry {
	var out []entry
	for _, e := range es {
		if e.Request != nil && e.Request.Path == path {
			out = append(out, e)
		}
	}
	return out
}

func TestMongoLogListedToAdmins(t *testing.T) {
	t.Parallel()
	d := servicetest.DevWith(t, func(c *service.Config) {
		c.DecisionLog = "mongo"
		c.DecisionLogMask = []string{"subject.email"}
	})
	bob, admin, alice := d.Users["bob"].ID, d.Users["admin"].ID, d.Users["alice"].ID
	q4 := d.Apps["Q4 report"].ID
	ask := map[string]any{"subject": map[string]any{"id": bob}, "action": "read", "resource": map[string]any{"type": "app", "id": q4}}
	var answer struct{ Allow bool }
	if st := d.Call("admin", "POST", "/authz/check", ask, &answer); st != 200 || !answer.Allow {
		t.Fatalf("check = %d %+v", st, answer)
	}
	zask := map[string]any{"subject": map[string]any{"type": "user", "id": bob}, "action": map[string]any{"name": "delete"},
		"resource": map[string]any{"type": "app", "id": q4}}
	if st := d.Call("admin", "POST", "/access/v1/evaluation", zask, nil); st != 200 {
		t.Fatalf("evaluation = %d", st)
	}
	// The guard's decisions: alice opens her app.
	if st := d.Call("alice", "GET", "/api/v1/apps/"+q4, nil, nil); st != 200 {
		t.Fatalf("GET app = %d", st)
	}

	got := await(t, d, "subject="+bob, func(es []entry) bool {
		return len(byPath(es, "/authz/check")) == 1 && len(byPath(es, "/access/v1/evaluation")) == 1
	})
	for _, e := range got {
		if e.Input.Subject["id"] != bob || e.Path != "rulekeeper/authz/decision" || len(e.DecisionID) != 24 || e.Result == nil {
			t.Errorf("entry %+v", e)
		}
		if _, ok := e.Input.Subject["email"]; ok || !slices.Contains(e.Erased, "/input/subject/email") {
			t.Errorf("the email is not erased: %v, erased %v", e.Input.Subject, e.Erased)
		}
		if e.Request.Caller != admin || e.Request.Method != "POST" {
			t.Errorf("request %+v, want POST by admin %s", e.Request, admin)
		}
		if _, ok := e.Metrics["timer_rego_query_eval_ns"]; !ok {
			t.Errorf("metrics %v", e.Metrics)
		}
	}
	if c := byPath(got, "/authz/check")[0]; !c.Result.Allow || c.Input.Action != "read" {
		t.Errorf("the check's entry: %+v", c)
	}
	if z := byPath(got, "/access/v1/evaluation")[0]; z.Result.Allow || z.Input.Action != "delete" {
		t.Errorf("the evaluation's entry: %+v", z)
	}
	guarded := await(t, d, "subject="+alice, func(es []entry) bool { return len(byPath(es, "/api/v1/apps/"+q4)) > 0 })
	for _, e := range byPath(guarded, "/api/v1/apps/"+q4) {
		if e.Request.Method != "GET" || e.Request.Caller != alice || e.Input.Resource["id"] != q4 {
			t.Errorf("the guard's entry: %+v", e)
		}
	}

	// Filters and paging.
	onApp := decisionlogList(t, d, "resource=app:"+q4)
	if len(onApp) < 3 {
		t.Errorf("resource=app:%s: %d entries, want the check, the evaluation and the guard's", q4, len(onApp))
	}
	for _, e := range onApp {
		if e.Input.Resource["id"] != q4 || e.Input.Resource["type"] != "app" {
			t.Errorf("resource filter let through %v", e.Input.Resource)
		}
	}
	if n := len(decisionlogList(t, d, "resource="+q4)); n != len(onApp) {
		t.Errorf("resource=<id> %d entries, resource=app:<id> %d", n, len(onApp))
	}
	if n := len(decisionlogList(t, d, "resource=app:nothing")); n != 0 {
		t.Errorf("an unknown resource has %d entries", n)
	}
	res := d.Do("admin", "GET", "/api/v1/decisions?resource=app:nothing", nil, nil)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"items":[]`) || !strings.Contains(string(body), `"next":""`) {
		t.Errorf("an empty page is %s, want items [] and next \"\"", body)
	}
	if n := len(decisionlogList(t, d, "resource=space:*&subject="+bob)); n != 0 {
		t.Errorf("bob was asked nothing about spaces, %d entries", n)
	}
	if n := len(decisionlogList(t, d, "since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); n != 0 {
		t.Errorf("since an hour ahead: %d entries", n)
	}
	if n := len(decisionlogList(t, d, "subject="+bob+"&since="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))); n != len(got) {
		t.Errorf("since an hour ago: %d entries, want %d", n, len(got))
	}
	all := decisionlogList(t, d, "limit=1")
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.DecisionID] {
			t.Errorf("decision %s listed twice across pages", e.DecisionID)
		}
		seen[e.DecisionID] = true
	}

	// Only tenant admins; bad queries are 400.
	for _, tc := range []struct {
		user, query string
		status      int
		code        string
	}{
		{"alice", "", 403, "forbidden"},
		{"bob", "subject=" + bob, 403, "forbidden"},
		{"admin", "user=" + bob, 400, "unknown_parameter"},
		{"admin", "since=yesterday", 400, "bad_since"},
		{"admin", "resource=:x", 400, "bad_resource"},
		{"admin", "limit=0", 400, "bad_limit"},
		{"", "", 401, "missing_credentials"},
	} {
		var e servicetest.Error
		if st := d.Call(tc.user, "GET", "/api/v1/decisions?"+tc.query, nil, &e); st != tc.status || e.Code != tc.code {
			t.Errorf("%s GET /decisions?%s = %d %s, want %d %s", tc.user, tc.query, st, e.Code, tc.status, tc.code)
		}
	}

	// The collection expires its entries: a TTL index on MongoDB; on
	// FerretDB rulekeeper deletes them.
	ctx := context.Background()
	ttl, kept, err := d.Svc.Store.DecisionLog().TTL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	real := os.Getenv("RULEKEEPER_MONGO_URI") != ""
	if real && (!kept || ttl != decisionlog.DefaultTTL) {
		t.Errorf("MongoDB: TTL index %v %v, want %v", kept, ttl, decisionlog.DefaultTTL)
	}
	if !real && kept {
		t.Errorf("FerretDB reports a TTL index (%v): it implements none", ttl)
	}
	specs, err := d.Svc.Store.Database().Collection("decisions").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	// On FerretDB, which uses no secondary index in a query, none (each
	// would cost every insert a parse of the whole batch).
	for _, want := range []string{"ts_1", "subjects_1__id_1", "resourceIds_1__id_1", "resourceTypes_1__id_1"} {
		if slices.Contains(names, want) != real {
			t.Errorf("index %s on decisions: %v, want %v (%v)", want, !real, real, names)
		}
	}
}

func TestPruneWhereNoTTLIndex(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	m, err := decisionlog.NewMongo(ctx, s.DecisionLog(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.TTLKept {
		t.Skip("the server expires entries itself (MongoDB's TTL monitor runs every minute)")
	}
	m.PruneEvery = time.Millisecond
	now := time.Now().UTC()
	line := func(subject string, at time.Time) []byte {
		return fmt.Appendf(nil, `{"input":{"subject":{"id":%q}},"timestamp":%q}`, subject, at.Format(time.RFC3339Nano))
	}
	for _, rec := range []store.DecisionRecord{ // two batches
		{Time: now.Add(-2 * time.Hour), SubjectID: "old", Entry: line("old", now.Add(-2*time.Hour))},
		{Time: now, SubjectID: "new", Entry: line("new", now)},
	} {
		if err := s.DecisionLog().Insert(ctx, []store.DecisionRecord{rec}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := decisionlog.New(decisionlog.Config{Sink: m, Sample: 1, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		old, _, err := s.DecisionLog().List(ctx, store.DecisionFilter{SubjectID: "old"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(old) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired entry was never deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cur, _, _ := s.DecisionLog().List(ctx, store.DecisionFilter{SubjectID: "new"}, store.Page{}); len(cur) != 1 {
		t.Errorf("the current entry went too: %d left", len(cur))
	}
}

// lines is the stdout of a decision log, safe for the logger and the test
// at once.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestStdoutAndOff(t *testing.T) {
	t.Parallel()
	out := &lines{}
	d := servicetest.DevWith(t, func(c *service.Config) { c.DecisionLog = "stdout"; c.DecisionLogOut = out })
	bob := d.Users["bob"].ID
	ask := map[string]any{"subject": map[string]any{"id": bob}, "action": "read", "resource": map[string]any{"type": "app", "id": d.Apps["Q4 report"].ID}}
	if st := d.Call("admin", "POST", "/authz/check", ask, nil); st != 200 {
		t.Fatalf("check = %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	var found *entry
	for found == nil && time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			var e entry
			if json.Unmarshal([]byte(line), &e) == nil && e.Request != nil && e.Request.Path == "/authz/check" && e.Input.Subject["id"] == bob {
				found = &e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if found == nil || found.Result == nil || !found.Result.Allow {
		t.Fatalf("no stdout line for the check: %q", out.String())
	}
	if !strings.Contains(found.Request.ID, "-") { // the answer's X-Request-ID: <process prefix>-<counter>
		t.Errorf("the entry's request id is %q, want the generated X-Request-ID", found.Request.ID)
	}
	var e servicetest.Error
	if st := d.Call("admin", "GET", "/api/v1/decisions", nil, &e); st != 404 || e.Code != "decision_log_not_stored" {
		t.Errorf("stdout log: GET /decisions = %d %s, want 404 decision_log_not_stored", st, e.Code)
	}
	if names, _ := d.Svc.Store.Database().ListCollectionNames(context.Background(), map[string]any{"name": "decisions"}); len(names) != 0 {
		t.Errorf("the stdout log made the decisions collection")
	}

	off := servicetest.Dev(t)
	if off.Svc.DecisionLog != nil {
		t.Fatal("the log is on by default")
	}
	ask = map[string]any{"subject": map[string]any{"id": off.Users["bob"].ID}, "action": "read", "resource": map[string]any{"type": "app", "id": off.Apps["Q4 report"].ID}}
	if st := off.Call("admin", "POST", "/authz/check", ask, nil); st != 200 {
		t.Fatalf("check = %d", st)
	}
	if names, _ := off.Svc.Store.Database().ListCollectionNames(context.Background(), map[string]any{"name": "decisions"}); len(names) != 0 {
		t.Errorf("with the log off a decisions collection exists")
	}
	if st := off.Call("admin", "GET", "/api/v1/decisions", nil, &e); st != 404 || e.Code != "decision_log_not_stored" {
		t.Errorf("log off: GET /decisions = %d %s", st, e.Code)
	}
}

// decisionLogOf is the decision log repository of a new test database,
// its indexes made.
func decisionLogOf(t *testing.T) (*store.Store, *store.DecisionLog) {
	t.Helper()
	s := storetest.New(t)
	log := s.DecisionLog()
	if _, err := log.Ensure(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	return s, log
}

// TestDecisionLogBatches: the log is stored a batch per document; the
// listing picks the matching entries out of the batches, newest first,
// and pages through them (a page may end inside a batch).
func TestDecisionLogBatches(t *testing.T) {
	t.Parallel()
	_, log := decisionLogOf(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	var want []string // every entry's name, newest first
	for b, batch := range [][]string{{"a0", "a1", "a2", "a3", "a4"}, {"b0", "b1", "b2"}, {"c0"}} {
		var recs []store.DecisionRecord
		for i, name := range batch {
			subject, rtype := "u1", "app"
			if i%2 == 1 {
				subject, rtype = "u2", "space"
			}
			at := t0.Add(time.Duration(b*10+i) * time.Second)
			line := fmt.Sprintf(`{"decision_id":%q,"input":{"subject":{"id":%q},"resource":{"type":%q,"id":"r-%s"}},"timestamp":%q,"name":%q}`,
				store.NewID(), subject, rtype, name, at.Format(time.RFC3339Nano), name)
			recs = append(recs, store.DecisionRecord{Time: at, SubjectID: subject, ResourceType: rtype, ResourceID: "r-" + name, Entry: []byte(line)})
			want = append([]string{name}, want...)
		}
		if err := log.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	names := func(f store.DecisionFilter, limit int) []string {
		t.Helper()
		var out []string
		p := store.Page{Limit: limit}
		for range 50 {
			recs, next, err := log.List(ctx, f, p)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" && len(recs) != limit {
				t.Fatalf("a page of %d (limit %d) with a next", len(recs), limit)
			}
			for _, r := range recs {
				var e struct{ Name string }
				if err := json.Unmarshal(r.Entry, &e); err != nil || r.ResourceID != "r-"+e.Name {
					t.Fatalf("record %+v: %v", r, err)
				}
				out = append(out, e.Name)
			}
			if next == "" {
				return out
			}
			p.Cursor = next
		}
		t.Fatal("the cursor never ends")
		return nil
	}
	keep := func(pred func(i int, name string) bool) []string {
		var out []string
		for _, n := range want {
			if pred(int(n[1]-'0'), n) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.DecisionFilter
		want []string
	}{
		{"all", store.DecisionFilter{}, want},
		{"subject", store.DecisionFilter{SubjectID: "u2"}, keep(func(i int, _ string) bool { return i%2 == 1 })},
		{"type", store.DecisionFilter{ResourceType: "app"}, keep(func(i int, _ string) bool { return i%2 == 0 })},
		{"resource", store.DecisionFilter{ResourceID: "r-b1"}, []string{"b1"}},
		{"since", store.DecisionFilter{Since: t0.Add(12 * time.Second)}, []string{"c0", "b2"}},
		{"subject and since", store.DecisionFilter{SubjectID: "u1", Since: t0.Add(3 * time.Second)}, []string{"c0", "b2", "b0", "a4"}},
		{"nobody", store.DecisionFilter{SubjectID: "u9"}, nil},
	} {
		for _, limit := range []int{1, 2, 3, 100} {
			if got := names(tc.f, limit); !slices.Equal(got, tc.want) {
				t.Errorf("%s, limit %d: %v, want %v", tc.name, limit, got, tc.want)
			}
		}
	}
	for _, bad := range []string{"garbage!", store.EncodeCursor("x")} {
		if _, _, err := log.List(ctx, store.DecisionFilter{}, store.Page{Cursor: bad}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

// TestDecisionLogEarlierBatchesRead: batches an earlier version stored
// (the lines DEFLATE-compressed in entries) are listed with those stored
// now (column-wise), every line as it was written.
func TestDecisionLogEarlierBatchesRead(t *testing.T) {
	t.Parallel()
	s, log := decisionLogOf(t)
	ctx := context.Background()
	t0 := time.Now().UTC()
	line := func(i int, subject string) string {
		return fmt.Sprintf(`{"decision_id":%q,"input":{"subject":{"id":%q},"resource":{"type":"app","id":"a%d"}},"timestamp":%q,"metrics":{"timer_rulekeeper_hydrate_ns":%d}}`,
			store.NewID(), subject, i, t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), 1000+i)
	}
	var old bytes.Buffer
	w, _ := flate.NewWriter(&old, flate.BestSpeed)
	var want []string
	for i := range 3 {
		l := line(i, "u1")
		want = append([]string{l}, want...)
		fmt.Fprintln(w, l)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Database().Collection("decisions").InsertOne(ctx, bson.D{{Key: "_id", Value: store.NewID()}, {Key: "ts", Value: t0.Add(2 * time.Millisecond)},
		{Key: "from", Value: t0}, {Key: "n", Value: 3}, {Key: "entries", Value: old.Bytes()}}); err != nil {
		t.Fatal(err)
	}
	var recs []store.DecisionRecord
	for i := 3; i < 6; i++ {
		l := line(i, "u2")
		want = append([]string{l}, want...)
		recs = append(recs, store.DecisionRecord{Time: t0.Add(time.Duration(i) * time.Millisecond), SubjectID: "u2", ResourceType: "app", ResourceID: fmt.Sprint("a", i), Entry: []byte(l)})
	}
	if err := log.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, next, err := log.List(ctx, store.DecisionFilter{}, store.Page{Limit: 10})
	if err != nil || next != "" {
		t.Fatalf("List: %v, next %q", err, next)
	}
	var lines []string
	for _, r := range got {
		lines = append(lines, string(r.Entry))
	}
	if !slices.Equal(lines, want) {
		t.Errorf("listed\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got, _, err := log.List(ctx, store.DecisionFilter{SubjectID: "u1"}, store.Page{}); err != nil || len(got) != 3 || got[0].ResourceID != "a2" {
		t.Errorf("u1's entries (the earlier batch): %+v, %v", got, err)
	}
}

// TestDecisionLogTwoReplicas: two replicas on one database both write the
// log at once, and the listing of either shows every decision of both.
func TestDecisionLogTwoReplicas(t *testing.T) {
	t.Parallel()
	d := servicetest.DevWith(t, func(c *service.Config) { c.DecisionLog = "mongo" })
	replica := d.ReplicaWith(func(c *service.Config) { c.DecisionLog = "mongo" })
	bob, alice := d.Users["bob"].ID, d.Users["alice"].ID
	q4 := d.Apps["Q4 report"].ID
	n := 40
	if testing.Short() {
		n = 15
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { // replica 1: over HTTP
		ask := map[string]any{"subject": map[string]any{"id": bob}, "action": "read", "resource": map[string]any{"type": "app", "id": q4}}
		for range n {
			if st := d.Call("admin", "POST", "/authz/check", ask, nil); st != 200 {
				t.Errorf("check = %d", st)
				return
			}
		}
	})
	wg.Go(func() { // replica 2: in-process decisions, as its guard takes them
		for range n {
			if _, err := replica.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: alice}, Action: "read",
				Resource: authz.Resource{Type: "app", ID: q4}}); err != nil {
				t.Errorf("replica: %v", err)
				return
			}
		}
	})
	wg.Wait()
	fromFirst := await(t, d, "subject="+bob+"&limit=7", func(es []entry) bool { return len(byPath(es, "/authz/check")) >= n })
	fromSecond := await(t, d, "subject="+alice+"&resource=app:"+q4, func(es []entry) bool {
		inProcess := 0
		for _, e := range es {
			if e.Request == nil {
				inProcess++
			}
		}
		return inProcess >= n
	})
	seen := map[string]bool{}
	for _, e := range append(fromFirst, fromSecond...) {
		if seen[e.DecisionID] {
			t.Errorf("decision %s listed twice", e.DecisionID)
		}
		seen[e.DecisionID] = true
	}
	// The second replica lists the first's entries too.
	recs, _, err := replica.Store.DecisionLog().List(ctx, store.DecisionFilter{SubjectID: bob}, store.Page{Limit: 1000})
	if err != nil || len(recs) < n {
		t.Errorf("the second replica lists %d of bob's entries (%v), want ≥ %d", len(recs), err, n)
	}
}

// failingOut is a stdout that refuses every write (a full disk, a closed
// pipe).
type failingOut struct{}

func (failingOut) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestDecisionLogFailureChangesNoDecision: a log that cannot be written
// leaves every answer as it is, and the loss is counted.
func TestDecisionLogFailureChangesNoDecision(t *testing.T) {
	t.Parallel()
	d := servicetest.DevWith(t, func(c *service.Config) { c.DecisionLog = "stdout"; c.DecisionLogOut = failingOut{} })
	bob, q4 := d.Users["bob"].ID, d.Apps["Q4 report"].ID
	for _, tc := range []struct {
		action string
		allow  bool
	}{{"read", true}, {"delete", false}, {"read", true}} {
		var answer struct{ Allow bool }
		ask := map[string]any{"subject": map[string]any{"id": bob}, "action": tc.action, "resource": map[string]any{"type": "app", "id": q4}}
		if st := d.Call("admin", "POST", "/authz/check", ask, &answer); st != 200 || answer.Allow != tc.allow {
			t.Errorf("%s: %d allow %v, want 200 allow %v", tc.action, st, answer.Allow, tc.allow)
		}
	}
	if st := d.Call("bob", "GET", "/api/v1/apps/"+q4, nil, nil); st != 200 {
		t.Errorf("the guard's decision: GET app = %d", st)
	}
	want := `rulekeeper_decision_log_dropped_total{reason="write_failed"}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res := d.Do("", "GET", "/metrics", nil, nil)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if i := strings.Index(string(body), want+" "); i >= 0 && !strings.HasPrefix(string(body[i+len(want)+1:]), "0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write_failed drops counted in /metrics")
		}
	}
}
