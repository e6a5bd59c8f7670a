package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"

	"github.com/rulekeeper/rulekeeper/resources/cpuprofile"
	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/server"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// BenchmarkCheckHandler is one POST /authz/check by id over a keep-alive
// connection, answered from the caches (the demo tenant, the tenant
// admin's API key): what one request of the load bench costs the process,
// client included. Run with -memprofile / -cpuprofile to see where the
// server's allocations go.
func BenchmarkCheckHandler(b *testing.B) {
	d := servicetest.Dev(b)
	benchCheck(b, d)
}

// BenchmarkCheckHandlerUncached is BenchmarkCheckHandler with the decision
// cache off (serve --no-decision-cache, as loadbench -no-decision-cache):
// every request evaluated.
func BenchmarkCheckHandlerUncached(b *testing.B) {
	d := servicetest.DevWith(b, func(c *service.Config) { c.NoDecisionCache = true })
	benchCheck(b, d)
}

// BenchmarkCheckFloor is BenchmarkCheckHandlerUncached with a decider that
// decides nothing (service.Config.CheckDecider: a constant answer of the
// usual size): the floor of the HTTP path through the service's own chain —
// request id, metrics and access log, body limits, deadline, CORS, the API
// key, decoding, the subject's resolution and the answer — without
// hydration or evaluation. Uncached minus floor is what Engine.Decide
// costs over HTTP; floor minus BenchmarkCheckBare is what the service's
// chain costs over a bare Fiber handler.
func BenchmarkCheckFloor(b *testing.B) {
	d := servicetest.DevWith(b, func(c *service.Config) { c.NoDecisionCache = true; c.CheckDecider = constantDecider{} })
	benchCheck(b, d)
}

