package main

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The garbage collector of `serve`. A decision allocates about 25 KB (most
// of it OPA's evaluation), and with Go's default (GOGC=100: collect when
// the heap has doubled since the last collection) a service whose live
// heap is small collects very often: the collector took about 20 µs of a
// decision's 250 (bench/README.md, issue 12). The heap budget lets the
// heap grow up to 5× the live heap while that stays within the budget,
// and never less than Go's default (2×): a small tenant collects up to
// four times less often, a live heap of half the budget or more keeps
// Go's default, and memory never grows past the budget because of this
// setting. GOGC or GOMEMLIMIT in the environment leave the collector to
// the operator.

// DefaultGCHeapBudget is --gc-heap-budget's default.
const DefaultGCHeapBudget = 200 << 20

// gcPercent answers the GOGC that gives a heap goal of
// max(2 × live, min(5 × live, budget)) for a live heap of live bytes.
func gcPercent(live, budget uint64) int {
	if live == 0 || budget == 0 {
		return 100
	}
	goal := min(5*live, budget)
	if goal < 2*live {
		return 100
	}
	return int(goal*100/live) - 100
}

// tuneGC sets GOGC from the live heap now and then every period until ctx
// ends, unless GOGC or GOMEMLIMIT is set or budget is 0. It answers
// whether it tunes.
func tuneGC(ctx context.Context, budget uint64, period time.Duration) bool {
	if budget == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := 100
	apply := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		// Changed only when it moves by more than a tenth: setting it
		// recomputes the collector's pacing.
		if p := gcPercent(sample[0].Value.Uint64(), budget); p*10 < last*9 || p*10 > last*11 {
			debug.SetGCPercent(p)
			last = p
		}
	}
	apply()
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				apply()
			}
		}
	}()
	return true
}

// gcSettings describes the collector's settings for serve's start-up log
// line: who paces it (the heap budget, the environment's GOGC or
// GOMEMLIMIT, or Go's default) and the values in force.
func gcSettings(tuned bool, budget uint64) []any {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(sample)
	attrs := []any{"gogc", int64(sample[0].Value.Uint64())}
	if limit := sample[1].Value.Uint64(); limit < math.MaxInt64 {
		attrs = append(attrs, "memoryLimit", limit)
	}
	switch {
	case tuned:
		attrs = append(attrs, "pacing", "heap budget (--gc-heap-budget: GOGC from the live heap once a second)", "heapBudget", budget)
	case os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "":
		attrs = append(attrs, "pacing", "the environment (GOGC="+os.Getenv("GOGC")+" GOMEMLIMIT="+os.Getenv("GOMEMLIMIT")+")")
	default:
		attrs = append(attrs, "pacing", "Go's default (--gc-heap-budget 0)")
	}
	return attrs
}
