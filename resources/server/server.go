// Package server assembles rulekeeper's HTTP surface on Fiber: request ids,
// JSON access logs, panic recovery, body limits, the error contract of
// package apierror, Prometheus metrics, health and readiness, and the routes
// of every resource package.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
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
	Ready     []Check
	// ReadyInfo adds informational entries to the /readyz body (e.g. the
	// OIDC issuer's state); they do not decide readiness.
	ReadyInfo map[string]func() any
}

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
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	app := fiber.New(fiber.Config{
		AppName:      "rulekeeper",
		BodyLimit:    cfg.BodyLimit,
		ErrorHandler: apierror.Handler(cfg.Logger),
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
	})
	app.Use(requestid.New())
	app.Use(observe(cfg.Logger, m))
	app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c fiber.Ctx, e any) {
			cfg.Logger.ErrorContext(c.Context(), "panic", "panic", fmt.Sprint(e), "path", c.Path())
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

// observe logs every request as one JSON line and counts it in the metrics.
func observe(logger *slog.Logger, m *httpMetrics) fiber.Handler {
	return func(c fiber.Ctx) error {
		start := time.Now()
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
		m.requests.WithLabelValues(route, c.Method(), strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route, c.Method()).Observe(elapsed.Seconds())
		logger.LogAttrs(c.Context(), slog.LevelInfo, "http",
			slog.String("requestId", c.GetRespHeader(fiber.HeaderXRequestID)),
			slog.String("method", c.Method()),
			slog.String("path", c.Path()),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("ms", float64(elapsed.Microseconds())/1000),
			slog.String("ip", c.IP()))
		return err
	}
}
