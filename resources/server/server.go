// Package server assembles rulekeeper's HTTP surface on Fiber: request ids,
// JSON access logs, panic recovery, body limits, the error contract of
// package apierror, Prometheus metrics, health and readiness, and the routes
// of every resource package.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/dbcalls"
)

// Check is one readiness condition; nil means ready.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Config holds what the HTTP layer needs.
type Config struct {
	Logger    *slog.Logger
	Registry  *prometheus.Registry // metrics are registered here and served at /metrics
	BodyLimit int                  // bytes; 0 means 1 MiB
	// BulkBodyLimit is the largest body of a bulk write (IsBulk: rule
	// import, user import, :batch), in bytes; 0 means DefaultBulkBodyLimit.
	// A backup of 10,000 rules is about 2 MB, beyond BodyLimit's default.
	BulkBodyLimit int
	Ready         []Check
	// ReadyInfo adds informational entries to the /readyz body (e.g. the
	// OIDC issuer's state); they do not decide readiness.
	ReadyInfo map[string]func() any
	// ReadBufferSize is the largest request head (request line and
	// headers) in bytes; 0 means DefaultReadBufferSize. IdP tokens with
	// many groups are long.
	ReadBufferSize int
	// DecisionTimeout bounds the database work of a decision or a read
	// (0: DefaultDecisionTimeout), WriteTimeout that of a write (0:
	// DefaultWriteTimeout). Past it the answer is 503 database_unavailable.
	DecisionTimeout time.Duration
	WriteTimeout    time.Duration
}

// Defaults of Config.
const (
	DefaultReadBufferSize  = 16 << 10
	DefaultBulkBodyLimit   = 32 << 20
	DefaultDecisionTimeout = 2 * time.Second
	DefaultWriteTimeout    = 5 * time.Second
	// uploadTimeout bounds a multipart upload (extensions, themes), whose
	// files stream into GridFS.
	uploadTimeout = 2 * time.Minute
	// analysisTimeout bounds preview, impact, audit and rule imports: they
	// evaluate every (user, resource, action) in scope, which takes
	// seconds at 1,000 users × 10,000 resources, far beyond a write's
	// database deadline.
	analysisTimeout = 2 * time.Minute
)

// New builds the Fiber app with middleware and the operational routes.
// Callers add resource routes to the returned app.
func New(cfg Config) (*fiber.App, error) {
	if cfg.Logger == nil {
		return nil, errors.New("server: Logger is required")
	}
	if cfg.Registry == nil {
		return nil, errors.New("server: Registry is required")
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.BulkBodyLimit == 0 {
		cfg.BulkBodyLimit = DefaultBulkBodyLimit
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.DecisionTimeout == 0 {
		cfg.DecisionTimeout = DefaultDecisionTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	app := fiber.New(fiber.Config{
		AppName: "rulekeeper",
		// Values from Params, Query and headers are copies: they reach
		// caches and background work that outlive the request, and
		// Fiber's zero-copy strings alias a buffer reused by the next one.
		Immutable: true,
		// The larger of the two limits; bodyLimits below applies the
		// route's own.
		BodyLimit:      max(cfg.BodyLimit, cfg.BulkBodyLimit),
		ReadBufferSize: cfg.ReadBufferSize,
		ErrorHandler:   apierror.Handler(cfg.Logger),
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
	})
	app.Use(requestID())
	app.Use(observe(cfg.Logger, m))
	app.Use(bodyLimits(cfg.BodyLimit, cfg.BulkBodyLimit))
	app.Use(Deadline(cfg.DecisionTimeout, cfg.WriteTimeout))
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c fiber.Ctx, e any) {
			cfg.Logger.ErrorContext(c.Context(), "panic", "panic", fmt.Sprint(e), "path", c.Path(), "stack", string(debug.Stack()))
		},
	}))

	app.Get("/healthz", func(c fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.Context(), 2*time.Second)
		defer cancel()
		failing := map[string]any{}
		for _, chk := range cfg.Ready {
			if err := chk.Func(ctx); err != nil {
				failing[chk.Name] = err.Error()
			}
		}
		if len(failing) > 0 {
			for name, f := range cfg.ReadyInfo {
				failing[name] = f()
			}
			return apierror.New(fiber.StatusServiceUnavailable, "not_ready", "the service is not ready", failing)
		}
		body := fiber.Map{"status": "ready"}
		for name, f := range cfg.ReadyInfo {
			body[name] = f()
		}
		return c.JSON(body)
	})
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	return app, nil
}

// NotFound is the catch-all for unknown routes; register it last.
func NotFound(c fiber.Ctx) error {
	return apierror.New(fiber.StatusNotFound, "route_not_found",
		fmt.Sprintf("no route %s %s", c.Method(), c.Path()), map[string]any{"path": c.Path()})
}

