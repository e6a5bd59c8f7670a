package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tt := range []struct {
		live, budget uint64
		want         int
	}{
		{0, 200 * mb, 100},         // before the first collection
		{10 * mb, 0, 100},          // tuning off
		{20 * mb, 200 * mb, 400},   // small: 5× the live heap
		{40 * mb, 200 * mb, 400},   // 5× is exactly the budget
		{50 * mb, 200 * mb, 300},   // the budget caps the goal
		{100 * mb, 200 * mb, 100},  // 2×: Go's default
		{150 * mb, 200 * mb, 100},  // never below Go's default
		{1000 * mb, 200 * mb, 100}, // a big heap
		{60 * mb, 1000 * mb, 400},  // a bigger budget
		{3 * mb, 10 * mb, 233},     // rounding down
	} {
		if got := gcPercent(tt.live, tt.budget); got != tt.want {
			t.Errorf("gcPercent(%d MB, %d MB) = %d, want %d", tt.live/mb, tt.budget/mb, got, tt.want)
		}
	}
}

// tuneGC sets GOGC from the live heap, and leaves it to the environment
// when GOGC is set.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Setenv("GOGC", "150")
	if tuneGC(ctx, 1<<40, time.Millisecond) {
		t.Fatal("tuned although GOGC is set")
	}
	t.Setenv("GOGC", "")
	runtime.GC() // a live heap to read
	if !tuneGC(ctx, 1<<40, time.Millisecond) {
		t.Fatal("not tuned")
	}
	// A test binary's live heap is a few MB: 5× of it is within 1 TB.
	if p := debug.SetGCPercent(100); p != 400 {
		t.Fatalf("GOGC %d, want 400", p)
	}
}

// The start-up log line says who paces the collector and with what.
func TestGCSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	attrs := func(tuned bool) map[string]any {
		m := map[string]any{}
		a := gcSettings(tuned, 200<<20)
		for i := 0; i+1 < len(a); i += 2 {
			m[a[i].(string)] = a[i+1]
		}
		return m
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(400)
	if m := attrs(true); m["gogc"] != int64(400) || m["heapBudget"] != uint64(200<<20) || !strings.Contains(m["pacing"].(string), "heap budget") {
		t.Errorf("tuned: %v", m)
	}
	if m := attrs(false); !strings.Contains(m["pacing"].(string), "default") || m["heapBudget"] != nil {
		t.Errorf("budget 0: %v", m)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if m := attrs(false); m["gogc"] != int64(150) || !strings.Contains(m["pacing"].(string), "GOGC=150") {
		t.Errorf("GOGC set: %v", m)
	}
}

// The release build (make build, the Dockerfile) and bench/loadbench's
// build use one CPU profile for profile-guided optimization, and it is
// there: a gzipped pprof profile.
func TestReleaseBuildProfile(t *testing.T) {
	const profile = "cmd/rulekeeper/rulekeeper.pgo"
	b, err := os.ReadFile("../../" + profile)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1000 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s is not a gzipped pprof profile (%d bytes)", profile, len(b))
	}
	for file, want := range map[string]string{
		"../../Makefile":                "PGO ?= " + profile,
		"../../Dockerfile":              "-pgo=" + profile,
		"../../bench/loadbench/main.go": `"pgo", "` + profile + `"`,
	} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), want) {
			t.Errorf("%s does not build with %s (no %q)", file, profile, want)
		}
	}
}
