package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
)

// BenchmarkFloor drives a Fiber server that answers a constant decision,
// in this process, with the load generator of the load benchmark (16
// connections, back to back): the latency floor of the generator, Fiber
// and the machine's scheduler, which no decision engine can go under. Its
// p99 says what the "p99 ≤ 2 ms at 16 connections on 2 cores"
// leaves for the decision itself on this machine.
//
//	go test -run '^$' -bench Floor -benchtime 1x ./bench/loadbench
func BenchmarkFloor(b *testing.B) {
	url, body := bareServer(b)
	t := &target{name: "floor", url: url,
		body: func(buf *bytes.Buffer, _ *workload, _, _ int) { buf.Write(body) }}
	st := stream{seed: 1, subjects: 1, picks: []int{0}}
	for b.Loop() {
		win, err := drive(context.Background(), t, &workload{}, st, 16, 2*time.Second, 8*time.Second, 1<<30, nil)
		if err != nil {
			b.Fatal(err)
		}
		s := summarize("floor", []*window{win})
		if s.Errors > 0 {
			b.Fatalf("%d errors: %s", s.Errors, s.FirstErr)
		}
		b.ReportMetric(s.Throughput, "req/s")
		b.ReportMetric(float64(s.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(s.P99.Microseconds())/1000, "p99-ms")
		fmt.Printf("floor (constant answer, 16 connections): %.0f req/s, p50 %v, p90 %v, p99 %v, p99.9 %v\n",
			s.Throughput, s.P50, s.P90, s.P99, s.P999)
	}
}

// bareServer starts a Fiber app without middleware that answers every POST
// /authz/check with constantAnswer, and answers its URL and a usual body.
func bareServer(b *testing.B) (url string, body []byte) {
	app := fiber.New()
	answer := []byte(constantAnswer)
	app.Post("/authz/check", func(c fiber.Ctx) error {
		c.Response().Header.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(answer)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	b.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String() + "/authz/check",
		[]byte(`{"subject":{"id":"u1"},"action":"read","resource":{"type":"app","id":"a1"},"context":{"environment":"hub"}}`)
}
