// Package secrules serves the QMC-style security rules: CRUD with
// optimistic concurrency, validation with positions, templates, the shipped
// default rule set, YAML export and import, and the propagation of the rule
// set to every replica — each write moves a revision number in MongoDB and
// appends to the change log every replica tails (store.Follower), which
// puts the rules it names in force; a decision never uses rules older
// than the staleness bound behind an acknowledged write. The language
// itself (parse, check, compile to Rego) is package authz/rules.
package secrules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	checker  *rules.Checker // vocab, indexed once
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

	vocabMu     sync.RWMutex // guards vocab and checker (the type registry changes them)
	mu          sync.Mutex   // one load at a time
	loaded      int64        // revision in force; -1 before the first load
	index       *rules.Index
	module      string                // the module of index in force ("": a plain compilation)
	set         map[string]rules.Rule // the stored rules in force, by id
	planMu      sync.Mutex            // one planner update at a time
	planRev     int64                 // the revision the planner has
	planPending atomic.Bool           // a planner update is on its way
	planWhole   bool                  // the planner needs the whole set (m.mu)
	planIDs     map[string]bool       // the rules changed since the planner's last update (m.mu)
	loadErrors  prometheus.Counter
	// reads counts how the rule set in force was brought up to date:
	// "all" read and compiled every stored rule, "changes" read only the
	// rules the change log names, "write" applied this replica's own
	// write without reading.
	reads     *prometheus.CounterVec
	fullLoads atomic.Int64
	// compileSeconds is the time a rule set (or one rule's change) took
	// to index, compile and put in force.
	compileSeconds prometheus.Histogram
}

