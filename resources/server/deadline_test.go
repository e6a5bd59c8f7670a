package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/resources/server"
)

// TestDeadlineByKindOfRequest: reads and decisions get the decision
// deadline, writes the write deadline, and the rule tools that evaluate a
// whole scope (preview, impact, audit, import) minutes, not seconds, in
// server.New's first middleware.
func TestDeadlineByKindOfRequest(t *testing.T) {
	app, err := server.New(server.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		DecisionTimeout: 2 * time.Second, WriteTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	app.All("/*", func(c fiber.Ctx) error {
		d, ok := c.Context().Deadline()
		if !ok {
			return c.SendString("none")
		}
		return c.SendString(fmt.Sprint(time.Until(d).Round(time.Second)))
	})
	tests := []struct {
		method, path string
		want         string
	}{
		{"GET", "/api/v1/apps", "2s"},
		{"POST", "/authz/check", "2s"},
		{"POST", "/access/v1/evaluation", "2s"},
		{"POST", "/api/v1/apps", "5s"},
		{"PUT", "/api/v1/rules/r1", "5s"},
		{"POST", "/api/v1/rules/preview", "2m0s"},
		{"POST", "/api/v1/rules/impact", "2m0s"},
		{"POST", "/api/v1/audit", "2m0s"},
		{"POST", "/api/v1/rules/import", "2m0s"},
	}
	for _, tt := range tests {
		res, err := app.Test(httptest.NewRequest(tt.method, tt.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := res.Body.Read(b)
		res.Body.Close()
		if got := string(b[:n]); got != tt.want {
			t.Errorf("%s %s: deadline in %s, want %s", tt.method, tt.path, got, tt.want)
		}
	}
}
