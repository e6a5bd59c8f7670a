package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/dbcalls"
	"github.com/rulekeeper/rulekeeper/resources/server"
)

// app is server.New with a few routes of its own, as the service builds it:
// resource routes, then NotFound last.
func app(t *testing.T, logs *bytes.Buffer, ready *error) *fiber.App {
	t.Helper()
	a, err := server.New(server.Config{
		Logger:        slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:      prometheus.NewRegistry(),
		BodyLimit:     64,
		BulkBodyLimit: 128,
		Ready: []server.Check{
			{Name: "store", Func: func(context.Context) error { return *ready }},
			{Name: "policies", Func: func(context.Context) error { return nil }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Get("/api/v1/things/:id", func(c fiber.Ctx) error { return c.JSON(fiber.Map{"id": c.Params("id")}) })
	a.Post("/api/v1/things", func(c fiber.Ctx) error { return c.Status(201).JSON(fiber.Map{"n": len(c.Body())}) })
	a.Post("/api/v1/things/import", func(c fiber.Ctx) error { return c.Status(201).JSON(fiber.Map{"n": len(c.Body())}) })
	a.Get("/api/v1/refused", func(fiber.Ctx) error { return apierror.Forbidden("no", nil) })
	a.Get("/api/v1/panics", func(fiber.Ctx) error { panic("handler bug") })
	a.Use(server.NotFound)
	return a
}

func do(t *testing.T, a *fiber.App, method, path, body string) (int, map[string]any, *httptestResponse) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	res, err := a.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, &httptestResponse{raw: string(raw), requestID: res.Header.Get(fiber.HeaderXRequestID)}
}

type httptestResponse struct{ raw, requestID string }

func TestNewNeedsALoggerAndARegistry(t *testing.T) {
	if _, err := server.New(server.Config{Registry: prometheus.NewRegistry()}); err == nil {
		t.Fatal("no error without a logger")
	}
	if _, err := server.New(server.Config{Logger: slog.Default()}); err == nil {
		t.Fatal("no error without a registry")
	}
	reg := prometheus.NewRegistry()
	if _, err := server.New(server.Config{Logger: slog.Default(), Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := server.New(server.Config{Logger: slog.Default(), Registry: reg}); err == nil {
		t.Fatal("the metrics registered twice on one registry")
	}
}

// TestOperationalRoutesAndErrors: health, readiness naming what fails,
// unknown routes, the body limit and a panicking handler all answer the
// error contract with a request id.
func TestOperationalRoutesAndErrors(t *testing.T) {
	var logs bytes.Buffer
	var storeErr error
	a := app(t, &logs, &storeErr)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		before func()
		status int
		code   string // of an error body
		check  func(m map[string]any) bool
	}{
		{"health", "GET", "/healthz", "", nil, 200, "", func(m map[string]any) bool { return m["status"] == "ok" }},
		{"ready", "GET", "/readyz", "", nil, 200, "", func(m map[string]any) bool { return m["status"] == "ready" }},
		{"not ready names the failing check", "GET", "/readyz", "", func() { storeErr = errors.New("store down") }, 503, "not_ready",
			func(m map[string]any) bool {
				d, _ := m["details"].(map[string]any)
				return d["store"] == "store down" && d["policies"] == nil
			}},
		{"ready again", "GET", "/readyz", "", func() { storeErr = nil }, 200, "", nil},
		{"a route", "GET", "/api/v1/things/t1", "", nil, 200, "", func(m map[string]any) bool { return m["id"] == "t1" }},
		{"unknown route", "GET", "/api/v1/nothing", "", nil, 404, "route_not_found",
			func(m map[string]any) bool { return m["details"].(map[string]any)["path"] == "/api/v1/nothing" }},
		{"unknown method", "DELETE", "/api/v1/things", "", nil, 404, "route_not_found", nil},
		{"body within the limit", "POST", "/api/v1/things", strings.Repeat("x", 64), nil, 201, "", nil},
		{"refusal", "GET", "/api/v1/refused", "", nil, 403, "forbidden", nil},
		{"panic is a 500", "GET", "/api/v1/panics", "", nil, 500, "internal", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, m, res := do(t, a, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, status, res.raw, tt.status)
			}
			if tt.code != "" && (m["code"] != tt.code || m["message"] == "" || m["details"] == nil) {
				t.Fatalf("body %s, want the error contract with code %s", res.raw, tt.code)
			}
			if tt.check != nil && !tt.check(m) {
				t.Fatalf("body %s", res.raw)
			}
			if res.requestID == "" {
				t.Fatal("no X-Request-ID on the answer")
			}
		})
	}
	if !strings.Contains(logs.String(), `"panic":"handler bug"`) {
		t.Fatalf("the panic was not logged: %s", logs.String())
	}
}

// TestEveryRequestIsLoggedAndCounted: one JSON access log line per
// request with its route pattern (not the path), and the request counter
// and duration histogram at /metrics, unknown routes as "unmatched".
func TestEveryRequestIsLoggedAndCounted(t *testing.T) {
	var logs bytes.Buffer
	var ready error
	a := app(t, &logs, &ready)
	do(t, a, "GET", "/api/v1/things/t1", "")
	do(t, a, "GET", "/api/v1/things/t2", "")
	do(t, a, "GET", "/api/v1/refused", "")
	do(t, a, "GET", "/api/v1/secret-path-1", "")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", l)
		}
		if m["msg"] == "http" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d access log lines for 4 requests:\n%s", len(lines), logs.String())
	}
	want := []struct {
		route  string
		status float64
	}{{"/api/v1/things/:id", 200}, {"/api/v1/things/:id", 200}, {"/api/v1/refused", 403}, {"unmatched", 404}}
	for i, w := range want {
		if lines[i]["route"] != w.route || lines[i]["status"] != w.status || lines[i]["requestId"] == "" || lines[i]["method"] != "GET" {
			t.Errorf("log line %d: %v, want route %s status %v", i, lines[i], w.route, w.status)
		}
	}

	_, _, res := do(t, a, "GET", "/metrics", "")
	for _, s := range []string{
		`http_requests_total{method="GET",route="/api/v1/things/:id",status="200"} 2`,
		`http_requests_total{method="GET",route="/api/v1/refused",status="403"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/api/v1/things/:id"} 2`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(res.raw, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
	if strings.Contains(res.raw, "secret-path-1") {
		t.Error("an unknown path became a metric label")
	}
}

// TestBodyLimit: a body over its route's limit (BodyLimit, or BulkBodyLimit
// for an import or :batch) is refused with 413 and the error contract
// naming the flag that raises it, over a real connection (fasthttp refuses
// a body over both limits while reading).
func TestBodyLimit(t *testing.T) {
	var logs bytes.Buffer
	var ready error
	a := app(t, &logs, &ready)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() { _ = a.Shutdown() })
	for _, tt := range []struct {
		path   string
		size   int
		status int
		flag   string
	}{
		{"/api/v1/things", 64, 201, ""},
		{"/api/v1/things", 65, 413, `"flag":"--body-limit"`},
		{"/api/v1/things/import", 128, 201, ""},
		{"/api/v1/things/import", 129, 413, `"flag":"--body-limit, or --bulk-body-limit for bulk writes"`},
	} {
		res, err := http.Post("http://"+ln.Addr().String()+tt.path, "text/plain", strings.NewReader(strings.Repeat("x", tt.size)))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Fatalf("%d bytes: %d %s, want %d", tt.size, res.StatusCode, raw, tt.status)
		}
		if tt.status == 413 && (!strings.Contains(string(raw), `"code":"body_too_large"`) || !strings.Contains(string(raw), tt.flag)) {
			t.Fatalf("%s, %d bytes: 413 body %s, want the code and %s", tt.path, tt.size, raw, tt.flag)
		}
	}
}