// NewManager builds a manager polling every interval (≤ 1 s keeps the
// propagation promise).
func NewManager(s *store.Store, e *authz.Engine, v *rules.Vocabulary, logger *slog.Logger, interval time.Duration, reg prometheus.Registerer) (*Manager, error) {
	m := &Manager{store: s, engine: e, vocab: v, checker: rules.NewChecker(v), logger: logger, interval: interval, loaded: -1, planRev: -1,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulekeeper_rules_updates_total",
			Help: "Rule set updates put in force, by how: all (every stored rule read and compiled), changes (only the rules the change log names read), write (this replica's own write, nothing read).",
		}, []string{"read"}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulekeeper_rules_load_errors_total",
			Help: "Rule sets read from the database that did not compile; the previous set stayed in force.",
		}),
		compileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rulekeeper_rules_load_seconds",
			Help:    "Time to index and compile the rule set (whole set, or one rule's change) and put it in force.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		})}
	// The rules follow the change log, which the staleness bound gates.
	s.Follower.Subscribe(m.follow, store.AreaRules)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.loadErrors, m.compileSeconds, m.reads} {
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

// Checker checks rules against the vocabulary in force (indexed once).
func (m *Manager) Checker() *rules.Checker {
	m.vocabMu.RLock()
	defer m.vocabMu.RUnlock()
	return m.checker
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
	m.vocab, m.checker = v, rules.NewChecker(v)
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
	return m.CheckPrepared(ctx, &Prepared{}, rs)
}

// CheckRule proves that the rule set in force with r put (or, with del,
// r.ID removed) still compiles, without reading or compiling the whole
// set: a rule compiled to data cannot break the module, and one compiled
// to Rego is compiled with the few others that are.
func (m *Manager) CheckRule(ctx context.Context, r *store.Rule, del bool) error {
	m.mu.Lock()
	ix := m.index
	var module, current string
	var diags []rules.Diagnostic
	if ix != nil && !del {
		module, diags = ix.Check(toRule(r))
		current = ix.Module()
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
	if module == current {
		// The rule compiles to data (or its Rego is unchanged): the
		// module, compiled when the set was checked, stays the same —
		// also for a small set the engine holds compiled plainly.
		return nil
	}
	return m.engine.Compile(ctx, module)
}

// Sync brings the rules in force up to the stored revision: when this
// replica holds a recent revision, it reads only the rules the change log
// names (one lookup by id each) and puts their changes in force;
// otherwise (first load, far behind, an import) it reads and compiles the
// whole stored set. A set that does not compile leaves the old one in
// force and is counted and logged.
//
// The revision is read under the manager's lock: read before it, it
// could be older than the one a write put in force meanwhile, and the
// poller would then load the whole set at that older revision.
func (m *Manager) Sync(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rev, err := m.store.Rules.Revision(ctx)
	if err != nil {
		return err
	}
	return m.syncLocked(ctx, rev)
}

// syncLocked is Sync to the stored revision rev; m.mu is held.
func (m *Manager) syncLocked(ctx context.Context, rev int64) error {
	if rev == m.loaded {
		return nil
	}
	// A type write bumps the revision too: the registry is read first,
	// and when it changed the whole set is compiled anew (its vocabulary
	// and the registry's policy data), not only the rules the change log
	// names.
	typesChanged, err := m.syncTypes(ctx)
	if err != nil {
		return err
	}
	if typesChanged {
		m.index, m.module = nil, ""
	}
	all, err := m.store.Rules.All(ctx)
	if err != nil {
		return err
	}
	// Counted once read, before the set is put in force: whoever sees
	// the new revision in force also sees the read counted.
	m.counted("all")
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

// follow puts the rules changes the change log delivers (AreaRules, in
// sequence order) in force: the rules they name are read by id and patched
// in, at the highest revision they carry. Entries of revisions already in
// force (this replica's own writes) are skipped. An entry naming no rule
// (an import, a type change, a rebuild of the followers), a revision
// skipped, or nothing indexed yet reads the whole set. It runs under the
// follower's lock: a decision that waits for the change log (the
// staleness bound) waits for the rules too. A set that does not compile
// stays out of force (logged and counted) without failing the catch-up;
// a database error fails it.
func (m *Manager) follow(ctx context.Context, cs []store.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	top, whole := m.loaded, m.index == nil || m.loaded < 0
	seen := map[string]bool{}
	var ids []string
	for _, c := range cs {
		if c.Rev == 0 {
			whole = true // a rebuild: the follower fell behind the log
			continue
		}
		if c.Rev <= m.loaded {
			continue
		}
		if c.DocID == "" || c.Rev > top+1 {
			whole = true
		}
		top = max(top, c.Rev)
		if c.DocID != "" && !seen[c.DocID] {
			seen[c.DocID] = true
			ids = append(ids, c.DocID)
		}
	}
	if top == m.loaded && !whole {
		return nil
	}
	if !whole {
		var puts []rules.Rule
		var dels []string
		for _, id := range ids {
			r, err := m.store.Rules.Get(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				dels = append(dels, id)
			case err != nil:
				return err
			default:
				puts = append(puts, toRule(r))
			}
		}
		if err := m.applyLocked(ctx, top, puts, dels); err == nil {
			m.counted("changes")
			return nil
		}
		// The index was dropped: read the whole set.
	}
	rev, err := m.store.Rules.Revision(ctx)
	if err != nil {
		return err
	}
	if err := m.syncLocked(ctx, rev); err != nil && RuleDiagnostics(err) == nil {
		return err
	}
	return nil
}

func (m *Manager) counted(how string) {
	m.reads.WithLabelValues(how).Inc()
	if how == "all" {
		m.fullLoads.Add(1)
	}
}

// FullLoads is how many times this manager read the whole stored rule set to
// compile it (rulekeeper_rules_updates_total{read="all"}), counted once read.
func (m *Manager) FullLoads() int64 { return m.fullLoads.Load() }

// plainUpTo is the largest rule set compiled plainly (rules.CompileModule)
// rather than to the index: only the empty set. With the candidates found
// and their atoms tested in Go (authz/ruleindex.go), the index is cheaper
// per decision than evaluating every rule even for the demo tenant's four
// (bench/README.md, "Small rule sets indexed"); it was 32 while the module
// probed the index itself.
const plainUpTo = 0

// loadAll indexes the whole set and puts it in force.
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
	return m.loadIndex(ctx, rev, ix, set, start)
}

// loadIndex puts an index of the whole set in force: only the data
// document changes when the module stays the same. m.mu is held.
func (m *Manager) loadIndex(ctx context.Context, rev int64, ix *rules.Index, set map[string]rules.Rule, start time.Time) error {
	module := ix.Module()
	var err error
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
	m.planned(nil)
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

// planned tells the planner, in the background, that the rules ids
// changed (nil: the whole set was replaced); m.mu is held. Building
// matchers for thousands of new rules takes longer than the write should,
// and until it has them the planner knows its rules are not the engine's
// and plans inexactly (every item decided), never wrongly. Updates
// coalesce: while one is pending, later writes add their ids to it, since
// it reads the rules in force when it runs. A write's update costs the
// changed rules' matchers (Planner.Apply), not a pass over the set; a
// whole set (an import, a full load) is copied, sorted and matched anew
// where it changed (Planner.SetRules).
func (m *Manager) planned(ids []string) {
	if m.Planner == nil {
		return
	}
	if ids == nil {
		m.planWhole, m.planIDs = true, nil
	} else if !m.planWhole {
		if m.planIDs == nil {
			m.planIDs = map[string]bool{}
		}
		for _, id := range ids {
			m.planIDs[id] = true
		}
	}
	if !m.planPending.CompareAndSwap(false, true) {
		return
	}
	go m.updatePlanner()
}

// updatePlanner gives the planner the changes planned recorded (m.mu not
// held). It runs in the background after a write, and in the request of
// an import (ChangedSet), whose thousands of matchers would otherwise be
// built while the next writes wait for a core.
func (m *Manager) updatePlanner() {
	m.planMu.Lock()
	defer m.planMu.Unlock()
	m.planPending.Store(false)
	m.mu.Lock()
	rev, whole, changed := m.loaded, m.planWhole, m.planIDs
	m.planWhole, m.planIDs = false, nil
	if rev <= m.planRev && !whole && len(changed) == 0 {
		m.mu.Unlock()
		return // a later update got there first
	}
	var puts []rules.Rule
	var dels []string
	if !whole {
		for _, id := range slices.Sorted(maps.Keys(changed)) {
			if r, ok := m.set[id]; ok {
				puts = append(puts, r)
			} else {
				dels = append(dels, id)
			}
		}
		m.mu.Unlock()
		if m.Planner.Apply(rev, puts, dels) {
			m.planRev = rev
			return
		}
		m.mu.Lock() // the vocabulary changed: the whole set
		rev = m.loaded
	}
	rs := make([]rules.Rule, 0, len(m.set))
	for _, r := range m.set {
		rs = append(rs, r)
	}
	// The conditions as the index in force parsed and checked them (with
	// the vocabulary in force: a type change rebuilds the index), so
	// that the planner does not analyse every rule again.
	var parsed map[string]rules.Expr
	if m.index != nil {
		parsed = make(map[string]rules.Expr, len(m.set))
		for id := range m.set {
			if cond, ok := m.index.Parsed(id); ok {
				parsed[id] = cond
			}
		}
	}
	vocab := m.Vocabulary()
	m.mu.Unlock()
	slices.SortFunc(rs, func(a, b rules.Rule) int { return strings.Compare(a.ID, b.ID) })
	m.planRev = rev
	m.Planner.SetCheckedRules(rev, rs, vocab, parsed)
}

// Run polls the revision until ctx ends, as a safety net: the change log
// brings every change (follow), but a writer that died between moving the
// revision and logging it leaves a revision no entry announces. A
// revision seen ahead of the one in force at two polls in a row (the log
// had a poll's time to bring it) is loaded by reading the whole set; one
// behind it (a database restored) at once.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	var ahead int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.poll(ctx, &ahead); err != nil && !errors.Is(err, context.Canceled) {
				var er *errRules
				if !errors.As(err, &er) {
					m.logger.Warn("rules sync failed", "error", err.Error())
				}
			}
		}
	}
}

