package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// BenchmarkCheckChain hands POST /authz/check requests (the tenant admin's
// API key; every demo user and app, by id) to the service's Fiber handler
// directly: no socket, no client, one goroutine — the server's CPU and
// allocations of one request, exactly, with the log at warn as
// bench/loadbench runs it. floor answers from a decider that decides
// nothing (service.Config.CheckDecider): request id, metrics, body limits,
// deadline, CORS, the API key, decoding, the subject's resolution and the
// answer; floor-authzen the same through POST /access/v1/evaluation.
// cached and uncached are the engine with its decision cache on
// and off (hydration from the entity cache in both).
//
//	go test -run '^$' -bench CheckChain -benchmem ./resources/service/
func BenchmarkCheckChain(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, mode := range []struct {
		name    string
		mutate  func(*service.Config)
		authzen bool // POST /access/v1/evaluation, the same questions
	}{
		{"floor", func(c *service.Config) { c.CheckDecider = constantDecider{} }, false},
		{"floor-authzen", func(c *service.Config) { c.CheckDecider = constantDecider{} }, true},
		{"cached", nil, false},
		{"uncached", func(c *service.Config) { c.NoDecisionCache = true }, false},
		{"uncached-no-entity-cache", func(c *service.Config) { c.NoDecisionCache, c.NoEntityCache = true, true }, false},
	} {
		b.Run(mode.name, func(b *testing.B) {
			d := servicetest.DevWith(b, func(c *service.Config) {
				c.Logger = quiet
				if mode.mutate != nil {
					mode.mutate(c)
				}
			})
			reqs := checkRequests(b, d)
			if mode.authzen {
				reqs = authzenRequests(d, reqs)
			}
			measureChain(b, chainHandler(b, d, reqs))
		})
	}
}

// chainHandler answers a function that hands the i-th of reqs to d's
// handler and fails b unless the answer is 200; every request is handed
// once before (every entity cached, every answer checked).
func chainHandler(b *testing.B, d *servicetest.Tenant, reqs []*fasthttp.Request) func(i int) {
	h := d.Svc.Handler()
	var ctx fasthttp.RequestCtx
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	do := func(i int) {
		ctx.Init(reqs[i%len(reqs)], addr, nil)
		h(&ctx)
		if s := ctx.Response.StatusCode(); s != http.StatusOK {
			b.Fatalf("status %d: %s", s, ctx.Response.Body())
		}
	}
	for i := range reqs {
		do(i)
	}
	return do
}

// measureChain runs do for b's loop and reports allocations, the CPU of
// this goroutine's thread alone (on a shared machine steadier than wall
// time, and without the collector's background workers: allocs/op stand
// for them) and the whole process's (the collector's workers too: compare
// GOGC settings with it).
func measureChain(b *testing.B, do func(i int)) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, proc := threadCPU(), processCPU()
	for i := 0; b.Loop(); i++ {
		do(i)
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "thread-ns/op")
	b.ReportMetric(float64(processCPU()-proc)/float64(b.N), "cpu-ns/op")
}

// threadCPU is the CPU time (user and system) of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time (user and system) of the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// checkRequests is one POST /authz/check per demo user and app, with an API
// key of the tenant admin.
func checkRequests(b *testing.B, d *servicetest.Tenant) []*fasthttp.Request {
	var key struct {
		Secret string `json:"secret"`
	}
	if s := d.Call("admin", "POST", "/api/v1/api-keys", map[string]string{"description": "bench"}, &key); s != http.StatusCreated {
		b.Fatalf("api key: %d", s)
	}
	var reqs []*fasthttp.Request
	for _, u := range d.Users {
		for _, a := range d.Apps {
			body, _ := json.Marshal(map[string]any{
				"subject": map[string]string{"id": u.ID}, "action": "read",
				"resource": map[string]string{"type": "app", "id": a.ID}, "context": map[string]string{"environment": "hub"},
			})
			r := new(fasthttp.Request)
			r.Header.SetMethod(fasthttp.MethodPost)
			r.SetRequestURI("/authz/check")
			r.Header.SetHost("127.0.0.1")
			r.Header.Set("Authorization", "Bearer "+key.Secret)
			r.Header.SetContentType("application/json")
			r.SetBody(body)
			reqs = append(reqs, r)
		}
	}
	return reqs
}

// authzenRequests are the questions of checks (same caller, subjects and
// apps), asked as AuthZEN evaluations.
func authzenRequests(d *servicetest.Tenant, checks []*fasthttp.Request) []*fasthttp.Request {
	auth := string(checks[0].Header.Peek("Authorization"))
	var reqs []*fasthttp.Request
	for _, u := range d.Users {
		for _, a := range d.Apps {
			body, _ := json.Marshal(map[string]any{"subject": map[string]string{"type": "user", "id": u.ID},
				"action": map[string]string{"name": "read"}, "resource": map[string]string{"type": "app", "id": a.ID},
				"context": map[string]string{"environment": "hub"}})
			r := new(fasthttp.Request)
			r.Header.SetMethod(fasthttp.MethodPost)
			r.SetRequestURI("/access/v1/evaluation")
			r.Header.SetHost("127.0.0.1")
			r.Header.Set("Authorization", auth)
			r.Header.SetContentType("application/json")
			r.SetBody(body)
			reqs = append(reqs, r)
		}
	}
	return reqs
}

