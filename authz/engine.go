package authz

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	opametrics "github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// DecisionQuery is the rule every decision evaluates.
const DecisionQuery = "data.rulekeeper.authz.decision"

// GeneratedModuleName is the file name the rules module is loaded under.
const GeneratedModuleName = "generated/rules.rego"

// Grant says what allowed a decision.
type Grant struct {
	Kind string `json:"kind"` // table, role, owner, personal, managed, rule
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Deny says which gate refused.
type Deny struct {
	Kind   string `json:"kind"` // gate
	Reason string `json:"reason"`
}

// Decision is the engine's answer.
type Decision struct {
	Allow    bool    `json:"allow"`
	Grants   []Grant `json:"grants"`
	Denies   []Deny  `json:"denies"`
	Revision int64   `json:"revision"`
}

// Options configure an Engine.
type Options struct {
	// Modules are the static policies (file name → Rego source) and Data the
	// static data tables, usually policies.Modules() and policies.Data().
	Modules map[string]string
	Data    map[string]any
	// Entities hydrates ids; nil means callers always pass full objects.
	Entities Entities
	// CacheSize is the number of decisions kept (0: 100,000; <0: no cache).
	CacheSize int
	// NoProjection evaluates and caches the whole input instead of the
	// part of the subject the policy can read (doc.go); for tests and
	// measurements.
	NoProjection bool
	// EntityTTL bounds how long a hydrated entity is reused (0:
	// DefaultEntityTTL; <0: no entity cache).
	EntityTTL time.Duration
	Registry  prometheus.Registerer // nil: metrics are not registered
	// Types is the resource type registry (nil: the built-in types only).
	// Every compilation puts the external types that take the license
	// gates at data.rulekeeper_types (TypesDataRoot); a change of the
	// registry takes effect at the next Load.
	Types  *Types
	Logger *slog.Logger
	// DecisionLog receives every decision Decide takes (nil: none; the
	// decision path then pays nothing for it).
	DecisionLog DecisionLogger
	// Fresh, when set, runs before every evaluation: it brings what
	// decisions use (the rules in force, the data behind the entities)
	// within the caller's staleness bound, or fails — and the decision
	// fails with its error, never answering from older data.
	Fresh func(context.Context) error
	// CompileCache keeps recent compilations for reuse (nil: the engine
	// keeps its own few); engines with the same Modules may share one.
	CompileCache *CompileCache
}

// compiled is one policy revision, ready to evaluate.
type compiled struct {
	revision int64
	general  plan          // the policy as compiled: allowQuery and decisionQuery
	compiler *ast.Compiler // general.compiler
	store    storage.Store
	rules    string
	proj     *projection // what the revision reads of the subject
	data     *dataCache  // the store's data document, for the evaluator
	// guard is held for reading by every evaluation and for writing by
	// Patch while it commits: the store changes its data document in
	// place, and evaluations read that document (data) without a store
	// transaction. Revisions made by Patch share their store's guard.
	guard *sync.RWMutex
	// closed: the compilation left out the rules for license types other
	// than knownLicense's (pruneClosedRules); an input with another type
	// is decided by exact, the policy compiled as written, built the
	// first time one comes (revisions made by Patch share it).
	closed bool
	exact  *exactPlan
	// bare decides the inputs the rules module cannot grant (prune.go,
	// rulesGuards); nil: every input is decided by general (or exact).
	bare *barePlan
}

// barePlan is the plan of the compilation's copy of the decision package
// without the rules (prune.go, noRulesModule), which a revision uses for
// the decisions its rules module's guards admit none of.
type barePlan struct {
	p      plan
	closed bool // compiled with pruneClosedRules: knownLicense inputs only
	guards *rulesGuards
	// found: the rules module grants nothing to an input whose input.va
	// is noneFound (prune.go, grantsOnlyFound), which bare decides too.
	found bool
}

// planOf is the plan that decides in (projected): bare when the rules
// cannot grant it, else the one planFor picks.
func (c *compiled) planOf(in *Input) (*plan, error) {
	known := knownLicense(in.Subject.License.Type)
	if b := c.bare; b != nil && (known || !b.closed) && !b.guards.admits(in.Resource.Type, in.Action, in.Environment) {
		return &b.p, nil
	}
	return c.planFor(known)
}

// bareForNoneFound is the bare plan for in (projected), whose input.va
// is noneFound, when the revision's rules module then grants nothing
// (barePlan.found); nil otherwise.
func (c *compiled) bareForNoneFound(in *Input) *plan {
	if b := c.bare; b != nil && b.found && (!b.closed || knownLicense(in.Subject.License.Type)) {
		return &b.p
	}
	return nil
}

// exactPlan is a revision's plan without pruneClosedRules, compiled once
// when first needed.
type exactPlan struct {
	once    sync.Once
	compile func() (*compilation, error)
	p       plan
	err     error
}

func (x *exactPlan) get() (*plan, error) {
	x.once.Do(func() {
		cc, err := x.compile()
		if err != nil {
			x.err = err
			return
		}
		x.p = newPlan(cc.compiler, cc.query, cc.parts, grantsRef, deniesRef, rulesRef(cc.compiler))
	})
	return &x.p, x.err
}

// planFor is the plan that decides a subject whose license type is
// known (knownLicense) or not.
func (c *compiled) planFor(known bool) (*plan, error) {
	if !c.closed || known {
		return &c.general, nil
	}
	return c.exact.get()
}

// Engine evaluates decisions. It is safe for concurrent use; Load swaps the
// policy atomically while decisions continue on the previous revision.
type Engine struct {
	opts      Options
	current   atomic.Pointer[compiled]
	decisions *lru.Cache[[32]byte, Decision]
	entities  *entityCache
	metrics   *metrics
	// allowed, denied and failed are the duration histograms by result,
	// resolved once (a label lookup per decision costs as much as a hit).
	allowed, denied, failed prometheus.Observer
	logger                  *slog.Logger
	strs                    interned // the strings of inputs (input.go)
}

// New builds an engine and compiles revision 0 with no security rules.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if len(opts.Modules) == 0 {
		return nil, errors.New("authz: no policy modules")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CompileCache == nil {
		opts.CompileCache = NewCompileCache(0)
	}
	e := &Engine{opts: opts, logger: opts.Logger}
	size := opts.CacheSize
	if size == 0 {
		size = 100_000
	}
	if size > 0 {
		c, err := lru.New[[32]byte, Decision](size)
		if err != nil {
			return nil, err
		}
		e.decisions = c
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	e.allowed, e.denied, e.failed = m.duration.WithLabelValues("allow"), m.duration.WithLabelValues("deny"), m.duration.WithLabelValues("error")
	e.entities = newEntityCache(opts.Entities, opts.EntityTTL)
	if e.entities != nil {
		e.entities.metrics = m
	}
	if err := e.Load(ctx, 0, ""); err != nil {
		return nil, err
	}
	return e, nil
}

// Load compiles the static policies with the generated rules module
// (may be empty) as revision and swaps it in. On error the previous
// revision stays in force.
func (e *Engine) Load(ctx context.Context, revision int64, rulesModule string) error {
	return e.LoadIndexed(ctx, revision, rulesModule, nil)
}

// LoadIndexed is Load for an indexed compilation (rules.Index): the module
// and its data document, put at data.rulekeeper_rules (nil: none).
func (e *Engine) LoadIndexed(ctx context.Context, revision int64, rulesModule string, rulesData map[string]any) error {
	start := time.Now()
	c, err := e.compile(ctx, revision, rulesModule, rulesData)
	e.metrics.compileSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		e.metrics.compileErrors.Inc()
		return err
	}
	e.swap(c)
	return nil
}

