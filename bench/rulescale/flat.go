package main

import (
	"context"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rulekeeper/rulekeeper/authz"
)

// flatness is the uncached decision at two rule counts measured in one
// process, interleaved, so that the machine's load falls on both alike.
type flatness struct {
	Small, Large int
	Batches      int // pairs of batches measured
	BatchSize    int
	// Medians over the batches of the cost of one decision: the thread's
	// CPU time (what the decision costs, whatever else the machine runs)
	// and the wall time.
	SmallCPU, LargeCPU   time.Duration
	SmallWall, LargeWall time.Duration
	// Medians of the paired ratios large / small (batch i of each).
	RatioCPU, RatioWall float64
	// Allocations per decision.
	SmallAllocs, LargeAllocs float64
}

// measureFlatness loads the small and the large rule set, indexed, into
// two engines of one process and decides their inputs in batches of
// batchSize, alternating the engines (and which goes first) for at least
// d: each batch's thread CPU time (the goroutine is locked to its
// thread) and wall time, divided by the batch size. Medians over many
// batches of paired measurements cancel what other processes do to both.
func measureFlatness(ctx context.Context, small, large int, d time.Duration) (*flatness, error) {
	const batchSize = 20
	type side struct {
		e    *authz.Engine
		ins  []*authz.Input
		next int
		cpu  []time.Duration
		wall []time.Duration
		allc uint64
		n    int
	}
	var sides [2]*side
	for i, n := range []int{small, large} {
		e, err := Engine(ctx)
		if err != nil {
			return nil, err
		}
		if _, _, err := LoadIndexed(ctx, e, 1, Rules(n, 1)); err != nil {
			return nil, err
		}
		s := &side{e: e, ins: Inputs(1000, n, 2)}
		for _, in := range s.ins { // warm up, and fail before measuring
			if _, err := e.Evaluate(ctx, in); err != nil {
				return nil, err
			}
		}
		sides[i] = s
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()
	var ms runtime.MemStats
	batch := func(s *side) error {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		c0, w0 := threadCPU(), time.Now()
		for range batchSize {
			if _, err := s.e.Evaluate(ctx, s.ins[s.next]); err != nil {
				return err
			}
			s.next = (s.next + 1) % len(s.ins)
		}
		w, c := time.Since(w0), threadCPU()-c0
		runtime.ReadMemStats(&ms)
		s.allc += ms.Mallocs - before
		s.n += batchSize
		s.cpu = append(s.cpu, c/batchSize)
		s.wall = append(s.wall, w/batchSize)
		return nil
	}
	start := time.Now()
	for i := 0; time.Since(start) < d || i < 50; i++ {
		a, b := sides[i%2], sides[1-i%2]
		if err := batch(a); err != nil {
			return nil, err
		}
		if err := batch(b); err != nil {
			return nil, err
		}
	}
	f := &flatness{Small: small, Large: large, Batches: len(sides[0].cpu), BatchSize: batchSize}
	s, l := sides[0], sides[1]
	pairRatio := func(a, b []time.Duration) float64 {
		rs := make([]float64, len(a))
		for i := range a {
			rs[i] = float64(b[i]) / float64(max(a[i], 1))
		}
		slices.Sort(rs)
		return rs[len(rs)/2]
	}
	f.RatioCPU, f.RatioWall = pairRatio(s.cpu, l.cpu), pairRatio(s.wall, l.wall)
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	f.SmallCPU, f.LargeCPU, f.SmallWall, f.LargeWall = median(s.cpu), median(l.cpu), median(s.wall), median(l.wall)
	f.SmallAllocs, f.LargeAllocs = float64(s.allc)/float64(s.n), float64(l.allc)/float64(l.n)
	return f, nil
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// processCPU is the CPU time (user and system) of this process so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
