package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// Planning a list: which resources of a type may the subject read? Asked
// one resource at a time, a page of readable apps among a hundred thousand
// costs thousands of decisions; planned, it is one database query.
//
// The planner evaluates the policy with the resource unknown and returns
// the residual as a Filter over the resource's fields. OPA's own partial
// evaluation of this policy leaves residues that do not translate (support
// rules for every `else` chain and for the count(grants) aggregate), so the
// planner splits the work in two, each half exact on its own:
//
//   - The built-in policy and the gates read a resource only through a few
//     features (policies/CONTRACT.md): the space it lives in (through the
//     subject's roles there and the space's type), whether the subject owns
//     it, and flags such as sectionAccess, public and objectType. Those
//     features take finitely many values that matter: the subject's spaces
//     grouped by (type, roles), personal content, a space the subject is no
//     member of (by type), owner or not, each flag set or not. The planner
//     asks the real engine one decision per combination (Engine.Evaluate,
//     behind the decision cache) with a representative resource, and keeps
//     the combinations the gates let through: a built-in grant makes the
//     combination's condition part of the filter; otherwise it needs a
//     security rule.
//   - The security rules are pure conditions over attributes; with the
//     subject known each one reduces to a condition over the resource's
//     fields (RuleMatcher.Residual), with the rule's resource filter
//     (SelectFilter).
//
// readable = OR over combinations c not gated: cond(c) AND (builtin(c) OR
// OR over rules r: select(r) AND residual(r)).
//
// Anything the planner cannot express (HasPrivilege, two resource
// attributes compared, a field the store cannot query) is an opaque node: the plan is then not exact,
// and the caller queries the superset (Filter.Superset) and decides every
// item it returns. The equivalence tests (plan_test.go, and the pushdown
// tests over the real database) check filter = per-item decisions on
// random data and random rules.

// PlanRequest asks which resources of one type the subject may act on.
type PlanRequest struct {
	// Subject is the id of a stored user.
	Subject string
	// Action is asked, usually "read".
	Action string
	// Environments: a resource qualifies when the action is allowed in any
	// of them (e.g. hub then console, as the REST handlers ask).
	Environments []string
	// Resource is the known part of every resource listed: its Type, and
	// for app objects the app they belong to (SpaceID, SpaceType, Space,
	// App).
	Resource Resource
	// ObjectTypes are the values of objectType to consider for app objects
	// (any other value is planned as one more, unknown, type).
	ObjectTypes []string
}

// Planner plans lists with an engine and the security rules in force.
type Planner struct {
	engine *Engine
	mu     sync.Mutex                   // one SetRules or Apply at a time
	mv     atomic.Pointer[matcherVocab] // the vocabulary, indexed once for the matchers
	rules  atomic.Pointer[plannedRules]
}

type plannedRules struct {
	vocab    *matcherVocab // the matchers' vocabulary
	revision int64
	matchers []*RuleMatcher          // the valid ones, in the order of the rules given
	byID     map[string]*RuleMatcher // every rule's, for reuse by SetRules and Apply (read and replaced under Planner.mu only)
}

// NewPlanner plans with e and vocabulary v (nil: rules.DefaultVocabulary),
// for revision 0 with no security rules until SetRules.
func NewPlanner(e *Engine, v *rules.Vocabulary) *Planner {
	p := &Planner{engine: e}
	p.mv.Store(newMatcherVocab(v))
	p.rules.Store(&plannedRules{})
	return p
}

// SetVocabulary changes the vocabulary the next SetRules reads the rules
// with (the resource type registry changed); every matcher is rebuilt then.
func (p *Planner) SetVocabulary(v *rules.Vocabulary) { p.mv.Store(newMatcherVocab(v)) }

// SetRules records the security rules of revision (call it after the
// engine loaded that revision). While the engine's revision and the
// planner's differ, every plan is inexact: it never trusts rules that are
// not the ones deciding.
//
// A rule unchanged since the previous call keeps its matcher, so that one
// rule write costs one matcher, not one per rule.
func (p *Planner) SetRules(revision int64, rs []rules.Rule) {
	p.SetCheckedRules(revision, rs, nil, nil)
}

