package decisionlog

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkLogDecision is the cost on a decision's path: an id, the
// sampler and a send to the buffer (the writer drains it meanwhile).
func BenchmarkLogDecision(b *testing.B) {
	l, err := New(Config{Sink: &Stdout{W: io.Discard}, Sample: 1, Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	ld := decision()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.LogDecision(ctx, ld)
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
			r := &record{ld: decision(), id: "656e1f0a9d3c4b2a1f0e9d8c", at: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				l.app.b = l.app.b[:0] // as write does per batch
				if _, err := l.encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
