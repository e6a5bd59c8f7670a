// Package service wires rulekeeper together: the store (embedded FerretDB or
// a MongoDB URI), the decision engine, identity, the HTTP server and its
// routes. cmd/rulekeeper parses flags into a Config and calls Start; tests
// start the same service in-process.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/decisions"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/secrules"
	"github.com/rulekeeper/rulekeeper/resources/server"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Config is everything `rulekeeper serve` can be told.
type Config struct {
	Addr     string // listen address, e.g. 127.0.0.1:8080 (":0" picks a free port)
	DataDir  string // embedded database files and dev keys
	MongoURI string // "" starts the embedded database (Embedded)
	// Embedded starts the in-process database when MongoURI is "": the
	// binary passes embedded.Start (resources/store/embedded). It is passed
	// in rather than imported so that what links the service without it
	// (every test binary) does not link FerretDB and SQLite.
	Embedded EmbeddedStarter
	MongoDB  string // database name
	Dev      bool   // dev issuer and demo tenant
	// AllowRemoteDev lets dev mode listen on a non-loopback address.
	AllowRemoteDev bool
	BodyLimit      int
	BulkBodyLimit  int // bulk writes (server.IsBulk); 0: server.DefaultBulkBodyLimit
	Logger         *slog.Logger
	// OIDC: the issuer and client id (audience) of tokens, and the claim
	// names; dev mode uses its own issuer.
	IssuerURL string
	ClientID  string
	Claims    idp.ClaimNames
	// Audiences are accepted besides ClientID (JWT access tokens for an
	// API audience); AuthorizedParties, when set, the only clients whose
	// tokens are accepted.
	Audiences         []string
	AuthorizedParties []string
	// IntrospectionClientID/Secret enable RFC 7662 introspection of opaque
	// access tokens; NoUserinfo stops userinfo requests.
	IntrospectionClientID     string
	IntrospectionClientSecret string
	NoUserinfo                bool
	// RoleMap maps IdP roles (Claims.Roles) to rulekeeper roles.
	RoleMap map[string]string
	// BootstrapAdmins (subjects or emails) become TenantAdmin at login;
	// BootstrapFirstLogin makes the first user TenantAdmin when no
	// bootstrap admin is named and no TenantAdmin exists.
	BootstrapAdmins     []string
	BootstrapFirstLogin bool
	// LicensePublicKey verifies license keys (Ed25519, base64); dev mode
	// uses the dev key pair when empty.
	LicensePublicKey string
	// RulesPoll is how often the rules revision is polled (0: 500 ms).
	RulesPoll time.Duration
	// ReadBufferSize is the largest request head (0: server default).
	ReadBufferSize int
	// StalenessBound: a decision never uses data older than this behind
	// the newest write any replica acknowledged (0: store.DefaultStaleness).
	StalenessBound time.Duration
	// DecisionTimeout and WriteTimeout are the deadlines of a request's
	// database work (0: the server defaults).
	DecisionTimeout time.Duration
	WriteTimeout    time.Duration
	// ListMaxDecisions bounds the items a list page decides one by one
	// when its plan is inexact (0: pushdown.DefaultMaxDecisions).
	ListMaxDecisions int
	// PublicURL is the base URL clients reach the service at (AuthZEN
	// policy_decision_point); "" uses the request's, with X-Forwarded-Proto
	// and X-Forwarded-Host only when TrustedProxy is set.
	PublicURL    string
	TrustedProxy bool
	// ShutdownDrain is what cmd gives Shutdown for in-flight requests.
	ShutdownDrain time.Duration
	// Version is the build's version, shown in /openapi.json.
	Version string
	// NoDecisionCache evaluates every decision (benchmarks: the cost of
	// a decision rather than of a cache hit).
	NoDecisionCache bool
	// DecisionLog is where every decision is logged: "" or "off" (no
	// log), "stdout" (one JSON line each, to DecisionLogOut) or "mongo"
	// (the decisions collection, listed by GET /api/v1/decisions).
	DecisionLog string
	// DecisionLogSample is the share of decisions logged, (0, 1] (0: 1).
	DecisionLogSample float64
	// DecisionLogMask lists input fields erased from the entries
	// (decisionlog.ParseMask).
	DecisionLogMask []string
	// DecisionLogTTL is how long stored entries are kept (0:
	// decisionlog.DefaultTTL).
	DecisionLogTTL time.Duration
	// DecisionLogOut receives the stdout log (nil: os.Stdout).
	DecisionLogOut io.Writer
	// DecisionLogBuffer is the number of entries waiting to be written
	// (0: decisionlog.DefaultBuffer).
	DecisionLogBuffer int
	// NoEntityCache hydrates every decision from the store snapshots
	// (benchmarks: the cost of hydration rather than of a cache hit).
	NoEntityCache bool
	// CompileCache keeps the policy's recent compilations (nil: the
	// engine's own); services of one process with the same policies may
	// share one (servicetest does: the tests' services compile the same
	// policy with the same default rules).
	CompileCache *authz.CompileCache
	// CheckDecider, when set, answers the decision endpoints (POST
	// /authz/check, AuthZEN) in place of the engine: for in-process benchmarks of the
	// HTTP path alone (every middleware, authentication, decoding and the
	// answer, no decision). No flag sets it.
	CheckDecider decisions.Decider
}

