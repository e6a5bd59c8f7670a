package authz

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration       *prometheus.HistogramVec
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	entityHits     prometheus.Counter
	entityMisses   prometheus.Counter
	compileSeconds prometheus.Histogram
	compileErrors  prometheus.Counter
	revision       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rulekeeper_decision_cache_total", Help: "Decision cache lookups by result (hit, miss).",
	}, []string{"result"})
	entity := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rulekeeper_entity_cache_total", Help: "Entity cache lookups by result (hit, miss).",
	}, []string{"result"})
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rulekeeper_decision_duration_seconds",
			Help:    "Decision latency by result (allow, deny, error).",
			Buckets: []float64{1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2},
		}, []string{"result"}),
		cacheHits:    cache.WithLabelValues("hit"),
		cacheMisses:  cache.WithLabelValues("miss"),
		entityHits:   entity.WithLabelValues("hit"),
		entityMisses: entity.WithLabelValues("miss"),
		compileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rulekeeper_rules_compile_seconds", Help: "Time to compile a policy revision.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		compileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulekeeper_rules_compile_errors_total", Help: "Policy revisions that failed to compile.",
		}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rulekeeper_rules_revision", Help: "The rules revision in force.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.duration, cache, entity, m.compileSeconds, m.compileErrors, m.revision} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