// pollTimeout bounds one poll of the revision (a paused database must not
// hold the manager's lock, which the change log's follower takes).
const pollTimeout = 5 * time.Second

func (m *Manager) poll(ctx context.Context, ahead *int64) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	// Read under the lock, as Sync does: read before it, the revision
	// could be older than one a write put in force meanwhile.
	m.mu.Lock()
	rev, err := m.store.Rules.Revision(ctx)
	behind := rev < m.loaded
	inForce := rev == m.loaded
	m.mu.Unlock()
	switch {
	case err != nil:
		return err
	case inForce:
		*ahead = -1
		return nil
	case !behind:
		// Ahead: the change log brings it, unless its entry is missing.
		// The follower takes m.mu, so it is waited for without it.
		if err := m.store.Follower.CatchUp(ctx); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !behind && rev <= m.loaded:
		*ahead = -1
		return nil
	case !behind && rev != *ahead:
		*ahead = rev // its writer may be between the revision and the log
		return nil
	}
	*ahead = -1
	rev, err = m.store.Rules.Revision(ctx)
	if err != nil {
		return err
	}
	return m.syncLocked(ctx, rev)
}

// Changed bumps the revision after a write of any number of rules and
// loads it here at once, so the writing replica answers with the new
// rules before it responds.
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

// Prepared is a whole rule set checked (indexed and compiled) by Prepare,
// ready to be put in force once stored, without reading it back.
type Prepared struct {
	base int64 // the stored revision before the set was read
	ix   *rules.Index
	set  map[string]rules.Rule
}

// Prepare starts a whole-set write (an import): it reads the stored
// revision, before the caller reads the stored rules its proposed set is
// made of; CheckPrepared then checks that set and keeps it for ChangedSet.
func (m *Manager) Prepare(ctx context.Context) (*Prepared, error) {
	rev, err := m.store.Rules.Revision(ctx)
	if err != nil {
		return nil, err
	}
	return &Prepared{base: rev}, nil
}