// SetCheckedRules is SetRules for rules checked already against the
// vocabulary v (rules.Index): the condition of a rule in parsed is valid
// as parsed there and is not checked and parsed again — ten thousand
// imported rules cost their matchers, not a second analysis — provided v
// is the planner's vocabulary (SetVocabulary); otherwise, and for the
// rules not in parsed, it is SetRules. The expressions must not change.
func (p *Planner) SetCheckedRules(revision int64, rs []rules.Rule, v *rules.Vocabulary, parsed map[string]rules.Expr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mv := p.mv.Load()
	prev := p.rules.Load().byID
	if p.rules.Load().vocab != mv {
		prev = nil
	}
	if v == nil || v != mv.v {
		parsed = nil
	}
	ms := make([]*RuleMatcher, 0, len(rs))
	byID := make(map[string]*RuleMatcher, len(rs))
	for _, r := range rs {
		m := prev[r.ID]
		if m == nil || !sameRule(m.Rule, r) || m.Rule.Name != r.Name {
			cond, checked := parsed[r.ID]
			m = mv.matchParsed(r, cond, checked)
		}
		byID[r.ID] = m
		if m.Valid() {
			ms = append(ms, m)
		}
	}
	p.rules.Store(&plannedRules{vocab: mv, revision: revision, matchers: ms, byID: byID})
}

// Apply records revision as the rules the planner has with puts stored
// (added or replaced) and the rules dels deleted: one rule write costs
// its own matcher and a copy of the list of pointers, not a matcher
// lookup and a map entry per rule of the set. Rules keep the order
// SetRules was given (by id, as the rules manager gives them); a new
// rule goes before the first rule whose id sorts after it. It returns
// false, changing nothing, when the vocabulary changed since the rules
// were set: the caller then gives the whole set to SetRules.
func (p *Planner) Apply(revision int64, puts []rules.Rule, dels []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	mv := p.mv.Load()
	cur := p.rules.Load()
	if cur.vocab != mv || cur.byID == nil {
		return false
	}
	ms := slices.Clone(cur.matchers)
	byID := cur.byID // owned by the writer, under p.mu
	drop := func(id string) {
		if i := slices.IndexFunc(ms, func(m *RuleMatcher) bool { return m.Rule.ID == id }); i >= 0 {
			ms = slices.Delete(ms, i, i+1)
		}
	}
	for _, id := range dels {
		if byID[id] != nil {
			delete(byID, id)
			drop(id)
		}
	}
	for _, r := range puts {
		m := byID[r.ID]
		if m != nil && sameRule(m.Rule, r) && m.Rule.Name == r.Name {
			continue
		}
		if m != nil {
			drop(r.ID)
		}
		m = mv.match(r)
		byID[r.ID] = m
		if m.Valid() {
			i := slices.IndexFunc(ms, func(x *RuleMatcher) bool { return x.Rule.ID > r.ID })
			if i < 0 {
				i = len(ms)
			}
			ms = slices.Insert(ms, i, m)
		}
	}
	p.rules.Store(&plannedRules{vocab: mv, revision: revision, matchers: ms, byID: byID})
	return true
}

// Sentinels of representative resources: ids no stored resource has.
const (
	otherOwner  = "\x00someone-else"
	otherSpace  = "\x00not-a-member"
	otherObject = "\x00other-type"
)

// alternative is one value of a feature: the condition that selects the
// resources having it and how it sets the representative.
type alternative struct {
	when  *Filter
	apply func(r *Resource)
}

