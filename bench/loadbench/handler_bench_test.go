package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
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
	for i := 0; b.Loop(); i++ {
		do(i)
	}
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
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	url := d.URL() + "/authz/check"
	do := func(body []byte) {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.Secret)
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
	for _, body := range bodies {
		do(body)
	}
	return func(i int) { do(bodies[i%len(bodies)]) }
}

// BenchmarkDecisionLogCost measures the decision log's cost in one
// process, in interleaved rounds: three demo tenants — the log off,
// --decision-log=stdout (to a file), --decision-log=mongo (the embedded
// database) — each asked the same /authz/check calls (4 connections) in
// every round, their order rotating from round to round. A log-on window
// ends when every entry of its calls is written (or dropped), so the
// writer's work counts where it belongs. Reported: the medians over the
// rounds of the process's CPU per call (client included, the same for
// every mode) and the ratios of the median throughputs (on ÷ off; the
// throughput of the calls alone, the CPU up to the last entry written).
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
	cpu, thr := map[string][]float64{}, map[string][]float64{}
	for b.Loop() {
		for r := range rounds {
			for k := range modes {
				m := modes[(k+r)%len(modes)]
				d := tenants[m]
				before := scrape(context.Background(), d.URL())
				cpu0, t0 := processCPU(), time.Now()
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
				if m != "off" { // until the writer has caught up (a scrape costs CPU: seldom)
					for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
						c := scrape(context.Background(), d.URL()).minus(before)
						if c.LogWritten+c.LogDropped >= float64(calls) {
							break
						}
						if time.Now().After(deadline) {
							b.Fatalf("%s: %v of %d entries written or dropped after 60 s", m, c.LogWritten+c.LogDropped, calls)
						}
					}
				}
				cpu[m] = append(cpu[m], float64((processCPU()-cpu0).Microseconds())/float64(calls))
				thr[m] = append(thr[m], float64(calls)/elapsed.Seconds())
			}
		}
	}
	for _, m := range modes {
		b.ReportMetric(median(cpu[m]), m+"-cpu-µs/call")
		if m != "off" {
			b.ReportMetric(median(thr[m])/median(thr["off"]), m+"÷off-throughput")
			b.ReportMetric(median(cpu["off"])/median(cpu[m]), m+"-cpu-kept")
		}
		b.Logf("%s: throughput per round %.0f, CPU µs per call %.1f", m, thr[m], cpu[m])
	}
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
