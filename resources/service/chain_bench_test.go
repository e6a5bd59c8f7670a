package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// BenchmarkCheckChain hands POST /authz/check requests (the tenant admin's
// API key; every demo user and app, by id) to the service's Fiber handler
// directly: no socket, no client, one goroutine — the server's CPU and
// allocations of one request, exactly, with the log at warn as
// bench/loadbench runs it. floor answers from a decider that decides
// nothing (service.Config.CheckDecider): request id, metrics, body limits,
// deadline, CORS, the API key, decoding, the subject's resolution and the
// answer. cached and uncached are the engine with its decision cache on
// and off (hydration from the entity cache in both).
//
//	go test -run '^$' -bench CheckChain -benchmem ./resources/service/
func BenchmarkCheckChain(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, mode := range []struct {
		name   string
		mutate func(*service.Config)
	}{
		{"floor", func(c *service.Config) { c.CheckDecider = constantDecider{} }},
		{"cached", nil},
		{"uncached", func(c *service.Config) { c.NoDecisionCache = true }},
		{"uncached-no-entity-cache", func(c *service.Config) { c.NoDecisionCache, c.NoEntityCache = true, true }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			d := servicetest.DevWith(b, func(c *service.Config) {
				c.Logger = quiet
				if mode.mutate != nil {
					mode.mutate(c)
				}
			})
			reqs := checkRequests(b, d)
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
			for i := range reqs { // every entity cached, every answer checked once
				do(i)
			}
			b.ReportAllocs()
			// The CPU of this goroutine's thread alone: on a shared
			// machine steadier than wall time, and without the
			// collector's background workers (allocs/op stand for them).
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU()
			for i := 0; b.Loop(); i++ {
				do(i)
			}
			b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "thread-ns/op")
		})
	}
}

// threadCPU is the CPU time (user and system) of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1, &ru) // RUSAGE_THREAD
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

// constantDecider answers every question with one allow, without deciding.
type constantDecider struct{}

func (constantDecider) Decide(context.Context, authz.Request) (authz.Decision, error) {
	return authz.Decision{Allow: true, Grants: []authz.Grant{{Kind: "table", ID: "shared.app.open"}}, Denies: []authz.Deny{}, Revision: 1}, nil
}