func (e *Engine) swap(c *compiled) {
	e.current.Store(c)
	if e.decisions != nil {
		e.decisions.Purge()
	}
	e.metrics.revision.Set(float64(c.revision))
}

// Patch changes the data document of the indexed rules in force (loaded
// with LoadIndexed) and makes it revision, without compiling anything: a
// rule write that leaves the module as it is. The patches apply in one
// store transaction; on error none applies and the revision stays.
func (e *Engine) Patch(ctx context.Context, revision int64, patches []rules.Patch) error {
	start := time.Now()
	c := e.current.Load()
	txn, err := c.store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return fmt.Errorf("authz: patch rules data: %w", err)
	}
	for _, p := range patches {
		path := make(storage.Path, 0, len(p.Path)+1)
		path = append(append(path, rules.DataRoot), p.Path...)
		if p.Value == nil {
			err = c.store.Write(ctx, txn, storage.RemoveOp, path, nil)
			if storage.IsNotFound(err) {
				err = nil
			}
		} else if err = storage.MakeDir(ctx, c.store, txn, path[:len(path)-1]); err == nil {
			err = c.store.Write(ctx, txn, storage.AddOp, path, p.Value)
		}
		if err != nil {
			c.store.Abort(ctx, txn)
			e.metrics.compileErrors.Inc()
			return fmt.Errorf("authz: patch rules data at %v: %w", p.Path, err)
		}
	}
	c.guard.Lock()
	err = c.store.Commit(ctx, txn)
	c.guard.Unlock()
	if err != nil {
		return fmt.Errorf("authz: patch rules data: %w", err)
	}
	next := *c
	next.revision = revision
	if next.data, err = readData(ctx, c.store); err != nil {
		return fmt.Errorf("authz: patch rules data: %w", err)
	}
	next.proj = c.proj.patched(next.data.root, patches)
	e.swap(&next)
	e.metrics.compileSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// Compile checks that the static policies compile with rulesModule, without