// TestRequestIDsAreUniqueAndShareAPrefix: ids of one generator differ and
// share its random prefix; two generators (two replicas) have different
// prefixes; every id is what Fiber accepts as a request id.
func TestRequestIDsAreUniqueAndShareAPrefix(t *testing.T) {
	a, b := server.RequestIDs(), server.RequestIDs()
	seen := map[string]bool{}
	prefixOf := func(id string) string { return id[:strings.IndexByte(id, '-')+1] }
	first := a()
	for range 1000 {
		id := a()
		if seen[id] || id == first || prefixOf(id) != prefixOf(first) || len(prefixOf(id)) != 17 {
			t.Fatalf("id %q (first %q) repeats or has another prefix", id, first)
		}
		for _, r := range id {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("id %q is not visible ASCII", id)
			}
		}
		seen[id] = true
	}
	if other := b(); prefixOf(other) == prefixOf(first) {
		t.Fatalf("two generators share the prefix %q", prefixOf(other))
	}
}

// TestRequestIDOfTheAnswer: a request's own usable X-Request-ID comes back
// on the answer and in the access log; one missing or beyond visible ASCII
// is replaced by a generated id, a new one per request.
func TestRequestIDOfTheAnswer(t *testing.T) {
	var logs bytes.Buffer
	var ready error
	a := app(t, &logs, &ready)
	ask := func(id string) string {
		req := httptest.NewRequest("GET", "/api/v1/things/t1", nil)
		if id != "" {
			req.Header.Set(fiber.HeaderXRequestID, id)
		}
		res, err := a.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get(fiber.HeaderXRequestID)
	}
	if got := ask("client trace 42"); got != "client trace 42" {
		t.Errorf("the request's id came back as %q", got)
	}
	if !strings.Contains(logs.String(), `"requestId":"client trace 42"`) {
		t.Errorf("the access log does not carry the request's id: %s", logs.String())
	}
	first, second, bad := ask(""), ask(""), ask("caf\u00e9")
	for _, id := range []string{first, second, bad} {
		if len(id) < 18 || id[16] != '-' || id[:17] != first[:17] {
			t.Errorf("generated id %q, want the process's prefix %q and a counter", id, first[:17])
		}
	}
	if first == second || second == bad {
		t.Errorf("generated ids repeat: %q %q %q", first, second, bad)
	}
}

