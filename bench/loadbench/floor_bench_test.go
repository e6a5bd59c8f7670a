package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
)

// BenchmarkFloor drives a Fiber server that answers a constant decision,
// in this process, with the load generator of the load benchmark (16
// connections, back to back): the latency floor of the generator, Fiber
// and the machine's scheduler, which no decision engine can go under. Its
// p99 says what the "p99 ≤ 2 ms at 16 connections on 2 cores"
// leaves for the decision itself on this machine. With each of the load
// generator's clients; cpu-us/req is this process's CPU (generator and the
// bare server together) per request over the measured window: what the
// client costs, compared in one run.
//
//	go test -run '^$' -bench Floor -benchtime 1x ./bench/loadbench
func BenchmarkFloor(b *testing.B) {
	url, body := bareServer(b)
	for _, kind := range []string{clientFast, clientNetHTTP} {
		b.Run(kind, func(b *testing.B) {
			t := &target{name: "floor", url: url, header: http.Header{"Content-Type": {"application/json"}},
				body: func(dst []byte, _ *workload, _, _ int) []byte { return append(dst, body...) }}
			st := stream{seed: 1, subjects: 1, picks: []int{0}}
			for b.Loop() {
				win, err := drive(context.Background(), t, &workload{}, st, kind, 16, time.Second, 4*time.Second, 1<<30, nil)
				if err != nil {
					b.Fatal(err)
				}
				s := summarize("floor", []*window{win})
				if s.Errors > 0 {
					b.Fatalf("%d errors: %s", s.Errors, s.FirstErr)
				}
				cpu := perRequest(win.GenCPU, win.Requests)
				b.ReportMetric(s.Throughput, "req/s")
				b.ReportMetric(cpu, "cpu-us/req")
				b.ReportMetric(float64(s.P50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(s.P99.Microseconds())/1000, "p99-ms")
				fmt.Printf("floor (constant answer, 16 connections, %s client): %.0f req/s, %.1f µs CPU/req (client and server), p50 %v, p90 %v, p99 %v, p99.9 %v\n",
					kind, s.Throughput, cpu, s.P50, s.P90, s.P99, s.P999)
			}
		})
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
