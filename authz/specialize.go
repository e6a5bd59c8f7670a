package authz

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Specialization of the static policy by OPA's partial evaluator.
//
// Most of what a decision evaluates in the static policy (policies/*.rego)
// is decided by a few fields of its input: the resource's type, space type
// and object type, the action, the environment and the subject's license
// type. For each combination of those (a specialization key) OPA's partial
// evaluator turns the built-in grants (data.rulekeeper.builtin.grants) and
// the gates (data.rulekeeper.gates.denies) into residual rules over the
// rest of the input: the rules that cannot apply are gone, the helper
// rules inlined and the type registry's data folded in; the tables
// (data.rulekeeper.tables, data.rulekeeper.index) are read as they are
// (specNoInline). The decision rules of
// package rulekeeper.authz (policies/decision.rego) are copied beside them
// with those two refs pointing at the residuals, so the decision still
// combines the built-in grants with the security rules' grants
// (data.rulekeeper.rules.grants, evaluated as compiled: a rule write that
// only changes data.rulekeeper_rules keeps the specializations) exactly as
// the policy says. It is all Rego, evaluated by OPA.
//
// A specialization is computed per compiled policy revision (Load), once
// specHot decisions have had its key, in the background: until it is ready,
// and for inputs whose key is not a plain string, decisions take the
// general path (the policy as compiled). The specialized modules of every
// key seen so far are compiled together with the policy into one compiler,
// rebuilt when keys are added; at most maxSpecKeys keys are specialized.
//
// Measured (bench/README.md, "Specializing the static policy"), it cuts
// the CPU of an uncached decision by 16-26 % and its allocations by 8-39 %
// in-process, but over HTTP (bench/loadbench, 24,600 distinct decisions)
// a server spent more on compiling the specializations of its keys (each
// batch compiles the whole policy again) than it saved: opt-in
// (Options.Specialize).
//
// The key also holds the input's shape: a hash of the keys of the objects
// on the way to the known fields (input, subject, license, resource,
// context) and their lengths.
// The partial evaluator takes every other key of those objects as unknown
// and reads a key that is not there as absent, which is what the input it
// serves has.

// maxSpecKeys bounds the specializations of one revision.
const maxSpecKeys = 256

// maxSpecRulesModule is the largest rules module specialized: every
// specialization compiles it again (an indexed module stays far smaller;
// a plain one with thousands of rules does not).
const maxSpecRulesModule = 1 << 20

// The refs the partial evaluator specializes, and the decision package
// whose rules are copied to read them (policies/decision.rego).
var (
	builtinGrantsRef = ast.MustParseRef("data.rulekeeper.builtin.grants")
	gatesDeniesRef   = ast.MustParseRef("data.rulekeeper.gates.denies")
	decisionPackage  = ast.MustParseRef("data.rulekeeper.authz")
	specVars         = [2]ast.Var{"b", "d"}
	specQuery        = ast.NewBody(
		ast.Equality.Expr(ast.VarTerm(string(specVars[0])), ast.NewTerm(builtinGrantsRef)),
		ast.Equality.Expr(ast.VarTerm(string(specVars[1])), ast.NewTerm(gatesDeniesRef)),
	)
	// specUnknownData is never folded: the security rules' data, which a
	// rule write patches without compiling.
	specUnknownData = ast.MustParseTerm("data.rulekeeper_rules")
	// specNoInline are the tables, read as they are rather than unrolled:
	// unrolled, a lookup by the subject's role becomes a rule per role
	// (measured slower).
	specNoInline = []ast.Ref{ast.MustParseRef("data.rulekeeper.index"), ast.MustParseRef("data.rulekeeper.tables")}
)

// The input keys of the specialization.
var (
	skAction, skContext, skEnvironment = ast.StringTerm("action"), ast.StringTerm("context"), ast.StringTerm("environment")
	skSubject, skLicense, skType       = ast.StringTerm("subject"), ast.StringTerm("license"), ast.StringTerm("type")
	skResource, skSpaceType            = ast.StringTerm("resource"), ast.StringTerm("spaceType")
	skObjectType                       = ast.StringTerm("objectType")
)

// plan is what a decision evaluates: the compiler, the allow query and the
// query of the three parts, and the refs of grants and denies in the rule
// cache once allow is evaluated (decideTerm).
type plan struct {
	compiler       *ast.Compiler
	allow, parts   ast.Body
	grants, denies ast.Ref
}