type ctxKey struct{}

// TestRequestContextCountsDatabaseCalls: every request's context carries
// a Counter (dbcalls.Start), seen through contexts derived from it, not
// through dbcalls.Without, and the request's deadline and values pass
// through it.
func TestRequestContextCountsDatabaseCalls(t *testing.T) {
	a, err := server.New(server.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	a.Get("/api/v1/counted", func(c fiber.Ctx) error {
		ctx := c.Context()
		calls := dbcalls.Of(ctx)
		derived := context.WithValue(ctx, ctxKey{}, "v")
		_, hasDeadline := derived.Deadline()
		switch {
		case calls == nil:
			return c.SendString("no counter")
		case dbcalls.Of(derived) != calls || derived.Value(ctxKey{}) != "v":
			return c.SendString("a derived context lost the counter or its value")
		case dbcalls.Of(dbcalls.Without(ctx)) != nil:
			return c.SendString("Without kept the counter")
		case !hasDeadline:
			return c.SendString("no deadline")
		}
		return c.SendString("ok")
	})
	res, err := a.Test(httptest.NewRequest("GET", "/api/v1/counted", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
}

// TestInFlightCountsRequestsBeingHandled: Config.InFlight counts a request
// while its handler runs, and not once it has been answered.
func TestInFlightCountsRequestsBeingHandled(t *testing.T) {
	var inFlight atomic.Int64
	a, err := server.New(server.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), InFlight: &inFlight})
	if err != nil {
		t.Fatal(err)
	}
	a.Get("/api/v1/busy", func(c fiber.Ctx) error { return c.SendString(strconv.FormatInt(inFlight.Load(), 10)) })
	a.Get("/api/v1/panics", func(fiber.Ctx) error { panic("handler bug") })
	for _, path := range []string{"/api/v1/busy", "/api/v1/panics", "/api/v1/none"} {
		res, err := a.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if path == "/api/v1/busy" && string(b) != "1" {
			t.Errorf("%s: %s in flight while handled, want 1", path, b)
		}
		if n := inFlight.Load(); n != 0 {
			t.Errorf("%s: %d in flight once answered, want 0", path, n)
		}
	}
}
