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
	"maps"
	"slices"
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
	// Types, when set, is the resource type registry: every Sync reads the
	// stored external types into it before compiling the rules with its
	// vocabulary (a type write bumps the rules revision, so replicas
	// follow type changes as they follow rule changes).
	Types *authz.Types

	vocabMu    sync.RWMutex // guards vocab
	mu         sync.Mutex   // one load at a time
	loaded     int64        // revision in force; -1 before the first load
	index      *rules.Index
	module     string                // the module of index in force ("": a plain compilation)
	set        map[string]rules.Rule // the stored rules in force, by id
	planMu     sync.Mutex            // one planner update at a time
	planRev    int64                 // the revision the planner has
	loadErrors prometheus.Counter
	// compileSeconds is the time a rule set (or one rule's change) took
	// to index, compile and put in force.
	compileSeconds prometheus.Histogram
}

// NewManager builds a manager polling every interval (≤ 1 s keeps the
// propagation promise).
func NewManager(s *store.Store, e *authz.Engine, v *rules.Vocabulary, logger *slog.Logger, interval time.Duration, reg prometheus.Registerer) (*Manager, error) {
	m := &Manager{store: s, engine: e, vocab: v, logger: logger, interval: interval, loaded: -1, planRev: -1,
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulekeeper_rules_load_errors_total",
			Help: "Rule sets read from the database that did not compile; the previous set stayed in force.",
		}),
		compileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rulekeeper_rules_load_seconds",
			Help:    "Time to index and compile the rule set (whole set, or one rule's change) and put it in force.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		})}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.loadErrors, m.compileSeconds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Vocabulary is the rule language's vocabulary in force (built-in and
// external resource types).
func (m *Manager) Vocabulary() *rules.Vocabulary {
	m.vocabMu.RLock()
	defer m.vocabMu.RUnlock()
	return m.vocab
}

// CheckVocabulary proves that the stored rule set still compiles with the
// vocabulary v (a proposed change of the resource types): a type write
// that would break a rule is refused with the rule's diagnostics.
func (m *Manager) CheckVocabulary(ctx context.Context, v *rules.Vocabulary) error {
	all, err := m.store.Rules.All(ctx)
	if err != nil {
		return err
	}
	ix, err := rules.NewIndex(v)
	if err != nil {
		return err
	}
	if diags := ix.Build(toRules(all)); rules.HasErrors(diags) {
		return &errRules{diags: diags}
	}
	return nil
}

// RuleDiagnostics are the diagnostics of err when it is a rule set that
// does not compile (CheckVocabulary, Check), else nil.
func RuleDiagnostics(err error) []rules.Diagnostic {
	var er *errRules
	if errors.As(err, &er) {
		return er.diags
	}
	return nil
}

// syncTypes reads the stored external types into the registry; true when
// the vocabulary changed (the caller then rebuilds the whole rule set).
func (m *Manager) syncTypes(ctx context.Context) (bool, error) {
	if m.Types == nil {
		return false, nil
	}
	stored, err := m.store.ResourceTypes.All(ctx)
	if err != nil {
		return false, err
	}
	exts := make([]authz.ExternalType, 0, len(stored))
	for _, t := range stored {
		exts = append(exts, t.ExternalType)
	}
	if slices.EqualFunc(exts, m.Types.Externals(), sameType) && m.Vocabulary() == m.Types.RulesVocabulary() {
		return false, nil
	}
	if err := m.Types.Set(exts); err != nil {
		return false, fmt.Errorf("the stored resource types: %w", err)
	}
	v := m.Types.RulesVocabulary()
	m.vocabMu.Lock()
	m.vocab = v
	m.vocabMu.Unlock()
	if m.Planner != nil {
		m.Planner.SetVocabulary(v)
	}
	return true, nil
}

func sameType(a, b authz.ExternalType) bool {
	return a.Name == b.Name && a.Description == b.Description && a.LicenseGates == b.LicenseGates &&
		slices.Equal(a.Actions, b.Actions) && slices.Equal(a.Attributes, b.Attributes)
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

// Check compiles a proposed rule set all the way through the engine without
// putting it in force: what a write must pass before it is stored.
func (m *Manager) Check(ctx context.Context, rs []store.Rule) error {
	ix, err := rules.NewIndex(m.Vocabulary())
	if err != nil {
		return err
	}
	if diags := ix.Build(toRules(rs)); rules.HasErrors(diags) {
		return &errRules{diags: diags}
	}
	return m.engine.Compile(ctx, ix.Module())
}

// CheckRule proves that the rule set in force with r put (or, with del,
// r.ID removed) still compiles, without reading or compiling the whole
// set: a rule compiled to data cannot break the module, and one compiled
// to Rego is compiled with the few others that are.
func (m *Manager) CheckRule(ctx context.Context, r *store.Rule, del bool) error {
	m.mu.Lock()
	ix := m.index
	var module string
	var diags []rules.Diagnostic
	if ix != nil && !del {
		module, diags = ix.Check(toRule(r))
	}
	m.mu.Unlock()
	if ix == nil {
		// Nothing in force yet: check the whole stored set.
		all, err := m.store.Rules.All(ctx)
		if err != nil {
			return err
		}
		next := slices.DeleteFunc(all, func(x store.Rule) bool { return x.ID == r.ID })
		if !del {
			next = append(next, *r)
		}
		return m.Check(ctx, next)
	}
	if del {
		return nil // removing a rule never breaks the set
	}
	if rules.HasErrors(diags) {
		return &errRules{diags: diags}
	}
	if module == m.loadedModule() {
		return nil
	}
	return m.engine.Compile(ctx, module)
}

func (m *Manager) loadedModule() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.module
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
	typesChanged, err := m.syncTypes(ctx)
	if err != nil {
		return err
	}
	if typesChanged {
		// The module and the registry's policy data must be compiled anew.
		m.index, m.module = nil, ""
	}
	all, err := m.store.Rules.All(ctx)
	if err != nil {
		return err
	}
	err = m.loadAll(ctx, rev, all)
	if err != nil {
		m.loadErrors.Inc()
		m.logger.Error("the stored rule set does not compile; the previous one stays in force",
			"revision", rev, "inForce", m.loaded, "error", err.Error())
		m.loaded = rev // do not retry the same broken revision every tick
		return err
	}
	m.logger.Info("rules loaded", "revision", rev, "rules", len(all))
	return nil
}