// putting it in force.
func (e *Engine) Compile(ctx context.Context, rulesModule string) error {
	_, err := e.compilation(rulesModule)
	return err
}

func (e *Engine) compile(ctx context.Context, revision int64, rulesModule string, rulesData map[string]any) (*compiled, error) {
	cc, err := e.compilation(rulesModule)
	if err != nil {
		return nil, err
	}
	proj := cc.proj
	if e.opts.NoProjection {
		proj = nil
	}
	data := make(map[string]any, len(e.opts.Data)+1)
	maps.Copy(data, e.opts.Data)
	if rulesData != nil {
		data[rules.DataRoot] = rulesData
	}
	if e.opts.Types != nil {
		data[TypesDataRoot] = e.opts.Types.policyData()
	}
	st := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	dc, err := readData(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("authz: read policy data: %w", err)
	}
	proj = proj.indexed(cc.compiler, dc.root)
	c := &compiled{revision: revision, compiler: cc.compiler, general: newPlan(cc.compiler, cc.query, cc.parts, grantsRef, deniesRef, rulesRef(cc.compiler)),
		store: st, rules: rulesModule, proj: proj, data: dc, guard: new(sync.RWMutex), closed: cc.closed}
	if cc.closed {
		c.exact = &exactPlan{compile: func() (*compilation, error) { return e.compileModules(rulesModule, true) }}
	}
	c.bare = barePlanOf(cc, dc.root)
	return c, nil
}

// barePlanOf is the plan of a compilation's copy of the decision package
// without the rules (prune.go, noRulesModule) and the guards of its rules
// module; nil when it has no such copy or the guards cannot be read.
func barePlanOf(cc *compilation, root ast.Value) *barePlan {
	if cc.compiler.Modules[noRulesModuleName] == nil {
		return nil
	}
	g, ok := rulesGuardsOf(cc.compiler, root)
	if !ok {
		return nil
	}
	qc := cc.compiler.QueryCompiler()
	move := func(b ast.Body) ast.Body {
		b = b.Copy()
		for _, e := range b {
			for _, t := range e.Operands() {
				if r, ok := t.Value.(ast.Ref); ok && r.HasPrefix(decisionPkgRef) {
					t.Value = noRulesPkgRef.Concat(r[len(decisionPkgRef):])
				}
			}
		}
		return b
	}
	query, err1 := qc.Compile(move(allowQuery))
	parts, err2 := qc.Compile(move(decisionQuery))
	if err1 != nil || err2 != nil {
		return nil
	}
	return &barePlan{p: newPlan(cc.compiler, query, parts, grantsRef, deniesRef, nil), closed: cc.closed, guards: g,
		found: grantsOnlyFound(cc.compiler)}
}

// compilation is the compilation of the static policies with rulesModule,
// from the cache or compiled (and cached).
func (e *Engine) compilation(rulesModule string) (*compilation, error) {
	key := compileKey(e.opts.Modules, rulesModule)
	if cc, ok := e.opts.CompileCache.get(key); ok {
		return cc, nil
	}
	cc, err := e.compileModules(rulesModule, false)
	if err != nil {
		return nil, err
	}
	e.opts.CompileCache.add(key, cc)
	return cc, nil
}

