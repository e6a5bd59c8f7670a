package authz

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// PreviewRuleID is the id an unsaved rule is evaluated under.
const PreviewRuleID = "preview"

// Scope is the population a preview, an impact or an audit evaluates:
// subjects and resources already hydrated (no store access happens during
// the analysis), each turned into its policy input value once.
type Scope struct {
	Subjects  []Subject  // sorted by ID
	Resources []Resource // sorted by Type, then ID
	st, rt    []*Target
	strs      []map[string]bool // per resource: its string values
	types     []string          // the resource types present
}

// NewScope sorts the subjects by id and the resources by type and id (the
// order of every answer and of its cursors) and prepares them.
func NewScope(subjects []Subject, resources []Resource) *Scope {
	slices.SortFunc(subjects, func(a, b Subject) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(resources, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
	sc := &Scope{Subjects: subjects, Resources: resources,
		st: make([]*Target, len(subjects)), rt: make([]*Target, len(resources))}
	for i := range subjects {
		sc.st[i] = SubjectTarget(&subjects[i])
	}
	sc.strs = make([]map[string]bool, len(resources))
	for i := range resources {
		sc.rt[i] = ResourceTarget(&resources[i])
		sc.strs[i] = resourceStrings(sc.rt[i])
		if i == 0 || resources[i].Type != resources[i-1].Type {
			sc.types = append(sc.types, resources[i].Type)
		}
	}
	return sc
}

// decide is one decision of the scope through a judge.
func (sc *Scope) decide(ctx context.Context, j *judge, si, ri int, action, env string) (Decision, error) {
	return j.decide(ctx, sc.st[si], sc.rt[ri], &sc.Subjects[si], &sc.Resources[ri], sc.strs[ri], ri, action, env)
}

func newMemo() *partMemo { return &partMemo{m: map[string]part{}} }

// AccessKey names one cell of an analysis: (user, resource, action) in an
// environment. Answers are ordered by it, and cursors carry the last one.
type AccessKey struct {
	UserID       string `json:"userId"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Action       string `json:"action"`
	Environment  string `json:"environment,omitempty"`
}

// Compare orders keys by user, resource type, resource id, action and
// environment.
func (k AccessKey) Compare(o AccessKey) int {
	return cmp.Or(cmp.Compare(k.UserID, o.UserID), cmp.Compare(k.ResourceType, o.ResourceType),
		cmp.Compare(k.ResourceID, o.ResourceID), cmp.Compare(k.Action, o.Action),
		cmp.Compare(k.Environment, o.Environment))
}

// InvalidRuleError is a proposed rule that does not compile.
type InvalidRuleError struct {
	RuleID      string
	Diagnostics []rules.Diagnostic
}

func (e *InvalidRuleError) Error() string {
	for _, d := range e.Diagnostics {
		if d.Severity != rules.SeverityWarning {
			return fmt.Sprintf("rule %q: %s", e.RuleID, d.String())
		}
	}
	return fmt.Sprintf("rule %q does not compile", e.RuleID)
}

func checkRule(r rules.Rule, v *rules.Vocabulary) error {
	if diags := rules.Check(r, v); rules.HasErrors(diags) {
		return &InvalidRuleError{RuleID: r.ID, Diagnostics: diags}
	}
	return nil
}

// narrow keeps the values of have that want lists (all when want is empty).
func narrow(have, want []string) []string {
	if len(want) == 0 {
		return have
	}
	var out []string
	for _, h := range have {
		if slices.Contains(want, h) {
			out = append(out, h)
		}
	}
	return out
}

func environments(m *RuleMatcher, want string) []string {
	if want == "" {
		return m.Environments()
	}
	if m.InEnvironment(want) {
		return []string{want}
	}
	return nil
}

func workers(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// ordered runs fn for 0 … n-1 on w goroutines and hands each result to
// emit in index order, a batch at a time.
func ordered[T any](ctx context.Context, n, w int, fn func(i int) (T, error), emit func(i int, v T)) error {
	batch := max(w*8, 1)
	results := make([]T, batch)
	errs := make([]error, batch)
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+batch, n)
		var wg sync.WaitGroup
		next := make(chan int, end-start)
		for i := start; i < end; i++ {
			next <- i
		}
		close(next)
		for range min(w, end-start) {
			wg.Go(func() {
				for i := range next {
					results[i-start], errs[i-start] = fn(i)
				}
			})
		}
		wg.Wait()
		for i := start; i < end; i++ {
			if errs[i-start] != nil {
				return errs[i-start]
			}
			emit(i, results[i-start])
			var zero T
			results[i-start] = zero
		}
	}
	return nil
}

func hasRule(gs []Grant, id string) bool {
	return slices.ContainsFunc(gs, func(g Grant) bool { return g.Kind == "rule" && g.ID == id })
}

func ruleGrants(gs []Grant) []Grant {
	out := []Grant{}
	for _, g := range gs {
		if g.Kind == "rule" {
			out = append(out, g)
		}
	}
	return out
}

func hasNonRule(gs []Grant) bool {
	return slices.ContainsFunc(gs, func(g Grant) bool { return g.Kind != "rule" })
}

// ---- preview ----

// PreviewRequest asks what one unsaved rule would grant over a scope.
type PreviewRequest struct {
	Rule       rules.Rule   // the unsaved rule; it is evaluated as PreviewRuleID
	Current    []rules.Rule // the rule set it joins
	Vocabulary *rules.Vocabulary
	// Actions narrows the rule's actions; Environment its context.
	Actions     []string
	Environment string
	After       *AccessKey // the page starts after this key
	Limit       int        // items per page (≤ 0: 50)
	Workers     int        // ≤ 0: GOMAXPROCS
	// Exact makes every decision a full OPA evaluation (see judge.go).
	Exact bool
}

// PreviewItem is a triple the rule grants.
type PreviewItem struct {
	UserID       string `json:"userId"`
	UserName     string `json:"userName,omitempty"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	ResourceName string `json:"resourceName,omitempty"`
	Action       string `json:"action"`
	Environment  string `json:"environment"`
	// New: nothing else grants it today (the engine in force denies it).
	New bool `json:"new"`
}

// Key is the item's position.
func (it PreviewItem) Key() AccessKey {
	return AccessKey{it.UserID, it.ResourceType, it.ResourceID, it.Action, it.Environment}
}

// PreviewCounts summarise every triple of the scope, not only the page.
type PreviewCounts struct {
	Granted        int `json:"granted"`        // triples the rule grants and the decision allows
	New            int `json:"new"`            // of those, denied today
	AlreadyGranted int `json:"alreadyGranted"` // of those, allowed today by something else
	Gated          int `json:"gated"`          // the rule grants but a gate refuses (disabled user, license…)
	Users          int `json:"users"`          // distinct users among Granted
	Resources      int `json:"resources"`      // distinct resources among Granted
	Candidates     int `json:"candidates"`     // (user, resource) pairs the rule may select
	Evaluated      int `json:"evaluated"`      // OPA evaluations made
}

// PreviewResult is one page of a preview.
type PreviewResult struct {
	Items  []PreviewItem `json:"items"`
	Counts PreviewCounts `json:"counts"`
	More   bool          `json:"-"` // items follow the page
}

type previewUser struct {
	items      []PreviewItem
	gated      int
	candidates int
}

// Preview evaluates the scope with the current rules plus the unsaved rule
// and reports the triples whose decision the unsaved rule grants.
func Preview(ctx context.Context, e *Engine, sc *Scope, req PreviewRequest) (*PreviewResult, error) {
	vocab := req.Vocabulary
	if vocab == nil {
		vocab = rules.DefaultVocabulary()
	}
	rule := req.Rule
	rule.ID, rule.Disabled = PreviewRuleID, false
	if err := checkRule(rule, vocab); err != nil {
		return nil, err
	}
	set := slices.DeleteFunc(slices.Clone(req.Current), func(r rules.Rule) bool { return r.ID == PreviewRuleID })
	set = append(set, rule)
	module, _ := rules.CompileModule(set, vocab)
	ev, err := e.WithRules(ctx, module)
	if err != nil {
		return nil, err
	}
	memo := newMemo()
	res, err := preview(ctx, ev, sc, req, rule, set, vocab, memo, req.Exact)
	if errors.Is(err, errMismatch) {
		res, err = preview(ctx, ev, sc, req, rule, set, vocab, memo, true)
	}
	return res, err
}

func preview(ctx context.Context, ev *Evaluator, sc *Scope, req PreviewRequest, rule rules.Rule, set []rules.Rule,
	vocab *rules.Vocabulary, memo *partMemo, exact bool) (*PreviewResult, error) {
	j, err := newJudge(ctx, ev, set, vocab, sc.types, memo, exact)
	if err != nil {
		return nil, err
	}
	m := NewRuleMatcher(rule, vocab)
	actions := narrow(m.Actions(), normalizeAll(req.Actions))
	envs := environments(m, req.Environment)
	limit := req.Limit
	if limit <= 0 {
		limit = 50
	}
	res := &PreviewResult{Items: []PreviewItem{}}
	if len(actions) == 0 || len(envs) == 0 {
		return res, nil
	}
	// Resources the rule may select, whoever asks.
	type cand struct {
		j   int
		sel Tri
	}
	var cands []cand
	for ri := range sc.Resources {
		r := &sc.Resources[ri]
		sel := m.Selects(r.Type, r.ID)
		if sel != False && m.Condition(nil, sc.rt[ri]) != False {
			cands = append(cands, cand{ri, sel})
		}
	}
	users := map[string]bool{}
	resources := map[[2]string]bool{}
	err = ordered(ctx, len(sc.Subjects), workers(req.Workers), func(si int) (previewUser, error) {
		var out previewUser
		st := sc.st[si]
		if m.Condition(st, nil) == False {
			return out, nil
		}
		s := &sc.Subjects[si]
		for _, c := range cands {
			r, rt := &sc.Resources[c.j], sc.rt[c.j]
			t := min(c.sel, m.Condition(st, rt))
			if t == False {
				continue
			}
			out.candidates++
			for _, env := range envs {
				if t == Unknown {
					// One look at the rules' grants decides for every
					// action: the condition does not depend on the action.
					j.evaluated.Add(1)
					gs, err := ev.ruleGrantsValue(ctx, inputOf(st, rt, actions[0], env))
					if err != nil {
						return out, err
					}
					if !hasRule(gs, PreviewRuleID) {
						continue
					}
				}
				for _, a := range actions {
					d, err := sc.decide(ctx, j, si, c.j, a, env)
					if err != nil {
						return out, err
					}
					if !hasRule(d.Grants, PreviewRuleID) {
						continue
					}
					if !d.Allow {
						out.gated++
						continue
					}
					out.items = append(out.items, PreviewItem{UserID: s.ID, UserName: s.Name, ResourceType: r.Type, ResourceID: r.ID, ResourceName: r.Name,
						Action: a, Environment: env, New: len(d.Grants) == 1})
				}
			}
		}
		// Generation order is action-major inside a resource; the answer's
		// order puts the environment after the action.
		slices.SortStableFunc(out.items, func(a, b PreviewItem) int { return a.Key().Compare(b.Key()) })
		return out, nil
	}, func(_ int, u previewUser) {
		c := &res.Counts
		c.Gated += u.gated
		c.Candidates += u.candidates
		for _, it := range u.items {
			c.Granted++
			if it.New {
				c.New++
			} else {
				c.AlreadyGranted++
			}
			users[it.UserID] = true
			resources[[2]string{it.ResourceType, it.ResourceID}] = true
			if req.After != nil && it.Key().Compare(*req.After) <= 0 {
				continue
			}
			if len(res.Items) < limit {
				res.Items = append(res.Items, it)
			} else {
				res.More = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	res.Counts.Evaluated = int(j.evaluated.Load())
	res.Counts.Users, res.Counts.Resources = len(users), len(resources)
	return res, nil
}

func normalizeAll(as []string) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, NormalizeAction(a))
	}
	return out
}

// ---- impact ----

// ImpactRequest compares a proposed rule set with the current one.
type ImpactRequest struct {
	Current, Proposed []rules.Rule
	Vocabulary        *rules.Vocabulary
	Actions           []string // narrow the actions evaluated
	Environment       string   // narrow the environments evaluated
	Limit             int      // items listed per list (≤ 0: all); the summary counts all
	Workers           int
	Exact             bool // every decision a full OPA evaluation (see judge.go)
}

// ImpactItem is access gained or lost, with the rules responsible: the
// rules that grant it in the proposed set (gained) or granted it in the
// current one (lost).
type ImpactItem struct {
	UserID       string  `json:"userId"`
	UserName     string  `json:"userName,omitempty"`
	ResourceType string  `json:"resourceType"`
	ResourceID   string  `json:"resourceId"`
	ResourceName string  `json:"resourceName,omitempty"`
	Action       string  `json:"action"`
	Environment  string  `json:"environment"`
	Rules        []Grant `json:"rules"`
}

// ImpactCounts count gained and lost access.
type ImpactCounts struct {
	Gained int `json:"gained"`
	Lost   int `json:"lost"`
}

// ImpactSummary counts everything, by user and by resource type.
type ImpactSummary struct {
	Gained         int                      `json:"gained"`
	Lost           int                      `json:"lost"`
	ByUser         map[string]*ImpactCounts `json:"byUser"`
	ByResourceType map[string]*ImpactCounts `json:"byResourceType"`
	ChangedRules   []string                 `json:"changedRules"`
	Evaluated      int                      `json:"evaluated"`
	Truncated      bool                     `json:"truncated"`
}

// ImpactResult is the difference; nothing is applied.
type ImpactResult struct {
	Gained  []ImpactItem  `json:"gained"`
	Lost    []ImpactItem  `json:"lost"`
	Summary ImpactSummary `json:"summary"`
}

// affected is a rule version that may make a difference: a changed rule as
// it was (old) or will be (new), or a rule whose HasPrivilege depends on
// other rules (both).
type affected struct {
	m        *RuleMatcher
	old, new bool
	actions  []string
	envs     []string
	sel      []Tri // per resource
}

func sameRule(a, b rules.Rule) bool {
	return a.ResourceFilter == b.ResourceFilter && a.Condition == b.Condition && a.Disabled == b.Disabled &&
		strings.EqualFold(a.Context, b.Context) && slices.Equal(a.Actions, b.Actions)
}

// ChangedRules lists the ids of the rules whose effect may differ between
// two sets (added, removed, or changed in filter, condition, actions,
// context or disabled), sorted.
func ChangedRules(current, proposed []rules.Rule) []string {
	cur := map[string]rules.Rule{}
	for _, r := range current {
		cur[r.ID] = r
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range proposed {
		seen[r.ID] = true
		if c, ok := cur[r.ID]; !ok || !sameRule(c, r) {
			out = append(out, r.ID)
		}
	}
	for _, r := range current {
		if !seen[r.ID] {
			out = append(out, r.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type contrib struct {
	action, env string
	t           Tri
	id          string
	old, new    bool
}

type impactUser struct {
	gained, lost []ImpactItem
}

// Impact evaluates, for every triple a changed rule may touch, the
// decision under the current and the proposed rule set and reports where
// allow differs. Triples no changed rule can select are skipped, and the
// Go-side RuleMatcher skips pairs whose conditions are false on both sides.
func Impact(ctx context.Context, e *Engine, sc *Scope, req ImpactRequest) (*ImpactResult, error) {
	vocab := req.Vocabulary
	if vocab == nil {
		vocab = rules.DefaultVocabulary()
	}
	changed := ChangedRules(req.Current, req.Proposed)
	if changed == nil {
		changed = []string{}
	}
	if len(changed) == 0 {
		return emptyImpact(changed), nil
	}
	byID := func(rs []rules.Rule) map[string]rules.Rule {
		m := map[string]rules.Rule{}
		for _, r := range rs {
			m[r.ID] = r
		}
		return m
	}
	cur, prop := byID(req.Current), byID(req.Proposed)
	for _, id := range changed {
		if r, ok := prop[id]; ok && !r.Disabled {
			if err := checkRule(r, vocab); err != nil {
				return nil, err
			}
		}
	}
	curModule, _ := rules.CompileModule(req.Current, vocab)
	propModule, _ := rules.CompileModule(req.Proposed, vocab)
	evOld, err := e.WithRules(ctx, curModule)
	if err != nil {
		return nil, err
	}
	evNew, err := e.WithRules(ctx, propModule)
	if err != nil {
		return nil, err
	}
	wantActions := normalizeAll(req.Actions)
	var aff []*affected
	mv := newMatcherVocab(vocab)
	add := func(r rules.Rule, old, new bool) {
		m := mv.match(r)
		if !m.Valid() {
			return
		}
		a := &affected{m: m, old: old, new: new, actions: narrow(m.Actions(), wantActions), envs: environments(m, req.Environment)}
		if len(a.actions) == 0 || len(a.envs) == 0 {
			return
		}
		a.sel = make([]Tri, len(sc.Resources))
		for j := range sc.Resources {
			r := &sc.Resources[j]
			if s := m.Selects(r.Type, r.ID); s != False {
				a.sel[j] = min(s, m.Condition(nil, sc.rt[j]))
			}
		}
		aff = append(aff, a)
	}
	isChanged := map[string]bool{}
	for _, id := range changed {
		isChanged[id] = true
		if r, ok := cur[id]; ok {
			add(r, true, false)
		}
		if r, ok := prop[id]; ok {
			add(r, false, true)
		}
	}
	// Rules whose HasPrivilege reads other rules' grants may change too.
	for _, r := range req.Proposed {
		if isChanged[r.ID] {
			continue
		}
		if m := mv.match(r); m.Valid() && m.HasPrivilege {
			add(r, true, true)
		}
	}
	memo := newMemo()
	res, err := impact(ctx, sc, req, aff, evOld, evNew, vocab, memo, req.Exact, emptyImpact(changed))
	if errors.Is(err, errMismatch) {
		// The sampled self-check found the fast path wrong: start again
		// from nothing, asking OPA for every decision.
		res, err = impact(ctx, sc, req, aff, evOld, evNew, vocab, memo, true, emptyImpact(changed))
	}
	return res, err
}

// emptyImpact is the result before any access changed.
func emptyImpact(changed []string) *ImpactResult {
	return &ImpactResult{Gained: []ImpactItem{}, Lost: []ImpactItem{}, Summary: ImpactSummary{
		ByUser: map[string]*ImpactCounts{}, ByResourceType: map[string]*ImpactCounts{}, ChangedRules: changed}}
}

func impact(ctx context.Context, sc *Scope, req ImpactRequest, aff []*affected, evOld, evNew *Evaluator,
	vocab *rules.Vocabulary, memo *partMemo, exact bool, res *ImpactResult) (*ImpactResult, error) {
	jOld, err := newJudge(ctx, evOld, req.Current, vocab, sc.types, memo, exact)
	if err != nil {
		return nil, err
	}
	jNew, err := newJudge(ctx, evNew, req.Proposed, vocab, sc.types, memo, exact)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	err = ordered(ctx, len(sc.Subjects), workers(req.Workers), func(si int) (impactUser, error) {
		var out impactUser
		st := sc.st[si]
		var active []*affected
		for _, a := range aff {
			if a.m.Condition(st, nil) != False {
				active = append(active, a)
			}
		}
		if len(active) == 0 {
			return out, nil
		}
		pairs := map[int][]contrib{}
		for _, a := range active {
			for ri, sel := range a.sel {
				if sel == False {
					continue
				}
				t := min(sel, a.m.Condition(st, sc.rt[ri]))
				if t == False {
					continue
				}
				for _, act := range a.actions {
					for _, env := range a.envs {
						pairs[ri] = append(pairs[ri], contrib{action: act, env: env, t: t, id: a.m.Rule.ID, old: a.old, new: a.new})
					}
				}
			}
		}
		ris := make([]int, 0, len(pairs))
		for ri := range pairs {
			ris = append(ris, ri)
		}
		slices.Sort(ris)
		s := &sc.Subjects[si]
		for _, ri := range ris {
			cs := pairs[ri]
			slices.SortFunc(cs, func(a, b contrib) int {
				return cmp.Or(cmp.Compare(a.action, b.action), cmp.Compare(a.env, b.env))
			})
			r := &sc.Resources[ri]
			for k := 0; k < len(cs); {
				n := k + 1
				for n < len(cs) && cs[n].action == cs[k].action && cs[n].env == cs[k].env {
					n++
				}
				item, gained, err := impactCell(ctx, sc, jOld, jNew, si, ri, cs[k:n])
				if err != nil {
					return out, err
				}
				if item != nil {
					item.UserID, item.ResourceType, item.ResourceID = s.ID, r.Type, r.ID
					item.UserName, item.ResourceName = s.Name, r.Name
					if gained {
						out.gained = append(out.gained, *item)
					} else {
						out.lost = append(out.lost, *item)
					}
				}
				k = n
			}
		}
		return out, nil
	}, func(_ int, u impactUser) {
		sum := &res.Summary
		count := func(it ImpactItem, gained bool) {
			bu := sum.ByUser[it.UserID]
			if bu == nil {
				bu = &ImpactCounts{}
				sum.ByUser[it.UserID] = bu
			}
			bt := sum.ByResourceType[it.ResourceType]
			if bt == nil {
				bt = &ImpactCounts{}
				sum.ByResourceType[it.ResourceType] = bt
			}
			if gained {
				sum.Gained++
				bu.Gained++
				bt.Gained++
			} else {
				sum.Lost++
				bu.Lost++
				bt.Lost++
			}
		}
		for _, it := range u.gained {
			count(it, true)
			if limit <= 0 || len(res.Gained) < limit {
				res.Gained = append(res.Gained, it)
			} else {
				sum.Truncated = true
			}
		}
		for _, it := range u.lost {
			count(it, false)
			if limit <= 0 || len(res.Lost) < limit {
				res.Lost = append(res.Lost, it)
			} else {
				sum.Truncated = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	res.Summary.Evaluated = int(jOld.evaluated.Load() + jNew.evaluated.Load())
	return res, nil
}

// impactCell decides one (user, resource, action, environment) that the
// contributions say a changed rule may touch: the item (nil when allow does
// not change) and whether it is gained. When the matchers tell exactly
// which changed rules grant on each side and both sides agree on whether
// any does, allow cannot differ (the rest of the decision is the same on
// both sides) and nothing is evaluated.
func impactCell(ctx context.Context, sc *Scope, jOld, jNew *judge, si, ri int, cs []contrib) (*ImpactItem, bool, error) {
	action, env := cs[0].action, cs[0].env
	definite := true
	var anyOld, anyNew bool
	for _, c := range cs {
		if c.t != True {
			definite = false
			break
		}
		anyOld = anyOld || c.old
		anyNew = anyNew || c.new
	}
	if definite && anyOld == anyNew {
		return nil, false, nil
	}
	dOld, err := sc.decide(ctx, jOld, si, ri, action, env)
	if err != nil {
		return nil, false, err
	}
	dNew, err := sc.decide(ctx, jNew, si, ri, action, env)
	if err != nil || dOld.Allow == dNew.Allow {
		return nil, false, err
	}
	if dNew.Allow {
		return &ImpactItem{Action: action, Environment: env, Rules: ruleGrants(dNew.Grants)}, true, nil
	}
	return &ImpactItem{Action: action, Environment: env, Rules: ruleGrants(dOld.Grants)}, false, nil
}

// ---- audit ----

// AuditRequest asks for the access matrix of a scope in one environment.
type AuditRequest struct {
	Actions     []string
	Environment string
	After       *AccessKey // the page starts after this cell (Environment ignored)
	Limit       int        // cells per page (≤ 0: 50)
	Workers     int
}

// AuditCell is one cell of the matrix, with what granted or refused it.
type AuditCell struct {
	UserID       string  `json:"userId"`
	UserName     string  `json:"userName,omitempty"`
	ResourceType string  `json:"resourceType"`
	ResourceID   string  `json:"resourceId"`
	ResourceName string  `json:"resourceName,omitempty"`
	Action       string  `json:"action"`
	Allow        bool    `json:"allow"`
	Grants       []Grant `json:"grants"`
	Denies       []Deny  `json:"denies"`
}

// Key is the cell's position.
func (c AuditCell) Key() AccessKey {
	return AccessKey{UserID: c.UserID, ResourceType: c.ResourceType, ResourceID: c.ResourceID, Action: c.Action}
}

// AuditResult is one page of the matrix.
type AuditResult struct {
	Cells    []AuditCell `json:"cells"`
	More     bool        `json:"-"`
	Revision int64       `json:"revision"`
	Total    int         `json:"total"` // cells in the whole matrix
}

// Audit evaluates one page of the users × resources × actions matrix,
// in the order of AccessKey.
func Audit(ctx context.Context, ev *Evaluator, sc *Scope, req AuditRequest) (*AuditResult, error) {
	actions := slices.Clone(normalizeAll(req.Actions))
	slices.Sort(actions)
	actions = slices.Compact(actions)
	limit := req.Limit
	if limit <= 0 {
		limit = 50
	}
	nu, nr, na := len(sc.Subjects), len(sc.Resources), len(actions)
	total := nu * nr * na
	res := &AuditResult{Cells: []AuditCell{}, Revision: ev.Revision(), Total: total}
	if total == 0 {
		return res, nil
	}
	keyAt := func(p int) AccessKey {
		u, r, a := p/(nr*na), (p/na)%nr, p%na
		return AccessKey{UserID: sc.Subjects[u].ID, ResourceType: sc.Resources[r].Type,
			ResourceID: sc.Resources[r].ID, Action: actions[a]}
	}
	start := 0
	if req.After != nil {
		after := *req.After
		after.Environment = ""
		// Positions are in key order: the first one after the cursor.
		lo, hi := 0, total
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if keyAt(mid).Compare(after) <= 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		start = lo
	}
	end := min(start+limit, total)
	res.More = end < total
	cells := make([]AuditCell, end-start)
	err := ordered(ctx, end-start, workers(req.Workers), func(i int) (AuditCell, error) {
		p := start + i
		u, r, a := p/(nr*na), (p/na)%nr, p%na
		d, err := ev.evalValue(ctx, inputOf(sc.st[u], sc.rt[r], actions[a], req.Environment))
		if err != nil {
			return AuditCell{}, err
		}
		k := keyAt(p)
		return AuditCell{UserID: k.UserID, UserName: sc.Subjects[u].Name, ResourceType: k.ResourceType, ResourceID: k.ResourceID,
			ResourceName: sc.Resources[r].Name, Action: k.Action,
			Allow: d.Allow, Grants: d.Grants, Denies: d.Denies}, nil
	}, func(i int, c AuditCell) { cells[i] = c })
	if err != nil {
		return nil, err
	}
	res.Cells = cells
	return res, nil
}