// specState is the specializations of one compiled revision (shared by the
// revisions Patch derives from it: they differ only in data.rulekeeper_rules).
type specState struct {
	base   *compiled // the revision specialized (its compiler, store, rules module)
	src    map[string]string
	logger *slog.Logger

	plans atomic.Pointer[map[string]*plan] // key → plan (nil plan: general)

	created time.Time
	live    func() bool   // whether the revision is still in force
	general atomic.Uint64 // decisions with a key on the general path

	mu      sync.Mutex
	asked   map[string]int        // keys asked for fewer than specHot times
	forced  bool                  // a key is asked for with force (tests)
	pending map[string]*specInput // keys to specialize
	running bool
	nDone   int // keys published

	// The worker's own.
	done map[string]*specDone // every key specialized, with its modules
	n    int                  // keys numbered so far
}

// specInput is the known part of an input with its key, and the unknowns.
type specInput struct {
	known    *ast.Term
	unknowns []*ast.Term
}

// specDone is one key's specialization: its modules (nil: the key is not
// specializable and takes the general path).
type specDone struct {
	ns      string
	modules []*ast.Module
	deniesT *ast.Term // what denies is, in the specialized policy
}

func newSpecState(c *compiled, src map[string]string, logger *slog.Logger, live func(*specState) bool) *specState {
	s := &specState{base: c, src: src, logger: logger, asked: map[string]int{}, pending: map[string]*specInput{}, done: map[string]*specDone{}, created: time.Now()}
	s.live = func() bool { return live(s) }
	m := map[string]*plan{}
	s.plans.Store(&m)
	return s
}

// planFor is the plan for input (the general plan while its key is not
// specialized), asking for the key's specialization the first time.
func (c *compiled) planFor(input *ast.Term) *plan {
	s := c.spec
	if s == nil {
		return &c.general
	}
	var buf [128]byte
	key, ok := appendSpecKey(buf[:0], input)
	if !ok {
		return &c.general
	}
	if p, ok := (*s.plans.Load())[string(key)]; ok {
		if p == nil {
			return &c.general
		}
		return p
	}
	s.general.Add(1)
	s.request(string(key), input, false)
	return &c.general
}

// appendSpecKey appends input's specialization key to b; false when input
// has no key (a known field that is absent or not a string).
func appendSpecKey(b []byte, input *ast.Term) ([]byte, bool) {
	in, ok := input.Value.(ast.Object)
	if !ok {
		return b, false
	}
	subject, ok1 := object(in, skSubject)
	resource, ok2 := object(in, skResource)
	cx, ok3 := object(in, skContext)
	if !ok1 || !ok2 || !ok3 {
		return b, false
	}
	license, ok := object(subject, skLicense)
	if !ok {
		return b, false
	}
	for _, f := range [...]struct {
		o ast.Object
		k *ast.Term
	}{{in, skAction}, {cx, skEnvironment}, {license, skType}, {resource, skType}, {resource, skSpaceType}, {resource, skObjectType}} {
		t := f.o.Get(f.k)
		if t == nil {
			return b, false
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return b, false
		}
		b = append(append(b, s...), 0)
	}
	// The shape: per object its length and a hash of its keys, combined
	// in an order-free way (no copy of the keys, one allocation for the
	// accumulator the callback writes).
	acc := new(shapeHash)
	add := acc.add
	for _, o := range [...]ast.Object{in, subject, license, resource, cx} {
		acc.h = acc.h*31 + uint64(o.Len())
		acc.sum = 0
		o.Foreach(add)
		acc.h = acc.h*31 + acc.sum
	}
	return binary.BigEndian.AppendUint64(b, acc.h), true
}

// shapeHash accumulates the hash of the keys of the objects of an input.
type shapeHash struct{ h, sum uint64 }

func (a *shapeHash) add(k, _ *ast.Term) {
	a.sum += uint64(k.Hash())*0x9e3779b97f4a7c15 + 1
}

// object is the object under k in o.
func object(o ast.Object, k *ast.Term) (ast.Object, bool) {
	t := o.Get(k)
	if t == nil {
		return nil, false
	}
	x, ok := t.Value.(ast.Object)
	return x, ok
}