// EmbeddedStarter starts an in-process database keeping its files in dir.
type EmbeddedStarter func(ctx context.Context, dir string, logger *slog.Logger) (EmbeddedDB, error)

// EmbeddedDB is a running in-process database (embedded.Server).
type EmbeddedDB interface {
	URI() string
	// IndexIDs adds the indexes the embedded server's own lookups by _id
	// lack, on the collections of database dbName.
	IndexIDs(ctx context.Context, dbName string) error
	Close()
}

// Service is a running rulekeeper.
type Service struct {
	cfg      Config
	logger   *slog.Logger
	embedded EmbeddedDB
	Store    *store.Store
	Engine   *authz.Engine
	Licenses *licenses.Service
	Rules    *secrules.Manager
	// Types is the resource type registry in force on this replica.
	Types *authz.Types
	// DecisionLog is the decision log (nil when off).
	DecisionLog *decisionlog.Logger
	app         *fiber.App
	ln          net.Listener
	served      chan error
	stopJobs    func()       // stops the background jobs started by assemble and waits for them
	inflight    atomic.Int64 // requests being handled
	// Database says which database is in use, for the start-up banner.
	Database string
}

// Start opens the store, builds the HTTP server and starts serving. It
// returns once the listener is bound.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if cfg.Logger == nil {
		return nil, errors.New("service: Logger is required")
	}
	if cfg.MongoDB == "" {
		cfg.MongoDB = "rulekeeper"
	}
	if cfg.RulesPoll <= 0 {
		cfg.RulesPoll = 500 * time.Millisecond
	}
	if cfg.StalenessBound <= 0 {
		cfg.StalenessBound = store.DefaultStaleness
	}
	s := &Service{cfg: cfg, logger: cfg.Logger, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = s.closeStore(context.WithoutCancel(ctx))
		}
	}()
	if cfg.Dev && !cfg.AllowRemoteDev && !isLoopback(cfg.Addr) {
		return nil, fmt.Errorf("dev mode mints tokens for anybody and refuses to listen on %s; use a loopback address or --dev-allow-remote", cfg.Addr)
	}

	uri := cfg.MongoURI
	if uri == "" && cfg.Embedded == nil {
		return nil, errors.New("no database: give --mongo-uri (this build has no embedded database)")
	}
	if uri == "" {
		dir, aerr := filepath.Abs(cfg.DataDir)
		if aerr != nil {
			return nil, aerr
		}
		// FerretDB logs every refused command at warn level; keep only errors.
		ferretLog := slog.New(cfg.Logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "ferretdb")}))
		s.embedded, err = cfg.Embedded(ctx, dir, quieter(ferretLog, slog.LevelError))
		if err != nil {
			return nil, err
		}
		uri = s.embedded.URI()
		s.Database = fmt.Sprintf("embedded FerretDB (SQLite in %s)", dir)
	} else {
		s.Database = "MongoDB " + store.Redact(uri)
	}
	s.Store, err = store.Connect(ctx, uri, cfg.MongoDB)
	if err != nil {
		return nil, err
	}
	s.Store.Staleness = cfg.StalenessBound
	if s.embedded != nil {
		// FerretDB v1.24 does not index the expression its own lookups
		// by _id use: add that index on every collection table.
		if err := s.embedded.IndexIDs(ctx, cfg.MongoDB); err != nil {
			return nil, err
		}
		// This process owns the database: lists of apps are answered from
		// an in-process copy, the embedded server filtering only by _id.
		if err := s.Store.EnableAppCatalog(ctx); err != nil {
			return nil, err
		}
	}
	if n, serr := s.Store.Spaces.SweepDeleted(ctx, s.Store.Apps); serr != nil {
		return nil, serr
	} else if n > 0 {
		s.logger.Info("finished interrupted space deletions", "spaces", n)
	}

	// Bind first: dev mode's issuer URL names the bound address.
	s.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer func() {
		if err != nil {
			_ = s.ln.Close()
		}
	}()
	if err = s.assemble(ctx); err != nil {
		return nil, err
	}
	go func() {
		s.served <- s.app.Listener(server.Listener(s.ln), fiber.ListenConfig{DisableStartupMessage: true})
	}()
	s.logger.Info("rulekeeper started", "addr", s.URL(), "database", s.Database, "dev", cfg.Dev)
	return s, nil
}

