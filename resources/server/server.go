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
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
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
	// InFlight, when set, counts the requests being handled, from the
	// first middleware until the access log is written (a shutdown waits
	// for it to come to 0).
	InFlight *atomic.Int64
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
	app.Use((&frame{
		logger: cfg.Logger, metrics: m, ids: newRequestIDs(), inFlight: cfg.InFlight,
		body: cfg.BodyLimit, bulk: cfg.BulkBodyLimit,
		deadlines: deadlines{decision: cfg.DecisionTimeout, write: cfg.WriteTimeout},
	}).handle)

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

// deadlines give every request a deadline for its work (its database
// calls above all), in frame: writes (POST, PUT, PATCH, DELETE outside
// the decision endpoints) get write, everything else, decisions
// included, decision. A call that runs out of it ends with
// store.Unavailable errors, which apierror answers 503
// database_unavailable with Retry-After.
//
// The requests whose deadlines fall within 10 ms of each other share one
// timer: a request's context ends at its deadline or up to 10 ms later,
// and its Deadline is its own.
type deadlines struct {
	decision, write time.Duration
	reads, writes   sharedDeadlines
}

// of answers the context of the request c (path: its path) under parent,
// ending at its deadline, and the function to call when it is done (nil
// when there is none). into, when not nil, is where a shared timer's
// request context is kept (nil: a new one).
func (dl *deadlines) of(c fiber.Ctx, parent context.Context, path string, into *requestDeadline) (context.Context, context.CancelFunc) {
	d := dl.decision
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		if !IsDecisionPath(path) {
			d = dl.write
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
	switch d {
	case dl.decision:
		return dl.reads.within(parent, at, into)
	case dl.write:
		return dl.writes.within(parent, at, into)
	}
	// uploads and analyses: few and long
	return context.WithDeadline(parent, at)
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

// frame is the server's own middleware, in one handler (each c.Next from
// one handler to another walks Fiber's route stack), in this order:
//   - the request counted in InFlight until it is done;
//   - the request id (requestIDs.set);
//   - the metrics and the access log (one JSON line), once the rest has
//     answered (observe);
//   - the body limits (bodyLimit);
//   - the deadline (deadlines.of);
//   - panics recovered into errors (500), their stack logged (guard).
//
// The request id's buffer, the counter of its database calls and its
// deadline's context are one allocation, the request's scope.
type frame struct {
	logger     *slog.Logger
	metrics    *httpMetrics
	ids        *requestIDs
	inFlight   *atomic.Int64
	body, bulk int
	deadlines  deadlines
}

// requestScope is what frame keeps of one request.
type requestScope struct {
	counted  dbcalls.Context // the counter of database calls, under the request's parent context
	deadline requestDeadline // the deadline's context, under counted, when its timer is shared
	id       [40]byte        // the generated request id
}

func (f *frame) handle(c fiber.Ctx) error {
	if f.inFlight != nil {
		f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
	}
	sc := new(requestScope)
	f.ids.set(c, &sc.id)
	return f.observe(c, sc)
}

// observe counts the request in the metrics and logs it as one JSON line
// (at info level) once the rest of the chain has answered.
func (f *frame) observe(c fiber.Ctx, sc *requestScope) error {
	start := requestStart(c)
	parent := c.Context()
	// At debug level the log line lists the commands (no values).
	calls := sc.counted.Init(parent, f.logger.Enabled(parent, slog.LevelDebug))
	err := f.guard(c, sc)
	status := c.Response().StatusCode()
	// The route that answered, nil when none did: without a pattern, or
	// Fiber's stand-in without handlers (a new one per call, when no route
	// was reached: it must not become a key of the metrics).
	r := c.Route()
	if r != nil && (r.Path == "" || len(r.Handlers) == 0) {
		r = nil
	}
	if err != nil {
		e := apierror.From(err)
		status = e.Status
		if e.Code == "route_not_found" {
			r = nil
		}
	}
	elapsed := time.Since(start)
	o := f.metrics.of(r, c.Method(), status)
	o.requests.Inc()
	o.duration.Observe(elapsed.Seconds())
	o.dbCommands.Observe(float64(calls.Commands()))
	if !f.logger.Enabled(parent, slog.LevelInfo) {
		return err // --log-level warn or error: no line to build
	}
	attrs := []slog.Attr{slog.String("requestId", c.GetRespHeader(fiber.HeaderXRequestID)),
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.String("route", routeLabel(r)),
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
	f.logger.LogAttrs(c.Context(), slog.LevelInfo, "http", attrs...)
	return err
}

// guard applies the body limits, gives the request its deadline and turns
// a panic of the handlers into an error (the stack logged).
func (f *frame) guard(c fiber.Ctx, sc *requestScope) (err error) {
	path := pathOf(c)
	if err := bodyLimit(c, path, f.body, f.bulk); err != nil {
		return err
	}
	ctx, cancel := f.deadlines.of(c, &sc.counted, path, &sc.deadline)
	if cancel != nil {
		defer cancel()
	}
	c.SetContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			f.logger.ErrorContext(c.Context(), "panic", "panic", fmt.Sprint(p), "path", c.Path(), "stack", string(debug.Stack()))
			var ok bool
			if err, ok = p.(error); !ok {
				err = fmt.Errorf("%v", p)
			}
		}
	}()
	return c.Next()
}

// IsBulk reports whether a request is a bulk write, whose body may be as
// large as Config.BulkBodyLimit: a POST to an import route
// (`/api/v1/rules/import`, `/api/v1/users/import`) or to a `:batch` route.
func IsBulk(method, path string) bool {
	return method == fiber.MethodPost && (strings.HasSuffix(path, "/import") || strings.HasSuffix(path, ":batch"))
}

// bodyLimit refuses a body above the request's limit: bulk for IsBulk
// requests, body for the others. Fiber reads the body up to the larger of
// the two before routing.
func bodyLimit(c fiber.Ctx, path string, body, bulk int) error {
	limit, flag := body, "--body-limit"
	if c.Method() == fiber.MethodPost && IsBulk(c.Method(), path) {
		limit, flag = bulk, "--bulk-body-limit"
	}
	if n := len(c.Request().Body()); n > limit {
		return apierror.TooLarge(n, limit, flag)
	}
	return nil
}
