package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestCurve runs the benchmark on a small tenant (two steps, a few samples)
// and checks that every operation was measured at every step; it asserts
// no timings (the figures come from `go run ./bench/tenantgrowth`).
func TestCurve(t *testing.T) {
	steps, samples := []int{300, 1000}, 5
	if testing.Short() {
		steps, samples = []int{100}, 3
	}
	rows, err := Run(context.Background(), Options{Steps: steps, Samples: samples, DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(steps) {
		t.Fatalf("%d rows for %d steps", len(rows), len(steps))
	}
	for i, r := range rows {
		if r.Users != steps[i] || r.Apps != steps[i] || r.Spaces != steps[i]/10 {
			t.Errorf("step %d: %d users, %d apps, %d spaces", steps[i], r.Users, r.Apps, r.Spaces)
		}
		for _, op := range Ops {
			if r.P50[op] <= 0 || r.Max[op] < r.P50[op] {
				t.Errorf("step %d: %s p50 %v max %v", steps[i], op, r.P50[op], r.Max[op])
			}
		}
	}
	var b bytes.Buffer
	report(&b, rows)
	if got := strings.Count(b.String(), "\n"); got != 2+len(rows) {
		t.Errorf("report has %d lines:\n%s", got, b.String())
	}
}