// knownInput is the part of input the key fixes, and the refs of every
// other key of the objects on the way, which the partial evaluator takes
// as unknown.
func knownInput(input *ast.Term) *specInput {
	in := input.Value.(ast.Object)
	subject, _ := object(in, skSubject)
	resource, _ := object(in, skResource)
	cx, _ := object(in, skContext)
	license, _ := object(subject, skLicense)
	var unknowns []*ast.Term
	rest := func(o ast.Object, path ast.Ref, keep ...*ast.Term) {
		o.Foreach(func(k, _ *ast.Term) {
			for _, x := range keep {
				if k.Equal(x) {
					return
				}
			}
			unknowns = append(unknowns, ast.NewTerm(path.Append(k)))
		})
	}
	root := ast.InputRootRef
	rest(in, root, skSubject, skResource, skContext, skAction)
	rest(subject, root.Append(skSubject), skLicense)
	rest(license, root.Append(skSubject).Append(skLicense), skType)
	rest(resource, root.Append(skResource), skType, skSpaceType, skObjectType)
	rest(cx, root.Append(skContext), skEnvironment)
	unknowns = append(unknowns, specUnknownData)
	known := ast.NewObject(
		[2]*ast.Term{skAction, in.Get(skAction)},
		[2]*ast.Term{skContext, ast.NewTerm(ast.NewObject([2]*ast.Term{skEnvironment, cx.Get(skEnvironment)}))},
		[2]*ast.Term{skSubject, ast.NewTerm(ast.NewObject([2]*ast.Term{skLicense,
			ast.NewTerm(ast.NewObject([2]*ast.Term{skType, license.Get(skType)}))}))},
		[2]*ast.Term{skResource, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{skType, resource.Get(skType)}, [2]*ast.Term{skSpaceType, resource.Get(skSpaceType)},
			[2]*ast.Term{skObjectType, resource.Get(skObjectType)}))},
	)
	return &specInput{known: ast.NewTerm(known).Copy(), unknowns: unknowns}
}

// request queues key for specialization (once), the specHot-th time it
// is asked for (force: now), and starts the worker.
func (s *specState) request(key string, input *ast.Term, force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if force {
		s.forced = true
	}
	if _, ok := s.pending[key]; ok {
		return
	}
	if _, ok := (*s.plans.Load())[key]; ok || s.nDone+len(s.pending) >= maxSpecKeys {
		return
	}
	if !force {
		// Only hot keys: a key asked for specHot times.
		n, ok := s.asked[key]
		if !ok && len(s.asked) >= 4*maxSpecKeys {
			return
		}
		if n+1 < specHot {
			s.asked[key] = n + 1
			return
		}
		delete(s.asked, key)
	}
	s.pending[key] = knownInput(input)
	if !s.running {
		s.running = true
		go s.work()
	}
}

