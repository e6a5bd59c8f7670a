package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/bench/opaserver"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// stockOPA evaluates the decision as `opa run` does: the policy files
// parsed from source, the data documents in an in-memory store, the input
// as plain JSON.
func stockOPA(t *testing.T, rulesModule string) func(body []byte) verdict {
	t.Helper()
	modules, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){rego.Query(authz.DecisionQuery), rego.Store(inmem.NewFromObject(data))}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	if rulesModule != "" {
		opts = append(opts, rego.Module("generated_rules.rego", rulesModule))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return func(body []byte) verdict {
		t.Helper()
		var req struct {
			Input any `json:"input"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("the OPA body is not JSON: %v\n%s", err, body)
		}
		rs, err := pq.Eval(context.Background(), rego.EvalInput(req.Input))
		if err != nil || len(rs) != 1 {
			t.Fatalf("evaluate: %v (%d results)", err, len(rs))
		}
		b, err := json.Marshal(map[string]any{"result": rs[0].Expressions[0].Value})
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseVerdict(b, true)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// The workload's OPA inputs, evaluated by a stock OPA, decide every
// (subject, item) exactly as rulekeeper's engine decides the same question
// asked by id: same allow, same grants, same gates.
func TestHydratedInputsDecideAsTheEngine(t *testing.T) {
	d := servicetest.Dev(t)
	ctx := context.Background()
	var ids []string
	for _, u := range d.Users {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	w, err := buildWorkload(ctx, d.Svc.Store, d.Svc.Licenses.LicenseOf, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Items) == 0 || len(w.Picks) < len(w.Items) {
		t.Fatalf("%d items, %d picks", len(w.Items), len(w.Picks))
	}
	opa := stockOPA(t, w.RulesModule)
	allowed, denied := 0, 0
	for s := range w.SubjectIDs {
		for i, it := range w.Items {
			var res authz.Resource
			if err := json.Unmarshal(it.Request, &res); err != nil {
				t.Fatal(err)
			}
			var id, action string
			_ = json.Unmarshal(w.SubjectIDs[s], &id)
			_ = json.Unmarshal(it.Action, &action)
			dec, err := d.Svc.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: id}, Action: action, Resource: res, Environment: "hub"})
			if err != nil {
				t.Fatalf("%s %s: %v", id, it.Label, err)
			}
			b, _ := json.Marshal(dec)
			want, err := parseVerdict(b, false)
			if err != nil {
				t.Fatal(err)
			}
			got := opa(opaBody(nil, w, s, i))
			if got.Allow != want.Allow || got.explanation() != want.explanation() {
				t.Errorf("%s, %s: stock OPA %v %s, engine %v %s", id, it.Label, got.Allow, got.explanation(), want.Allow, want.explanation())
			}
			if want.Allow {
				allowed++
			} else {
				denied++
			}
		}
	}
	if allowed == 0 || denied == 0 {
		t.Errorf("the workload is not a mix: %d allowed, %d denied", allowed, denied)
	}
}

func TestBodiesAreJSON(t *testing.T) {
	w := &workload{
		SubjectIDs:  [][]byte{jsonString(`u-"1"`)},
		SubjectJSON: [][]byte{mustSubject(t, &authz.Subject{ID: "u-1", License: authz.License{Type: "professional"}})},
		Items: []item{{Label: "read app", Action: jsonString("read"),
			Request: []byte(`{"type":"app","id":"a-1"}`), Hydrated: mustResource(t, &authz.Resource{Type: "app", ID: "a-1",
				Space: &authz.Related{ID: "sp", Type: "shared"}})}},
	}
	tests := []struct {
		name string
		body func([]byte, *workload, int, int) []byte
		want []string // substrings
	}{
		{"rulekeeper", rulekeeperBody, []string{`"subject":{"id":"u-\"1\""}`, `"action":"read"`, `"resource":{"type":"app","id":"a-1"}`, `"environment":"hub"`}},
		{"opa", opaBody, []string{`{"input":{"subject":{"id":"u-1"`, `"roles":[]`, `"spaces":{}`, `"space":{"id":"sp"`, `"context":{"environment":"hub"}}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("kept")
			got := tt.body(prefix, w, 0, 0)
			if string(got[:4]) != "kept" {
				t.Fatalf("the body does not append to its buffer: %s", got)
			}
			body := string(got[4:])
			if !json.Valid([]byte(body)) {
				t.Fatalf("not JSON: %s", body)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("%s lacks %s", body, s)
				}
			}
		})
	}
}

func mustSubject(t *testing.T, s *authz.Subject) []byte {
	b, err := opaserver.SubjectJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustResource(t *testing.T, r *authz.Resource) []byte {
	b, err := opaserver.ResourceJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The input JSON has every field authz.Input.value() sets, so policies
// reading absent fields see the same thing in both servers.
func TestInputJSONHasEveryField(t *testing.T) {
	b := mustSubject(t, &authz.Subject{ID: "u"})
	v, err := ast.ParseTerm(string(b))
	if err != nil {
		t.Fatal(err)
	}
	obj := v.Value.(ast.Object)
	for _, k := range []string{"id", "name", "email", "status", "anonymous", "roles", "groups", "groupIds", "license", "attributes", "spaces"} {
		if obj.Get(ast.StringTerm(k)) == nil {
			t.Errorf("subject lacks %s: %s", k, b)
		}
	}
	b = mustResource(t, &authz.Resource{Type: "app"})
	for _, k := range []string{"type", "id", "name", "owner", "spaceId", "spaceType", "objectType", "public", "sectionAccess", "targetSpaceId", "targetSpaceType", "attributes"} {
		if !bytes.Contains(b, []byte(`"`+k+`":`)) {
			t.Errorf("resource lacks %s: %s", k, b)
		}
	}
	if bytes.Contains(b, []byte(`"space":`)) || bytes.Contains(b, []byte(`"app":`)) {
		t.Errorf("a resource without space or app names one: %s", b)
	}
}

func TestStreamIsDeterministic(t *testing.T) {
	picks := []int{0, 1, 1, 2}
	a := stream{seed: 6, subjects: 1000, picks: picks}
	b := stream{seed: 6, subjects: 1000, picks: picks}
	c := stream{seed: 7, subjects: 1000, picks: picks}
	subjects := map[int]bool{}
	items := map[int]int{}
	differ := 0
	for n := range uint64(50_000) {
		s1, i1 := a.at(n)
		s2, i2 := b.at(n)
		if s1 != s2 || i1 != i2 {
			t.Fatalf("same seed, different element %d", n)
		}
		if s3, i3 := c.at(n); s3 != s1 || i3 != i1 {
			differ++
		}
		subjects[s1] = true
		items[i1]++
	}
	if len(subjects) != 1000 {
		t.Errorf("%d of 1000 subjects drawn", len(subjects))
	}
	if differ < 40_000 {
		t.Errorf("another seed changed only %d elements", differ)
	}
	// Item 1 is picked twice as often as items 0 and 2.
	if r := float64(items[1]) / float64(items[0]); r < 1.8 || r > 2.2 {
		t.Errorf("weights: %v", items)
	}
}

func TestPercentile(t *testing.T) {
	sorted := make([]int64, 100)
	for i := range sorted {
		sorted[i] = int64(i + 1)
	}
	tests := []struct {
		in   []int64
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{[]int64{7}, 99, 7},
		{sorted, 50, 50},
		{sorted, 99, 99},
		{sorted, 99.9, 100},
		{sorted, 100, 100},
		{sorted, 1, 1},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("p%v of %d values = %v, want %v", tt.p, len(tt.in), got, tt.want)
		}
	}
}

func TestSummarizeMergesRounds(t *testing.T) {
	s := summarize("x", []*window{
		{Requests: 2, Elapsed: time.Second, Latencies: []int64{4e6, 1e6}},
		{Requests: 2, Elapsed: time.Second, Latencies: []int64{3e6, 2e6}, Errors: 1, FirstErr: "boom"},
	})
	if s.Requests != 4 || s.Throughput != 2 || s.P50 != 2*time.Millisecond || s.Max != 4*time.Millisecond || s.Errors != 1 || s.FirstErr != "boom" {
		t.Errorf("%+v", s)
	}
}

func TestParseVerdict(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		underResult bool
		want        verdict
		err         bool
	}{
		{"rulekeeper", `{"allow":true,"grants":[{"kind":"table","id":"b"},{"kind":"owner","id":"a"}],"denies":[],"revision":0}`, false,
			verdict{Allow: true, Grants: []string{"owner/a", "table/b"}, Denies: []string{}}, false},
		{"opa", `{"result":{"allow":false,"grants":[],"denies":[{"kind":"gate","reason":"no_license"}]}}`, true,
			verdict{Allow: false, Grants: []string{}, Denies: []string{"no_license"}}, false},
		{"opa undefined", `{}`, true, verdict{}, true},
		{"no allow", `{"grants":[]}`, false, verdict{}, true},
		{"not json", `<html>`, false, verdict{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVerdict([]byte(tt.body), tt.underResult)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if !tt.err && (got.Allow != tt.want.Allow || got.explanation() != tt.want.explanation()) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCounters(t *testing.T) {
	text := `# HELP rulekeeper_decision_cache_total Decision cache lookups by result (hit, miss).
# TYPE rulekeeper_decision_cache_total counter
rulekeeper_decision_cache_total{result="hit"} 1234
rulekeeper_decision_cache_total{result="miss"} 5.6e+01
rulekeeper_entity_cache_total{result="hit"} 7
rulekeeper_entity_cache_total{result="miss"} 8
http_requests_total{route="/authz/check",status="200"} 99
`
	got := parseCounters(strings.NewReader(text))
	want := counters{DecisionHit: 1234, DecisionMiss: 56, EntityHit: 7, EntityMiss: 8}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if d := want.minus(counters{DecisionHit: 4}); d.DecisionHit != 1230 || d.EntityMiss != 8 {
		t.Errorf("minus: %+v", d)
	}
}

func TestSpliceReplacesOnlyTheReport(t *testing.T) {
	doc := "# bench\n\ntext\n\n" + reportBegin + "\nold report\n" + reportEnd + "\n\nafter\n"
	got, err := splice(doc, "new report")
	if err != nil {
		t.Fatal(err)
	}
	want := "# bench\n\ntext\n\n" + reportBegin + "\nnew report\n" + reportEnd + "\n\nafter\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	again, _ := splice(got, "new report")
	if again != got {
		t.Error("splicing twice is not stable")
	}
	for _, bad := range []string{"no markers", reportEnd + reportBegin, reportBegin + " only"} {
		if _, err := splice(bad, "x"); err == nil {
			t.Errorf("splice accepted %q", bad)
		}
	}
}

func TestReportNamesTargets(t *testing.T) {
	r := &report{Conns: 16, RK: summary{Name: "rulekeeper", Throughput: 3000, P99: time.Millisecond},
		OPA: summary{Name: "OPA server", Throughput: 1000, P99: 3 * time.Millisecond}}
	if !r.targetsMet() {
		t.Error("3× and 1 ms should meet the targets")
	}
	md := r.markdown()
	for _, s := range []string{"3.00×", "**met**", "| rulekeeper |", "| OPA server |"} {
		if !strings.Contains(md, s) {
			t.Errorf("the report lacks %q:\n%s", s, md)
		}
	}
	r.RK.P99 = 3 * time.Millisecond
	if r.targetsMet() || !strings.Contains(r.markdown(), "**missed**") {
		t.Error("a 3 ms p99 should miss the target")
	}
}

// The decision log's cost is the ratio of the medians over the rounds, per
// mode; a mode under the target misses it.
func TestReportDecisionLogMedians(t *testing.T) {
	r := &report{Conns: 16, RK: summary{Name: "rulekeeper", Throughput: 3000, P99: time.Millisecond},
		OPA:         summary{Name: "OPA server", Throughput: 1000, P99: time.Millisecond},
		DecisionLog: "stdout,mongo", DecisionLogSample: "1",
		Off: []roundFigures{{1000, 50, 0}, {3000, 40, 0}, {2000, 45, 0}},
		Logs: []logReport{
			{Mode: "stdout", Rounds: []roundFigures{{1900, 48, 0}, {950, 52, 0}, {2800, 47, 0}}},
			{Mode: "mongo", Rounds: []roundFigures{{500, 90, 0}, {2000, 80, 0}, {1000, 85, 0}}},
		}}
	if got := r.logRatio(r.Logs[0]); got != 0.95 {
		t.Errorf("stdout: median on ÷ median off = %v, want 0.95", got)
	}
	if got := r.cpuKept(r.Logs[0]); got != 45.0/48 {
		t.Errorf("stdout: CPU kept %v, want %v", got, 45.0/48)
	}
	if got := r.logRatio(r.Logs[1]); got != 0.5 || r.targetsMet() {
		t.Errorf("mongo: ratio %v, targets met %v; want 0.5 and missed", got, r.targetsMet())
	}
	md := r.markdown()
	for _, s := range []string{"| **median** | **2000** | **45.0** | **1900** | **0.950** | **48.0** |", "`stdout`: median throughput on ÷ off 0.950", "`mongo`: median throughput on ÷ off 0.500"} {
		if !strings.Contains(md, s) {
			t.Errorf("the report lacks %q:\n%s", s, md)
		}
	}
	if median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median of an even count")
	}
}

// With -baseline the report compares the medians of the three servers
// over the same rounds, by throughput and by server CPU per request.
func TestReportBaselineMedians(t *testing.T) {
	r := &report{Conns: 16, RK: summary{Name: "rulekeeper", Throughput: 3000, P99: time.Millisecond},
		OPA:            summary{Name: "OPA server", Throughput: 1000, P99: time.Millisecond},
		Off:            []roundFigures{{3000, 200, 0}, {4000, 150, 0}, {2000, 250, 0}},
		BaselineBinary: "/tmp/rulekeeper-main",
		Baseline:       &logReport{Mode: "baseline", Rounds: []roundFigures{{2000, 250, 0}, {1500, 300, 0}, {2500, 200, 0}}},
		OPARounds:      []roundFigures{{1000, 400, 0}, {1200, 300, 0}, {800, 500, 0}},
	}
	md := r.markdown()
	for _, s := range []string{
		"| **median** | **3000** | **200.0** | **2000** | **250.0** | **1000** | **400.0** |",
		"rulekeeper ÷ OPA: throughput 3.00×, OPA's CPU per request ÷ rulekeeper's 2.00×",
		"baseline ÷ OPA: throughput 2.00×, OPA's CPU per request ÷ the baseline's 1.60×",
		"rulekeeper ÷ baseline: throughput 1.50×, CPU per request 250.0 → 200.0 µs",
		"`/tmp/rulekeeper-main`",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("the report lacks %q:\n%s", s, md)
		}
	}
}

// TestDriveWithEachClient: both generator clients send the stream's
// bodies with the target's headers over keep-alive connections, count
// answers that are not 200 as errors, return the answer when asked to keep
// it, and measure the generator's CPU over the window.
func TestDriveWithEachClient(t *testing.T) {
	w := &workload{SubjectIDs: [][]byte{jsonString("u-0"), jsonString("u-1")},
		Items: []item{{Action: jsonString("read"), Request: []byte(`{"type":"app","id":"a-1"}`)},
			{Action: jsonString("bad"), Request: []byte(`{"type":"app","id":"a-2"}`)}}}
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		var body struct {
			Subject struct{ ID string } `json:"subject"`
			Action  string              `json:"action"`
		}
		switch {
		case r.Header.Get("Authorization") != "Bearer k" || r.Method != http.MethodPost || r.URL.Path != "/authz/check":
			http.Error(rw, "bad request line or headers", http.StatusUnauthorized)
		case json.Unmarshal(b, &body) != nil || body.Subject.ID == "":
			http.Error(rw, "bad body: "+string(b), http.StatusBadRequest)
		case body.Action == "bad":
			http.Error(rw, "refused", http.StatusInternalServerError)
		default:
			fmt.Fprintf(rw, `{"allow":true,"subject":%q}`, body.Subject.ID)
		}
	}))
	defer srv.Close()
	for _, kind := range []string{clientFast, clientNetHTTP} {
		t.Run(kind, func(t *testing.T) {
			clear(conns)
			tg := &target{name: "test", url: srv.URL + "/authz/check", body: rulekeeperBody,
				header: http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}}
			c := newClient(kind)
			defer c.close()
			status, b, err := c.post(context.Background(), tg, rulekeeperBody(nil, w, 1, 0), true)
			if err != nil || status != http.StatusOK || string(b) != `{"allow":true,"subject":"u-1"}` {
				t.Fatalf("post: %d %s %v", status, b, err)
			}
			// Only the first item: every request answered 200.
			st := stream{seed: 1, subjects: 2, picks: []int{0}}
			win, err := drive(context.Background(), tg, w, st, kind, 3, 50*time.Millisecond, 300*time.Millisecond, 1<<30, nil)
			if err != nil {
				t.Fatal(err)
			}
			if win.Requests == 0 || win.Errors != 0 || win.GenCPU <= 0 {
				t.Fatalf("requests %d, errors %d (%s), generator CPU %v", win.Requests, win.Errors, win.FirstErr, win.GenCPU)
			}
			mu.Lock()
			if n := len(conns); n > 4 { // 3 load connections and the first post's
				t.Errorf("%d connections: not kept alive", n)
			}
			mu.Unlock()
			// Both items: the refused ones are errors.
			st.picks = []int{0, 1}
			win, err = drive(context.Background(), tg, w, st, kind, 2, 0, 200*time.Millisecond, 1<<30, nil)
			if err != nil {
				t.Fatal(err)
			}
			if win.Errors == 0 || !strings.Contains(win.FirstErr, "status 500") {
				t.Errorf("errors %d (%s): the 500s are not counted", win.Errors, win.FirstErr)
			}
		})
	}
}