// Deadline gives every request a deadline for its work (its database calls
// above all): writes (POST, PUT, PATCH, DELETE outside the decision
// endpoints) get write, everything else, decisions included, decision.
// A call that runs out of it ends with store.Unavailable errors, which
// apierror answers 503 database_unavailable with Retry-After.
//
// The requests whose deadlines fall within 10 ms of each other share one
// timer: a request's context ends at its deadline or up to 10 ms later,
// and its Deadline is its own.
func Deadline(decision, write time.Duration) fiber.Handler {
	var reads, writes sharedDeadlines
	return func(c fiber.Ctx) error {
		d := decision
		path := pathOf(c)
		switch c.Method() {
		case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
			if !IsDecisionPath(path) {
				d = write
			}
		}
		// The header compared in place, not copied.
		if bytes.HasPrefix(c.Request().Header.ContentType(), []byte(fiber.MIMEMultipartForm)) {
			d = max(d, uploadTimeout)
		}
		if IsAnalysisPath(path) {
			d = max(d, analysisTimeout)
		}
		at := requestStart(c).Add(d)
		var ctx context.Context
		var cancel context.CancelFunc
		switch d {
		case decision:
			ctx, cancel = reads.within(c.Context(), at)
		case write:
			ctx, cancel = writes.within(c.Context(), at)
		default: // uploads and analyses: few and long
			ctx, cancel = context.WithDeadline(c.Context(), at)
		}
		if cancel != nil {
			defer cancel()
		}
		c.SetContext(ctx)
		return c.Next()
	}
}

// pathOf is the request's path as Fiber routes it (c.Path, the path as
// sent), without c.Path's copy: it aliases the request's buffer, so it is
// for comparisons before c.Next only, never to be kept.
func pathOf(c fiber.Ctx) string {
	b := c.Request().URI().PathOriginal()
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// requestStart is when the server began to handle the request (fasthttp
// reads the clock once a request has been read, before the handlers: the
// middleware measure from it instead of reading the clock again); now
// when the request did not come through a server (a handler called
// directly).
func requestStart(c fiber.Ctx) time.Time {
	if t := c.RequestCtx().Time(); !t.IsZero() {
		return t
	}
	return time.Now()
}

// IsAnalysisPath reports whether path is one of the rule tools that
// evaluate a whole scope (preview, impact, audit, rule import).
func IsAnalysisPath(path string) bool {
	switch path {
	case "/api/v1/rules/preview", "/api/v1/rules/impact", "/api/v1/audit", "/api/v1/rules/import":
		return true
	}
	return false
}

// IsDecisionPath reports whether path is a decision endpoint (/authz/...,
// AuthZEN /access/v1/...), whose POSTs are reads.
func IsDecisionPath(path string) bool {
	return strings.HasPrefix(path, "/authz/") || strings.HasPrefix(path, "/access/")
}

// observe logs every request as one JSON line and counts it in the metrics.
func observe(logger *slog.Logger, m *httpMetrics) fiber.Handler {
	return func(c fiber.Ctx) error {
		start := requestStart(c)
		// At debug level the log line lists the commands (no values).
		ctx, calls := dbcalls.Start(c.Context(), logger.Enabled(c.Context(), slog.LevelDebug))
		c.SetContext(ctx)
		err := c.Next()
		status := c.Response().StatusCode()
		route := "unmatched"
		if r := c.Route(); r != nil && r.Path != "" {
			route = r.Path
		}
		if err != nil {
			e := apierror.From(err)
			status = e.Status
			if e.Code == "route_not_found" {
				route = "unmatched"
			}
		}
		elapsed := time.Since(start)
		o := m.of(route, c.Method(), status)
		o.requests.Inc()
		o.duration.Observe(elapsed.Seconds())
		o.dbCommands.Observe(float64(calls.Commands()))
		if !logger.Enabled(c.Context(), slog.LevelInfo) {
			return err // --log-level warn or error: no line to build
		}
		attrs := []slog.Attr{slog.String("requestId", c.GetRespHeader(fiber.HeaderXRequestID)),
			slog.String("method", c.Method()),
			slog.String("path", c.Path()),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("dbCommands", calls.Commands()),
			slog.Int64("dbDocs", calls.Docs()),
			slog.String("ip", c.IP())}
		if scans := calls.Scans(); len(scans) > 0 {
			attrs = append(attrs, slog.Any("dbScans", scans))
		}
		if calls.Trace {
			attrs = append(attrs, slog.Any("dbTrace", calls.Lines()))
		}
		logger.LogAttrs(c.Context(), slog.LevelInfo, "http", attrs...)
		return err
	}
}

// IsBulk reports whether a request is a bulk write, whose body may be as
// large as Config.BulkBodyLimit: a POST to an import route
// (`/api/v1/rules/import`, `/api/v1/users/import`) or to a `:batch` route.
func IsBulk(method, path string) bool {
	return method == fiber.MethodPost && (strings.HasSuffix(path, "/import") || strings.HasSuffix(path, ":batch"))
}

// bodyLimits refuses a body above the request's limit: bulk for IsBulk
// requests, body for the others. Fiber reads the body up to the larger of
// the two before routing.
func bodyLimits(body, bulk int) fiber.Handler {
	return func(c fiber.Ctx) error {
		limit, flag := body, "--body-limit"
		if c.Method() == fiber.MethodPost && IsBulk(c.Method(), pathOf(c)) {
			limit, flag = bulk, "--bulk-body-limit"
		}
		if n := len(c.Request().Body()); n > limit {
			return apierror.TooLarge(n, limit, flag)
		}
		return c.Next()
	}
}