// work specializes the pending keys until there are none left, once the
// revision has been in force for specDelay (a burst of rule writes
// compiles one specialization, not one per write) and decisions still
// take the general path (an engine that stopped deciding, such as a
// test's, compiles nothing); it gives up when the revision is no longer in
// force or idle. Keys asked for with force skip the wait.
func (s *specState) work() {
	for {
		s.mu.Lock()
		forced := s.forced
		s.mu.Unlock()
		if forced {
			break
		}
		seen := s.general.Load()
		time.Sleep(max(specDelay-time.Since(s.created), specDelay/2))
		if s.general.Load() == seen || !s.live() {
			s.mu.Lock()
			if !s.forced {
				s.running = false
				s.pending = map[string]*specInput{}
				clear(s.asked)
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
		if time.Since(s.created) >= specDelay {
			break
		}
	}
	for {
		s.mu.Lock()
		if len(s.pending) == 0 || !s.live() {
			s.running = false
			s.forced = false
			s.pending = map[string]*specInput{}
			s.mu.Unlock()
			return
		}
		batch := s.pending
		s.pending = map[string]*specInput{}
		s.mu.Unlock()
		if err := s.specialize(context.Background(), batch); err != nil {
			s.logger.Warn("authz: specializing the policy failed; decisions take the general path", "error", err)
		}
	}
}

// specDelay is how long a revision is in force, deciding, before it is
// specialized.
const specDelay = 250 * time.Millisecond

// specHot is how many decisions of a key take the general path before the
// key is specialized: a service specializes what it is asked again and
// again, not every key a test or an odd request touches once.
const specHot = 16

// specialize adds the specializations of batch and publishes the plans of
// every key specialized so far. Only the worker calls it.
func (s *specState) specialize(ctx context.Context, batch map[string]*specInput) error {
	added := map[string]*specDone{}
	for key, si := range batch {
		s.n++
		ns := "rulekeeper_spec_" + strconv.Itoa(s.n)
		d, err := s.partial(ctx, ns, si)
		if err != nil {
			d = &specDone{} // not specializable: the general path
			s.logger.Debug("authz: a specialization key takes the general path", "error", err)
		}
		added[key] = d
	}
	done := make(map[string]*specDone, len(s.done)+len(added))
	maps.Copy(done, s.done)
	maps.Copy(done, added)
	plans, err := s.compile(done)
	if err != nil {
		// Give the batch up: its keys take the general path.
		for k := range added {
			added[k] = &specDone{}
		}
		maps.Copy(s.done, added)
		next := maps.Clone(*s.plans.Load())
		for k := range added {
			next[k] = nil
		}
		s.publish(next)
		return err
	}
	maps.Copy(s.done, added)
	s.publish(plans)
	return nil
}

// publish puts plans in force and counts the keys.
func (s *specState) publish(plans map[string]*plan) {
	s.mu.Lock()
	s.nDone = len(plans)
	s.mu.Unlock()
	s.plans.Store(&plans)
}

// partial runs OPA's partial evaluator for one key: the residual modules
// under namespace ns and the decision rules that read them.
func (s *specState) partial(ctx context.Context, ns string, si *specInput) (*specDone, error) {
	c := s.base
	txn, err := c.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer c.store.Abort(ctx, txn)
	q := topdown.NewQuery(specQuery).WithCompiler(c.general.compiler).WithStore(c.store).WithTransaction(txn).
		WithInput(si.known).WithUnknowns(si.unknowns).WithPartialNamespace(ns).WithDisableInlining(specNoInline)
	partials, support, err := q.PartialRun(ctx)
	if err != nil {
		return nil, err
	}
	if len(partials) != 1 {
		return nil, fmt.Errorf("%d residual queries", len(partials))
	}
	// The residual query binds each var once, to a ref or a value.
	var bound [2]*ast.Term
	for _, e := range partials[0] {
		if !e.IsEquality() || len(e.With) > 0 || e.Negated {
			return nil, fmt.Errorf("residual %v is not a binding", e)
		}
		a, b := e.Operand(0), e.Operand(1)
		if _, ok := a.Value.(ast.Var); ok {
			a, b = b, a
		}
		v, ok := b.Value.(ast.Var)
		if !ok {
			return nil, fmt.Errorf("residual %v is not a binding", e)
		}
		i := -1
		for j, sv := range specVars {
			if v == sv {
				i = j
			}
		}
		if i < 0 || bound[i] != nil || !a.IsGround() {
			return nil, fmt.Errorf("residual %v is not a binding", e)
		}
		bound[i] = a
	}
	if bound[0] == nil || bound[1] == nil {
		return nil, fmt.Errorf("residual %v binds not both parts", partials[0])
	}
	// The decision rules, reading the residuals.
	pkg := ast.Ref{ast.DefaultRootDocument, ast.StringTerm(ns)}.Concat(decisionPackage[1:]).Copy()
	var decision []*ast.Module
	for _, m := range c.general.compiler.Modules {
		if !m.Package.Path.Equal(decisionPackage) {
			continue
		}
		cp := m.Copy()
		cp.Package.Path = pkg.Copy()
		cp.Imports = nil
		swapped, err := ast.Transform(refSwap{bound: bound, pkg: pkg}, cp)
		if err != nil {
			return nil, err
		}
		decision = append(decision, swapped.(*ast.Module))
	}
	if len(decision) == 0 {
		return nil, fmt.Errorf("no module of package %v", decisionPackage)
	}
	for _, m := range support {
		m.Rules = dropSubsumed(m.Rules)
		for _, r := range m.Rules {
			hoistTests(r)
		}
	}
	return &specDone{ns: ns, modules: append(decision, support...), deniesT: bound[1]}, nil
}

// dropSubsumed leaves out of a residual module the partial-set rules that
// another rule with the same head makes redundant: one whose body holds
// every expression of the other's (the partial evaluator writes both when
// a helper has an unconditional body and a conditional one, e.g.
// creator_ok). A set rule contributes its head for each solution of its
// body, and every solution of the larger body is one of the smaller's.
func dropSubsumed(rs []*ast.Rule) []*ast.Rule {
	out := rs[:0:0]
	for i, r := range rs {
		redundant := false
		for j, o := range rs {
			if i == j || !setRule(r) || !setRule(o) || !r.Head.Equal(o.Head) || !subset(o.Body, r.Body) {
				continue
			}
			// Of two equal bodies keep the first.
			if len(o.Body) < len(r.Body) || j < i {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, r)
		}
	}
	return out
}

// setRule reports whether r is a plain partial-set rule.
func setRule(r *ast.Rule) bool {
	return !r.Default && r.Else == nil && r.Head.RuleKind() == ast.MultiValue
}

// subset reports whether every expression of a is in b (at any position).
func subset(a, b ast.Body) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			c := *x // equal but for the position
			c.Index = y.Index
			if c.Equal(y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// onlyWildcards reports whether e's variables (besides the heads of its
// refs, input and data) are all wildcards.
func onlyWildcards(e *ast.Expr) bool {
	vis := ast.NewVarVisitor().WithParams(ast.VarVisitorParams{SkipRefHead: true})
	vis.Walk(e)
	for v := range vis.Vars() {
		if !v.IsWildcard() {
			return false
		}
	}
	return true
}

// hoistTests moves the expressions of r's body that bind no variable (a
// test on the input or data alone, such as "_ = input.subject.roles[0]")
// to its front, in their order: the partial evaluator may leave them
// after an iteration, where OPA's rule index cannot use them and the
// iteration runs first. A body is a conjunction, and an expression without
// variables is safe anywhere, so the rule means the same.
func hoistTests(r *ast.Rule) {
	var tests, rest ast.Body
	for _, e := range r.Body {
		if len(e.With) == 0 && !e.Negated && onlyWildcards(e) {
			tests = append(tests, e)
		} else {
			rest = append(rest, e)
		}
	}
	if len(tests) == 0 || len(rest) == 0 {
		return
	}
	body := append(tests, rest...)
	for i, e := range body {
		e.Index = i
	}
	r.Body = body
}

// refSwap replaces the two specialized refs by what the residual query
// bound them to.
type refSwap struct {
	bound [2]*ast.Term
	pkg   ast.Ref // the decision package's copy
}

func (r refSwap) Transform(x any) (any, error) {
	ref, ok := x.(ast.Ref)
	if !ok {
		return x, nil
	}
	switch {
	case ref.Equal(builtinGrantsRef):
		return r.bound[0].Copy().Value, nil
	case ref.Equal(gatesDeniesRef):
		return r.bound[1].Copy().Value, nil
	case ref.HasPrefix(decisionPackage):
		return r.pkg.Concat(ref[len(decisionPackage):]).Copy(), nil // no term shared with another ref
	}
	return x, nil
}

// compile compiles the policy with the modules of every specialized key
// and prepares each key's plan.
func (s *specState) compile(done map[string]*specDone) (map[string]*plan, error) {
	modules, err := parseModules(s.src, s.base.rules)
	if err != nil {
		return nil, err
	}
	for _, d := range done {
		for i, m := range d.modules {
			modules[d.ns+"/"+strconv.Itoa(i)+".rego"] = m
		}
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("authz: compile specialized policies: %w", compiler.Errors)
	}
	plans := make(map[string]*plan, len(done))
	for key, d := range done {
		if d.modules == nil {
			plans[key] = nil
			continue
		}
		pkg := ast.Ref{ast.DefaultRootDocument, ast.StringTerm(d.ns)}.Concat(decisionPackage[1:]).Copy()
		allowT := ast.NewTerm(pkg.Append(ast.StringTerm("allow")))
		grantsR := pkg.Append(ast.StringTerm("grants"))
		allow, err := compiler.QueryCompiler().Compile(ast.NewBody(ast.Equality.Expr(ast.VarTerm(string(allowVar)), allowT)))
		if err != nil {
			return nil, err
		}
		parts, err := compiler.QueryCompiler().Compile(ast.NewBody(
			ast.Equality.Expr(ast.VarTerm(string(allowVar)), allowT),
			ast.Equality.Expr(ast.VarTerm(string(grantsVar)), ast.NewTerm(grantsR)),
			ast.Equality.Expr(ast.VarTerm(string(deniesVar)), d.deniesT.Copy()),
		))
		if err != nil {
			return nil, err
		}
		deniesR, _ := d.deniesT.Value.(ast.Ref) // a value: never in the rule cache, parts answers
		plans[key] = &plan{compiler: compiler, allow: allow, parts: parts, grants: grantsR, denies: deniesR}
	}
	return plans, nil
}

// specializeNow asks for the specialization of the keys of inputs and
// waits until they are published (tests and benchmarks): one compilation
// for all of them. Inputs without a key are left to the general path.
func (c *compiled) specializeNow(ctx context.Context, inputs ...*ast.Term) error {
	s := c.spec
	if s == nil {
		return nil
	}
	keys := make([]string, len(inputs))
	for i, in := range inputs {
		if key, ok := appendSpecKey(nil, in); ok {
			keys[i] = string(key)
		}
	}
	for {
		waiting := false
		for i, key := range keys {
			if key == "" {
				continue
			}
			if _, ok := (*s.plans.Load())[key]; !ok {
				s.request(key, inputs[i], true)
				waiting = true
			}
		}
		if !waiting {
			return nil
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}

// pause waits a millisecond, or until ctx is done.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}