// Routes lists the registered routes as (method, path) pairs, path in
// Fiber's form (/api/v1/apps/:id); middleware is left out.
func (s *Service) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.app.GetRoutes(true) {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// URL is the base URL the service answers on.
func (s *Service) URL() string { return "http://" + s.ln.Addr().String() }

// Shutdown stops accepting connections, waits for in-flight requests (up to
// the context's deadline), then closes the store and the embedded server.
func (s *Service) Shutdown(ctx context.Context) error {
	var errs []error
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	// Requests still running when the drain ran out finish before the
	// database client closes: their database work ends by its deadline,
	// so a write is either applied and answered, or answered 503.
	limit := time.Now().Add(max(s.cfg.WriteTimeout, server.DefaultWriteTimeout) + time.Second)
	for s.inflight.Load() > 0 && time.Now().Before(limit) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-s.served:
	case <-time.After(time.Second):
	}
	if s.stopJobs != nil {
		s.stopJobs()
	}
	if err := s.closeStore(ctx); err != nil {
		errs = append(errs, err)
	}
	s.logger.Info("rulekeeper stopped")
	return errors.Join(errs...)
}

// closeStore flushes the decision log, then closes the store and the
// embedded server.
func (s *Service) closeStore(ctx context.Context) error {
	var err error
	if s.DecisionLog != nil {
		err = s.DecisionLog.Close(ctx)
	}
	if s.Store != nil {
		_ = s.Store.Close(ctx)
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	return err
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// quieter wraps a logger so that records below min are dropped. The
// attributes and groups its callers add (Logger.With) are kept as they are
// and applied only to a record that passes: the embedded FerretDB adds
// every SQL statement's arguments — whole documents, a decision log batch
// is tens of kilobytes — to a logger twice per statement only to log at
// debug level, and a JSON handler's WithAttrs would encode them every time.
func quieter(l *slog.Logger, min slog.Level) *slog.Logger {
	return slog.New(levelFloor{Handler: l.Handler(), min: min})
}

type levelFloor struct {
	slog.Handler // without ops
	min          slog.Level
	// ops are the WithAttrs and WithGroup calls not yet applied to
	// Handler, in order.
	ops []func(slog.Handler) slog.Handler
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) Handle(ctx context.Context, r slog.Record) error {
	inner := h.Handler
	for _, op := range h.ops {
		inner = op(inner)
	}
	return inner.Handle(ctx, r)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	if len(a) == 0 {
		return h
	}
	return h.with(func(inner slog.Handler) slog.Handler { return inner.WithAttrs(a) })
}

func (h levelFloor) WithGroup(n string) slog.Handler {
	if n == "" {
		return h
	}
	return h.with(func(inner slog.Handler) slog.Handler { return inner.WithGroup(n) })
}

// with is h with one more op (a copy: h's own ops are shared).
func (h levelFloor) with(op func(slog.Handler) slog.Handler) levelFloor {
	return levelFloor{Handler: h.Handler, min: h.min, ops: append(h.ops[:len(h.ops):len(h.ops)], op)}
}
