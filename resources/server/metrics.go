package server

import (
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// dbCommands: database round trips per request (dbcalls).
	dbCommands *prometheus.HistogramVec
	// series holds the series of every (route, method, status) seen, so
	// that a request costs one lock-free lookup instead of three label
	// hashes, their validation and a read lock each (and the status's
	// string). As many entries as the metrics have series.
	series sync.Map // seriesKey → *series
}

// seriesKey is a request's route (nil: none matched), method and status.
// A route is a pointer: cheaper to hash than its pattern.
type seriesKey struct {
	route  *fiber.Route
	method string
	status int
}

// series are the metrics of one (route, method, status).
type series struct {
	requests             prometheus.Counter
	duration, dbCommands prometheus.Observer
}

// of answers the series of a request: route is the route that answered
// it, nil when none did (labelled "unmatched"). method must not alias
// request memory (it is kept): Fiber's method names do not.
func (m *httpMetrics) of(route *fiber.Route, method string, status int) *series {
	k := seriesKey{route, method, status}
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	label := routeLabel(route)
	s := &series{
		requests:   m.requests.WithLabelValues(label, method, strconv.Itoa(status)),
		duration:   m.duration.WithLabelValues(label, method),
		dbCommands: m.dbCommands.WithLabelValues(label, method),
	}
	v, _ := m.series.LoadOrStore(k, s)
	return v.(*series)
}

// routeLabel is the route label of a request that route answered: its
// pattern, "unmatched" when none did.
func routeLabel(route *fiber.Route) string {
	if route == nil || route.Path == "" {
		return "unmatched"
	}
	return route.Path
}

// newHTTPMetrics registers the HTTP metrics and the Go and process
// collectors on reg.
func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		dbCommands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_db_commands",
			Help:    "Database commands (round trips) per HTTP request by route pattern and method.",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.duration, m.dbCommands,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
