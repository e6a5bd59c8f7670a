package decisionlog

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system time so far: on a shared
// machine the CPU an operation costs, where wall time also counts waiting
// for a core. Reported per op as cpu-ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkLogDecision is the cost on a decision's path, as the engine
// pays it: Sample (an id, the sampler, an entry from the pool), the entry
// filled, LogDecision (a send to the buffer); the writer drains it
// meanwhile, and its CPU counts in cpu-ns/op.
func BenchmarkLogDecision(b *testing.B) {
	l, err := New(Config{Sink: &Stdout{W: io.Discard}, Sample: 1, Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	tmpl := decision()
	ctx := context.Background()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if ld := l.Sample(ctx); ld != nil {
			id := ld.ID
			*ld = *tmpl
			ld.ID = id
			l.LogDecision(ctx, ld)
		}
	}
	closeErr := l.Close(context.Background()) // the writer's work counts too
	reportCPU(b, start)
	if closeErr != nil {
		b.Fatal(closeErr)
	}
}

// BenchmarkEncode is the writer's cost per entry, without and with a mask.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name string
		mask []string
	}{{"plain", nil}, {"masked", []string{"subject.email"}}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := New(Config{Sink: &Stdout{W: io.Discard}, Sample: 1, Mask: tc.mask})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			r := &record{ld: withID(decision(), "656e1f0a9d3c4b2a1f0e9d8c"), at: time.Now()}
			b.ReportAllocs()
			start := cpuTime()
			defer reportCPU(b, start)
			for b.Loop() {
				l.app.b = l.app.b[:0] // as write does per batch
				if _, err := l.encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