// compileModules parses and compiles the static policies with the rules
// module and prepares the decision query; exact keeps the rules
// pruneClosedRules would leave out.
func (e *Engine) compileModules(rulesModule string, exact bool) (*compilation, error) {
	modules, err := parseModules(e.opts.Modules, rulesModule)
	if err != nil {
		return nil, err
	}
	static := make(map[string]*ast.Module, len(e.opts.Modules))
	for name := range e.opts.Modules {
		static[name] = modules[name].Copy()
	}
	var generated *ast.Module
	if m := modules[GeneratedModuleName]; m != nil {
		generated = m.Copy()
	}
	proj := analyse(static, generated)
	// The rules for inputs without spaceId or spaceType, which the
	// engine's inputs always have (prune.go); the analysis above has seen
	// them, which only keeps more of the input.
	inForce := make(map[string]*ast.Module, len(e.opts.Modules))
	for name := range e.opts.Modules {
		inForce[name] = modules[name]
	}
	pruneAbsentRules(inForce, modules)
	pruneUnflaggedRules(inForce, modules)
	closed := !exact && pruneClosedRules(inForce, modules) > 0
	if generated != nil {
		// The decision package without the rules, for the decisions
		// they cannot grant (prune.go, compiled.bare).
		if m, ok := noRulesModule(inForce); ok {
			modules[noRulesModuleName] = m
		}
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("authz: compile policies: %w", compiler.Errors)
	}
	query, err := compiler.QueryCompiler().Compile(allowQuery)
	if err != nil {
		return nil, fmt.Errorf("authz: prepare decision query: %w", err)
	}
	parts, err := compiler.QueryCompiler().Compile(decisionQuery)
	if err != nil {
		return nil, fmt.Errorf("authz: prepare decision query: %w", err)
	}
	return &compilation{compiler: compiler, query: query, parts: parts, proj: proj, closed: closed}, nil
}

// parseModules parses the static policies and the rules module (may be
// empty), by file name.
func parseModules(static map[string]string, rulesModule string) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(static)+1)
	for name, src := range static {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("authz: parse %s: %w", name, err)
		}
		modules[name] = m
	}
	if rulesModule != "" {
		m, err := ast.ParseModuleWithOpts(GeneratedModuleName, rulesModule, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("authz: parse generated rules: %w", err)
		}
		modules[GeneratedModuleName] = m
	}
	return modules, nil
}

// readData is the data document of st, as the evaluator reads it.
func readData(ctx context.Context, st storage.Store) (*dataCache, error) {
	txn, err := st.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Abort(ctx, txn)
	v, err := st.Read(ctx, txn, storage.Path{})
	if err != nil {
		return nil, err
	}
	root, ok := v.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("the store answered %T, not an OPA value", v)
	}
	return &dataCache{Store: st, root: root}, nil
}

// Revision is the policy revision in force.
func (e *Engine) Revision() int64 { return e.current.Load().revision }

// Ready reports whether a policy is compiled (always true after New).
func (e *Engine) Ready(context.Context) error {
	if e.current.Load() == nil {
		return errors.New("policies are not compiled")
	}
	return nil
}

// Decide hydrates the request and evaluates it.
func (e *Engine) Decide(ctx context.Context, req Request) (Decision, error) {
	if l := e.opts.DecisionLog; l != nil {
		if ld := l.Sample(ctx); ld != nil {
			return e.decideLogged(ctx, &req, ld)
		}
	}
	var in Input
	if err := e.hydrate(ctx, &req, &in); err != nil {
		e.failed.Observe(0)
		return Decision{Revision: e.Revision()}, err
	}
	return e.Evaluate(ctx, &in)
}

// Evaluate decides an already hydrated input. What is evaluated, and keys
// the decision cache, is the input's projection on what the policy
// revision can read of the subject (doc.go).
func (e *Engine) Evaluate(ctx context.Context, in *Input) (Decision, error) {
	start := time.Now()
	if e.opts.Fresh != nil {
		if err := e.opts.Fresh(ctx); err != nil {
			e.failed.Observe(time.Since(start).Seconds())
			return Decision{Revision: e.Revision()}, err
		}
	}
	c := e.current.Load()
	var key [32]byte
	if e.decisions != nil {
		// The key of the projected input, without building it: a hit
		// costs no copy of the input.
		key = engineKey(c.revision, in, c.proj)
		if d, ok := e.decisions.Get(key); ok {
			e.metrics.cacheHits.Inc()
			e.observe(d, start)
			return d, nil
		}
		e.metrics.cacheMisses.Inc()
	}
	var projected Input
	d, err := e.eval(ctx, c, c.proj.apply(in, &projected))
	if err != nil {
		e.failed.Observe(time.Since(start).Seconds())
		return Decision{Revision: c.revision}, err
	}
	if e.decisions != nil {
		e.decisions.Add(key, d)
	}
	e.observe(d, start)
	return d, nil
}