// BenchmarkCheckBare is the client of BenchmarkCheckHandler against a bare
// Fiber app (no middleware) that answers the same constant decision: the
// client's, fasthttp's and the loopback's share of every figure above.
func BenchmarkCheckBare(b *testing.B) {
	url, body := bareServer(b)
	do := poster(b, url, "rk_bench")
	do(body)
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU()
	for b.Loop() {
		do(body)
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// constantAnswer is what constantDecider's decision is written as.
const constantAnswer = `{"allow":true,"grants":[{"kind":"table","id":"shared.app.open"}],"denies":[],"revision":1}`

// constantDecider answers every question with one allow.
type constantDecider struct{}

func (constantDecider) Decide(context.Context, authz.Request) (authz.Decision, error) {
	return authz.Decision{Allow: true, Grants: []authz.Grant{{Kind: "table", ID: "shared.app.open"}}, Denies: []authz.Deny{}, Revision: 1}, nil
}

// BenchmarkCheckHandlerLogged is BenchmarkCheckHandler with the decision
// log on (stdout, to a file): with -cpuprofile, where the log's cost goes.
func BenchmarkCheckHandlerLogged(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "decisions.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d := servicetest.DevWith(b, func(c *service.Config) { c.DecisionLog = "stdout"; c.DecisionLogOut = f })
	benchCheck(b, d)
}

func benchCheck(b *testing.B, d *servicetest.Tenant) {
	do := checker(b, d)
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU()
	for i := 0; b.Loop(); i++ {
		do(i)
	}
	// The process's CPU (user + system) per call, client included: on a
	// shared machine a steadier measure than wall time.
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// checker prepares d for /authz/check calls (an API key of the tenant
// admin, a body per demo user and app, every one asked once) and answers a
// function that sends the i-th body.
func checker(b *testing.B, d *servicetest.Tenant) func(i int) {
	var key struct {
		Secret string `json:"secret"`
	}
	if s := d.Call("admin", "POST", "/api/v1/api-keys", map[string]string{"description": "bench"}, &key); s != http.StatusCreated {
		b.Fatalf("api key: %d", s)
	}
	var bodies [][]byte
	for _, u := range d.Users {
		for _, a := range d.Apps {
			body, _ := json.Marshal(map[string]any{
				"subject": map[string]string{"id": u.ID}, "action": "read",
				"resource": map[string]string{"type": "app", "id": a.ID}, "context": map[string]string{"environment": "hub"},
			})
			bodies = append(bodies, body)
		}
	}
	do := poster(b, d.URL()+"/authz/check", key.Secret)
	for _, body := range bodies {
		do(body)
	}
	return func(i int) { do(bodies[i%len(bodies)]) }
}

// poster answers a function that POSTs a body to url over one keep-alive
// connection with the API key secret, and fails b unless the answer is 200.
func poster(b *testing.B, url, secret string) func(body []byte) {
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	return func(body []byte) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

// BenchmarkDecisionLogCost measures the decision log's cost in one
// process, in interleaved rounds: three demo tenants — the log off,
// --decision-log=stdout (to a file), --decision-log=mongo (the embedded
// database) — each asked the same /authz/check calls (4 connections) in
// every round, their order rotating from round to round. A log-on window
// ends when Logger.Flush has written every entry of its calls, so the
// writer's work counts where it belongs (and no idle wait for the writer's
// next tick does). Reported: the medians over the rounds of the CPU per
// call of the process (client included, the same for every mode) and of
// the test database server (a child process), and the ratios of the median
// throughputs (on ÷ off; the throughput of the calls alone, the CPU up to
// the last entry written); logged per round: the process's and the
// database's CPU apart, the GC cycles and the decision cache's hit rate.
// DECISIONLOG_ROUNDS=n sets the rounds (7); DECISIONLOG_PROFILE=dir writes
// a CPU profile of each window (dir/<mode>-<round>.prof).
//
//	go test -run '^$' -bench DecisionLogCost -benchtime 1x ./bench/loadbench/
func BenchmarkDecisionLogCost(b *testing.B) {
	rounds, calls := 7, 8000
	if testing.Short() {
		rounds, calls = 2, 200
	}
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "decisions.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	modes := []string{"off", "stdout", "mongo"}
	tenants := map[string]*servicetest.Tenant{
		"off":    servicetest.Dev(b),
		"stdout": servicetest.DevWith(b, func(c *service.Config) { c.DecisionLog = "stdout"; c.DecisionLogOut = f }),
		"mongo":  servicetest.DevWith(b, func(c *service.Config) { c.DecisionLog = "mongo" }),
	}
	checks := map[string]func(int){}
	for _, m := range modes {
		checks[m] = checker(b, tenants[m])
	}
	if v, err := strconv.Atoi(os.Getenv("DECISIONLOG_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	cpu, thr := map[string][]float64{}, map[string][]float64{}
	self, db, gcs, hits := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	for b.Loop() {
		for r := range rounds {
			for k := range modes {
				m := modes[(k+r)%len(modes)]
				d := tenants[m]
				before := scrape(context.Background(), d.URL())
				cpu0, t0 := withChildrenCPU(), time.Now()
				self0, gc0 := processCPU(), gcCycles()
				stopProfile := profileWindow(b, m, r)
				var wg sync.WaitGroup
				for w := range 4 {
					wg.Go(func() {
						for i := w; i < calls; i += 4 {
							checks[m](i)
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(t0)
				if m != "off" { // until the writer has written every entry of the window
					if err := d.Svc.DecisionLog.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
					for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
						c := scrape(context.Background(), d.URL()).minus(before)
						if c.LogWritten+c.LogDropped >= float64(calls) {
							break
						}
						if time.Now().After(deadline) {
							b.Fatalf("%s: %v of %d entries written or dropped after 60 s", m, c.LogWritten+c.LogDropped, calls)
						}
					}
				} else {
					scrape(context.Background(), d.URL()) // as the log-on windows do once
				}
				stopProfile()
				cpu[m] = append(cpu[m], float64((withChildrenCPU()-cpu0).Microseconds())/float64(calls))
				selfCPU := processCPU() - self0
				self[m] = append(self[m], float64(selfCPU.Microseconds())/float64(calls))
				db[m] = append(db[m], cpu[m][len(cpu[m])-1]-self[m][len(self[m])-1])
				gcs[m] = append(gcs[m], float64(gcCycles()-gc0))
				c := scrape(context.Background(), d.URL()).minus(before)
				hits[m] = append(hits[m], c.DecisionHit/max(1, c.DecisionHit+c.DecisionMiss))
				thr[m] = append(thr[m], float64(calls)/elapsed.Seconds())
			}
		}
	}
	for _, m := range modes {
		b.ReportMetric(median(cpu[m]), m+"-cpu-µs/call")
		b.ReportMetric(median(db[m]), m+"-db-cpu-µs/call")
		if m != "off" {
			b.ReportMetric(median(thr[m])/median(thr["off"]), m+"÷off-throughput")
			b.ReportMetric(median(cpu["off"])/median(cpu[m]), m+"-cpu-kept")
		}
		b.Logf("%s: throughput per round %.0f, CPU µs per call %.1f", m, thr[m], cpu[m])
		b.Logf("%s: self CPU µs/call %.1f, db CPU µs/call %.1f, GC cycles %.0f, decision cache hit rate %.3f", m, self[m], db[m], gcs[m], hits[m])
	}
}

// profileWindow profiles one mode's window into
// $DECISIONLOG_PROFILE/<mode>-<round>.prof when that variable names a
// directory (merge a mode's rounds with go tool pprof -proto, compare with
// -diff_base); the returned function stops it.
func profileWindow(b *testing.B, mode string, round int) func() {
	dir := os.Getenv("DECISIONLOG_PROFILE")
	if dir == "" {
		return func() {}
	}
	stop, err := cpuprofile.Start(filepath.Join(dir, fmt.Sprintf("%s-%d.prof", mode, round)))
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		if err := stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// gcCycles is the number of GC cycles this process completed so far.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// withChildrenCPU is processCPU plus the CPU so far of this process's
// running children: the test database server (storetest runs FerretDB in
// a process of its own), whose work for the mongo log counts.
func withChildrenCPU() time.Duration {
	total := processCPU()
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if ppid, cpu := statOf(pid); ppid == self {
			total += cpu
		}
	}
	return total
}

// BenchmarkDecisionLogMongoWrite is the mongo sink's cost per entry on the
// test database (FerretDB, or RULEKEEPER_MONGO_URI): batches of 1 to 10,000
// entries of a demo decision's size (store.DecisionLog: one document per
// batch); cpu-µs/entry is the CPU of this process and of the database
// server when it is a child (storetest's FerretDB). In the batches named by
// their size alone every entry has a subject and a resource of its own (the
// worst case for the batch's tables of distinct values); in pooled-<n> they
// come from 300 subjects and 50 resources, as bench/loadbench's do.
//
//	go test -run '^$' -bench DecisionLogMongoWrite ./bench/loadbench/
func BenchmarkDecisionLogMongoWrite(b *testing.B) {
	s := storetest.New(b)
	ctx := context.Background()
	sink, err := decisionlog.NewMongo(ctx, s.DecisionLog(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	// A demo decision's line, its ids, times and timers varying as they do
	// (the request id as the server makes them: server.RequestIDs).
	requestID := server.RequestIDs()
	subjects, resources := make([]string, 300), make([]string, 50)
	for i := range subjects {
		subjects[i] = bson.NewObjectID().Hex()
	}
	for i := range resources {
		resources[i] = bson.NewObjectID().Hex()
	}
	line := func(i int, pooled bool) []byte {
		subject, space, resource := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
		if pooled {
			subject, space, resource = subjects[i*7%300], resources[i%5], resources[i*3%50]
		}
		return fmt.Appendf(nil, `{"decision_id":"%s","labels":{"id":"host/1","version":"dev"},"bundles":{"rulekeeper":{"revision":"7"}},"path":"rulekeeper/authz/decision","input":{"subject":{"id":"%s","name":"user %d","email":"user%d@example.test","roles":["Developer"],"groups":["eng"],"license":{"type":"professional"},"spaces":{"%s":["consumer"]}},"action":"read","resource":{"type":"app","id":"%s","name":"Q4 report %d","owner":"u-alice","spaceId":"s1","spaceType":"shared","space":{"id":"s1","name":"Finance","type":"shared"}},"context":{"environment":"hub"}},"result":{"allow":true,"grants":[{"kind":"table","id":"shared-space-consumer-read","name":"Shared space consumer"},{"kind":"rule","id":"r-7","name":"Finance readers"}],"denies":[],"revision":7},"revision":7,"rule_ids":["r-7"],"requested_by":"127.0.0.1","request":{"method":"POST","path":"/authz/check","id":"%s","caller":"u-admin"},"timestamp":"%s","metrics":{"timer_rulekeeper_hydrate_ns":%d,"timer_rego_query_eval_ns":%d,"timer_rulekeeper_decision_ns":%d}}`,
			bson.NewObjectID().Hex(), subject, i*7%300, i*7%300, space, resource, i*3%50%10, requestID(),
			time.Now().Add(time.Duration(i)*time.Microsecond).UTC().Format(time.RFC3339Nano), 1000+i*13%4000, 700+i*7%3000, 1700+i*13%4000+i*7%3000)
	}
	for _, c := range []struct {
		name   string
		n      int
		pooled bool
	}{{"1", 1, false}, {"50", 50, false}, {"500", 500, false}, {"2000", 2000, false}, {"5000", 5000, false}, {"10000", 10000, false},
		{"pooled-500", 500, true}, {"pooled-5000", 5000, true}} {
		b.Run(c.name, func(b *testing.B) {
			batch := make([]decisionlog.Encoded, c.n)
			for i := range batch {
				batch[i] = decisionlog.Encoded{ID: bson.NewObjectID().Hex(), Time: time.Now(), SubjectID: fmt.Sprintf("u-%d", i%50),
					ResourceType: "app", ResourceID: fmt.Sprintf("a-%d", i%10), Line: line(i, c.pooled)}
			}
			start := withChildrenCPU()
			for b.Loop() {
				if err := sink.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((withChildrenCPU()-start).Microseconds())/float64(b.N*len(batch)), "cpu-µs/entry")
		})
	}
}
