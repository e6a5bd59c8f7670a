package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func start(t *testing.T, mutate func(*service.Config)) *service.Service {
	return servicetest.Start(t, mutate)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestOperationalEndpoints(t *testing.T) {
	svc := start(t, nil)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/healthz", 200, `"status":"ok"`},
		{"/readyz", 200, `"status":"ready"`},
		{"/metrics", 200, `http_requests_total{method="GET",route="/healthz",status="200"} 1`},
		{"/metrics", 200, "go_goroutines"},
		{"/metrics", 200, "process_cpu_seconds_total"},
		{"/metrics", 200, "http_request_duration_seconds_bucket"},
	}
	for _, tt := range tests {
		status, body := get(t, svc.URL()+tt.path)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %d, body lacks %q:\n%.400s", tt.path, status, tt.want, body)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	svc := start(t, func(c *service.Config) { c.BodyLimit = 64 })
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		code   string
	}{
		{"unknown route", "GET", "/nope", "", 404, "route_not_found"},
		{"oversize body", "POST", "/healthz", strings.Repeat("x", 1000), 413, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, svc.URL()+tt.path, strings.NewReader(tt.body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e struct {
				Code    string         `json:"code"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
			}
			if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
				t.Fatalf("body is not the error JSON: %v", err)
			}
			if res.StatusCode != tt.status || e.Code != tt.code || e.Message == "" || e.Details == nil {
				t.Fatalf("got %d %+v, want %d with code %s, a message and details", res.StatusCode, e, tt.status, tt.code)
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id header")
			}
		})
	}
}

func TestReadyzFailsWhenTheStoreIsGone(t *testing.T) {
	svc := start(t, nil)
	if err := svc.Store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, body := get(t, svc.URL()+"/readyz")
	if status != 503 || !strings.Contains(body, `"code":"not_ready"`) || !strings.Contains(body, `"store"`) {
		t.Fatalf("readyz with a closed store = %d %s", status, body)
	}
}

func TestDevModeRefusesANonLoopbackAddress(t *testing.T) {
	_, err := service.Start(context.Background(), service.Config{Embedded: embedded.Starter,
		Addr: "0.0.0.0:0", Dev: true, DataDir: t.TempDir(), MongoURI: storetest.URI(t),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v, want a refusal naming loopback", err)
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	if os.Getenv("RULEKEEPER_MONGO_URI") != "" {
		t.Skip("embedded server only")
	}
	dir := t.TempDir()
	cfg := service.Config{Embedded: embedded.Starter, Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		IssuerURL: "http://127.0.0.1:1/no-issuer", ClientID: "rulekeeper"}
	svc, err := service.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, svc.URL()+"/readyz"); status != 200 {
		t.Fatalf("readyz = %d", status)
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if _, err := http.Get(svc.URL() + "/healthz"); err == nil {
		t.Fatal("still answering after shutdown")
	}
	// The embedded server released its files: a new one opens the same dir.
	svc2, err := service.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	_ = svc2.Shutdown(ctx)
}

func TestConsoleIsServed(t *testing.T) {
	svc := start(t, nil)
	status, body := get(t, svc.URL()+"/console/")
	if status != 200 || !strings.Contains(body, "<title>rulekeeper console</title>") {
		t.Fatalf("GET /console/ = %d %.200s", status, body)
	}
	status, body = get(t, svc.URL()+"/")
	if status != 200 || !strings.Contains(body, "rulekeeper console") {
		t.Fatalf("GET / = %d (should redirect to the console)", status)
	}
}

// TestReadyzReportsTheIssuer: /readyz tells whether the OIDC issuer was
// discovered and its keys fetched, without deciding readiness on it.
func TestReadyzReportsTheIssuer(t *testing.T) {
	d := servicetest.Dev(t)
	type ready struct {
		Status string `json:"status"`
		Issuer struct {
			Issuer        string `json:"issuer"`
			Discovered    bool   `json:"discovered"`
			JWKSFetchedAt string `json:"jwksFetchedAt"`
		} `json:"issuer"`
	}
	read := func() ready {
		status, body := get(t, d.URL()+"/readyz")
		var r ready
		if err := json.Unmarshal([]byte(body), &r); err != nil || status != 200 {
			t.Fatalf("readyz %d %s", status, body)
		}
		return r
	}
	if r := read(); r.Issuer.Discovered || !strings.HasSuffix(r.Issuer.Issuer, "/dev/oidc") {
		t.Fatalf("before any token: %+v", r)
	}
	if s := d.Call("alice", "GET", "/api/v1/users/me", nil, nil); s != 200 {
		t.Fatalf("users/me %d", s)
	}
	if r := read(); !r.Issuer.Discovered || r.Issuer.JWKSFetchedAt == "" {
		t.Fatalf("after a token: %+v", r)
	}
}

// TestQuieterDropsAndKeepsAttrsInOrder: the embedded database's logger
// drops records below its floor and gives one that passes the attributes
// and groups its callers added, in order.
func TestQuieterDropsAndKeepsAttrsInOrder(t *testing.T) {
	var out strings.Builder
	l := service.Quieter(slog.New(slog.NewJSONHandler(&out, nil)), slog.LevelWarn)
	l.With("args", []any{strings.Repeat("x", 10)}).Debug("dropped")
	l.With("a", 1).WithGroup("g").With("b", 2).Warn("kept", "c", 3)
	l.With("d", 4).Error("also kept")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out.String())
	}
	for i, want := range []string{`"msg":"kept","a":1,"g":{"b":2,"c":3}}`, `"msg":"also kept","d":4}`} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d = %s, want it to end with %s", i, lines[i], want)
		}
	}
}