// engineKey is the decision cache key of p's projection of in under
// revision (p nil: of in itself).
func engineKey(revision int64, in *Input, p *projection) [32]byte {
	var buf [512]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(revision))
	return sha256.Sum256(in.appendKey(b, p))
}

// observe records the duration of a decision since start.
func (e *Engine) observe(d Decision, start time.Time) {
	o := e.denied
	if d.Allow {
		o = e.allowed
	}
	o.Observe(time.Since(start).Seconds())
}

func (e *Engine) eval(ctx context.Context, c *compiled, in *Input) (Decision, error) {
	p, err := c.planOf(in)
	if err != nil {
		return Decision{Revision: c.revision}, err
	}
	input, none := in.valueFound(&e.strs, c.proj)
	if none {
		// No candidate of the input's buckets: the module can only
		// answer the empty set (prune.go, grantsOnlyFound).
		if b := c.bareForNoneFound(in); b != nil {
			p = b
		}
	}
	if p.priv != nil {
		input = c.withPrivileges(ctx, p, input, &terms{pool: &e.strs})
	}
	return c.decideWith(ctx, p, input)
}

// The variables the decision query binds: the three rules the decision
// rule (policies/decision.rego) assembles into its object.
const (
	allowVar  = ast.Var("allow")
	grantsVar = ast.Var("grants")
	deniesVar = ast.Var("denies")
)

// decisionQuery binds the parts of the decision (DecisionQuery) — allow,
// the grants and the gates' denies — rather than the decision object
// itself: building that object and sorting its two sets in Rego costs a
// decision about a sixth of its evaluation, and parseDecision sorts and
// checks them anyway. allow comes first, so that the two others are read
// from the evaluation's rule cache. bench/loadbench's agreement test
// compares the engine's answers with a stock OPA evaluating DecisionQuery.
//
// A decision evaluates allowQuery first: the allow rule
// (policies/decision.rego) evaluates both other parts before it compares
// them, so OPA has put their values in the evaluation's rule cache
// (ruleCache) under their refs, and the engine reads them there instead of
// asking OPA again (each read is a rule-index lookup over the gates and a
// new empty set). Only when one of them is not there (a policy whose allow
// does not read them) does decisionQuery run, with the same cache.
var decisionQuery = ast.NewBody(
	ast.Equality.Expr(ast.VarTerm(string(allowVar)), ast.MustParseTerm("data.rulekeeper.authz.allow")),
	ast.Equality.Expr(ast.VarTerm(string(grantsVar)), ast.MustParseTerm("data.rulekeeper.authz.grants")),
	ast.Equality.Expr(ast.VarTerm(string(deniesVar)), ast.MustParseTerm("data.rulekeeper.gates.denies")),
)

// allowQuery is the first query of a decision: allow alone.
var allowQuery = ast.NewBody(ast.Equality.Expr(ast.VarTerm(string(allowVar)), ast.MustParseTerm("data.rulekeeper.authz.allow")))

// The refs of the other parts, as OPA keys their values in the rule cache:
// the built-in grants, the security rules' grants (absent without a rules
// module) and the gates' denies, which allow (policies/decision.rego)
// evaluates before it compares them.
var (
	grantsRef      = ast.MustParseRef("data.rulekeeper.builtin.grants")
	rulesGrantsRef = ast.MustParseRef("data.rulekeeper.rules.grants")
	deniesRef      = ast.MustParseRef("data.rulekeeper.gates.denies")
)

// rulesRef is rulesGrantsRef when compiler has rules for it, else nil.
func rulesRef(compiler *ast.Compiler) ast.Ref {
	if len(compiler.GetRulesExact(rulesGrantsRef)) == 0 {
		return nil
	}
	return rulesGrantsRef
}

// decide is one evaluation of the decision query on input, by OPA's
// evaluator directly: what rego.PreparedEvalQuery would do without what a
// decision does not need (a goroutine per evaluation to watch ctx, metrics,
// and the conversion of the result to Go maps, read here as an OPA value).
func (c *compiled) decide(ctx context.Context, input ast.Value) (Decision, error) {
	t, ok := licenseTypeOf(input)
	p, err := c.planFor(ok && knownLicense(t))
	if err != nil {
		return Decision{Revision: c.revision}, err
	}
	return c.decideWith(ctx, p, ast.NewTerm(input))
}

