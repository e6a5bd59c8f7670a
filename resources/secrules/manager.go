// Package secrules serves the QMC-style security rules: CRUD with
// optimistic concurrency, validation with positions, templates, the shipped
// default rule set, YAML export and import, and the propagation of the rule
// set to every replica — a revision number in MongoDB that each replica
// polls, recompiling and swapping its engine when it moves. The language
// itself (parse, check, compile to Rego) is package authz/rules.
package secrules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of rule events.
const EventSource = "com.rulekeeper/rules"

// Manager keeps this replica's engine on the latest rule set.
type Manager struct {
	store    *store.Store
	engine   *authz.Engine
	vocab    *rules.Vocabulary
	logger   *slog.Logger
	interval time.Duration

	// Planner, when set, learns every rule set the engine loads, so that
	// list plans reduce the very rules that decide.
	Planner *authz.Planner

	mu         sync.Mutex // one load at a time
	loaded     int64      // revision in force; -1 before the first load
	loadErrors prometheus.Counter
}

// NewManager builds a manager polling every interval (≤ 1 s keeps the
// propagation promise).
func NewManager(s *store.Store, e *authz.Engine, v *rules.Vocabulary, logger *slog.Logger, interval time.Duration, reg prometheus.Registerer) (*Manager, error) {
	m := &Manager{store: s, engine: e, vocab: v, logger: logger, interval: interval, loaded: -1,
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulekeeper_rules_load_errors_total",
			Help: "Rule sets read from the database that did not compile; the previous set stayed in force.",
		})}
	if reg != nil {
		if err := reg.Register(m.loadErrors); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// toRules converts stored rules for the compiler.
func toRules(rs []store.Rule) []rules.Rule {
	out := make([]rules.Rule, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRule(&r))
	}
	return out
}

func toRule(r *store.Rule) rules.Rule {
	return rules.Rule{ID: r.ID, Name: r.Name, Description: r.Description, ResourceFilter: r.ResourceFilter,
		Condition: r.Condition, Actions: r.Actions, Context: r.Context, Disabled: r.Disabled, Type: r.Type}
}

// errRules carries the diagnostics of a rule set that does not compile.
type errRules struct{ diags []rules.Diagnostic }

func (e *errRules) Error() string {
	if len(e.diags) == 0 {
		return "the rule set does not compile"
	}
	return "the rule set does not compile: " + e.diags[0].String()
}

// compile turns a rule set into the generated module, or an *errRules.
func (m *Manager) compile(rs []store.Rule) (string, error) {
	module, diags := rules.CompileModule(toRules(rs), m.vocab)
	if rules.HasErrors(diags) {
		return "", &errRules{diags: diags}
	}
	return module, nil
}

// Check compiles a proposed rule set all the way through the engine without
// putting it in force: what a write must pass before it is stored.
func (m *Manager) Check(ctx context.Context, rs []store.Rule) error {
	module, err := m.compile(rs)
	if err != nil {
		return err
	}
	return m.engine.Compile(ctx, module)
}

// Sync loads the stored rule set when the stored revision differs from the
// one in force. A set that does not compile leaves the old one in force and
// is counted and logged.
func (m *Manager) Sync(ctx context.Context) error {
	rev, err := m.store.Rules.Revision(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev == m.loaded {
		return nil
	}
	all, err := m.store.Rules.All(ctx)
	if err != nil {
		return err
	}
	module, err := m.compile(all)
	if err == nil {
		err = m.engine.Load(ctx, rev, module)
	}
	if err != nil {
		m.loadErrors.Inc()
		m.logger.Error("the stored rule set does not compile; the previous one stays in force",
			"revision", rev, "inForce", m.loaded, "error", err.Error())
		m.loaded = rev // do not retry the same broken revision every tick
		return err
	}
	m.loaded = rev
	if m.Planner != nil {
		m.Planner.SetRules(rev, toRules(all))
	}
	m.logger.Info("rules loaded", "revision", rev, "rules", len(all))
	return nil
}

// Run polls the revision until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Sync(ctx); err != nil && !errors.Is(err, context.Canceled) {
				var er *errRules
				if !errors.As(err, &er) {
					m.logger.Warn("rules sync failed", "error", err.Error())
				}
			}
		}
	}
}

// Changed bumps the revision after a write and loads it here at once, so
// the writing replica answers with the new rules before it responds.
func (m *Manager) Changed(ctx context.Context) (int64, error) {
	rev, err := m.store.Rules.Bump(ctx)
	if err != nil {
		return 0, err
	}
	if err := m.Sync(ctx); err != nil {
		return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
	}
	return rev, nil
}