// Plan answers the filter of the resources the request's subject may act
// on. An error means nothing may be listed (fail closed).
func (p *Planner) Plan(ctx context.Context, req PlanRequest) (*Filter, error) {
	e := p.engine
	if e.entities == nil {
		return nil, errors.New("authz: planning needs stored entities")
	}
	if req.Subject == "" {
		return nil, fmt.Errorf("subject: %w: no id", ErrNotFound)
	}
	rev := e.Revision()
	subj, err := e.entities.subject(ctx, req.Subject)
	if err != nil {
		return nil, fmt.Errorf("subject %q: %w", req.Subject, err)
	}
	dims, err := p.dimensions(ctx, subj, req)
	if err != nil {
		return nil, err
	}
	if dims == nil {
		return Opaque("resources of type " + req.Resource.Type + " are not planned"), nil
	}
	pr := p.rules.Load()
	st := SubjectTarget(subj)
	var branches []*Filter
	for _, env := range req.Environments {
		granted := Opaque("the security rules in force are being replaced")
		if pr.revision == rev {
			var parts []*Filter
			for _, m := range pr.matchers {
				if !m.HasAction(req.Action) || !m.InEnvironment(env) {
					continue
				}
				sel := m.SelectFilter(req.Resource.Type)
				if sel.Op == FilterFalse {
					continue
				}
				parts = append(parts, And(sel, m.Residual(st)))
			}
			granted = bind(Or(parts...), ResourceTarget(&req.Resource), knownFields(req.Resource.Type))
		}
		rep := req.Resource
		f, err := p.split(ctx, dims, 0, &Input{Subject: *subj, Action: req.Action, Resource: rep, Environment: env}, granted)
		if err != nil {
			return nil, err
		}
		branches = append(branches, f)
	}
	if e.Revision() != rev {
		return Opaque("the policy changed while planning"), nil
	}
	return Or(branches...), nil
}

// split decides the combinations of dims[i:] below the representative in
// and merges alternatives that lead to the same filter (the alternatives
// of a feature cover every value, so a feature whose alternatives all lead
// to one filter drops out of it).
func (p *Planner) split(ctx context.Context, dims [][]alternative, i int, in *Input, granted *Filter) (*Filter, error) {
	if i == len(dims) {
		d, err := p.engine.Evaluate(ctx, in)
		if err != nil {
			return nil, err
		}
		if len(d.Denies) > 0 {
			return Nothing(), nil
		}
		for _, g := range d.Grants {
			if g.Kind != "rule" {
				return Everything(), nil
			}
		}
		return granted, nil
	}
	type outcome struct {
		key  string
		f    *Filter
		when []*Filter
	}
	var outs []*outcome
	for _, alt := range dims[i] {
		next := *in
		next.Resource = cloneResource(in.Resource)
		alt.apply(&next.Resource)
		f, err := p.split(ctx, dims, i+1, &next, granted)
		if err != nil {
			return nil, err
		}
		key := f.String()
		k := slices.IndexFunc(outs, func(o *outcome) bool { return o.key == key })
		if k < 0 {
			outs = append(outs, &outcome{key: key, f: f})
			k = len(outs) - 1
		}
		outs[k].when = append(outs[k].when, alt.when)
	}
	if len(outs) == 1 {
		return outs[0].f, nil
	}
	parts := make([]*Filter, 0, len(outs))
	for _, o := range outs {
		parts = append(parts, And(Or(o.when...), o.f))
	}
	return Or(parts...), nil
}

func cloneResource(r Resource) Resource {
	if r.Space != nil {
		s := *r.Space
		r.Space = &s
	}
	if r.App != nil {
		a := *r.App
		r.App = &a
	}
	return r
}

// dimensions are the features of the request's resource type the built-in
// policy and the gates read, each with its alternatives.
func (p *Planner) dimensions(ctx context.Context, subj *Subject, req PlanRequest) ([][]alternative, error) {
	owner := []alternative{
		{when: Eq("owner", subj.ID), apply: func(r *Resource) { r.Owner = subj.ID }},
		{when: Not(Eq("owner", subj.ID)), apply: func(r *Resource) { r.Owner = otherOwner }},
	}
	switch req.Resource.Type {
	case "app":
		spaces, err := p.spaceDimensions(ctx, subj, "spaceId", true)
		if err != nil {
			return nil, err
		}
		return append(spaces, owner, flag("sectionAccess", func(r *Resource, v bool) { r.SectionAccess = v })), nil
	case "space":
		spaces, err := p.spaceDimensions(ctx, subj, "id", false)
		if err != nil {
			return nil, err
		}
		return append(spaces, owner), nil
	case "app.object":
		if req.Resource.App == nil {
			return nil, nil // objects of every app: their spaces are not known
		}
		types := make([]alternative, 0, len(req.ObjectTypes)+1)
		for _, t := range req.ObjectTypes {
			types = append(types, alternative{when: Eq("objectType", t), apply: func(r *Resource) { r.ObjectType = t }})
		}
		types = append(types, alternative{when: Not(Eq("objectType", req.ObjectTypes...)), apply: func(r *Resource) { r.ObjectType = otherObject }})
		return [][]alternative{types, owner, flag("public", func(r *Resource, v bool) { r.Public = v })}, nil
	case "extension", "theme":
		return [][]alternative{owner}, nil
	}
	// Other types (schedules live in their app's space, users and groups
	// have policies of their own) are not planned: decided item by item.
	return nil, nil
}