// licenseTypeOf is the subject's license type in input; ok is false when
// there is none, or not a string.
func licenseTypeOf(input ast.Value) (string, bool) {
	v, err := input.Find(licenseTypeRef[1:])
	if err != nil {
		return "", false
	}
	s, ok := v.(ast.String)
	return string(s), ok
}

// decideWith is one evaluation of the decision on an input term with plan
// p (c.general, or the plan planFor picks).
func (c *compiled) decideWith(ctx context.Context, p *plan, input *ast.Term) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{Revision: c.revision}, fmt.Errorf("authz: evaluate: %w", err)
	}
	cancel := cancelOf(ctx)
	c.guard.RLock()
	defer c.guard.RUnlock()
	rc := getRuleCache()
	defer rc.release()
	res := &rc.result
	if err := c.run(ctx, p, p.allow, input, rc, cancel); err != nil {
		return Decision{Revision: c.revision}, fmt.Errorf("authz: evaluate: %w", err)
	}
	var more *ast.Term // the security rules' grants, read apart
	if res.n == 1 {
		res.grants, _ = rc.get(p.grants, p.hash(0))
		res.denies, _ = rc.get(p.denies, p.hash(1))
		if p.rules != nil {
			more, _ = rc.get(p.rules, p.hash(2))
		}
		if res.grants == nil || res.denies == nil || (p.rules != nil && more == nil) {
			// Not both computed by allow: ask OPA for the three parts,
			// with what this evaluation has computed so far.
			*res, more = results{iter: res.iter}, nil
			if err := c.run(ctx, p, p.parts, input, rc, cancel); err != nil {
				return Decision{Revision: c.revision}, fmt.Errorf("authz: evaluate: %w", err)
			}
		}
	}
	if res.n != 1 || res.allow == nil || res.grants == nil || res.denies == nil {
		return Decision{Revision: c.revision}, errors.New("authz: the policy gave no decision (undefined)")
	}
	d, err := parseDecision(res.allow, res.grants, more, res.denies)
	if err != nil {
		return Decision{Revision: c.revision}, err
	}
	d.Revision = c.revision
	return d, nil
}

// run evaluates body (compiled by p.compiler) on input, with rc as its
// rule cache and its results collected in rc.result. The query is built
// here and not returned, so that it stays on the stack: the evaluator
// keeps nothing of it. The store handed to OPA is the revision's data
// document (dataCache: the guard, not a store transaction, keeps Patch
// from changing it meanwhile).
func (c *compiled) run(ctx context.Context, p *plan, body ast.Body, input *ast.Term, rc *ruleCache, cancel topdown.Cancel) error {
	q := topdown.NewQuery(body).WithCompiler(p.compiler).WithStore(c.data).WithTransaction(noTxn).
		WithInput(input).WithMetrics(noMetrics).WithBaseCache(c.data).WithVirtualCache(rc).
		WithRequestMetadata(noRequestMetadata)
	if cancel != nil {
		q = q.WithCancel(cancel)
	}
	return q.Iter(ctx, rc.result.iter)
}

// doneCancel is a context's Done channel as OPA's cancellation: OPA asks
// Cancelled before every expression, a receive that does not block. It
// needs no callback registered with the context (context.AfterFunc) nor
// an allocation per decision.
type doneCancel <-chan struct{}

// cancelOf is ctx's Done channel as OPA's cancellation (nil: ctx cannot
// be cancelled).
func cancelOf(ctx context.Context) topdown.Cancel {
	if done := ctx.Done(); done != nil {
		return doneCancel(done)
	}
	return nil
}

// Cancel does nothing: the context is cancelled by its owner.
func (doneCancel) Cancel() {}

// Cancelled reports whether the channel is closed.
func (d doneCancel) Cancelled() bool {
	select {
	case <-d:
		return true
	default:
		return false
	}
}

// noMetrics is handed to every evaluation: nobody reads OPA's timers of a
// decision, and fresh ones cost allocations.
var noMetrics = opametrics.NoOp()

// noRequestMetadata is handed to every evaluation for the same reason: OPA
// passes it to builtins for projects that add their own, and the engine
// adds none (no builtin writes it).
var noRequestMetadata = map[string]any{}