// plainUpTo is the largest rule set compiled plainly (rules.CompileModule)
// rather than to the index: below it the index's fixed cost per decision
// (computing the input's keys) exceeds evaluating every rule, and a whole
// compile is as quick as a patch.
const plainUpTo = 32

// loadAll indexes the whole set and puts it in force: only the data
// document changes when the module stays the same.
func (m *Manager) loadAll(ctx context.Context, rev int64, all []store.Rule) error {
	start := time.Now()
	ix, err := rules.NewIndex(m.Vocabulary())
	if err != nil {
		return err
	}
	if diags := ix.Build(toRules(all)); rules.HasErrors(diags) {
		return &errRules{diags: diags}
	}
	set := make(map[string]rules.Rule, len(all))
	for i := range all {
		set[all[i].ID] = toRule(&all[i])
	}
	module := ix.Module()
	switch {
	case ix.Len() <= plainUpTo:
		module, err = m.loadPlain(ctx, rev, set)
	case m.index != nil && m.module != "" && module == m.module:
		err = m.engine.Patch(ctx, rev, []rules.Patch{{Value: ix.Data()}})
	default:
		err = m.engine.LoadIndexed(ctx, rev, module, ix.Data())
	}
	if err != nil {
		return err
	}
	m.index, m.module, m.loaded, m.set = ix, module, rev, set
	m.planned(rev)
	m.compileSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// loadPlain puts a small set in force compiled plainly; the module it
// returns is "" (no indexed module in force).
func (m *Manager) loadPlain(ctx context.Context, rev int64, set map[string]rules.Rule) (string, error) {
	rs := make([]rules.Rule, 0, len(set))
	for _, id := range slices.Sorted(maps.Keys(set)) {
		rs = append(rs, set[id])
	}
	module, diags := rules.CompileModule(rs, m.Vocabulary())
	if rules.HasErrors(diags) {
		return "", &errRules{diags: diags}
	}
	return "", m.engine.Load(ctx, rev, module)
}

// planned tells the planner the rules of revision rev, in the background:
// building its matchers for thousands of new rules takes longer than the
// write should, and until it has them the planner knows its rules are not
// the engine's and plans inexactly (every item decided), never wrongly.
func (m *Manager) planned(rev int64) {
	if m.Planner == nil {
		return
	}
	rs := make([]rules.Rule, 0, len(m.set))
	for _, id := range slices.Sorted(maps.Keys(m.set)) {
		rs = append(rs, m.set[id])
	}
	go func() {
		m.planMu.Lock()
		defer m.planMu.Unlock()
		if rev <= m.planRev {
			return // a later revision got there first
		}
		m.planRev = rev
		m.Planner.SetRules(rev, rs)
	}()
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

// ChangedRule is Changed after a write of one rule — r stored, or with
// del the rule r.ID deleted — and puts only that rule's contribution in
// force when this replica holds the revision before the write: the data
// document is patched and the module recompiled only when the rules
// compiled to Rego changed. Otherwise it loads the whole stored set.
func (m *Manager) ChangedRule(ctx context.Context, r *store.Rule, del bool) (int64, error) {
	rev, err := m.store.Rules.Bump(ctx)
	if err != nil {
		return 0, err
	}
	if err := m.apply(ctx, rev, r, del); err != nil {
		return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
	}
	return rev, nil
}

func (m *Manager) apply(ctx context.Context, rev int64, r *store.Rule, del bool) error {
	m.mu.Lock()
	if m.index == nil || m.loaded != rev-1 {
		m.mu.Unlock()
		return m.Sync(ctx)
	}
	defer m.mu.Unlock()
	start := time.Now()
	var patches []rules.Patch
	var changed bool
	var diags []rules.Diagnostic
	if del {
		patches, changed = m.index.Delete(r.ID)
		delete(m.set, r.ID)
	} else {
		rule := toRule(r)
		patches, changed, diags = m.index.Put(rule)
		m.set[r.ID] = rule
	}
	var err error
	switch {
	case rules.HasErrors(diags):
		err = &errRules{diags: diags}
	case m.index.Len() <= plainUpTo:
		m.module, err = m.loadPlain(ctx, rev, m.set)
	case changed || m.module == "":
		m.module = m.index.Module()
		err = m.engine.LoadIndexed(ctx, rev, m.module, m.index.Data())
	default:
		err = m.engine.Patch(ctx, rev, patches)
	}
	if err != nil {
		// The index no longer matches the engine: the next sync rebuilds.
		m.index, m.module = nil, ""
		m.loadErrors.Inc()
		m.logger.Error("a rule write did not load; the rules are reloaded at the next sync",
			"revision", rev, "rule", r.ID, "error", err.Error())
		m.loaded = -1
		return err
	}
	m.loaded = rev
	m.planned(rev)
	m.compileSeconds.Observe(time.Since(start).Seconds())
	return nil
}