// constantDecider answers every question with one allow, without deciding.
type constantDecider struct{}

func (constantDecider) Decide(context.Context, authz.Request) (authz.Decision, error) {
	return authz.Decision{Allow: true, Grants: []authz.Grant{{Kind: "table", ID: "shared.app.open"}}, Denies: []authz.Deny{}, Revision: 1}, nil
}

// BenchmarkDecideDemoTenant is Engine.Decide without the decision cache
// (hydration from the entity cache, then OPA) on the demo tenant: every
// demo user reads the apps of one kind of space — shared (Sales,
// Finance), managed (Company Reports), personal (no space) — beside
// "synthetic", the input authz's BenchmarkDecideUncachedDemoRules
// evaluates (a user with one role in one shared space, nothing else
// hydrated), on the same engine. Real subjects and apps carry more (groups,
// attributes, owners, several spaces) and cost more: the figures the
// in-process target should be read against.
//
//	go test -run '^$' -bench DecideDemoTenant -benchmem ./resources/service/
func BenchmarkDecideDemoTenant(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := servicetest.DevWith(b, func(c *service.Config) { c.Logger = quiet; c.NoDecisionCache = true })
	ctx := context.Background()
	run := func(b *testing.B, decide func(i int) error) {
		for i := range 100 { // every entity cached
			if err := decide(i); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		for i := 0; b.Loop(); i++ {
			if err := decide(i); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "thread-ns/op")
	}
	roles := []string{"canview", "canedit", "admin", "owner"}
	actions := []string{"read", "delete", "update", "export"}
	shared := authz.Resource{Type: "app", ID: "a-1", Name: "Q4 report", Owner: "u-owner", SpaceID: "sp-1",
		SpaceType: "shared", Space: &authz.Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-space"}}
	b.Run("synthetic", func(b *testing.B) {
		ins := make([]*authz.Input, 1000)
		for i := range ins {
			ins[i] = &authz.Input{Subject: authz.Subject{ID: fmt.Sprintf("u-%04d", i), Name: "u", Status: "active",
				License: authz.License{Type: "professional"}, Spaces: map[string][]string{"sp-1": {roles[i%len(roles)]}}},
				Action: actions[(i/4)%len(actions)], Resource: shared, Environment: "hub"}
		}
		run(b, func(i int) error {
			_, err := d.Svc.Engine.Evaluate(ctx, ins[i%len(ins)])
			return err
		})
	})
	spaceType := map[string]string{}
	for _, sp := range d.Spaces {
		spaceType[sp.ID] = sp.Type
	}
	for _, kind := range []string{store.SpaceShared, store.SpaceManaged, "personal"} {
		var reqs []authz.Request
		for _, a := range d.Apps {
			k := "personal"
			if a.SpaceID != "" {
				k = spaceType[a.SpaceID]
			}
			if k != kind {
				continue
			}
			for _, u := range d.Users {
				reqs = append(reqs, authz.Request{Subject: authz.Subject{ID: u.ID}, Action: "read",
					Resource: authz.Resource{Type: "app", ID: a.ID}, Environment: "hub"})
			}
		}
		b.Run(kind, func(b *testing.B) {
			if len(reqs) == 0 {
				b.Fatalf("no %s apps in the demo tenant", kind)
			}
			run(b, func(i int) error {
				_, err := d.Svc.Engine.Decide(ctx, reqs[i%len(reqs)])
				return err
			})
		})
	}
}

// BenchmarkCheckChainGC is BenchmarkCheckChain's uncached mode under
// several GOGC values, one tenant for all (so that -count interleaves
// them): what the collector's pacing costs a decision, the workers on the
// other core (cpu-ns/op) and the handler's own thread (thread-ns/op: a
// bigger heap goal touches more fresh memory) — the figures behind serve's
// --gc-heap-budget.
//
//	go test -run '^$' -bench CheckChainGC -benchmem -count 4 ./resources/service/
func BenchmarkCheckChainGC(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := servicetest.DevWith(b, func(c *service.Config) { c.Logger = quiet; c.NoDecisionCache = true })
	do := chainHandler(b, d, checkRequests(b, d))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, gogc := range []int{100, 200, 400, 1000} {
		b.Run(fmt.Sprintf("gogc=%d", gogc), func(b *testing.B) {
			debug.SetGCPercent(gogc)
			runtime.GC()
			measureChain(b, do)
		})
	}
}