var (
	keyKind   = ast.StringTerm("kind")
	keyID     = ast.StringTerm("id")
	keyName   = ast.StringTerm("name")
	keyReason = ast.StringTerm("reason")
)

// parseDecision reads the policy's decision strictly, from its three
// parts (the grants in two, gt and rt, when the built-in and the security
// rules' grants are read apart: rt nil otherwise; the two never hold the
// same grant, the rules' all being of kind "rule"): anything but the
// contract's shape is an error, and allow must be literally true.
func parseDecision(at, gt, rt, dt *ast.Term) (Decision, error) {
	if at == nil {
		return Decision{}, errors.New("authz: decision.allow is not a boolean")
	}
	allow, ok := at.Value.(ast.Boolean)
	if !ok {
		return Decision{}, errors.New("authz: decision.allow is not a boolean")
	}
	grants, denies := list(gt), list(dt)
	if rt != nil {
		grants = append(grants, list(rt)...)
	}
	d := Decision{Allow: bool(allow), Grants: make([]Grant, 0, len(grants)), Denies: make([]Deny, 0, len(denies))}
	for _, g := range grants {
		m, ok := g.Value.(ast.Object)
		if !ok {
			return Decision{}, errors.New("authz: a grant is not an object")
		}
		d.Grants = append(d.Grants, Grant{Kind: field(m, keyKind), ID: field(m, keyID), Name: field(m, keyName)})
	}
	for _, g := range denies {
		m, ok := g.Value.(ast.Object)
		if !ok {
			return Decision{}, errors.New("authz: a deny is not an object")
		}
		d.Denies = append(d.Denies, Deny{Kind: field(m, keyKind), Reason: field(m, keyReason)})
	}
	if d.Allow && (len(d.Grants) == 0 || len(d.Denies) > 0) {
		return Decision{}, errors.New("authz: the policy allowed without a grant or despite a gate")
	}
	if len(d.Grants) > 1 {
		slices.SortFunc(d.Grants, func(a, b Grant) int {
			if a.Kind != b.Kind {
				return compare(a.Kind, b.Kind)
			}
			if a.ID != b.ID {
				return compare(a.ID, b.ID)
			}
			return compare(a.Name, b.Name)
		})
	}
	return d, nil
}

// list is the items of an array or set term (nil: none; anything else:
// none, as asString reads a non-string as "").
func list(t *ast.Term) []*ast.Term {
	if t == nil {
		return nil
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		out := make([]*ast.Term, 0, v.Len())
		v.Foreach(func(x *ast.Term) { out = append(out, x) })
		return out
	case ast.Set:
		return v.Slice()
	}
	return nil
}

// field is the string under key in m ("" when absent or not a string).
func field(m ast.Object, key *ast.Term) string {
	if t := m.Get(key); t != nil {
		if s, ok := t.Value.(ast.String); ok {
			return string(s)
		}
	}
	return ""
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// plan is what a decision evaluates: the compiler, the allow query and the
// query of the three parts, and the refs of grants and denies in the rule
// cache once allow is evaluated (decideWith). The grants are read in two
// parts when the policy's allow reads them apart (policies/decision.rego:
// the built-in grants and the security rules'): grants, and rules when the
// compilation has a rules module (nil otherwise: no rule grants).
type plan struct {
	compiler       *ast.Compiler
	allow, parts   ast.Body
	grants, denies ast.Ref
	rules          ast.Ref
	hashes         [3]int // of grants, denies and rules (newPlan)
	// priv: the indexed module's HasPrivilege helpers, which the engine
	// evaluates apart (privileges.go); nil: the module evaluates them.
	priv *privPlan
}

// newPlan is the plan of its parts, with the hashes of grants, denies and
// rules (nil: none).
func newPlan(compiler *ast.Compiler, allow, parts ast.Body, grants, denies, rules ast.Ref) plan {
	p := plan{compiler: compiler, allow: allow, parts: parts, grants: grants, denies: denies, rules: rules, priv: newPrivPlan(compiler)}
	p.hashes = [3]int{grants.Hash(), denies.Hash()}
	if rules != nil {
		p.hashes[2] = rules.Hash()
	}
	return p
}

// hash is the hash of grants (i 0), denies (1) or rules (2).
func (p *plan) hash(i int) int { return p.hashes[i] }
