package service

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// decisionLog starts the decision log the configuration asks for (nil when
// off).
func (s *Service) decisionLog(ctx context.Context, reg prometheus.Registerer) (*decisionlog.Logger, error) {
	cfg := s.cfg
	var sink decisionlog.Sink
	switch cfg.DecisionLog {
	case "", "off":
		return nil, nil
	case "stdout":
		out := cfg.DecisionLogOut
		if out == nil {
			out = os.Stdout
		}
		sink = &decisionlog.Stdout{W: out}
	case "mongo":
		m, err := decisionlog.NewMongo(ctx, s.Store.DecisionLog(), cfg.DecisionLogTTL)
		if err != nil {
			return nil, err
		}
		if !m.TTLKept {
			s.logger.Info("the database has no TTL indexes (FerretDB): expired decision log entries are deleted by rulekeeper", "ttl", m.TTL.String())
		}
		sink = m
	default:
		return nil, fmt.Errorf("decision log %q: want off, stdout or mongo", cfg.DecisionLog)
	}
	sample := cfg.DecisionLogSample
	if sample == 0 {
		sample = 1
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "rulekeeper"
	}
	return decisionlog.New(decisionlog.Config{
		Sink: sink, Sample: sample, Mask: cfg.DecisionLogMask, Buffer: cfg.DecisionLogBuffer,
		Labels:   decisionlog.Labels{ID: fmt.Sprintf("%s/%d", host, os.Getpid()), Version: cmp.Or(cfg.Version, "dev")},
		Registry: reg, Logger: s.logger,
	})
}

// storedDecisionLog is the decision log collection when the log is kept in
// the database (GET /api/v1/decisions lists it), else nil.
func (s *Service) storedDecisionLog() *store.DecisionLog {
	if s.DecisionLog == nil || s.cfg.DecisionLog != "mongo" {
		return nil
	}
	return s.Store.DecisionLog()
}