// CheckPrepared is Check of the proposed set rs, kept in p (indexed) for
// ChangedSet.
func (m *Manager) CheckPrepared(ctx context.Context, p *Prepared, rs []store.Rule) error {
	ix, err := rules.NewIndex(m.Vocabulary())
	if err != nil {
		return err
	}
	if diags := ix.Build(toRules(rs)); rules.HasErrors(diags) {
		return &errRules{diags: diags}
	}
	if err := m.engine.Compile(ctx, ix.Module()); err != nil {
		return err
	}
	p.ix, p.set = ix, make(map[string]rules.Rule, len(rs))
	for i := range rs {
		p.set[rs[i].ID] = toRule(&rs[i])
	}
	return nil
}

// ChangedSet bumps the revision after the prepared set was stored (an
// import) and puts it in force here without reading it back, when no
// other write came between its reading and the bump; otherwise it loads
// the stored set. The bump happens under the manager's lock, so this
// replica's poller does not read the set meanwhile. The list planner
// learns the set before it returns.
func (m *Manager) ChangedSet(ctx context.Context, p *Prepared) (int64, error) {
	rev, err := m.changedSet(ctx, p)
	if err == nil && m.Planner != nil {
		m.updatePlanner()
	}
	return rev, err
}

func (m *Manager) changedSet(ctx context.Context, p *Prepared) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rev, err := m.store.Rules.Bump(ctx)
	if err != nil {
		return 0, err
	}
	if p.ix == nil || rev != p.base+1 || m.loaded >= rev {
		if err := m.syncLocked(ctx, rev); err != nil {
			return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
		}
		return rev, nil
	}
	if err := m.loadIndex(ctx, rev, p.ix, p.set, time.Now()); err != nil {
		m.index, m.module, m.loaded = nil, "", -1 // the next sync reads the set
		m.loadErrors.Inc()
		return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
	}
	m.counted("write")
	return rev, nil
}

// ChangedRule is Changed after a write of one rule — r stored, or with
// del the rule r.ID deleted: the change log names r.ID, so other
// replicas read just r. Here only r's contribution is put in force when
// this replica holds the revision before the write: the data document is
// patched and the module recompiled only when the rules compiled to Rego
// changed. A replica behind other replicas' writes first follows the
// change log up to this one (reading just the rules it names).
func (m *Manager) ChangedRule(ctx context.Context, r *store.Rule, del bool) (int64, error) {
	rev, err := m.store.Rules.BumpRules(ctx, r.ID)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	if m.loaded >= rev {
		m.mu.Unlock()
		return rev, nil // the change log brought it already
	}
	if m.index != nil && m.loaded == rev-1 {
		defer m.mu.Unlock()
		var puts []rules.Rule
		var dels []string
		if del {
			dels = []string{r.ID}
		} else {
			puts = []rules.Rule{toRule(r)}
		}
		if err := m.applyLocked(ctx, rev, puts, dels); err != nil {
			return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
		}
		m.counted("write")
		return rev, nil
	}
	m.mu.Unlock()
	// The follower applies the log under its lock and takes m.mu: it is
	// waited for without holding m.mu.
	if err := m.store.Follower.CatchUp(ctx); err != nil {
		return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loaded >= rev {
		return rev, nil
	}
	if err := m.syncLocked(ctx, rev); err != nil {
		return rev, fmt.Errorf("load rules revision %d: %w", rev, err)
	}
	return rev, nil
}

// applyLocked puts the rules puts (stored) and dels (deleted) in force as
// revision rev on the index in force. m.mu is held.
func (m *Manager) applyLocked(ctx context.Context, rev int64, puts []rules.Rule, dels []string) error {
	start := time.Now()
	var patches []rules.Patch
	changed := false
	var diags []rules.Diagnostic
	for _, id := range dels {
		ps, ch := m.index.Delete(id)
		patches, changed = append(patches, ps...), changed || ch
		delete(m.set, id)
	}
	for _, rule := range puts {
		ps, ch, ds := m.index.Put(rule)
		patches, changed = append(patches, ps...), changed || ch
		diags = append(diags, ds...)
		m.set[rule.ID] = rule
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
		m.logger.Error("a rule change did not load; the rules are reloaded at the next sync",
			"revision", rev, "error", err.Error())
		m.loaded = -1
		return err
	}
	m.loaded = rev
	ids := dels
	for _, r := range puts {
		ids = append(slices.Clip(ids), r.ID)
	}
	m.planned(ids)
	m.compileSeconds.Observe(time.Since(start).Seconds())
	return nil
}