func flag(field string, set func(*Resource, bool)) []alternative {
	return []alternative{
		{when: Eq(field, "true"), apply: func(r *Resource) { set(r, true) }},
		{when: Not(Eq(field, "true")), apply: func(r *Resource) { set(r, false) }},
	}
}

// spaceDimensions are where a resource lives: in one of the subject's
// spaces (grouped by type and roles: the policy reads nothing else of a
// space), in a personal space (apps), or in a space the subject is no
// member of — then by its type, a second feature that matters only there.
func (p *Planner) spaceDimensions(ctx context.Context, subj *Subject, field string, personal bool) ([][]alternative, error) {
	type class struct {
		typ   string
		roles []string
		ids   []string
	}
	var classes []*class
	ids := make([]string, 0, len(subj.Spaces))
	for id := range subj.Spaces {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var members []string
	for _, id := range ids {
		sp, err := p.engine.entities.space(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the subject was loaded
		}
		if err != nil {
			return nil, fmt.Errorf("space %q: %w", id, err)
		}
		roles := slices.Clone(subj.Spaces[id])
		slices.Sort(roles)
		members = append(members, id)
		k := slices.IndexFunc(classes, func(c *class) bool { return c.typ == sp.Type && slices.Equal(c.roles, roles) })
		if k < 0 {
			classes = append(classes, &class{typ: sp.Type, roles: roles})
			k = len(classes) - 1
		}
		classes[k].ids = append(classes[k].ids, id)
	}
	place := func(r *Resource, id, typ string) {
		r.SpaceID, r.SpaceType = id, typ
		r.Space = &Related{ID: id, Type: typ}
		if field == "id" {
			r.ID = id
		}
	}
	var where []alternative
	for _, c := range classes {
		where = append(where, alternative{when: Eq(field, c.ids...), apply: func(r *Resource) { place(r, c.ids[0], c.typ) }})
	}
	notMember := Not(Eq(field, members...))
	if personal {
		where = append(where, alternative{when: Eq(field, ""), apply: func(r *Resource) {
			r.SpaceID, r.SpaceType, r.Space = "", "personal", nil
		}})
		notMember = And(notMember, Not(Eq(field, "")))
	}
	// A space the subject is not in: its type is set by the next feature.
	where = append(where, alternative{when: notMember, apply: func(r *Resource) { place(r, otherSpace, "") }})
	var types []alternative
	for _, typ := range []string{"shared", "managed"} {
		types = append(types, alternative{
			when: Eq("spaceType", typ),
			apply: func(r *Resource) {
				if r.SpaceID == otherSpace {
					place(r, otherSpace, typ)
				}
			},
		})
	}
	return [][]alternative{where, types}, nil
}

// knownFields are the fields every resource of a plan shares with the
// request's template: its type, and for app objects (listed per app) the
// app and its space.
func knownFields(typ string) []string {
	if typ == "app.object" {
		return []string{"type", "app", "space", "spaceId", "spaceType"}
	}
	return []string{"type"}
}

// bind replaces the conditions on known fields (a field or under a field
// of known) by their value on the template t.
func bind(f *Filter, t *Target, known []string) *Filter {
	switch f.Op {
	case FilterAnd, FilterOr:
		args := make([]*Filter, len(f.Args))
		for i, a := range f.Args {
			args[i] = bind(a, t, known)
		}
		if f.Op == FilterAnd {
			return And(args...)
		}
		return Or(args...)
	case FilterNot:
		return Not(bind(f.Args[0], t, known))
	case FilterIn, FilterRegex:
		root, _, _ := strings.Cut(f.Field, ".")
		if !slices.Contains(known, root) {
			return f
		}
		ok, err := f.match(t)
		if err != nil {
			return f
		}
		return constant(ok)
	}
	return f
}
